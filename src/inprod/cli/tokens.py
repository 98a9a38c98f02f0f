"""``inprod tokens``: bearer tokens for servers started with auth on."""

from __future__ import annotations

import typer

from ._output import JSON_OPTION_HELP, console, fmt_time, print_json, print_table

app = typer.Typer(
    help="Create, list and revoke bearer tokens (roles: predict < reviewer < operator < admin).",
    no_args_is_help=True,
)


@app.command("create")
def create(
    role: str = typer.Option(
        ...,
        "--role",
        "-r",
        help=(
            "predict (call /v1, /v2, read /api), reviewer (also the review queue), "
            "operator (change /api), admin."
        ),
    ),
    name: str = typer.Option(
        "", "--name", "-n", help="Who or what uses it, e.g. camera-station-3."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Create a token and print its secret: it is shown this once and cannot be recovered."""
    from .. import tokens

    created = tokens.create(role, name=name)
    if as_json:
        print_json(created.to_dict())
        return
    console.print(
        f"created token [bold]{created.info.id}[/] with role [bold]{created.info.role}[/]; "
        "copy the secret now, it is not stored and will not be shown again:",
        highlight=False,
    )
    console.print(created.secret, highlight=False, soft_wrap=True)
    console.print("clients send it as the header 'Authorization: Bearer <secret>'", highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """List tokens with their role and display prefix (never their secrets)."""
    from .. import tokens

    items = tokens.list_tokens()
    if as_json:
        print_json([t.to_dict() for t in items])
        return
    print_table(
        ["id", "name", "role", "prefix", "created", "revoked"],
        [
            (t.id, t.name, t.role, t.prefix, fmt_time(t.created_at), fmt_time(t.revoked_at))
            for t in items
        ],
    )


@app.command("revoke")
def revoke(
    token: str = typer.Argument(..., metavar="ID_OR_PREFIX", help="Token id or prefix (inp_…)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Revoke a token; servers refuse it within their auth_refresh_seconds (default 2 s)."""
    from .. import tokens

    info = tokens.revoke(token)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"revoked token {info.label()}", highlight=False)
