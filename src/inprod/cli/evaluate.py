"""``inprod evaluate CANDIDATE``: the evaluation gate a CI job runs before a model may deploy.

Exit status: 0 the candidate passed, 1 the command refused its input (unknown model, dataset or
column, a malformed requirement: ``error: …`` on stderr), 2 the candidate failed a requirement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from ._output import JSON_OPTION_HELP, console, print_json, print_table

if TYPE_CHECKING:
    from ..analysis.evaluate import Evaluation

GATE_FAILED = 2


def evaluate(
    candidate: str = typer.Argument(..., help="Candidate model version: NAME@5, NAME@challenger."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset version both models answer."),
    against: str = typer.Option(
        "champion",
        "--against",
        help="Alias of the same model, another model version, or 'none' (absolute limits only).",
    ),
    require: list[str] = typer.Option(
        [], "--require", help="Overall requirement, e.g. 'accuracy>=champion' (repeatable)."
    ),
    require_slices: list[str] = typer.Option(
        [],
        "--require-slices",
        help="Requirement every slice must meet, e.g. 'accuracy>=champion-0.01' (repeatable).",
    ),
    tags: list[str] = typer.Option(
        [], "--tags", help="Slices (default: the values of the dataset's metadata columns)."
    ),
    tag_col: list[str] = typer.Option(
        [], "--tag-col", help="A column holding one tag per row (repeatable)."
    ),
    label_col: str | None = typer.Option(
        None, "--label-col", help="Label column (default: the dataset's first)."
    ),
    label_map: str | None = typer.Option(
        None, "--label-map", help="The models' answers as label values, e.g. '0=ok,1=scratch'."
    ),
    features: str | None = typer.Option(
        None, "--features", help="module:function building the models' input from the data."
    ),
    min_slice: int = typer.Option(
        30, "--min-slice", help="Slices with fewer labelled rows are listed, not judged."
    ),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Record the result on the candidate version."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Judge CANDIDATE against the champion on a dataset, overall and per slice.

    Exit status: 0 passed, 1 refused (bad input), 2 failed a requirement.
    """
    from ..analysis.evaluate import evaluate as run_gate
    from ..data.slices import split_tag_list
    from ._output import progress_bar

    with progress_bar() as progress:
        result = run_gate(
            candidate,
            dataset=dataset,
            against=None if against.lower() == "none" else against,
            require=require,
            require_slices=require_slices,
            tags=split_tag_list(tags),
            tag_columns=tag_col,
            label_col=label_col,
            label_map=_label_map(label_map),
            features=features,
            min_slice=min_slice,
            record=record,
            progress=progress,
        )
    if as_json:
        print_json(result.to_dict())
    else:
        _print(result)
    if not result.passed:
        raise typer.Exit(GATE_FAILED)


def _label_map(text: str | None) -> dict[str, str] | None:
    from ..errors import InvalidInput

    if text is None:
        return None
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"--label-map entry {part!r} is not ANSWER=LABEL, e.g. '0=ok,1=scratch'",
                field="label_map",
            )
        pairs[key.strip()] = value.strip()
    return pairs


def _print(result: Evaluation) -> None:
    versus = f" against {escape(result.against)}" if result.against else ""
    console.print(f"{escape(result.candidate)}{versus} on {escape(result.dataset)}")
    statuses = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}
    print_table(
        ["requirement", "slice", "candidate", "champion", "limit", "rows", "status", "note"],
        [
            (escape(c.requirement), escape(c.scope), _num(c.value), _num(c.champion),
             _num(c.limit), f"{c.count:,}", statuses[c.status], escape(c.note))
            for c in result.checks
        ],
    )  # fmt: skip
    metrics = list(result.overall.candidate)
    sides = ["candidate"] + (["champion"] if result.against else [])
    print_table(
        ["slice", "rows", *(f"{m} ({s})" for m in metrics for s in sides)],
        [
            (escape(s.tag), f"{s.count:,}",
             *(_num(getattr(s, side).get(m)) for m in metrics for side in sides))
            for s in [result.overall, *result.slices]
        ],
        title="Per slice",
    )  # fmt: skip
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    console.print("[green]passed[/]" if result.passed else "[bold red]failed[/]")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
