from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from ..artifacts import ArtifactStore
from ..config import Settings, load_settings, mask_url
from ..errors import StoreUnavailable
from . import _schema
from ._engine import SQLITE_BUSY_TIMEOUT_S, make_engine

if TYPE_CHECKING:
    pass


class Store:
    """A database (metadata) plus an artifact root (bytes). Safe to share between threads."""

    def __init__(self, url: str, artifacts: str, *, settings: Settings | None = None) -> None:
        self.url = url
        self.settings = settings
        self.engine: Engine = make_engine(url)
        cache = settings.home / "cache" if settings is not None else None
        self.artifacts = ArtifactStore(artifacts, cache_dir=cache)
        self._ready = False
        self._ready_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        settings = settings or load_settings()
        return cls(settings.store_url, settings.artifacts, settings=settings)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r}, artifacts={self.artifacts.root!r})"

    # -- schema --------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Apply pending migrations on first use; refuse a store newer than this code."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            with self._connect() as conn:
                conn = conn.execution_options(inprod_write=False)
                revision = _schema.current_revision(conn)
                conn.rollback()
                if revision is not None and revision not in _schema.KNOWN_REVISIONS:
                    raise StoreUnavailable(
                        f"the store at {mask_url(self.url)} has schema revision {revision!r}, "
                        f"newer than this inprod knows (head {_schema.HEAD_REVISION!r}); "
                        "upgrade inprod (pip install -U inprod) or point INPROD_STORE_URL "
                        "at another store"
                    )
                if revision != _schema.HEAD_REVISION:
                    conn = conn.execution_options(inprod_write=True)
                    _schema.upgrade(self.engine, conn)
            self._ready = True

    def revision(self) -> str | None:
        with self._connect() as conn:
            return _schema.current_revision(conn.execution_options(inprod_write=False))

    # -- sessions ------------------------------------------------------------
    @contextlib.contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work: commits when the block ends, rolls back on an exception.

        ``write=False`` opens a read-only snapshot that never takes SQLite's write lock.
        """
        self.ensure_schema()
        with self._connect() as conn:
            conn = conn.execution_options(inprod_write=write)
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    with session.begin():
                        yield session
                except OperationalError as exc:
                    raise self._unavailable(exc) from exc

    @contextlib.contextmanager
    def _connect(self) -> Iterator:
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc
        with conn:
            yield conn

    def _unavailable(self, exc: DBAPIError) -> Exception:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if self.dialect == "sqlite" and "locked" in reason:
            return StoreUnavailable(
                f"the SQLite store {mask_url(self.url)} stayed locked by another process for "
                f"{SQLITE_BUSY_TIMEOUT_S}s; retry, stop the other writer, or use PostgreSQL "
                "for many concurrent writers"
            )
        if isinstance(exc, OperationalError):
            return StoreUnavailable(
                f"cannot reach the store at {mask_url(self.url)}: {reason} — check "
                "INPROD_STORE_URL (inprod config show) and that the database is running"
            )
        return exc

    def close(self) -> None:
        self.engine.dispose()


_default: Store | None = None
_default_lock = threading.Lock()


def get_store(store: Store | None = None) -> Store:
    """The given store, or the process-wide default built from the settings."""
    global _default
    if store is not None:
        return store
    with _default_lock:
        if _default is None:
            _default = Store.from_settings()
        return _default


def reset_default_store() -> None:
    """Forget the default store (tests, or after changing INPROD_* variables)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
