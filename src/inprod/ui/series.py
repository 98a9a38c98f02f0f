"""What the overview and the endpoint page draw: a window and its step, the window's profiles in
buckets per stream, and charts in the format ``static/ui.js`` draws.

A page reads its window's profiles once and computes every series from the same buckets. The
step decides which rows are read: minute rows up to :data:`MAX_ROWS_PER_STREAM` minutes, else
hour rollups (a step of whole hours), else day rollups, so 7 days is ~170 rows a stream instead
of 10,080 minutes. Accuracy is the one series that needs the log: it reads the window's latest
:data:`ACCURACY_ANSWERS` answers with their labels (about 3.6 ms per 1,000 on SQLite: the
233,000 answers of a busy week would take several hundred milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..errors import InvalidInput
from ..monitoring.alerts import AlertInfo
from ..monitoring.feedback_metrics import same_label
from ..monitoring.metrics import MetricSpec, parse_metric
from ..monitoring.monitors import MonitorInfo
from ..monitoring.profile import WindowProfile
from ..monitoring.series import Bucket, bucket_profiles, series_of
from ..monitoring.windows import ROLLUP_SECONDS, WINDOW_S, Stream, covering_profiles
from ..rollout.actions import PlanEvent
from ..store import Store
from ..store.tables import Feedback, Prediction

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
DEFAULT_WINDOW = "1h"
MAX_POINTS = 2000
MAX_ROWS_PER_STREAM = 400  # minute rows up to 6 h 40 min, hour rollups up to 16 days
MAX_SPAN_S = 400 * 86400
LEVELS = (WINDOW_S, *ROLLUP_SECONDS)  # what a step can be read from
# steps of an hour or more are whole hours, of a day or more whole days: rollups fit in one
STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
ACCURACY_ANSWERS = 25_000
CLIENT_ROLES = ("primary", "canary", "previous")  # roles whose answers reach clients
_ROLE_ORDER = {"primary": 0, "canary": 1, "previous": 2, "shadow": 3}


@dataclass(frozen=True)
class Window:
    """The span a page shows, ``[start, end)`` in steps of ``step`` seconds; ``start`` is a
    multiple of the step (UTC), so hour and day rollups fall inside one step each."""

    name: str  # 1h, 24h, 7d or custom
    start: datetime
    end: datetime
    step: int

    @property
    def count(self) -> int:
        return max(1, math.ceil((self.end - self.start).total_seconds() / self.step))

    def times(self) -> list[int]:
        """Each step's start in unix seconds: a chart's x values."""
        first = int(self.start.timestamp())
        return [first + i * self.step for i in range(self.count)]

    def seconds(self, index: int) -> float:
        """How long step ``index`` is (the last one ends at ``end``)."""
        begin = self.start + timedelta(seconds=index * self.step)
        return max(min(float(self.step), (self.end - begin).total_seconds()), 1.0)

    def params(self) -> list[tuple[str, str]]:
        """This window as URL parameters, for links and forms that keep it."""
        if self.name != "custom":
            return [("window", self.name)]
        return [("start", _iso(self.start)), ("end", _iso(self.end))]

    @property
    def step_text(self) -> str:
        for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
            if self.step % size == 0:
                return f"{self.step // size} {unit}"
        return f"{self.step} s"

    @property
    def start_text(self) -> str:
        return _iso(self.start)

    @property
    def end_text(self) -> str:
        return _iso(self.end)


def parse_window(params: Mapping[str, str], *, now: datetime | None = None) -> Window:
    """The window a page's query names: ``window=1h|24h|7d`` (default 1h), or ``start`` and
    ``end`` (ISO, UTC without an offset; ``end`` defaults to now). :class:`InvalidInput` names
    the parameter to fix."""
    now = now or datetime.now(UTC)
    start_text = (params.get("start") or "").strip()
    end_text = (params.get("end") or "").strip()
    if start_text or end_text:
        if not start_text:
            raise InvalidInput("give start with end (or pick 1h, 24h or 7d)", field="start")
        start = _parse_time(start_text, "start")
        end = _parse_time(end_text, "end") if end_text else now
        if start >= end:
            raise InvalidInput(
                f"start {_iso(start)} is not before end {_iso(end)}; pick a start earlier "
                "than the end",
                field="start",
            )
        if (end - start).total_seconds() > MAX_SPAN_S:
            raise InvalidInput(
                f"the window from start {_iso(start)} to end {_iso(end)} is longer than "
                f"{MAX_SPAN_S // 86400} days; pick a later start",
                field="start",
            )
        name = "custom"
    else:
        name = params.get("window") or DEFAULT_WINDOW
        if name not in WINDOWS:
            raise InvalidInput(
                f"window {name!r} is not one of {', '.join(WINDOWS)}; or give start and end",
                field="window",
            )
        start, end = now - timedelta(seconds=WINDOWS[name]), now
    step = choose_step((end - start).total_seconds())
    epoch = int(start.timestamp())
    return Window(name, datetime.fromtimestamp(epoch - epoch % step, tz=UTC), end, step)


def choose_step(span_s: float) -> int:
    """The finest step whose rows stay within :data:`MAX_ROWS_PER_STREAM` per stream and whose
    points stay within :data:`MAX_POINTS`."""
    level = next((lv for lv in LEVELS if span_s / lv <= MAX_ROWS_PER_STREAM), LEVELS[-1])
    least = max(level, span_s / MAX_POINTS)
    return next((s for s in STEPS if s >= least), STEPS[-1])


def _parse_time(text: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name} {text!r} is not a time like 2026-11-26T08:00 (UTC)", field=name
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


# --- reading the profiles ------------------------------------------------------------------


def read_buckets(endpoint: str, window: Window, *, store: Store) -> dict[Stream, list[Bucket]]:
    """The window's profiles of each stream in ``window.count`` buckets, streams in role order
    (primary, canary, previous, shadow) then by version."""
    streams: dict[Stream, list[WindowProfile]] = {}
    profiles = covering_profiles(
        endpoint, window.start, window.end, max_seconds=window.step, store=store
    )
    for p in profiles:
        streams.setdefault((p.key.model_name, p.key.model_version, p.key.role), []).append(p)
    ordered = sorted(streams, key=lambda s: (_ROLE_ORDER.get(s[2], 9), s[2], s[0], s[1]))
    return {s: bucket_profiles(streams[s], window.start, window.end, window.step) for s in ordered}


# --- series ----------------------------------------------------------------------------------


def metric_values(buckets: list[Bucket], metric: str | MetricSpec) -> list[float | None]:
    """A profile metric's value in each bucket (None: no data, or it does not apply)."""
    spec = metric if isinstance(metric, MetricSpec) else parse_metric(metric)
    return [value for _, value in series_of(spec, buckets)]


