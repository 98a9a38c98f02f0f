"""``inprod endpoints``: the stable names clients call, and what each serves."""

from __future__ import annotations

import json

import typer

from ._output import JSON_OPTION_HELP, console, print_json, print_table

app = typer.Typer(help="Create and manage serving endpoints.", no_args_is_help=True)

SETTING_HELP = (
    "Serving setting KEY=VALUE (repeatable): max_batch_size, max_wait_ms, timeout_ms, "
    "sample_rate, max_instances, redact (comma-separated fields)."
)


def _settings(pairs: list[str]) -> dict:
    from ..errors import InvalidInput

    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--set {pair!r} is not KEY=VALUE, e.g. max_batch_size=64")
        key = key.strip()
        if key == "redact":
            out[key] = [f.strip() for f in raw.split(",") if f.strip()]
            continue
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidInput(f"--set {pair!r}: {raw!r} is not a number") from None
    return out


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Endpoint name, e.g. phone-inspector."),
    model: str = typer.Option(..., "--model", "-m", help="NAME@VERSION or NAME@ALIAS to serve."),
    setting: list[str] = typer.Option([], "--set", help=SETTING_HELP),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Create an endpoint; with NAME@ALIAS it follows the alias as it moves."""
    from .. import endpoints

    info = endpoints.create(name, model, settings=_settings(setting), description=description)
    if as_json:
        print_json(info.to_dict())
    else:
        console.print(f"created endpoint [bold]{info.name}[/] serving {info.model_ref}")


@app.command("update")
def update(
    name: str = typer.Argument(...),
    model: str | None = typer.Option(None, "--model", "-m", help="New model reference."),
    setting: list[str] = typer.Option([], "--set", help=SETTING_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Point an endpoint at another model reference or change its settings."""
    from .. import endpoints

    info = endpoints.update(name, model=model, settings=_settings(setting) or None)
    if as_json:
        print_json(info.to_dict())
    else:
        console.print(f"endpoint [bold]{info.name}[/] serves {info.model_ref}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """List endpoints and the model reference each serves."""
    from .. import endpoints

    items = endpoints.list_endpoints()
    if as_json:
        print_json([e.to_dict() for e in items])
        return
    print_table(
        ["endpoint", "model", "max batch", "timeout ms", "log sample"],
        [
            (e.name, e.model_ref, e.settings.max_batch_size, e.settings.timeout_ms,
             e.settings.sample_rate)
            for e in items
        ],
    )  # fmt: skip


@app.command("show")
def show(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show an endpoint, the version its reference resolves to, and its settings."""
    from .. import endpoints
    from ..registry import models

    info = endpoints.get(name)
    version = models.get(info.model_ref)
    if as_json:
        print_json({**info.to_dict(), "resolves_to": version.ref})
        return
    console.print(f"[bold]{info.name}[/] → {info.model_ref} (now {version.ref}, {version.flavor})")
    print_table(["setting", "value"], sorted(info.settings.to_dict().items()))


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete an endpoint (its logged predictions stay)."""
    from .. import endpoints

    endpoints.delete(name)
    console.print(f"deleted endpoint {name}")
