"""``inprod hlp DATASET``: human-level performance per slice, next to other baselines."""

from __future__ import annotations

import typer
from rich.markup import escape

from ._output import JSON_OPTION_HELP, console, print_json, print_table

TAGS_HELP = (
    "Slices, comma-separated or repeated: COLUMN (true/false), COLUMN=VALUE, COLUMN<NUMBER, "
    "module:function. Default: every value of the dataset's metadata columns with few values."
)


def hlp(
    dataset: str = typer.Argument(..., help="Dataset version: NAME@3 or NAME (the latest)."),
    truth: str | None = typer.Option(
        None,
        "--truth",
        help="Ground-truth column; without it each labeler is compared with "
        "the majority of the others.",
    ),
    labelers: list[str] = typer.Option(
        [],
        "--labelers",
        help="Label columns, one per labeler (default: the dataset's label "
        "columns other than --truth); comma-separated or repeated.",
    ),
    holdout: str | None = typer.Option(
        None, "--holdout", help="Score only this labeler, against the others' majority."
    ),
    annotations: bool = typer.Option(
        False, "--annotations", help="Take the labels from the annotations stored for the dataset."
    ),
    example_col: str | None = typer.Option(
        None,
        "--example-col",
        help="With --annotations: the column annotations' example ids "
        "name (default: the image column, else 'id', else the row number).",
    ),
    baseline_model: list[str] = typer.Option(
        [], "--baseline-model", help="A model version to report as a baseline (repeatable)."
    ),
    baseline_col: list[str] = typer.Option(
        [], "--baseline-col", help="A column of an older system's answers (repeatable)."
    ),
    features: str | None = typer.Option(
        None, "--features", help="module:function building a --baseline-model's input."
    ),
    tags: list[str] = typer.Option([], "--tags", help=TAGS_HELP),
    tag_col: list[str] = typer.Option(
        [], "--tag-col", help="A column holding one tag per row (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Human-level performance: how often each labeler agrees with the reference, per slice.

    Example: inprod hlp phone-images --labelers inspector-1,inspector-2,inspector-3
    """
    from ..analysis.hlp import dataset_hlp
    from ..analysis.report_html import percent
    from ..data.slices import split_tag_list

    report = dataset_hlp(
        dataset,
        labelers=split_tag_list(labelers) or None,
        truth=truth,
        holdout=holdout,
        annotations=annotations,
        example_col=example_col,
        baseline_models=baseline_model,
        baseline_cols=baseline_col,
        features=features,
        tags=split_tag_list(tags),
        tag_columns=tag_col,
    )
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"{escape(report.dataset or dataset)}: HLP {percent(report.hlp)} "
        f"(reference: {escape(report.reference)})"
    )
    scored = [*report.labelers, *report.others]
    print_table(
        ["slice", "rows", "HLP", *(escape(c) for c in scored)],
        [
            (
                escape(s.tag),
                f"{s.count:,}",
                percent(s.hlp),
                *(percent(s.agreement[c]) for c in scored),
            )
            for s in report.slices
        ],
        title="Agreement with the reference per slice (HLP pools the labelers)",
    )
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
