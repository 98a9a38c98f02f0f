from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import select, text

from inprod.errors import InvalidInput, StoreUnavailable
from inprod.store import Store
from inprod.store._schema import HEAD_REVISION
from inprod.store.tables import AuditEvent, Project


def test_first_use_applies_migrations(store: Store) -> None:
    with store.session() as s:
        s.add(Project(name="p1"))
    assert store.revision() == HEAD_REVISION
    with store.session(write=False) as s:
        assert s.scalars(select(Project.name)).all() == ["p1"]


def test_timestamps_come_back_timezone_aware(store: Store) -> None:
    with store.session() as s:
        s.add(AuditEvent(actor="me", kind="test", subject="x", details={"a": 1}))
    with store.session(write=False) as s:
        event = s.scalars(select(AuditEvent)).one()
    assert event.time.tzinfo is not None
    assert event.details == {"a": 1}


def test_exception_in_session_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(Project(name="lost"))
        s.flush()
        raise RuntimeError("boom")
    with store.session(write=False) as s:
        assert s.scalars(select(Project.name)).all() == []


def test_store_newer_than_code_is_refused_with_a_clear_message(store: Store) -> None:
    store.ensure_schema()
    with store.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    fresh = Store(store.url, store.artifacts.root)
    with pytest.raises(StoreUnavailable, match="newer than this inprod knows"):
        fresh.ensure_schema()
    fresh.close()


def test_unreachable_postgres_names_the_url_and_the_fix(tmp_path: Path) -> None:
    store = Store(
        "postgresql+psycopg://user:secret@127.0.0.1:1/nowhere", str(tmp_path / "artifacts")
    )
    with pytest.raises(StoreUnavailable) as info:
        store.ensure_schema()
    message = str(info.value)
    assert "127.0.0.1:1/nowhere" in message
    assert "secret" not in message
    assert "INPROD_STORE_URL" in message


@pytest.mark.parametrize(
    "url, match",
    [
        ("mysql://x/y", "supports sqlite"),
        ("not a url", "not a valid URL"),
        ("sqlite://", "in-memory"),
        ("postgresql+asyncpg://u@h/d", "psycopg"),
    ],
)
def test_bad_store_urls_are_refused(url: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=match):
        Store(url, str(tmp_path))


def _write_many(url: str, artifacts: str, prefix: str, n: int) -> None:
    store = Store(url, artifacts)
    for i in range(n):
        with store.session() as s:
            count = s.scalar(text("SELECT count(*) FROM projects"))
            s.add(Project(name=f"{prefix}-{i}", description=str(count)))
    store.close()


def test_two_processes_writing_sqlite_at_once_never_see_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    artifacts = str(tmp_path / "artifacts")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(url, artifacts, f"p{k}", 40)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    store = Store(url, artifacts)
    with store.session(write=False) as s:
        assert s.scalar(text("SELECT count(*) FROM projects")) == 120
    store.close()
