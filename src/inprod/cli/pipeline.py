"""``inprod pipeline``: stages joined by trace id, each monitored, side by side over time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._output import JSON_OPTION_HELP, console, fmt_num, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from ..monitoring.pipelines import PipelineInfo, PipelineView

app = typer.Typer(help="Monitor multi-stage pipelines joined by trace id.", no_args_is_help=True)

STAGE_HELP = (
    "A stage, in order (repeatable): NAME=ENDPOINT, or NAME=py:module:function for code that "
    "logs itself with inprod.monitoring.pipelines.log_stage."
)
METRIC_HELP = (
    "STAGE=METRIC to show for a stage (repeatable), e.g. vad=output.value.mean; default: "
    "requests, error_rate, latency.p95, output.value.mean, output.confidence.mean."
)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Pipeline name, e.g. speech."),
    stage: list[str] = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Create a pipeline from its stages, first to last."""
    from ..monitoring import pipelines

    info = pipelines.create(name, stage, description=description)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"created pipeline [bold]{info.name}[/]: {_chain(info)}", highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """List pipelines and their stages."""
    from ..monitoring import pipelines

    items = pipelines.list_pipelines()
    if as_json:
        print_json([p.to_dict() for p in items])
        return
    print_table(
        ["pipeline", "stages", "description", "created"],
        [(p.name, _chain(p), p.description, fmt_time(p.created_at)) for p in items],
    )


@app.command("show")
def show(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show a pipeline's stages and where each one's predictions are logged."""
    from ..monitoring import pipelines

    info = pipelines.get(name)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"[bold]{info.name}[/] {info.description}", highlight=False)
    print_table(
        ["#", "stage", "kind", "target", "logged as"],
        [
            (i, s.name, "endpoint" if s.endpoint else "function", s.endpoint or s.function,
             s.logged_as)
            for i, s in enumerate(info.stages, 1)
        ],
    )  # fmt: skip


@app.command("view")
def view(
    name: str = typer.Argument(...),
    since: str = typer.Option("1h", "--since", help="How far back (30m, 6h, 1d) or an ISO time."),
    until: str | None = typer.Option(None, "--until", help="ISO time (default: now)."),
    window: str = typer.Option("1m", "--window", "-w", help="Window length (30s, 5m, 1h)."),
    metric: list[str] = typer.Option([], "--metric", "-m", help=METRIC_HELP),
    max_traces: int = typer.Option(
        1000, "--max-traces", min=1, help="Traces joined per window at most (a sample beyond)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Each stage's metrics per window, side by side, with how far traces got.

    A change in an early stage's output (shorter clips) shows in the same row as the later
    stage's metrics (lower confidence) and the traces that stopped early.
    """
    from ..monitoring import pipelines
    from ..rollout.plan import parse_duration

    start, end = pipelines.resolve_span(since, until)
    seconds = parse_duration(window, what="window")
    chosen = pipelines.parse_stage_metrics(metric)
    result = pipelines.pipeline_view(
        name, since=start, until=end, window_s=seconds, metrics=chosen, max_traces=max_traces
    )
    if as_json:
        print_json(result.to_dict())
        return
    _print_view(result)


@app.command("trace")
def trace(
    name: str = typer.Argument(...),
    trace_id: str = typer.Argument(..., help="The X-Trace-Id the stages' requests carried."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=10_000, help="Rows per stage."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Every stage's predictions for one trace, in stage order."""
    from ..monitoring import pipelines

    result = pipelines.trace(name, trace_id, limit=limit)
    if as_json:
        print_json(result.to_dict())
        return
    rows = []
    for stage, records in result.stages.items():
        if not records:
            rows.append((stage, "", "", "(not reached)", "", "", ""))
        for r in records:
            output = r.outputs.get("output") if isinstance(r.outputs, dict) else r.outputs
            rows.append(
                (stage, r.time.strftime("%H:%M:%S.%f")[:-3], r.model_version,
                 "" if output is None else fmt_num(output),
                 "" if r.confidence is None else f"{r.confidence:.3f}", f"{r.latency_ms:.1f}",
                 r.status)
            )  # fmt: skip
    print_table(
        ["stage", "time", "version", "output", "confidence", "ms", "status"],
        rows,
        title=f"trace {trace_id}",
    )


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete a pipeline (its stages' predictions and profiles stay)."""
    from ..monitoring import pipelines

    pipelines.delete(name)
    console.print(f"deleted pipeline {name}")


def _chain(info: PipelineInfo) -> str:
    """``vad (vad-ep) → post (mypkg.post:clean)``; never two colons, which Rich reads as emoji."""
    return " → ".join(f"{s.name} ({s.endpoint or s.function})" for s in info.stages)


def _print_view(result: PipelineView) -> None:
    """One row per window: each stage's metrics (columns with no value anywhere left out), then
    the join: traces sampled, stopped after each stage but the last, end-to-end p95."""
    columns: list[tuple[str, str, str]] = []  # (header, stage, metric)
    for stage in result.stages:
        for m in result.metrics[stage]:
            if any(w.stages[stage].metrics.get(m) is not None for w in result.windows):
                columns.append((f"{stage}\n{m}", stage, m))
    headers = ["window", *(c[0] for c in columns), "traces"]
    headers += [f"stopped after\n{s}" for s in result.stages[:-1]] + ["e2e p95\nms"]
    clock = "%H:%M:%S" if result.since.date() == result.until.date() else "%m-%d %H:%M:%S"
    rows = []
    for w in result.windows:
        join = w.join
        values = [w.stages[stage].metrics.get(m) for _, stage, m in columns]
        stopped = [
            f"{join.stopped_after[s]} ({join.stopped_after[s] / join.traces:.0%})"
            if join.traces
            else ""
            for s in result.stages[:-1]
        ]
        traces = f"{join.traces}{'+' if join.sampled else ''}"
        e2e = fmt_num(join.latency_ms["p95"]) if join.latency_ms else ""
        shown = ("" if v is None else fmt_num(v) for v in values)
        rows.append([w.start.strftime(clock), *shown, traces, *stopped, e2e])
    title = (
        f"pipeline {result.pipeline}: {' → '.join(result.stages)}, windows of {result.window_s}s "
        f"from {fmt_time(result.since)} UTC"
    )
    print_table(headers, rows, title=title)
    if not result.windows:
        console.print("[dim]no predictions in this span[/]")
    elif any(w.join.sampled for w in result.windows):
        console.print(f"[dim]traces N+: a sample of {result.max_traces} joined in that window[/]")
