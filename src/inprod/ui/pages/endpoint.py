"""The endpoint page: one endpoint's requests, latency, errors, answers, confidence, accuracy and
chosen input features over a window, one series per model version and role, with its monitors'
limits drawn and its plan changes and alerts marked on the time axis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import deploy, endpoints
from ...errors import InvalidInput
from ...monitoring.alerts import list_alerts
from ...monitoring.monitors import MonitorInfo, list_monitors
from ...monitoring.profile import WindowProfile
from ...monitoring.series import Bucket
from ...monitoring.sketches import CategorySketch
from ...store import Store
from ..render import off_loop, render
from ..series import (
    ACCURACY_ANSWERS,
    CLIENT_ROLES,
    WINDOWS,
    Stream,
    Window,
    accuracy,
    alert_marks,
    chart,
    chart_of,
    metric_values,
    parse_window,
    plan_marks,
    qps_values,
    ratio,
    read_buckets,
    stream_label,
    thresholds,
)
from ..session import viewer_of

MAX_FEATURES = 6
DEFAULT_FEATURES = 2
LATENCY_STATS = ("p50", "p90", "p99")
TOP_CLASSES = 6
TOP_VALUES = 5  # of a categorical feature
HISTORY_LIMIT = 200  # plan changes and alerts looked at for marks

Values = list[float | None]


@dataclass(frozen=True)
class ChartCard:
    """One chart and the monitors that watch its metric."""

    key: str
    title: str
    chart: dict[str, Any]
    monitors: list[MonitorInfo] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class EndpointCharts:
    name: str
    window: Window
    cards: list[ChartCard]
    features: list[tuple[str, str]]  # (name, numeric | categorical) seen in the window
    chosen: list[str]
    requests: int
    errors: int
    labels: int
    right: int

    def link(self, window: str) -> str:
        """The page's query for a preset ``window``, the chosen features kept."""
        return urlencode([("window", window)] + [("feature", f) for f in self.chosen])


async def endpoint_page(request: Request) -> Response:
    viewer_of(request)
    window = parse_window(request.query_params)
    chosen = list(dict.fromkeys(f for f in request.query_params.getlist("feature") if f))
    if len(chosen) > MAX_FEATURES:
        raise InvalidInput(
            f"{len(chosen)} feature parameters given; pick at most {MAX_FEATURES}",
            field="feature",
        )
    store = request.app.state.inprod.store
    view = await off_loop(endpoint_charts, request.path_params["name"], window, chosen, store=store)
    return render(request, "endpoint.html", view=view, windows=list(WINDOWS))


def endpoint_charts(
    name: str, window: Window, chosen: list[str], *, store: Store
) -> EndpointCharts:
    """Every chart of the page from one read of the window's profiles, one query for accuracy
    and the latest plan changes and alerts; NotFound for an unknown endpoint."""
    endpoints.get(name, store=store)
    buckets = read_buckets(name, window, store=store)
    monitors = list_monitors(name, store=store)
    marks = plan_marks(deploy.history(name, limit=HISTORY_LIMIT, store=store), window)
    marks += alert_marks(list_alerts(endpoint=name, limit=HISTORY_LIMIT, store=store), window)
    counts, since = accuracy(name, window, store=store)
    streams = list(buckets) + [s for s in counts if s not in buckets]
    draw = _Drawer(window, monitors, marks, {s: stream_label(s, streams) for s in streams})
    per_stream = draw.per_stream
    latency = [
        (f"{stat} · {draw.labels[s]}", metric_values(b, f"latency.{stat}"))
        for s, b in buckets.items()
        for stat in LATENCY_STATS
    ]
    classes = [
        (f"{item} · {draw.labels[s]}", metric_values(b, f"output.class.{item}"))
        for s, b in buckets.items()
        for item in _top(b, _classes, TOP_CLASSES)
    ]
    accurate = [(draw.labels[s], [ratio(*c) for c in counts[s]]) for s in streams if s in counts]
    cut = (
        ""
        if since is None
        else f"from the latest {ACCURACY_ANSWERS:,} answers, since {since:%Y-%m-%d %H:%M} UTC"
    )
    cards = [
        draw.card(
            "qps",
            "Requests per second",
            per_stream(buckets, lambda b: qps_values(b, window)),
            unit="req/s",
            y_min=0,
        ),
        draw.card("latency", "Latency (server time)", latency, unit="ms", y_min=0),
        draw.card(
            "errors",
            "Error rate (failed / requests)",
            per_stream(buckets, lambda b: metric_values(b, "error_rate")),
            y_min=0,
        ),
        draw.card(
            "classes",
            "Answers: share of each class",
            classes,
            y_min=0,
            empty="no class answers in this window",
        ),
        draw.card(
            "confidence",
            "Confidence (mean)",
            per_stream(buckets, lambda b: metric_values(b, "output.confidence.mean")),
            empty="no confidences in this window",
        ),
        draw.card(
            "accuracy",
            "Accuracy from feedback",
            accurate,
            note=cut,
            empty="no labelled answers in this window (labels come from /v1/feedback)",
        ),
    ]
    features = _features(buckets)
    chosen = chosen or _default_features(features, monitors)
    kinds = dict(features)
    cards += [_feature_card(draw, f, kinds.get(f), buckets) for f in chosen]
    client = [s for s in streams if s[2] in CLIENT_ROLES]
    return EndpointCharts(
        name=name,
        window=window,
        cards=cards,
        features=features,
        chosen=chosen,
        requests=_total(buckets, client, lambda p: p.requests),
        errors=_total(buckets, client, lambda p: p.errors),
        labels=sum(t for s in client for _, t in counts.get(s, [])),
        right=sum(r for s in client for r, _ in counts.get(s, [])),
    )


