"""``inprod serve``: the prediction server and control plane."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="Port to bind."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="Server processes."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Serve every endpoint: /v1 (REST), /api (control plane), /metrics, /healthz, /readyz."""
    from ..errors import InvalidInput
    from ..serving.server import run

    if log_level not in ("debug", "info", "warning", "error"):
        raise InvalidInput(f"--log-level {log_level!r} is not one of debug, info, warning, error")
    run(host=host, port=port, workers=workers, log_level=log_level)