def qps_values(buckets: list[Bucket], window: Window) -> list[float | None]:
    """Requests a second in each step: a step's requests over the step's length (a profile's
    own ``qps`` divides by the span its windows cover, which a sparse step overstates)."""
    return [
        None if p is None or not p.requests else p.requests / window.seconds(i)
        for i, (_, p) in enumerate(buckets)
    ]


def add_up(series: Iterable[list[float | None]]) -> list[float | None]:
    """Several streams' series added step by step (None where none has a value)."""
    totals: list[float | None] = []
    for column in zip(*series, strict=True):
        present = [v for v in column if v is not None]
        totals.append(sum(present) if present else None)
    return totals


def stream_label(stream: Stream, streams: Iterable[Stream]) -> str:
    """``v2 canary``; with the model's name when the endpoint served several models."""
    model, version, role = stream
    several = len({s[0] for s in streams}) > 1
    return f"{model}@{version} {role}" if several else f"v{version} {role}"


def chart(
    window: Window,
    series: list[tuple[str, list[float | None]]],
    *,
    unit: str = "",
    thresholds: list[dict[str, Any]] | None = None,
    marks: list[dict[str, Any]] | None = None,
    empty: str = "no data in this window",
    height: int = 180,
    spark: bool = False,
    y_min: float | None = None,
) -> dict[str, Any]:
    """A chart in the format ``static/ui.js`` draws: x in unix seconds, one series per label."""
    out: dict[str, Any] = {
        "x": window.times(),
        "series": [
            {"label": label, "values": [_round(v) for v in values]} for label, values in series
        ],
        "thresholds": thresholds or [],
        "marks": marks or [],
        "height": height,
        "spark": spark,
        "unit": unit,
        "empty": empty,
    }
    if y_min is not None:
        out["y_min"] = y_min
    return out


