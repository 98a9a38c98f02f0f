"""The pipeline view: per time window, every stage's metrics next to a join of its traces.

Stage metrics come from window profiles (never from raw predictions; hour and day rollups
stand in for their minutes when a view window holds them whole), merged per view window over
replicas, model versions and the served roles (primary and canary; a shadow's answers never
feed the next stage). The join reads raw predictions, so it is bounded: per window at most
``max_traces`` trace ids of the first stage, taken in trace-id order — a fair sample when ids
are random, as W3C trace ids are, and the same sample on every read — then each stage's
predictions of those ids through the trace-id index.

End-to-end latency of a trace runs from the earliest stage start (a prediction's time, when it
was answered, less its latency) to the last stage's answer: client time between stages counts,
as the user waits for it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select, text

from ..errors import InvalidInput
from ..store import Store
from ..store.tables import Prediction
from .metrics import parse_metric, profile_metric
from .profile import WindowProfile, merge_all
from .windows import read_profiles, window_start

if TYPE_CHECKING:
    from .pipelines import Stage

DEFAULT_WINDOW_S = 60
DEFAULT_MAX_TRACES = 1000
MAX_TRACES = 100_000
MAX_WINDOWS = 500
DEFAULT_STAGE_METRICS = (
    "requests",
    "error_rate",
    "latency.p95",
    "output.value.mean",
    "output.confidence.mean",
)
_PROFILE_FAMILIES = ("software", "input", "output")
_NOT_SERVED = "shadow"


class _Plain:
    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))  # type: ignore[call-overload]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class StageWindow(_Plain):
    """One stage in one window: its served traffic (primary and canary, shadows left out)."""

    metrics: dict[str, float | None]
    summary: dict[str, Any] | None  # WindowProfile.summary(); None: no profile in this window
    versions: list[str] = field(default_factory=list)


@dataclass
class TraceJoin(_Plain):
    """A sample of at most ``max_traces`` traces that entered the first stage in one window."""

    traces: int
    sampled: bool  # the window had more traces than the sample holds
    reached: dict[str, int]
    stopped_after: dict[str, int]
    completed: int
    latency_ms: dict[str, float] | None  # end to end, over the completed traces


@dataclass
class ViewWindow(_Plain):
    start: datetime
    seconds: int
    stages: dict[str, StageWindow]
    join: TraceJoin


@dataclass
class PipelineView(_Plain):
    pipeline: str
    stages: list[str]
    since: datetime
    until: datetime
    window_s: int
    max_traces: int
    metrics: dict[str, list[str]]
    windows: list[ViewWindow]


def resolve_span(
    since: str | datetime, until: str | datetime | None = None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``since``: a duration back from now (``"1h"``) or a time; ``until``: a time (default
    now). ISO times without a zone are UTC."""
    from ..rollout.plan import parse_duration

    now = now or datetime.now(UTC)

    def when(value: str | datetime, what: str) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            if what == "until":
                raise InvalidInput(
                    f"until {value!r} is not a time like 2026-11-25T12:00", field=what
                ) from None
            return now - timedelta(seconds=parse_duration(value, what="since"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    start, end = when(since, "since"), now if until is None else when(until, "until")
    if start >= end:
        raise InvalidInput(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    return start, end


def build_view(
    pipeline: str,
    stages: Sequence[Stage],
    *,
    since: datetime,
    until: datetime,
    window_s: int,
    metrics: Mapping[str, Sequence[str]],
    max_traces: int,
    store: Store,
) -> PipelineView:
    """What :func:`inprod.monitoring.pipelines.pipeline_view` returns, for known stages."""
    names = [st.name for st in stages]
    window_s = _check_window(window_s, since, until)
    if isinstance(max_traces, bool) or not isinstance(max_traces, int) or max_traces < 1:
        raise InvalidInput(
            f"max_traces {max_traces!r} must be a whole number >= 1", field="max_traces"
        )
    if max_traces > MAX_TRACES:
        raise InvalidInput(
            f"max_traces {max_traces} is over the limit of {MAX_TRACES}", field="max_traces"
        )
    chosen = {n: list(metrics.get(n, DEFAULT_STAGE_METRICS)) for n in names}
    for wanted in chosen.values():
        for spec in map(parse_metric, wanted):
            if spec.family not in _PROFILE_FAMILIES:
                raise InvalidInput(
                    f"metric {spec.name!r} is not computed from window profiles; a pipeline view "
                    "shows software, input and output metrics (docs/monitoring.md)",
                    field="metric",
                )
    windows = []
    start = window_start(since, window_s)
    with store.session(write=False) as s:
        if store.dialect == "postgresql":
            # The join's statements repeat with new trace ids; after five runs the driver
            # prepares them and PostgreSQL may switch to a generic plan, which on the stale
            # statistics of fresh windows was up to 20x slower a query (a 1 h view: 12.6 s
            # instead of 3.2 s).
            s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        while start < until:
            end = start + timedelta(seconds=window_s)
            stage_windows = {
                st.name: _stage_window(
                    read_profiles(st.logged_as, since=start, until=end, store=store),
                    chosen[st.name],
                )
                for st in stages
            }
            join = _join(s, stages, start, window_s, max_traces)
            if join.traces or any(w.summary is not None for w in stage_windows.values()):
                windows.append(ViewWindow(start, window_s, stage_windows, join))
            start = end
    return PipelineView(pipeline, names, since, until, window_s, max_traces, chosen, windows)


def _check_window(window_s: Any, since: datetime, until: datetime) -> int:
    if isinstance(window_s, bool) or not isinstance(window_s, int | float) or window_s < 1:
        raise InvalidInput(f"window {window_s!r} must be at least 1 second", field="window")
    if window_s != int(window_s):
        raise InvalidInput(f"window {window_s!r} must be whole seconds", field="window")
    count = (until - since).total_seconds() / window_s
    if count > MAX_WINDOWS:
        raise InvalidInput(
            f"{(until - since).total_seconds() / 3600:.3g} h in windows of {int(window_s)} s is "
            f"{math.ceil(count)} windows; "
            f"at most {MAX_WINDOWS}: widen the window or shorten the span",
            field="window",
        )
    return int(window_s)


def _stage_window(
    streams: dict[tuple[str, int, str], WindowProfile], names: list[str]
) -> StageWindow:
    """The stage's served traffic in one window: every version and role but shadow merged into
    one profile (a mix of versions is still what the next stage received)."""
    served = [p for (_, _, role), p in sorted(streams.items()) if role != _NOT_SERVED]
    if not served:
        return StageWindow({n: None for n in names}, None)
    first = served[0].key
    profile = merge_all(
        [replace(p, key=replace(first, start=p.key.start, seconds=p.key.seconds)) for p in served]
    )
    versions = [f"{p.key.model_name}@{p.key.model_version} {p.key.role}" for p in served]
    values = {n: profile_metric(parse_metric(n), profile).value for n in names}
    return StageWindow(values, profile.summary(), versions)


def _join(s: Any, stages: Sequence[Stage], start: datetime, window_s: int, limit: int) -> TraceJoin:
    """Which stages a sample of the window's traces reached, and their end-to-end latency."""
    end = start + timedelta(seconds=window_s)
    ids = list(
        s.scalars(
            select(Prediction.trace_id)
            .where(
                Prediction.endpoint == stages[0].logged_as,
                Prediction.time >= start,
                Prediction.time < end,
                Prediction.trace_id.is_not(None),
                Prediction.role != _NOT_SERVED,
            )
            .distinct()
            .order_by(Prediction.trace_id)  # random ids: a fair sample, the same on every read
            .limit(limit + 1)
        )
    )
    sampled, ids = len(ids) > limit, ids[:limit]
    spans: dict[str, list[float]] = {}  # trace -> [first start, last end] in epoch seconds
    reached: dict[str, set[str]] = {}
    horizon = end + timedelta(seconds=window_s)
    for st in stages if ids else ():
        # a list, not a subquery: PostgreSQL misjudges a fresh window's rows and would loop
        rows = s.execute(
            select(Prediction.trace_id, Prediction.time, Prediction.latency_ms).where(
                Prediction.endpoint == st.logged_as,
                Prediction.trace_id.in_(ids),
                Prediction.time >= start,
                Prediction.time < horizon,
                Prediction.role != _NOT_SERVED,
            )
        )
        seen = reached[st.name] = set()
        for trace_id, when, latency in rows:
            seen.add(trace_id)
            done = when.timestamp()
            span = spans.setdefault(trace_id, [done - latency / 1000.0, done])
            span[0], span[1] = min(span[0], done - latency / 1000.0), max(span[1], done)
    names = [st.name for st in stages]
    last_reached: dict[str, int] = {}
    for i, name in enumerate(names):
        for trace_id in reached.get(name, ()):
            last_reached[trace_id] = i
    complete = [t for t in ids if all(t in reached.get(n, ()) for n in names)]
    latencies = np.array([1000.0 * (spans[t][1] - spans[t][0]) for t in complete])
    quantiles = (
        dict(
            zip(("p50", "p95", "p99"), np.percentile(latencies, [50, 95, 99]).tolist(), strict=True)
        )
        if latencies.size
        else None
    )
    return TraceJoin(
        traces=len(ids),
        sampled=sampled,
        reached={n: len(reached.get(n, ())) for n in names},
        stopped_after={
            n: sum(1 for i in last_reached.values() if i == k) for k, n in enumerate(names[:-1])
        },
        completed=len(complete),
        latency_ms=quantiles,
    )
