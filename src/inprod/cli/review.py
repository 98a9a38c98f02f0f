"""``inprod review``: take the next prediction waiting for a human, decide it, watch the queue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from ._output import JSON_OPTION_HELP, console, fmt_num, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from ..review.queue import ReviewTask

app = typer.Typer(
    help="The human review queue: take a task, decide it, see the queue's depth and agreement.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

REVIEWER_HELP = "Who is reviewing (default: your user name)."
ENDPOINT_HELP = "Only this endpoint's queue."
MAX_INPUT_ROWS = 30  # fields shown for one task's inputs; --json shows them all


def _reviewer(reviewer: str | None) -> str:
    from ..provenance import current_user

    return reviewer if reviewer is not None else current_user()


@app.command("next")
def next_(
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    reason: str | None = typer.Option(
        None,
        "--reason",
        help="Only tasks sent for this reason: low_confidence, disagreement, "
        "audit, human, shadow or monitor (sent by an alert).",
    ),
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help=REVIEWER_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Claim the oldest open task and show it.

    The claim is a lease (review_lease_seconds, 5 minutes by default): while you hold it, nobody
    else gets the task and 'next' shows you the same task again with the lease renewed.
    """
    from ..review import queue

    task = queue.next_task(reviewer=_reviewer(reviewer), endpoint=endpoint, reason=reason)
    if as_json:
        print_json(task.to_dict() if task is not None else None)
    elif task is None:
        where = f" for {endpoint}" if endpoint else ""
        console.print(f"the queue{where} is empty")
    else:
        _show_task(task)
        console.print(
            f"decide with: [bold]inprod review decide {task.id} LABEL[/]  "
            f"(or give it back: inprod review release {task.id})",
            highlight=False,
            soft_wrap=True,
        )


