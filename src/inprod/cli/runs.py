"""``inprod runs``: list, show and compare tracked training runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.table import Table

from ._output import JSON_OPTION_HELP, console, fmt_num, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from ..tracking.runs import RunInfo

app = typer.Typer(help="Tracked training runs: list, show, compare.", no_args_is_help=True)

CLI_LIST_LIMIT = 20  # a screenful; --limit for more, --json for scripts
LIST_METRICS_SHOWN = 3
METRICS_MIN_WIDTH = 16  # "accuracy=0.8123" stays whole at 80 columns
RUN_LIST_COLUMNS = (
    ("id", True),
    ("project", False),
    ("name", False),
    ("status", True),
    ("start", False),
    ("duration", True),
    ("metrics", False),
)


@app.command("list")
def list_(
    project: str | None = typer.Option(None, "--project", "-p", help="Only runs of this project."),
    status: str | None = typer.Option(
        None,
        "--status",
        "-s",
        help="Only runs with this status: running, finished, failed, killed.",
    ),
    limit: int = typer.Option(
        CLI_LIST_LIMIT, "--limit", "-n", help="Show at most this many runs (newest first)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List runs, newest first, with a few of their latest metrics."""
    from ..tracking.queries import list_runs

    runs = list_runs(project, status=status, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    if not runs:
        where = f" in project {project!r}" if project else ""
        with_status = f" with status {status!r}" if status else ""
        console.print(
            f"no runs{where}{with_status} yet; record one with inprod.start_run(...)",
            highlight=False,
        )
        return
    # our own table (not print_table): ids and metric values must not be folded mid-word
    now = datetime.now(UTC)
    rows = [
        (
            r.id[:8],
            r.project,
            r.name,
            r.status,
            fmt_age(r.start_time, now),
            fmt_duration(r.duration_s),
            _metrics_summary(r.latest_metrics),
        )
        for r in runs
    ]
    # no vertical rules (like kubectl or docker ps): seven columns fit in 80 characters
    table = Table(header_style="bold", box=box.SIMPLE_HEAVY, pad_edge=False, collapse_padding=True)
    for column, no_wrap in RUN_LIST_COLUMNS:
        table.add_column(column, no_wrap=no_wrap, overflow="fold")
    table.columns[-1].min_width = METRICS_MIN_WIDTH
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("show")
def show(
    run: str = typer.Argument(..., help="Run id or its first characters (e.g. 3f2a9c1e)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show one run: params, metrics, slices, datasets, artifacts, code version, environment."""
    from ..tracking.queries import get_run

    info = get_run(run)
    if as_json:
        print_json(info.to_dict())
        return
    _print_run(info)


@app.command("compare")
def compare(
    run_a: str = typer.Argument(..., help="Baseline run id (or prefix)."),
    run_b: str = typer.Argument(..., help="Candidate run id (or prefix)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Compare two runs: params that differ, metrics and slice metrics with delta = B - A."""
    from ..tracking.compare import compare_runs

    cmp = compare_runs(run_a, run_b)
    if as_json:
        print_json(cmp.to_dict())
        return
    a, b = cmp.a, cmp.b
    console.print(f"A: [bold]{a.id[:8]}[/] {a.project}/{a.name} ({a.status})", highlight=False)
    console.print(f"B: [bold]{b.id[:8]}[/] {b.project}/{b.name} ({b.status})", highlight=False)
    print_table(
        ["param", "A", "B"],
        [(k, _json(v["a"]), _json(v["b"])) for k, v in cmp.params.items()],
        title="params that differ",
    )
    console.print(f"{len(cmp.same_params)} param(s) the same", highlight=False)
    print_table(
        ["metric", "A", "B", "delta"],
        [(k, _num(v["a"]), _num(v["b"]), _delta(v["delta"])) for k, v in cmp.metrics.items()],
        title="metrics",
    )
    if cmp.slice_metrics:
        print_table(
            ["slice", "metric", "A", "B", "delta"],
            [
                (name, k, _num(v["a"]), _num(v["b"]), _delta(v["delta"]))
                for name, metrics in cmp.slice_metrics.items()
                for k, v in metrics.items()
            ],
            title="slice metrics",
        )
    print_table(
        ["", "datasets", "code"],
        [
            (label, _datasets(run.datasets), _code(run.code_sha, run.code_dirty))
            for label, run in (("A", a), ("B", b))
        ],
    )


def _print_run(info: RunInfo) -> None:
    console.print(
        f"run [bold]{info.id}[/]  {info.project}/{info.name or '-'}  status: {info.status}",
        highlight=False,
    )
    console.print(
        f"started {fmt_time(info.start_time)}   ended {fmt_time(info.end_time) or '-'}   "
        f"duration {fmt_duration(info.duration_s)}",
        highlight=False,
    )
    console.print(f"code: {_code(info.code_sha, info.code_dirty)}", highlight=False)
    if info.tags:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(info.tags.items())))
    if info.params:
        print_table(["param", "value"], [(k, _json(v)) for k, v in sorted(info.params.items())])
    if info.latest_metrics:
        print_table(
            ["metric", "latest"], [(k, _num(v)) for k, v in sorted(info.latest_metrics.items())]
        )
    if info.slice_metrics:
        keys = sorted({k for m in info.slice_metrics.values() for k in m})
        print_table(
            ["slice", *keys],
            [
                (name, *(_num(m.get(k)) for k in keys))
                for name, m in sorted(info.slice_metrics.items())
            ],
            title="slice metrics",
        )
    if info.datasets:
        print_table(["role", "dataset"], [(d["role"], d["ref"]) for d in info.datasets])
    if info.artifacts:
        print_table(
            ["artifact", "size", "sha256"],
            [(a["path"], fmt_bytes(a["size_bytes"]), a["sha256"][:12]) for a in info.artifacts],
        )
    env = info.environment
    packages = env.get("packages") or {}
    console.print(
        f"environment: Python {env.get('python', '?')} on {env.get('platform', '?')} "
        f"(host {env.get('host', '?')})",
        highlight=False,
    )
    if packages:
        console.print(
            "packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items())),
            highlight=False,
        )
    if info.error:
        console.print("[bold red]error:[/]")
        console.print(info.error, highlight=False, markup=False)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_age(when: datetime, now: datetime) -> str:
    """``3h ago``: short enough for an 80-column table; ``runs show`` has the exact time."""
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            if unit == "d" and seconds >= 30 * 86400:
                return when.strftime("%Y-%m-%d")
            return f"{int(seconds // size)}{unit} ago"
    return "just now"  # pragma: no cover


def fmt_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _metrics_summary(latest: dict[str, float]) -> str:
    keys = sorted(latest)
    shown = [f"{k}={fmt_num(latest[k])}" for k in keys[:LIST_METRICS_SHOWN]]
    more = len(keys) - LIST_METRICS_SHOWN
    return " ".join(shown + ([f"+{more}"] if more > 0 else []))


def _code(sha: str | None, dirty: bool | None) -> str:
    if sha is None:
        return "not in a git repository"
    return sha[:12] + (" (dirty)" if dirty else "")


def _datasets(datasets: list[dict[str, Any]]) -> str:
    return ", ".join(f"{d['role']}: {d['ref']}" for d in datasets) or "-"


def _json(value: Any) -> str:
    return json.dumps(value) if value is not None else "-"


def _num(value: float | None) -> str:
    return "-" if value is None else fmt_num(value)


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"
