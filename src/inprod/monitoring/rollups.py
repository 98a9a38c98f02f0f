"""Hour and day rollups of the one-minute window profiles.

The leader merges every replica's minute rows of a closed hour into one hour row, and the hour
rows of a closed day into one day row (replica ``rollup``), once the period has been closed for
``SETTLE_S`` (the writers store a minute a few seconds after it ends). Minute rows stay, so a
chart can still zoom in; readers (:func:`.windows.read_profiles`) take the coarsest rows that
fit their span. Records that reach a minute after its hour was rolled up are not in the rollup;
with the writers' 5 s grace and a 2-minute settle time that does not happen in practice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from ..store import Store, get_store
from ..store.tables import WindowProfileRow
from .profile import ProfileKey, WindowProfile, merge_all
from .windows import ROLLUP_REPLICA, ROLLUP_SECONDS, WINDOW_S, _upsert

HOUR_S, DAY_S = ROLLUP_SECONDS
LEVELS = ((HOUR_S, WINDOW_S), (DAY_S, HOUR_S))  # (rollup length, the rows it merges)
SETTLE_S = 120.0
MAX_PERIODS_PER_PASS = 500  # a long backlog is caught up over several passes


def _floor(when: datetime, seconds: int) -> datetime:
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def roll_up(*, now: datetime | None = None, store: Store | None = None) -> int:
    """Write the missing hour and day rollups that have settled; returns how many rows."""
    store = get_store(store)
    now = now or datetime.now(UTC)
    written = 0
    for length, source in LEVELS:
        written += _roll_level(length, source, now, store)
    return written


def _roll_level(length: int, source: int, now: datetime, store: Store) -> int:
    """Roll up, per stream, the periods after its latest rollup that have source rows."""
    limit = _floor(now - timedelta(seconds=SETTLE_S), length)  # periods ending by then
    stream_cols = (
        WindowProfileRow.endpoint, WindowProfileRow.model_name,
        WindowProfileRow.model_version, WindowProfileRow.role,
    )  # fmt: skip
    with store.session(write=False) as s:
        marks = {
            tuple(row[:4]): row[4]
            for row in s.execute(
                select(*stream_cols, func.max(WindowProfileRow.window_start))
                .where(WindowProfileRow.window_s == length)
                .group_by(*stream_cols)
            )
        }
        streams = s.execute(
            select(*stream_cols, func.min(WindowProfileRow.window_start))
            .where(WindowProfileRow.window_s == source, WindowProfileRow.window_start < limit)
            .group_by(*stream_cols)
        ).all()
        pending: set[tuple] = set()
        for *stream_values, first in streams:
            stream = tuple(stream_values)
            mark = marks.get(stream)
            lower = first if mark is None else mark + timedelta(seconds=length)
            starts = s.scalars(
                select(WindowProfileRow.window_start)
                .where(
                    *(col == value for col, value in zip(stream_cols, stream, strict=True)),
                    WindowProfileRow.window_s == source,
                    WindowProfileRow.window_start >= lower,
                    WindowProfileRow.window_start < limit,
                )
                .distinct()
            )
            pending.update((*stream, _floor(start, length)) for start in starts)
    written = 0
    for endpoint, model, version, role, period in sorted(pending, key=lambda p: p[4]):
        if written >= MAX_PERIODS_PER_PASS:
            break
        written += _roll_one(endpoint, model, version, role, period, length, source, store)
    return written


def _roll_one(
    endpoint: str, model: str, version: int, role: str, start: datetime, length: int,
    source: int, store: Store,
) -> int:  # fmt: skip
    end = start + timedelta(seconds=length)
    with store.session() as s:
        datas = s.scalars(
            select(WindowProfileRow.profile).where(
                WindowProfileRow.endpoint == endpoint,
                WindowProfileRow.model_name == model,
                WindowProfileRow.model_version == version,
                WindowProfileRow.role == role,
                WindowProfileRow.window_s == source,
                WindowProfileRow.window_start >= start,
                WindowProfileRow.window_start < end,
            )
        ).all()
        if not datas:
            return 0
        merged = merge_all(WindowProfile.from_dict(d) for d in datas)
        merged.key = ProfileKey(endpoint, model, version, role, start, float(length))
        _upsert(s, merged, ROLLUP_REPLICA)
        return 1