@app.command("decide")
def decide(
    task_id: str = typer.Argument(..., help="The task id that 'inprod review next' showed."),
    label: str = typer.Argument(..., help="The right answer, e.g. scratch or 1."),
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help=REVIEWER_HELP),
    note: str = typer.Option("", "--note", "-n", help="Why, for whoever reads it later."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Decide a task: the label becomes feedback on the prediction and an annotation."""
    from ..review import queue

    task = queue.decide(task_id, label, reviewer=_reviewer(reviewer), note=note)
    if as_json:
        print_json(task.to_dict())
        return
    agrees = {None: "", True: " (agrees with the model)"}.get(
        task.agrees, f" (the model said {task.answer!r})"
    )
    console.print(
        f"decided task {task.id}: {task.decision!r} by {task.decided_by}{agrees}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("release")
def release(
    task_id: str = typer.Argument(...),
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help=REVIEWER_HELP),
) -> None:
    """Give a task you hold back to the queue."""
    from ..review import queue

    task = queue.release(task_id, reviewer=_reviewer(reviewer))
    console.print(f"released task {task.id}; it is open again", highlight=False, soft_wrap=True)


@app.command("show")
def show(
    task_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show one task: why it was sent, the model's answer, inputs and any decision."""
    from ..review import queue

    task = queue.get_task(task_id)
    if as_json:
        print_json(task.to_dict())
    else:
        _show_task(task)


@app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status", "-s", help="open, claimed or decided."),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    limit: int = typer.Option(50, "--limit", "-l", help="At most this many tasks (1-1000)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List tasks, oldest first (decided ones: latest decision first)."""
    from ..review import queue

    tasks = queue.list_tasks(status=status, endpoint=endpoint, limit=limit)
    if as_json:
        print_json([t.to_dict() for t in tasks])
        return
    from rich import box
    from rich.table import Table

    # Narrow enough for 80 columns: the id never folds (it is what 'decide' and 'show' take) and
    # the endpoint shows only when the list spans several. --json has every field.
    several = len({t.endpoint for t in tasks}) > 1
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", padding=(0, 1, 0, 0))
    for column in ["id"] + (["endpoint"] if several else []) + ["reason", "status"]:
        table.add_column(column, no_wrap=True)
    for column in ("answer", "decision"):
        table.add_column(column, overflow="fold")
    for t in tasks:
        where = [t.endpoint] if several else []
        table.add_row(t.id, *where, t.reason, t.status, _answer(t), _decision(t))
    console.print(table)


def _answer(task: ReviewTask) -> str:
    if task.answer is None:
        return ""
    if task.confidence is None:
        return _plain(task.answer)
    return f"{_plain(task.answer)} ({fmt_num(task.confidence)})"


def _decision(task: ReviewTask) -> str:
    if task.status == "decided":
        return f"{_plain(task.decision)} by {task.decided_by}"
    if task.status == "claimed":
        return f"held by {task.claimed_by}"
    return ""


@app.command("stats")
def stats(
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Queue depth and age, why tasks came, each reviewer's agreement with the model."""
    from ..review import queue

    result = queue.stats(endpoint=endpoint)
    if as_json:
        print_json(result.to_dict())
        return
    age = result.oldest_open_age_s
    console.print(
        f"[bold]{result.endpoint or 'all endpoints'}[/]: {result.open} open, "
        f"{result.claimed} claimed, {result.decided} decided; oldest open task waits "
        f"{_duration(age) if age is not None else '-'}",
        highlight=False,
        soft_wrap=True,
    )
    if result.by_reason:
        print_table(["reason", "tasks"], sorted(result.by_reason.items()), title="why tasks came")
    if result.reviewers:
        print_table(
            ["reviewer", "decided", "compared", "agreed", "agreement with the model"],
            [
                (r.reviewer, r.decided, r.compared, r.agreed,
                 f"{r.agreement:.1%}" if r.agreement is not None else "-")
                for r in result.reviewers
            ],
            title="reviewers",
        )  # fmt: skip


def _show_task(task: ReviewTask) -> None:
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("task", task.id),
        ("status", task.status),
        ("reason", task.reason),
        ("endpoint", task.endpoint),
        ("model", task.model),
        ("model's answer", _plain(task.answer) if task.answer is not None else "(not asked)"),
        ("confidence", fmt_num(task.confidence) if task.confidence is not None else "-"),
        *_shadow_answer(task),
        ("prediction", task.prediction_id),
        ("created", f"{fmt_time(task.created_at)} UTC"),
    ]
    if task.status == "claimed":
        rows.append(("held by", f"{task.claimed_by} until {fmt_time(task.lease_until)} UTC"))
    if task.status == "decided":
        rows.append(("decision", f"{_plain(task.decision)} by {task.decided_by} "
                     f"at {fmt_time(task.decided_at)} UTC"))  # fmt: skip
    for key, value in rows:
        grid.add_row(key, str(value))
    console.print(Panel(grid, title="review task", expand=False), highlight=False)
    _show_inputs(task.inputs)


def _shadow_answer(task: ReviewTask) -> list[tuple[str, Any]]:
    """A disagreement task carries the shadow version's answer next to the primary's."""
    shadow = task.outputs.get("shadow") if isinstance(task.outputs, dict) else None
    if not isinstance(shadow, dict):
        return []
    confidence = shadow.get("confidence")
    extra = f" ({fmt_num(confidence)})" if confidence is not None else ""
    return [("shadow's answer", f"{_plain(shadow.get('output'))}{extra}")]


def _show_inputs(inputs: Any) -> None:
    if inputs is None:
        console.print("inputs: (not logged)")
        return
    if isinstance(inputs, dict):
        items = list(inputs.items())
        print_table(
            ["input", "value"],
            [(k, _plain(v)) for k, v in items[:MAX_INPUT_ROWS]],
            title="inputs" + (f" (first {MAX_INPUT_ROWS} of {len(items)})"
                              if len(items) > MAX_INPUT_ROWS else ""),
        )  # fmt: skip
        return
    console.print(
        "inputs:", json.dumps(inputs, default=str)[:2000], highlight=False, soft_wrap=True
    )


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
