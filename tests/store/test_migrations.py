from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from inprod.store import Store
from inprod.store._schema import HEAD_REVISION, KNOWN_REVISIONS, alembic_config
from inprod.store.tables import Base


def test_head_constant_matches_the_migration_scripts(store: Store) -> None:
    with store.engine.connect() as conn:
        script = ScriptDirectory.from_config(alembic_config(conn))
    assert script.get_current_head() == HEAD_REVISION
    assert sorted(r.revision for r in script.walk_revisions()) == sorted(KNOWN_REVISIONS)


def test_migrations_create_exactly_the_tables_in_the_code(store: Store) -> None:
    store.ensure_schema()
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
