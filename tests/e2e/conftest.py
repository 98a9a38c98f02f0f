"""Fixtures for the end-to-end tests; the helpers live in ``e2e_server``."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from e2e_server import HERE, Server, register_models, run_server

from inprod.store import Store


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Store, dict]]:
    """One server for a test module, with the models above; SQLite store."""
    home = tmp_path_factory.mktemp("served")
    sys.path.insert(0, str(HERE))
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    data = register_models(store)
    with run_server(store, home) as server:
        yield server, store, data
    store.close()
