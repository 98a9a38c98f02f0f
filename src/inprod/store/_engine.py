"""Engines tuned per backend.

SQLite: WAL so readers never block the writer, a busy timeout so a second writer waits instead of
failing, and ``BEGIN IMMEDIATE`` for write transactions — a deferred transaction that reads and
then writes can fail at once with "database is locked" when another process wrote meanwhile,
without waiting for the busy timeout. Read-only sessions use a plain deferred ``BEGIN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..config import mask_url
from ..errors import InvalidInput

SQLITE_BUSY_TIMEOUT_S = 60
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_dumps(value: Any) -> str:
    """orjson for JSON columns: several times faster than the standard library on the
    prediction log's write path, and it also takes numpy values."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(
            f"store URL {mask_url(url)!r} is not a valid URL; use sqlite:///path/to/store.db "
            "or postgresql+psycopg://user:password@host/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise InvalidInput(
                f"store URL uses driver {parsed.drivername!r}; inprod talks to PostgreSQL through "
                "psycopg 3: use postgresql+psycopg://..."
            )
        return create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10},
            json_serializer=json_dumps,
        )
    raise InvalidInput(
        f"store URL {mask_url(url)!r} names backend {backend!r}; "
        "inprod supports sqlite:/// and postgresql+psycopg://"
    )


def _sqlite_engine(parsed: Any) -> Engine:
    database = parsed.database
    if not database or database == ":memory:":
        raise InvalidInput(
            "an in-memory SQLite store would vanish with the process; give a file path: "
            "sqlite:///path/to/store.db"
        )
    path = Path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(
            f"cannot create the folder {path.parent} for the SQLite store: {exc.strerror}; "
            "set INPROD_HOME or INPROD_STORE_URL to a writable place"
        ) from exc
    engine = create_engine(
        parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, json_serializer=json_dumps
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("inprod_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
