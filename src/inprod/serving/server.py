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
    auth: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM; then stop accepting, finish in-flight requests, flush logs.

    ``auth``: every request to /v1, /v2 and /api needs a bearer token (see serving/auth.py).
    """
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
        factory = "app_with_auth_from_settings" if auth else "app_from_settings"
        uvicorn.run(f"inprod.serving.app:{factory}", factory=True, workers=workers, **options)
    else:
        from .app import create_app

        uvicorn.run(create_app(auth=auth), **options)
