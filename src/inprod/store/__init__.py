"""The store: SQLite (embedded default) or PostgreSQL (shared), one schema, Alembic migrations.

Open it with :func:`get_store` (the default from settings) or :class:`Store`; use
``with store.session() as s:`` for a unit of work that commits on exit.
"""

from __future__ import annotations

from ._store import Store as Store
from ._store import get_store as get_store
from ._store import reset_default_store as reset_default_store

__all__ = ["Store", "get_store", "reset_default_store"]
