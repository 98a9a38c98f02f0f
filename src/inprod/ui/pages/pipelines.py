"""The pipelines pages: every pipeline with its stages, and one pipeline's stages side by side
over time with the join of their traces.

One pipeline's page is :func:`inprod.monitoring.pipelines.pipeline_view` (what ``GET
/api/pipelines/{name}/view`` and ``inprod pipeline view`` show) drawn as charts: each stage's
metrics per view window from its window profiles, and per window how many traces entered the
first stage, how many went through every stage and their end-to-end latency. The join reads a
bounded sample of raw predictions per window (``MAX_TRACES``), which is why a page asks for
about 30 windows whatever the span.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import InvalidInput
from ...monitoring import pipelines
from ...monitoring.pipelines import PipelineInfo, Stage
from ...monitoring.windows import window_start
from ...store import Store
from ..render import off_loop, render
from ..series import Window, chart
from ..session import viewer_of

# span -> (seconds, view window in seconds): about 30 windows each. No 7 days: reading a week
# of minute profiles window by window took 0.4 s on SQLite and 1 s on PostgreSQL.
SPANS = {"1h": (3600, 120), "24h": (86400, 3600)}
DEFAULT_SPAN = "1h"
MAX_TRACES = 200  # traces joined per window (a sample in trace-id order)
METRICS = {  # a stage's charts: metric -> (title, unit)
    "requests": ("requests per window", ""),
    "error_rate": ("error rate", ""),
    "latency.p95": ("latency p95", "ms"),
    "output.confidence.mean": ("mean confidence", ""),
    "output.value.mean": ("mean output value", ""),
}
HEIGHT = 120  # px: five charts a stage


@dataclass(frozen=True)
class StageColumn:
    """One stage: where it runs and its charts (metrics without any value are left out)."""

    stage: Stage
    charts: list[tuple[str, dict[str, Any]]]  # (title, chart)
    versions: list[str]


@dataclass(frozen=True)
class PipelinePage:
    info: PipelineInfo
    span: str
    since: datetime
    until: datetime
    window_s: int
    stages: list[StageColumn]
    join_charts: list[tuple[str, dict[str, Any]]]
    totals: dict[str, Any]


def parse_span(request: Request) -> str:
    span = request.query_params.get("window") or DEFAULT_SPAN
    if span not in SPANS:
        raise InvalidInput(f"window {span!r} is not one of {', '.join(SPANS)}", field="window")
    return span


def pipeline_page(
    name: str, *, span: str = DEFAULT_SPAN, now: datetime | None = None, store: Store
) -> PipelinePage:
    """What the page shows (it runs in a worker thread); NotFound for an unknown pipeline."""
    info = pipelines.get(name, store=store)
    seconds, window_s = SPANS[span]
    until = now or datetime.now(UTC)
    since = until - timedelta(seconds=seconds)
    view = pipelines.pipeline_view(
        name,
        since=since,
        until=until,
        window_s=window_s,
        metrics={stage.name: list(METRICS) for stage in info.stages},
        max_traces=MAX_TRACES,
        store=store,
    )
    grid = Window(span, window_start(since, window_s), until, window_s)
    by_start = {int(w.start.timestamp()): w for w in view.windows}
    windows = [by_start.get(t) for t in grid.times()]  # None: no data in that window
    columns = [_stage_column(stage, windows, grid) for stage in info.stages]
    joins = [w.join if w else None for w in windows]
    return PipelinePage(
        info, span, since, until, window_s, columns, _join_charts(joins, grid), _totals(info, joins)
    )


def _stage_column(stage: Stage, windows: list[Any], grid: Window) -> StageColumn:
    cells = [w.stages.get(stage.name) if w else None for w in windows]
    charts = []
    for metric, (title, unit) in METRICS.items():
        values = [c.metrics.get(metric) if c else None for c in cells]
        if any(v is not None for v in values):
            charts.append((title, chart(grid, [(stage.name, values)], unit=unit, height=HEIGHT)))
    versions = sorted({v for c in cells if c for v in c.versions})
    return StageColumn(stage, charts, versions)


def _join_charts(joins: list[Any], grid: Window) -> list[tuple[str, dict[str, Any]]]:
    """Traces entering and going through every stage, and their end-to-end latency."""
    entered = [j.traces if j and j.traces else None for j in joins]
    through = [j.completed if j and j.traces else None for j in joins]
    latency = [
        (q, [j.latency_ms[q] if j and j.latency_ms else None for j in joins])
        for q in ("p50", "p95")
    ]
    return [
        (
            "traces per window",
            chart(
                grid,
                [("entered", entered), ("through every stage", through)],
                height=HEIGHT,
                empty="no traces: clients send X-Trace-Id (or traceparent) to every stage",
            ),
        ),
        (
            "end-to-end latency",
            chart(
                grid, latency, unit="ms", height=HEIGHT, empty="no trace went through every stage"
            ),
        ),
    ]


def _totals(info: PipelineInfo, joins: list[Any]) -> dict[str, Any]:
    """The joined sample over the whole span: reached and stopped after, per stage."""
    found = [j for j in joins if j is not None]
    names = [s.name for s in info.stages]
    return {
        "traces": sum(j.traces for j in found),
        "sampled": any(j.sampled for j in found),
        "completed": sum(j.completed for j in found),
        "reached": {n: sum(j.reached.get(n, 0) for j in found) for n in names},
        "stopped_after": {n: sum(j.stopped_after.get(n, 0) for j in found) for n in names[:-1]},
    }


async def pipelines_list(request: Request) -> Response:
    viewer_of(request)
    items = await off_loop(pipelines.list_pipelines, store=request.app.state.inprod.store)
    return render(request, "pipelines.html", pipelines=items)


async def pipeline_detail(request: Request) -> Response:
    viewer_of(request)
    span = parse_span(request)
    page = await off_loop(
        pipeline_page, request.path_params["name"], span=span,
        store=request.app.state.inprod.store,
    )  # fmt: skip
    return render(request, "pipeline.html", page=page, spans=list(SPANS), max_traces=MAX_TRACES)


routes: list[BaseRoute] = [
    Route("/pipelines", pipelines_list, methods=["GET"]),
    Route("/pipelines/{name}", pipeline_detail, methods=["GET"]),
]
