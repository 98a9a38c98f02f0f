"""Helpers for the tracking tests: dataset rows and run rows written straight into the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from inprod.store import Store
from inprod.store.tables import Dataset, DatasetVersion, Run, RunMetric
from inprod.tracking import _open_runs

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_run_left_open() -> Iterator[None]:
    """A test that leaves a run open would have it ended at interpreter exit, after its store
    is gone; fail the test instead."""
    yield
    leaked = list(_open_runs._runs)
    _open_runs._runs.clear()
    assert not leaked, f"runs left open: {leaked}"


@pytest.fixture
def make_dataset(store: Store) -> Callable[[str, int], list[int]]:
    """``make_dataset("phone-images", 2)`` -> the row ids of versions 1 and 2."""

    def _make(name: str, versions: int = 1) -> list[int]:
        with store.session() as s:
            ds = Dataset(name=name)
            s.add(ds)
            s.flush()
            rows = [
                DatasetVersion(
                    dataset_id=ds.id,
                    version=v,
                    content_hash=f"{name}-{v}",
                    kind="table",
                    format="csv",
                    row_count=10 * v,
                )
                for v in range(1, versions + 1)
            ]
            s.add_all(rows)
            s.flush()
            return [r.id for r in rows]

    return _make


@pytest.fixture
def insert_run(store: Store) -> Callable[..., str]:
    """A run row with a chosen id and start time, without start_run's git and environment."""

    def _insert(run_id: str, minutes: int = 0, **values: Any) -> str:
        row = {
            "id": run_id,
            "project": "p",
            "name": "",
            "status": "finished",
            "start_time": T0 + timedelta(minutes=minutes),
            "end_time": T0 + timedelta(minutes=minutes, seconds=90),
            "environment": {},
            "params": {},
            "tags": {},
            "latest_metrics": {},
            **values,
        }
        with store.session() as s:
            s.execute(insert(Run.__table__).values(**row))
        return run_id

    return _insert


@pytest.fixture
def count_points(store: Store) -> Callable[..., int]:
    """How many metric points are stored (for one run, or in all)."""

    def _count(run_id: str | None = None) -> int:
        query = select(func.count()).select_from(RunMetric)
        if run_id is not None:
            query = query.where(RunMetric.run_id == run_id)
        with store.session(write=False) as s:
            return int(s.scalar(query))

    return _count


@pytest.fixture
def stored_run(store: Store) -> Callable[[str], Run]:
    """The run row as the store holds it now."""

    def _get(run_id: str) -> Run:
        with store.session(write=False) as s:
            return s.get(Run, run_id)

    return _get
