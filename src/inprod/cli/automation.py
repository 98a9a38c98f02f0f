"""`inprod automation …` (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="automation", no_args_is_help=True)
