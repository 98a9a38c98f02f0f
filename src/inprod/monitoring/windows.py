"""Window profiles from the prediction log, stored per replica and merged when read.

The server's log writer hands every batch of records it stored to a :class:`WindowAggregator`
(in the writer thread, so the request path pays nothing). Records are grouped into one-minute
windows per endpoint × version × role; the records of one request (they share their time and
latency) count as one call. A window is written once it has been closed for ``grace_s``
seconds, in the same transaction as the predictions; records that arrive later for a written
window are merged into its row. Each replica writes rows under its own name, so replicas never
contend: :func:`read_profile` merges whatever rows cover the asked span.

Inputs are profiled from the logged records, so an endpoint with ``sample_rate`` < 1 profiles
that sample of its inputs (outputs, latency and errors are always complete).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import extract, or_, select
from sqlalchemy.orm import Session

from ..errors import InprodError
from ..store import Store, get_store
from ..store.tables import WindowProfileRow, utcnow
from .profile import ProfileBuilder, ProfileKey, WindowProfile, merge_all

log = logging.getLogger(__name__)

WINDOW_S = 60
GRACE_S = 5.0
FEATURES_TTL_S = 5.0  # as the servers' refresh_seconds: a changed setting applies as fast
ROLLUP_REPLICA = "rollup"  # rows merged from every replica's finer windows
ROLLUP_SECONDS = (3600, 86400)  # hour and day rollups (rollups.py), finest first
_CHUNK = 500  # values in one IN (...)
T = TypeVar("T")
Stream = tuple[str, int, str]  # model name, version, role
# positions in the prediction log's record tuple (serving/tap.py _COLUMNS)
_TIME, _ENDPOINT, _MODEL, _VERSION, _ROLE = 1, 2, 3, 4, 5
_INPUTS, _OUTPUTS, _LATENCY, _STATUS = 9, 10, 12, 13


def replica_name() -> str:
    """Host and process: unique among the replicas writing to one store."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}"


def window_start(when: datetime, seconds: int = WINDOW_S) -> datetime:
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


