"""``inprod lineage``."""

from __future__ import annotations

import typer


def lineage(ref: str = typer.Argument(..., help="NAME@VERSION or NAME@ALIAS")) -> None:
    """Print model version -> run -> datasets -> sources."""
    raise NotImplementedError