@dataclass(frozen=True)
class _Drawer:
    """What every chart of one page shares: the window, the monitors, the marks, the labels."""

    window: Window
    monitors: list[MonitorInfo]
    marks: list[dict[str, Any]]
    labels: dict[Stream, str]

    def per_stream(
        self, buckets: dict[Stream, list[Bucket]], values: Callable[[list[Bucket]], Values]
    ) -> list[tuple[str, Values]]:
        return [(self.labels[s], values(b)) for s, b in buckets.items()]

    def card(
        self, key: str, title: str, series: list[tuple[str, Values]], *, note: str = "",
        **options: Any,
    ) -> ChartCard:  # fmt: skip
        watching = [m for m in self.monitors if chart_of(m.metric) == key]
        drawn = chart(
            self.window, series, thresholds=thresholds(self.monitors, key), marks=self.marks,
            **options,
        )  # fmt: skip
        return ChartCard(key, title, drawn, watching, note)


def _feature_card(
    draw: _Drawer, feature: str, kind: str | None, buckets: dict[Stream, list[Bucket]]
) -> ChartCard:
    key = f"feature:{feature}"
    if kind is None:
        empty = f"feature {feature!r} was not seen in this window"
        return draw.card(key, f"Input feature {feature}", [], empty=empty)
    if kind == "numeric":
        series = draw.per_stream(buckets, lambda b: metric_values(b, f"input.{feature}.mean"))
        return draw.card(key, f"Input feature {feature} (mean)", series)
    series = [
        (f"{value} · {draw.labels[s]}", metric_values(b, f"input.{feature}.share.{value}"))
        for s, b in buckets.items()
        for value in _top(b, lambda p: p.features.get(feature), TOP_VALUES)
    ]
    return draw.card(key, f"Input feature {feature} (share of each value)", series, y_min=0)


def _classes(profile: WindowProfile) -> CategorySketch:
    return profile.output_classes


def _top(buckets: list[Bucket], sketch_of: Callable[[WindowProfile], object], n: int) -> list[str]:
    """The ``n`` most frequent items of a category sketch over the window's buckets."""
    totals: dict[str, int] = {}
    for _, p in buckets:
        sketch = None if p is None else sketch_of(p)
        if isinstance(sketch, CategorySketch):
            for item, estimate, _, _ in sketch.top(n):
                totals[item] = totals.get(item, 0) + estimate
    return sorted(totals, key=lambda item: (-totals[item], item))[:n]


def _features(buckets: dict[Stream, list[Bucket]]) -> list[tuple[str, str]]:
    kinds: dict[str, str] = {}
    for bucket_list in buckets.values():
        for _, p in bucket_list:
            for name, sketch in p.features.items() if p is not None else ():
                numeric = not isinstance(sketch, CategorySketch)
                kinds.setdefault(name, "numeric" if numeric else "categorical")
    return sorted(kinds.items())


def _default_features(features: list[tuple[str, str]], monitors: list[MonitorInfo]) -> list[str]:
    """Watched features first (a monitor on input.brightness.mean picks brightness)."""
    names = [name for name, _ in features]
    watched = {(chart_of(m.metric) or "").removeprefix("feature:") for m in monitors}
    return sorted(names, key=lambda n: (n not in watched, n))[:DEFAULT_FEATURES]


def _total(
    buckets: dict[Stream, list[Bucket]],
    streams: list[Stream],
    count: Callable[[WindowProfile], int],
) -> int:
    return sum(count(p) for s in streams for _, p in buckets.get(s, []) if p is not None)


routes: list[BaseRoute] = [Route("/endpoints/{name}", endpoint_page, methods=["GET"])]
