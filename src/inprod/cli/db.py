"""``inprod db``: the store's schema."""

from __future__ import annotations

import typer

from ._output import console

app = typer.Typer(help="Manage the store's schema (migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (also done automatically on first use)."""
    from ..config import mask_url
    from ..store import get_store
    from ..store._schema import HEAD_REVISION

    store = get_store()
    before = store.revision() if store.dialect != "sqlite" or _exists(store) else None
    store.ensure_schema()
    if before == HEAD_REVISION:
        console.print(f"store {mask_url(store.url)} is up to date (revision {HEAD_REVISION})")
    else:
        console.print(
            f"store {mask_url(store.url)} upgraded from {before or 'empty'} to {HEAD_REVISION}"
        )


@app.command("current")
def current() -> None:
    """Print the store's schema revision and the newest one this inprod knows."""
    from ..config import mask_url
    from ..store import get_store
    from ..store._schema import HEAD_REVISION

    store = get_store()
    revision = store.revision() if store.dialect != "sqlite" or _exists(store) else None
    console.print(
        f"store {mask_url(store.url)}: revision {revision or 'none (empty)'}; "
        f"this inprod's head: {HEAD_REVISION}"
    )


def _exists(store) -> bool:  # a read must not create an empty SQLite file as a side effect
    from pathlib import Path

    return Path(str(store.engine.url.database)).exists()
