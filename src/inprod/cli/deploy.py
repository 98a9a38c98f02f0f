"""`inprod deploy …` (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="deploy", no_args_is_help=True)


def rollback() -> None:
    """Roll an endpoint back."""
