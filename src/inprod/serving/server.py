"""Running the app on uvicorn: one process, or ``workers`` processes sharing the port."""

from __future__ import annotations

import logging

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
GRACEFUL_SHUTDOWN_S = 30


def run(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until SIGINT/SIGTERM; then stop accepting, finish in-flight requests, flush logs."""
    import uvicorn

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = dict(
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        http="httptools",
        loop="uvloop",
    )
    if workers > 1:
        uvicorn.run(
            "inprod.serving.app:app_from_settings", factory=True, workers=workers, **options
        )
    else:
        from .app import create_app

        uvicorn.run(create_app(), **options)