def _round(value: float | None) -> float | None:
    """Six significant digits: what a chart can show, and a third of the JSON."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


# --- accuracy from feedback ----------------------------------------------------------------


def accuracy(
    endpoint: str, window: Window, *, store: Store, limit: int = ACCURACY_ANSWERS
) -> tuple[dict[Stream, list[tuple[int, int]]], datetime | None]:
    """(right, labelled) per stream and step, and the time from which answers were read when
    the window held more than ``limit`` of them (None: the whole window).

    Two queries: the ``limit``-th latest answer's time (from the endpoint-and-time index), then
    the labelled answers since then; an answer's latest label counts, as for the metric."""
    in_window = (
        Prediction.endpoint == endpoint,
        Prediction.time >= window.start,
        Prediction.time < window.end,
    )
    with store.session(write=False) as s:
        cut = s.scalar(
            select(Prediction.time)
            .where(*in_window)
            .order_by(Prediction.time.desc())
            .offset(limit - 1)
            .limit(1)
        )
        since = window.start if cut is None else max(cut, window.start)
        rows = s.execute(
            select(
                Prediction.id,
                Prediction.time,
                Prediction.model_name,
                Prediction.model_version,
                Prediction.role,
                Prediction.outputs,
                Feedback.label,
            )
            .join(Feedback, Feedback.prediction_id == Prediction.id)
            .where(*in_window, Prediction.time >= since, Feedback.label.is_not(None))
            .order_by(Feedback.id)
        ).all()
    latest = {r.id: r for r in rows}  # ordered by feedback: the last label wins
    counts: dict[Stream, list[tuple[int, int]]] = {}
    first, count = window.start.timestamp(), window.count
    for r in latest.values():
        stream = (r.model_name, r.model_version, r.role)
        steps = counts.setdefault(stream, [(0, 0)] * count)
        index = min(int((r.time.timestamp() - first) // window.step), count - 1)
        right, total = steps[index]
        steps[index] = (right + same_label(r.outputs, r.label), total + 1)
    return counts, (None if cut is None or cut <= window.start else cut)


def ratio(right: int, total: int) -> float | None:
    return right / total if total else None


# --- marks and thresholds ------------------------------------------------------------------


def plan_marks(events: Iterable[PlanEvent], window: Window) -> list[dict[str, Any]]:
    """Plan changes inside the window, as vertical marks: ``canary → ramping``."""
    marks = []
    for e in events:
        when = datetime.fromisoformat(e.time)
        if window.start <= when < window.end:
            label = f"{e.action} → {e.to_state}" if e.to_state else e.action
            marks.append((when, label))
    return _one_a_step(marks, window, "plan")


def alert_marks(alerts: Iterable[AlertInfo], window: Window) -> list[dict[str, Any]]:
    """Alerts that started inside the window, as vertical marks named by their monitor."""
    marks = [
        (a.started_at, f"{a.severity}: {a.monitor}")
        for a in alerts
        if window.start <= a.started_at < window.end
    ]
    return _one_a_step(marks, window, "alert")


def _one_a_step(
    marks: list[tuple[datetime, str]], window: Window, kind: str
) -> list[dict[str, Any]]:
    """At most one mark of a kind per step, at the step's first event and labelled with it
    (``+2 more``): labels drawn a pixel apart cannot be read."""
    steps: dict[int, list[tuple[datetime, str]]] = {}
    for when, label in sorted(marks):
        index = int((when - window.start).total_seconds() // window.step)
        steps.setdefault(index, []).append((when, label))
    out = []
    for group in steps.values():
        (when, label), more = group[0], len(group) - 1
        text = f"{label} (+{more} more)" if more else label
        out.append({"t": when.timestamp(), "label": text, "kind": kind})
    return out


def chart_of(metric: str) -> str | None:
    """Which endpoint chart draws ``metric`` (a monitor's), or None: ``qps``, ``latency``,
    ``errors``, ``classes``, ``confidence``, ``accuracy`` or ``feature:NAME``."""
    try:
        spec = parse_metric(metric)
    except InvalidInput:
        return None
    if spec.slice is not None:
        return None
    if spec.family == "software":
        if spec.stat in ("p50", "p90", "p95", "p99", "mean", "max"):
            return "latency"
        return {"qps": "qps", "error_rate": "errors"}.get(spec.stat or "")
    if spec.family == "output":
        return {"class": "classes", "confidence": "confidence"}.get(spec.feature or "")
    if spec.family == "feedback" and spec.stat == "accuracy":
        return "accuracy"
    if spec.family == "input" and spec.feature is not None:
        return f"feature:{spec.feature}"
    return None


def thresholds(monitors: Iterable[MonitorInfo], key: str) -> list[dict[str, Any]]:
    """Dashed lines for the fixed limits (``--above``, ``--below``) of the enabled monitors
    that watch chart ``key``; a change-from-reference limit moves, so it is not drawn."""
    lines = []
    for m in monitors:
        if not m.enabled or chart_of(m.metric) != key:
            continue
        role = "" if m.rule.role == "primary" else f" ({m.rule.role})"
        for op, value in ((">", m.rule.above), ("<", m.rule.below)):
            if value is not None:
                label = f"{m.name}: {m.metric} {op} {value:g}{role}"
                lines.append({"value": value, "label": label})
    return lines
