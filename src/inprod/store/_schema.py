"""Bring a store's schema to the code's head revision, once, under a lock.

The head is a constant so that opening an up-to-date store costs one small query and no Alembic
import; ``tests/store/test_migrations.py`` keeps it equal to the migration scripts' head.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

HEAD_REVISION = "0006"
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = 0x1A9F0D  # pg_advisory_lock key while migrating


def current_revision(conn: Connection) -> str | None:
    try:
        with conn.begin_nested() if conn.in_transaction() else contextlib.nullcontext():
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError:
        return None
    return row[0] if row else None


def alembic_config(conn: Connection):  # -> alembic.config.Config, imported lazily
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


@contextlib.contextmanager
def migration_lock(engine: Engine, conn: Connection) -> Iterator[None]:
    """Only one process migrates a store; the others wait, then find it done."""
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
            conn.commit()
    else:
        lock_path = Path(str(engine.url.database) + ".migrate.lock")
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(engine: Engine, conn: Connection) -> None:
    from alembic import command

    with migration_lock(engine, conn):
        conn.rollback()
        if current_revision(conn) == HEAD_REVISION:
            conn.rollback()
            return
        conn.rollback()
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