class FeatureFunctions:
    """Each endpoint's ``features`` setting (``module:function``) imported, re-read from the store
    every ``ttl_s``. The function gets one logged instance and returns a dict of derived
    features (an image → its mean brightness and contrast); they are profiled with the
    instance's own features (a dict instance) or instead of its row summary (an array)."""

    def __init__(self, store: Store | None, *, ttl_s: float = FEATURES_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._loaded: dict[str, Callable[[Any], Any] | None] = {}
        self._read_at = -math.inf
        self.failures = 0  # instances whose function raised or returned no dict

    def get(self, endpoint: str) -> Callable[[Any], Any] | None:
        if self.store is None:
            return None
        if time.monotonic() - self._read_at > self.ttl_s:
            self._reload()
        return self._loaded.get(endpoint)

    def _reload(self) -> None:
        from ..store.tables import Endpoint
        from .metrics import load_function

        self._read_at = time.monotonic()
        try:
            with self.store.session(write=False) as s:  # type: ignore[union-attr]
                rows = s.execute(select(Endpoint.name, Endpoint.settings)).all()
        except Exception:
            log.exception("reading the endpoints' feature functions failed; keeping the last")
            return
        loaded: dict[str, Callable[[Any], Any] | None] = {}
        for name, settings in rows:
            path = (settings or {}).get("features")
            if not path:
                continue
            try:
                loaded[name] = load_function(path)
            except InprodError as exc:
                if name not in self._loaded:
                    log.error("endpoint %s: feature function not loaded: %s", name, exc.message)
                loaded[name] = None
        self._loaded = loaded

    def derive(self, fn: Callable[[Any], Any], instances: list[Any]) -> list[Any]:
        out = []
        for row in instances:
            try:
                derived = fn(row)
            except Exception:
                derived = None
            if not isinstance(derived, dict):
                self.failures += 1
                out.append(row)
                continue
            out.append({**row, **derived} if isinstance(row, dict) else derived)
        return out


class WindowAggregator:
    """Builds the open windows of one writer; not thread-safe (the writer thread owns it)."""

    def __init__(
        self,
        *,
        replica: str | None = None,
        window_s: int = WINDOW_S,
        grace_s: float = GRACE_S,
        features: FeatureFunctions | None = None,
    ) -> None:
        self.replica = replica or replica_name()
        self.window_s = window_s
        self.grace_s = grace_s
        self.features = features or FeatureFunctions(None)
        self._open: dict[tuple, ProfileBuilder] = {}
        self.windows_written = 0

    def add(self, records: list[tuple]) -> None:
        """Feed stored log records (tuples in the tap's column order), in the order logged."""
        i, n = 0, len(records)
        while i < n:
            first = records[i]
            j = i + 1
            while j < n and _same_call(first, records[j]):
                j += 1
            call = records[i:j]
            key = (
                first[_ENDPOINT],
                first[_MODEL],
                first[_VERSION],
                first[_ROLE],
                window_start(first[_TIME], self.window_s),
            )
            builder = self._builder(key)
            status = first[_STATUS]
            instances = [r[_INPUTS] for r in call if r[_INPUTS] is not None]
            derive = self.features.get(first[_ENDPOINT])
            if derive is not None and instances:
                instances = self.features.derive(derive, instances)
            builder.add(
                instances,
                None if status != "ok" else [r[_OUTPUTS] for r in call],
                first[_LATENCY],
                "ok" if status in ("ok", "skipped") else status,
            )
            i = j

    def add_dropped(self, record: tuple) -> None:
        """One log record the buffer had no room for: ``(time, endpoint, model, version, role)``;
        counted in its window (``log.dropped``), so a profile says what it is missing."""
        when, endpoint, model, version, role = record
        self._builder((endpoint, model, version, role, window_start(when, self.window_s))).drop()

    def _builder(self, key: tuple) -> ProfileBuilder:
        builder = self._open.get(key)
        if builder is None:
            builder = ProfileBuilder(ProfileKey(*key, seconds=self.window_s))
            self._open[key] = builder
        return builder

    def closed(self, *, now: datetime | None = None, everything: bool = False) -> list[tuple]:
        """The windows closed for ``grace_s`` (every open one with ``everything``)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.grace_s)
        return [
            k for k in self._open
            if everything or k[4] + timedelta(seconds=self.window_s) <= cutoff
        ]  # fmt: skip

    def write(self, s: Session, keys: list[tuple]) -> None:
        """Store these windows in ``s``; call :meth:`forget` once ``s`` has committed (a failed
        write keeps them for the next try)."""
        for key in keys:
            _upsert(s, self._open[key].build(), self.replica)

    def forget(self, keys: list[tuple]) -> None:
        for key in keys:
            del self._open[key]
        self.windows_written += len(keys)


def _same_call(a: tuple, b: tuple) -> bool:
    """Records of one request share the time object and latency the tap gave them."""
    return (
        a[_TIME] is b[_TIME]
        and a[_LATENCY] == b[_LATENCY]
        and a[_ENDPOINT] == b[_ENDPOINT]
        and a[_ROLE] == b[_ROLE]
        and a[_VERSION] == b[_VERSION]
    )


def _upsert(s: Session, profile: WindowProfile, replica: str) -> None:
    k = profile.key
    row = s.scalar(
        select(WindowProfileRow).where(
            WindowProfileRow.endpoint == k.endpoint,
            WindowProfileRow.model_name == k.model_name,
            WindowProfileRow.model_version == k.model_version,
            WindowProfileRow.role == k.role,
            WindowProfileRow.window_start == k.start,
            WindowProfileRow.window_s == int(k.seconds),
            WindowProfileRow.replica == replica,
        )
    )
    if row is None:
        s.add(
            WindowProfileRow(
                endpoint=k.endpoint, model_name=k.model_name, model_version=k.model_version,
                role=k.role, window_start=k.start, window_s=int(k.seconds), replica=replica,
                instances=profile.instances, profile=profile.to_dict(), updated_at=utcnow(),
            )
        )  # fmt: skip
        return
    merged = WindowProfile.from_dict(row.profile).merge(profile)  # records that came late
    row.profile = merged.to_dict()
    row.instances = merged.instances
    row.updated_at = utcnow()


def read_profiles(
    endpoint: str,
    *,
    since: datetime,
    until: datetime,
    store: Store | None = None,
) -> dict[tuple[str, int, str], WindowProfile]:
    """Every replica's windows of ``endpoint`` starting in [since, until), merged per stream:
    ``{(model_name, model_version, role): profile}`` (empty: no data in that span).

    Day and hour rollups (:mod:`.rollups`) stand in for the minutes they cover, so a month
    reads ~30 day rows plus the edges instead of 43,200 minutes."""
    streams: dict[tuple[str, int, str], list[WindowProfile]] = {}
    profiles = covering_profiles(
        endpoint, since, until, max_seconds=ROLLUP_SECONDS[-1], store=get_store(store)
    )
    for profile in profiles:
        k = profile.key
        streams.setdefault((k.model_name, k.model_version, k.role), []).append(profile)
    return {stream: merge_all(profiles) for stream, profiles in streams.items()}


def covering_profiles(
    endpoint: str, since: datetime, until: datetime, *, max_seconds: int, store: Store
) -> list[WindowProfile]:
    """The coarsest rows, rollups no longer than ``max_seconds``, that tile [since, until).

    A week of minute rows under hour rollups costs neither their JSON nor their keys: rollups
    start on the hour, so they are looked up by exact start (the endpoint-and-start index);
    finer rows are read only before the first rollup found (the span's leading part hour) and
    after the last one, where the leader has not rolled up yet (it rolls every stream's closed
    hours in one pass, oldest first, so there are no holes between). Then only the chosen
    rows' profiles are read."""
    rollups: list[tuple[Any, ...]] = []
    with store.session(write=False) as s:
        if max_seconds >= ROLLUP_SECONDS[0]:
            for starts in _chunks(_aligned(since, until, ROLLUP_SECONDS[0])):
                rollups += _keys(
                    s,
                    endpoint,
                    WindowProfileRow.window_start.in_(starts),
                    WindowProfileRow.replica == ROLLUP_REPLICA,
                    WindowProfileRow.window_s <= max_seconds,
                )
        used = [r for r in rollups if r[4] + r[5] <= until.timestamp()]
        span = (WindowProfileRow.window_start >= since, WindowProfileRow.window_start < until)
        if used:  # the minutes before the first rollup used and after the last one
            first = datetime.fromtimestamp(min(r[4] for r in used), tz=UTC)
            frontier = datetime.fromtimestamp(max(r[4] + r[5] for r in used), tz=UTC)
            span += (
                or_(WindowProfileRow.window_start < first,
                    WindowProfileRow.window_start >= frontier),
            )  # fmt: skip
        finer = _keys(s, endpoint, *span, WindowProfileRow.replica != ROLLUP_REPLICA)
        datas: list[dict[str, Any]] = []
        for ids in _chunks(_tiling(rollups + finer, until.timestamp())):
            datas += s.scalars(
                select(WindowProfileRow.profile).where(WindowProfileRow.id.in_(ids))
            ).all()
    return [WindowProfile.from_dict(d) for d in datas]


def _keys(s: Session, endpoint: str, *where: Any) -> list[tuple[Any, ...]]:
    """``(id, model, version, role, start, seconds, replica)`` of an endpoint's rows, without
    their profiles; the start in unix seconds (thousands of numbers parse faster than
    datetimes)."""
    query = select(
        WindowProfileRow.id,
        WindowProfileRow.model_name,
        WindowProfileRow.model_version,
        WindowProfileRow.role,
        extract("epoch", WindowProfileRow.window_start),
        WindowProfileRow.window_s,
        WindowProfileRow.replica,
    ).where(WindowProfileRow.endpoint == endpoint, *where)
    return [(*r[:4], int(r[4]), *r[5:]) for r in s.execute(query)]


def _aligned(since: datetime, until: datetime, seconds: int) -> list[datetime]:
    """The multiples of ``seconds`` (unix time) in [since, until)."""
    first = -(-int(since.timestamp()) // seconds) * seconds
    return [
        datetime.fromtimestamp(t, tz=UTC) for t in range(first, int(until.timestamp()), seconds)
    ]


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _tiling(rows: Sequence[Any], until: float) -> list[int]:
    """Ids of the rows to read, from ``(id, model, version, role, start, seconds, replica)``
    with ``start`` in unix seconds: a rollup that ends by ``until`` stands in for every finer
    row it covers (rollups start at multiples of their length: one lookup a level finds it)."""
    covered: set[tuple[Stream, int, int]] = set()
    levels: set[int] = set()
    chosen = []
    rollups = sorted((r for r in rows if r[6] == ROLLUP_REPLICA), key=lambda r: -r[5])
    for row_id, model, version, role, start, seconds, _ in rollups:
        stream = (model, version, role)
        if start + seconds > until or _inside(covered, levels, stream, start):
            continue  # reaches past the span (its finer rows are read instead), or covered
        covered.add((stream, seconds, start))
        levels.add(seconds)
        chosen.append(row_id)
    for row_id, model, version, role, start, _, replica in rows:
        if replica != ROLLUP_REPLICA and not _inside(
            covered, levels, (model, version, role), start
        ):
            chosen.append(row_id)
    return chosen


def _inside(
    covered: set[tuple[Stream, int, int]], levels: set[int], stream: Stream, start: int
) -> bool:
    return any((stream, lv, start - start % lv) in covered for lv in levels)
