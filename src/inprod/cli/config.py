"""``inprod config``: the effective settings and where each came from."""

from __future__ import annotations

import typer

from ._output import JSON_OPTION_HELP, print_json, print_table

app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """Print every setting, its value and its source (argument, env, file or default)."""
    from ..config import load_settings

    settings = load_settings()
    rows = settings.as_rows()
    if as_json:
        print_json({k: {"value": v, "source": src, "help": h} for k, v, src, h in rows})
        return
    print_table(["setting", "value", "source", "meaning"], rows, title="inprod settings")
