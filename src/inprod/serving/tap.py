"""The prediction log tap: the hot path appends a record to a bounded buffer; a writer thread
flushes the buffer to the store in batches. Review tasks the hot path opens (low confidence,
disagreement, audit) travel the same way and are written in the same transaction as their
predictions, so a task never points at a prediction that was not stored.

Nothing is lost silently: when the buffer is full the prediction is still served, the record is
dropped and counted (``inprod_log_dropped_total`` on /metrics, and a warning in the log at most
once every 10 s). ``close()`` flushes everything left, so a graceful shutdown loses nothing.
A failed write (store briefly unreachable) is retried on the next tick while the records stay in
the buffer.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from ..store import Store
from ..store._engine import json_dumps

if TYPE_CHECKING:
    from ..monitoring.windows import WindowAggregator
from ..store.tables import ReviewTask

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100_000
DEFAULT_FLUSH_INTERVAL_S = 1.0
DEFAULT_FLUSH_ROWS = 2_000
_INSERT_REVIEW = insert(ReviewTask.__table__)
_COLUMNS = (
    "id",
    "time",
    "endpoint",
    "model_name",
    "model_version",
    "role",
    "stage",
    "request_key",
    "trace_id",
    "inputs",
    "outputs",
    "confidence",
    "latency_ms",
    "status",
    "error_id",
    "primary_id",
)
REVIEW_COLUMNS = (
    "id",
    "prediction_id",
    "endpoint",
    "model_name",
    "model_version",
    "reason",
    "inputs",
    "outputs",
    "confidence",
    "created_at",
)


class PredictionLog:
    """Bounded buffer + background writer. ``record`` is safe to call from the event loop."""

    def __init__(
        self,
        store: Store,
        *,
        capacity: int = DEFAULT_CAPACITY,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        on_flush: Callable[[int], None] | None = None,
        on_drop: Callable[[int], None] | None = None,
        windows: WindowAggregator | None = None,
    ) -> None:
        self.store = store
        self.windows = windows
        self.capacity = capacity
        self.flush_interval_s = flush_interval_s
        self.flush_rows = flush_rows
        self._buffer: deque[tuple] = deque()
        self._reviews: deque[tuple] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self.dropped = 0
        self._dropped_rows: deque[tuple] = deque()  # (time, endpoint, model, version, role)
        self.written = 0
        self._last_drop_warning = 0.0
        self._on_flush = on_flush
        self._on_drop = on_drop

    def __len__(self) -> int:
        return len(self._buffer) + len(self._reviews)

    def record(self, row: tuple) -> bool:
        """Queue one prediction row (a tuple in ``_COLUMNS`` order). False when dropped."""
        if len(self._buffer) >= self.capacity:
            self._drop()
            if self.windows is not None:  # counted in its window's profile by the writer
                self._dropped_rows.append(row[1:6])
            return False
        self._buffer.append(row)
        if len(self._buffer) >= self.flush_rows:
            self._wake.set()
        return True

    def review(self, row: tuple) -> bool:
        """Queue one review task (a tuple in ``REVIEW_COLUMNS`` order, status "open")."""
        if len(self._reviews) >= self.capacity:
            self._drop()
            return False
        self._reviews.append(row)
        return True

    def _drop(self) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop(1)
        now = time.monotonic()
        if now - self._last_drop_warning > 10:
            self._last_drop_warning = now
            log.warning(
                "prediction log buffer full (%d rows); %d record(s) dropped so far — the "
                "store cannot keep up; raise the capacity or use PostgreSQL",
                self.capacity,
                self.dropped,
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inprod-log-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("writing %d prediction(s) failed; will retry", len(self._buffer))
                time.sleep(min(self.flush_interval_s, 1.0))

    def flush(self) -> int:
        """Write everything buffered now; returns the number of rows written."""
        total = 0
        with self._write_lock:
            while self._buffer or self._reviews:
                n = min(len(self._buffer), 5_000)
                rows = [self._buffer.popleft() for _ in range(n)]
                reviews = [self._reviews.popleft() for _ in range(len(self._reviews))]
                try:
                    with self.store.session() as s:  # Core executemany: no ORM bookkeeping
                        conn = s.connection()
                        if rows:
                            sql, params = _driver_insert(conn.dialect.name)
                            conn.exec_driver_sql(sql, [params(r) for r in rows])
                        if reviews:
                            conn.execute(_INSERT_REVIEW, [_review_params(r) for r in reviews])
                except BaseException:
                    self._buffer.extendleft(reversed(rows))  # keep them, in order, for a retry
                    self._reviews.extendleft(reversed(reviews))
                    raise
                if self.windows is not None:
                    self.windows.add(rows)  # only once stored, so a retry never counts twice
                total += n
            if self.windows is not None:
                while self._dropped_rows:
                    self.windows.add_dropped(self._dropped_rows.popleft())
                self._write_windows()
        if total:
            self.written += total
            if self._on_flush is not None:
                self._on_flush(total)
        return total

    def _write_windows(self) -> None:
        """Store the window profiles that closed (all of them once the writer is stopping)."""
        assert self.windows is not None
        keys = self.windows.closed(everything=self._stop.is_set())
        if not keys:
            return
        try:
            with self.store.session() as s:
                self.windows.write(s, keys)
        except Exception:
            log.exception("writing %d window profile(s) failed; will retry", len(keys))
            return
        self.windows.forget(keys)

    def close(self) -> None:
        """Stop the writer and flush what is left (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception:
            log.exception(
                "could not flush %d prediction(s) at shutdown; they are lost", len(self._buffer)
            )


_JSON_AT = frozenset(i for i, c in enumerate(_COLUMNS) if c in ("inputs", "outputs"))
_TIME_AT = _COLUMNS.index("time")


def _driver_insert(dialect: str) -> tuple[str, Any]:
    """The prediction insert as the database driver takes it, and the row -> parameters function.

    Why not SQLAlchemy's ``insert()``: its per-row bind processing (type decorators, the JSON
    serializer, parameter dicts) cost ~20 µs a row, more than SQLite's own insert (~10 µs); the
    writer thread holds the GIL meanwhile, so every row logged slowed the event loop. Here the
    JSON is serialised once with orjson and the time given as the driver stores it (SQLite: the
    text SQLAlchemy writes and reads back; PostgreSQL: a timezone-aware datetime). A test reads
    the rows back through the ORM (tests/serving/test_predictions_log.py).
    """
    columns = ", ".join(_COLUMNS)
    if dialect == "postgresql":
        marks = ", ".join("%s::jsonb" if i in _JSON_AT else "%s" for i in range(len(_COLUMNS)))
        sql = f"INSERT INTO predictions ({columns}) VALUES ({marks})"

        def params(row: tuple) -> tuple:
            return tuple(
                (None if v is None else json_dumps(v)) if i in _JSON_AT else v
                for i, v in enumerate(row)
            )

        return sql, params
    sql = f"INSERT INTO predictions ({columns}) VALUES ({', '.join('?' * len(_COLUMNS))})"

    def sqlite_params(row: tuple) -> tuple:
        out = list(row)
        for i in _JSON_AT:
            if out[i] is not None:
                out[i] = json_dumps(out[i])
        out[_TIME_AT] = _sqlite_time(out[_TIME_AT])
        return tuple(out)

    return sql, sqlite_params


@functools.lru_cache(maxsize=256)
def _sqlite_time(when: datetime) -> str:
    """The text SQLAlchemy stores a DateTime as on SQLite (rows of one request share a time)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _review_params(row: tuple) -> dict:
    params = dict(zip(REVIEW_COLUMNS, row, strict=True))
    params["status"] = "open"
    return params


def now() -> datetime:
    return datetime.now(UTC)
