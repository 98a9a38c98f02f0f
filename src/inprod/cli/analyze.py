"""``inprod analyze errors``: error analysis by tags — the prioritization table, precision/recall
per tag, rare classes and a fairness view — on a run's predictions or on a predictions file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from ._output import JSON_OPTION_HELP, console, print_json, print_table

if TYPE_CHECKING:
    from ..analysis.errors import ErrorAnalysis

app = typer.Typer(
    help="Error analysis: which tags of the data to work on next.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

TAGS_HELP = (
    "Tags to slice by, comma-separated or repeated: COLUMN (true/false), COLUMN=VALUE, "
    "COLUMN<NUMBER, or module:function. Default: every column with at most 20 values."
)
MAX_CLASS_ROWS = 40  # more (tag, class) rows than this are left to --json and --html
TAG_COL_HELP = "A column holding one tag per row (each value is a tag), or true/false (repeatable)."


@app.command("errors")
def errors(
    run: str | None = typer.Argument(
        None, help="Run id (or its first characters) that logged predictions.parquet."
    ),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="A .csv or .parquet table of predictions instead of a run."
    ),
    label_col: str = typer.Option("label", "--label-col", help="Column with the labels."),
    prediction_col: str = typer.Option(
        "prediction", "--prediction-col", help="Column with the model's answers."
    ),
    hlp_col: str | None = typer.Option(
        None,
        "--hlp-col",
        help="Baseline column: a human's labels (HLP), a previous model's or an older "
        "system's answers.",
    ),
    tags: list[str] = typer.Option([], "--tags", help=TAGS_HELP),
    tag_col: list[str] = typer.Option([], "--tag-col", help=TAG_COL_HELP),
    protected: str | None = typer.Option(
        None, "--protected", help="Fairness view: compare the groups of this column."
    ),
    fairness_metric: str = typer.Option(
        "accuracy",
        "--fairness-metric",
        help="accuracy, macro_f1, precision.CLASS, recall.CLASS or f1.CLASS.",
    ),
    rare_share: float = typer.Option(
        0.05, "--rare-share", help="A class under this share of the labels is reported as rare."
    ),
    min_group: int = typer.Option(
        30, "--min-group", help="Fairness: groups with fewer labelled rows are not compared."
    ),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML report here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The prioritization table: per tag, accuracy, baseline (HLP), gap, % of data and the
    potential improvement (gap × % of data), largest first.

    Examples: inprod analyze errors 3f0c9a1e --tags dark,blurry,factory=B --hlp-col inspector-1;
    inprod analyze errors --predictions preds.csv --hlp-col human_label --tag-col tag
    """
    from ..analysis import errors as analysis
    from ..analysis.report_html import errors_html
    from ..analysis.run_predictions import load_predictions, read_predictions
    from ..data.slices import split_tag_list
    from ..errors import InvalidInput

    if (run is None) == (predictions is None):
        raise InvalidInput("give a run id or --predictions FILE (one of them)")
    if html is not None and not html.parent.is_dir():
        raise InvalidInput(f"cannot write {html}: folder {html.parent} does not exist")
    if predictions is not None:
        frame = read_predictions(predictions)
        title = f"Error analysis: {predictions.name}"
    else:
        assert run is not None
        frame = load_predictions(run)
        title = f"Error analysis: run {run}"
    result = analysis.analyze_errors(
        frame,
        label_col=label_col,
        prediction_col=prediction_col,
        baseline_col=hlp_col,
        tags=split_tag_list(tags),
        tag_columns=tag_col,
        protected=protected,
        fairness_metric=fairness_metric,
        rare_share=rare_share,
        min_group=min_group,
    )
    if html is not None:
        _write(html, errors_html(result, title=title))
    if as_json:
        print_json(result.to_dict())
        return
    _print(result)
    if html is not None:
        console.print(f"wrote {escape(str(html))}")


def _print(result: ErrorAnalysis) -> None:
    from ..analysis.report_html import percent

    base = result.baseline_col
    head = f"{result.rows:,} rows, accuracy {percent(result.accuracy)}"
    if base:
        head += f", {escape(base)} {percent(result.baseline)}"
    console.print(head)
    print_table(
        ["tag", "accuracy", base or "baseline", "gap", "% of data", "potential", "% of errors",
         "rows"],
        [
            (escape(r.tag), percent(r.accuracy), percent(r.baseline), percent(r.gap),
             percent(r.share), percent(r.potential), percent(r.error_share), f"{r.count:,}")
            for r in result.table
        ],
        title="Prioritization table (potential = gap × % of data)",
    )  # fmt: skip
    per_class = [(tag, c) for tag, rows in result.slice_classes.items() for c in rows]
    if len(per_class) <= MAX_CLASS_ROWS:
        print_table(
            ["tag", "class", "labelled", "precision", "recall", "F1"],
            [
                (escape(tag), escape(str(c.cls)), f"{c.support:,}", _num(c.precision),
                 _num(c.recall), _num(c.f1))
                for tag, c in per_class
            ],
            title="Precision and recall per tag",
        )  # fmt: skip
    else:
        console.print(f"precision and recall per tag: {len(per_class)} rows, in --json and --html")
    if result.rare_classes:
        print_table(
            ["class", "labelled", "share", "precision", "recall"],
            [
                (escape(str(c.cls)), f"{c.support:,}", percent(c.share), _num(c.precision),
                 _num(c.recall))
                for c in result.rare_classes
            ],
            title="Rare classes",
        )  # fmt: skip
    if result.fairness is not None:
        view = result.fairness
        print_table(
            [escape(view.attribute), "rows", escape(view.metric), ""],
            [
                (
                    f"[bold red]{escape(g.value)}[/]" if g.worst else escape(g.value),
                    f"{g.count:,}",
                    _num(g.metric),
                    "worst" if g.worst else ("" if g.compared else "too few rows"),
                )
                for g in view.groups
            ],
            title=f"Fairness: disparity {_num(view.disparity)}, ratio {_num(view.ratio)}",
        )
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]")


def _write(path: Path, text: str) -> None:
    from ..errors import InvalidInput

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}; give a writable path") from None


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
