"""Metric points buffered in memory and written in batches.

Why batches: one transaction per point costs a lock, a commit and a round trip (milliseconds on
PostgreSQL); a training loop logs thousands of points a second. Points are appended to a list and
written with one multi-row Core ``INSERT`` when the buffer holds :data:`DEFAULT_FLUSH_POINTS`
points or its oldest point is :data:`DEFAULT_FLUSH_AGE_S` old, and always when the run ends.

Why in the caller's thread: measured (benchmarks/runs_bench.py) the whole cost of 100,000 points
including the final flush is well under the 2 s budget, and a background writer would add a
thread, a queue and shutdown ordering for little gain under the GIL. The age is checked on the
next ``log_metric`` call, so an idle run's last points wait at most until the next log or the end.

A failed write keeps the points in the buffer (they are removed only after a commit), so a
transient store outage loses nothing; the next flush retries them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from ..store import Store
from ..store.tables import Run, RunMetric

DEFAULT_FLUSH_POINTS = 5_000
DEFAULT_FLUSH_AGE_S = 5.0

_METRICS = RunMetric.__table__
_COLUMNS = ("run_id", "key", "value", "step", "time")
_RUNS = Run.__table__


class MetricBuffer:
    """Pending points of one run plus the latest value and next step of every key.

    Not thread-safe on its own: :class:`~inprod.tracking.runs.ActiveRun` holds a lock around it.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        max_points: int = DEFAULT_FLUSH_POINTS,
        max_age_s: float = DEFAULT_FLUSH_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.max_points = max_points
        self.max_age_s = max_age_s
        self._clock = clock
        # (key, value, step, unix time) — tuples are the cheapest thing to append
        self.pending: list[tuple[str, float, int, float]] = []
        self.latest: dict[str, float] = {}
        self.next_step: dict[str, int] = {}
        self._oldest = 0.0
        self._latest_dirty = False

    def add(self, key: str, value: float, step: int | None) -> None:
        if step is None:
            step = self.next_step.get(key, 0)
        if step >= self.next_step.get(key, 0):
            self.next_step[key] = step + 1
        if not self.pending:
            self._oldest = self._clock()
        self.pending.append((key, value, step, time.time()))
        self.latest[key] = value
        self._latest_dirty = True
        if len(self.pending) >= self.max_points or self._clock() - self._oldest >= self.max_age_s:
            self.flush()

    def flush(self, **run_values: Any) -> int:
        """Write the pending points and the latest values in one transaction; return how many.

        ``run_values`` (status, end time, ...) are written to the run row in the same
        transaction, so ending a run and its last points commit together.
        """
        points = self.pending
        if not points and not self._latest_dirty and not run_values:
            return 0
        run_id = self.run_id
        rows = [
            (run_id, key, value, step, datetime.fromtimestamp(at, UTC))
            for key, value, step, at in points
        ]
        values = dict(run_values)
        if self._latest_dirty:
            values["latest_metrics"] = dict(self.latest)
        with self.store.session() as s:
            conn = s.connection()
            if rows:
                _insert_rows(conn, rows)
            if values:
                conn.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(**values))
        # only now: a failed write leaves every point in place for the next try
        del points[: len(rows)]
        self._latest_dirty = False
        return len(rows)


def _insert_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """One multi-row write in the session's transaction.

    PostgreSQL gets ``COPY ... FROM STDIN``: measured (benchmarks/runs_bench.py), psycopg's
    pipelined ``executemany`` behind a Core ``insert`` costs ~25 us a point there, COPY a few.
    SQLite's ``executemany`` is already fast (~7 us a point, most of it SQLAlchemy's binding).
    """
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        columns = ", ".join(_COLUMNS)
        with cursor, cursor.copy(f"COPY {_METRICS.name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        run_id, key, value, step, at = _COLUMNS
        conn.execute(
            insert(_METRICS),
            [{run_id: r[0], key: r[1], value: r[2], step: r[3], at: r[4]} for r in rows],
        )
