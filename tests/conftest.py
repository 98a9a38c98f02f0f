"""Shared fixtures: an isolated inprod home, a store on SQLite and PostgreSQL, the CLI runner.

PostgreSQL tests run when INPROD_TEST_POSTGRES_URL names a database we may create schemas in
(``.ci/run`` starts PostgreSQL and sets it); without it they skip and say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cli_runner import CLI
from inprod.config import load_settings
from inprod.store import Store, reset_default_store

PG_URL = os.environ.get("INPROD_TEST_POSTGRES_URL")
PG_SKIP_REASON = (
    "PostgreSQL tests need INPROD_TEST_POSTGRES_URL, e.g. "
    "postgresql+psycopg://inprod:inprod@localhost/inprod_test (.ci/run sets it)"
)


def _pg_schema_url(schema: str) -> str:
    url = make_url(PG_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'store.db'}"
        return
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        reset_default_store()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def inprod_env(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty folder with INPROD_HOME there and the store from ``store_url``."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for var in ("INPROD_ARTIFACTS", "INPROD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("INPROD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INPROD_STORE_URL", store_url)
    reset_default_store()
    yield work
    reset_default_store()


@pytest.fixture
def store(inprod_env: Path) -> Iterator[Store]:
    """A store on the same URL as the CLI's, but our own object, closed after the test."""
    store = Store.from_settings(load_settings())
    yield store
    store.close()


@pytest.fixture
def cli(inprod_env: Path) -> CLI:
    return CLI()


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    def _make(name: str, content: str | bytes) -> Path:
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return _make
