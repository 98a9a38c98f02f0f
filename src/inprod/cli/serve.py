"""``inprod serve``: the prediction server and control plane."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="Port to bind."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="Server processes."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    auth: str = typer.Option(
        "auto",
        "--auth",
        help="Bearer tokens for /v1, /v2, /api: on, off, or auto (on unless --host is loopback).",
    ),
) -> None:
    """Serve every endpoint: /v1 (REST), /api (control plane), /metrics, /healthz, /readyz."""
    from ..errors import InvalidInput
    from ..serving.auth import is_loopback, resolve_mode
    from ..serving.server import run
    from ._output import err_console

    if log_level not in ("debug", "info", "warning", "error"):
        raise InvalidInput(f"--log-level {log_level!r} is not one of debug, info, warning, error")
    auth_on = resolve_mode(auth, host)
    if not auth_on and not is_loopback(host):
        err_console.print(
            f"[bold yellow]warning:[/] serving on {host} with auth off: anyone who can reach this "
            "port may predict and change endpoints; use --auth on",
            highlight=False,
            soft_wrap=True,
        )
    run(host=host, port=port, workers=workers, log_level=log_level, auth=auth_on)
