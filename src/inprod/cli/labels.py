"""``inprod labels``: many labels per example — import them, measure agreement, make consensus
and standardized versions, find borderline examples and likely label errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ._output import JSON_OPTION_HELP, console, fmt_num, print_json, print_table

if TYPE_CHECKING:
    from ..data.agreement import AgreementReport, Disagreement
    from ..data.taxonomy import Taxonomy

app = typer.Typer(
    help="Labels from many labelers: import, agreement, consensus, taxonomy, label errors.",
    no_args_is_help=True,
)

_LABELER_COLUMNS_HELP = (
    "Count these columns as labelers (one column per labeler, e.g. "
    "inspector-1,inspector-2,inspector-3) instead of the imported labels."
)
_ID_HELP = "Column naming each example (default: the image column, else 'id')."
_TAXONOMY_HELP = "A taxonomy file (YAML/JSON): merge label variants before counting."


@app.command("import")
def import_(
    dataset: str = typer.Argument(..., help="Dataset ref the ids are checked against."),
    file: Path = typer.Argument(..., help="CSV or Parquet file, one label per row."),
    example_col: str = typer.Option(..., "--example-col", help="Column with the example id."),
    labeler_col: str = typer.Option(..., "--labeler-col", help="Column with the labeler."),
    label_col: str = typer.Option(..., "--label-col", help="Column with the label."),
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    source: str = typer.Option("import", "--source", help="Where the labels came from."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Store labels from a file as annotations; all rows are checked before any is stored.

    Importing the same file again stores nothing new; a changed label is a correction.
    """
    from ..data import labels

    result = labels.import_labels(
        dataset, file, example_col=example_col, labeler_col=labeler_col, label_col=label_col,
        id_column=id_column, source=source,
    )  # fmt: skip
    _print_import(result, as_json)


@app.command("from-review")
def from_review(
    dataset: str = typer.Argument(..., help="Dataset ref, e.g. phone-images@2."),
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Copy review decisions on this dataset's examples into its labels."""
    from ..data import labels

    _print_import(labels.from_review(dataset, id_column=id_column), as_json)


@app.command("agreement")
def agreement(
    dataset: str = typer.Argument(..., help="Dataset ref, e.g. phone-images@1."),
    slices: list[str] = typer.Option(
        [], "--slice", help="factory=B, blurry (a boolean column), brightness<0.22 (repeatable)."
    ),
    labeler_columns: str | None = typer.Option(
        None, "--labeler-columns", help=_LABELER_COLUMNS_HELP
    ),
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help=_TAXONOMY_HELP),
    top: int = typer.Option(10, "--top", min=0, help="Examples with the most disagreement."),
    pair: str | None = typer.Option(
        None, "--pair", help="Show this pair's confusion matrix: A,B (default: the weakest pair)."
    ),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML report here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Cohen's κ per labeler pair, Fleiss' κ and Krippendorff's α overall and per slice, the
    labelers' confusion matrix and the examples they disagree on most."""
    from ..data import labels

    if html is not None:
        _check_folder(html, "--html")
    report = labels.agreement(
        dataset, slices=slices, labeler_columns=_split(labeler_columns), id_column=id_column,
        taxonomy=_taxonomy(taxonomy), top=top,
    )  # fmt: skip
    if html is not None:
        html.write_text(report.to_html(), encoding="utf-8")
    if as_json:
        print_json(report.to_dict())
        return
    _print_agreement(report, pair)
    if html is not None:
        console.print(f"report written to {escape(str(html))}", highlight=False)


@app.command("consensus")
def consensus(
    dataset: str = typer.Argument(..., help="Dataset ref, e.g. phone-images@1."),
    method: str = typer.Option(
        "majority", "--method", help="majority (one vote each) or weighted (by reliability)."
    ),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column to write (default: the first label column)."
    ),
    labeler_columns: str | None = typer.Option(
        None, "--labeler-columns", help=_LABELER_COLUMNS_HELP
    ),
    weight: list[str] = typer.Option(
        [], "--weight", help="LABELER=WEIGHT, known reliability instead of the estimate."
    ),
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help=_TAXONOMY_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Store a new version whose label is the labelers' consensus (with provenance)."""
    from ..data import labels

    result = labels.consensus(
        dataset, method=method, label_column=label_column,
        labeler_columns=_split(labeler_columns), id_column=id_column,
        weights=_weights(weight) if weight else None, taxonomy=_taxonomy(taxonomy),
    )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
        return
    v = result.version
    what = f"{v.ref} ({'new' if v.created else 'already stored'})" if result.changed else (
        f"no label changed; {v.ref} already holds the consensus"
    )  # fmt: skip
    console.print(
        f"{escape(what)}: {result.examples} labelled examples, {result.changed} labels changed, "
        f"{result.ties} ties broken (the current label, else the most common class)",
        highlight=False,
    )
    if result.weights:
        print_table(
            ["labeler", "estimated accuracy", "vote weight"],
            [[who, fmt_num(result.reliability.get(who, "")), fmt_num(w)]
             for who, w in result.weights.items()],
        )  # fmt: skip


@app.command("standardize")
def standardize(
    dataset: str = typer.Argument(..., help="Dataset ref, e.g. phone-images@2."),
    taxonomy: Path = typer.Option(..., "--taxonomy", help="Taxonomy file (YAML or JSON)."),
    label_column: list[str] = typer.Option(
        [], "--label-column", help="Column to standardize (default: every label column)."
    ),
    keep_unknown: bool = typer.Option(
        False, "--keep-unknown", help="Keep labels the taxonomy does not know, instead of failing."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Rewrite labels to the taxonomy's classes as a new version, and list every change."""
    from ..data import labels

    result = labels.standardize(
        dataset, _taxonomy(taxonomy), label_columns=label_column or None, keep_unknown=keep_unknown
    )
    if as_json:
        print_json(result.to_dict())
        return
    if not result.changes:
        console.print(f"{escape(result.version.ref)} already follows the taxonomy", highlight=False)
    else:
        console.print(f"{escape(result.version.ref)}: {result.changed} labels changed",
                      highlight=False)  # fmt: skip
        print_table(["column", "before", "after", "labels"],
                    [[c.column, c.before, c.after, c.count] for c in result.changes])  # fmt: skip
    if result.unknown:
        print_table(["column", "unknown label (kept)", "labels"],
                    [[c.column, c.before, c.count] for c in result.unknown])  # fmt: skip


@app.command("borderline")
def borderline(
    dataset: str = typer.Argument(..., help="Dataset ref, e.g. phone-images@1."),
    labeler_columns: str | None = typer.Option(
        None, "--labeler-columns", help=_LABELER_COLUMNS_HELP
    ),
    min_dissent: float = typer.Option(
        1 / 3, "--min-dissent", help="Share of labels that must differ from the most common."
    ),
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help=_TAXONOMY_HELP),
    top: int | None = typer.Option(None, "--top", min=1, help="At most this many examples."),
    export: Path | None = typer.Option(None, "--export", help="Write them to a .csv/.parquet."),
    to_review: bool = typer.Option(False, "--to-review", help="Queue them for a decision."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The examples to send back to labelers: those they split on, most dissent first."""
    from ..data import labels
    from ..data.label_issues import check_export_path

    if export is not None:
        check_export_path(export)
    found = labels.borderline(
        dataset, labeler_columns=_split(labeler_columns), id_column=id_column,
        min_dissent=min_dissent, taxonomy=_taxonomy(taxonomy), limit=top,
    )  # fmt: skip
    if export is not None:
        _export_borderline(found, export)
    queued = labels.queue_borderline(dataset, found) if to_review and found else 0
    if as_json:
        print_json({"examples": found, "queued": queued})
        return
    _print_disagreements(found, title=f"{len(found)} borderline example(s)")
    if to_review:
        console.print(f"{queued} queued for review (reason 'borderline')", highlight=False)


@app.command("issues")
def issues(
    dataset: str = typer.Argument(..., help="Dataset ref, e.g. phone-images@2."),
    model: str | None = typer.Option(
        None, "--model", help="Registered scikit-learn model to refit, e.g. phone-inspector@3."
    ),
    estimator: str | None = typer.Option(
        None,
        "--estimator",
        help="Or a baseline: logistic-regression, random-forest, gradient-boosting.",
    ),
    label_column: str | None = typer.Option(None, "--label-column", help="Label to check."),
    features: str | None = typer.Option(None, "--features", help="Feature columns: a,b,c."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fold split."),
    top: int = typer.Option(20, "--top", min=1, help="Issues to show (and to queue)."),
    export: Path | None = typer.Option(
        None, "--export", help="Write every issue to a .csv/.parquet."
    ),
    to_review: bool = typer.Option(False, "--to-review", help="Queue the shown issues."),
    trust: list[str] = typer.Option([], "--trust", help="A skops type to trust (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Likely mislabelled examples: confident learning (cleanlab) on out-of-fold
    probabilities, worst label quality first."""
    from ..data import label_issues
    from ..errors import InvalidInput
    from ._output import progress_bar

    if (model is None) == (estimator is None):
        raise InvalidInput(
            "give either --model (a registered scikit-learn model, e.g. phone-inspector@3) or "
            f"--estimator ({', '.join(label_issues.ESTIMATORS)})",
            field="model",
        )
    if export is not None:
        label_issues.check_export_path(export)
    with progress_bar() as progress:
        found = label_issues.find_label_issues(
            dataset, model=model, estimator=estimator,
            label_column=label_column, features=_split(features), folds=folds, seed=seed,
            trusted=trust or None, progress=progress,
        )  # fmt: skip
    if export is not None:
        found.export(export)
    queued = label_issues.send_to_review(found, limit=top) if to_review else 0
    if as_json:
        out = found.to_dict()
        out["queued"] = queued
        print_json(out)
        return
    console.print(
        f"{len(found.issues)} of {found.examples} labels of {escape(found.dataset)} "
        f"({escape(found.label_column)}) look wrong; {escape(found.model)}",
        highlight=False,
    )
    print_table(
        ["#", "example", "given", "suggested", "label quality", "model confidence"],
        [[i, x.example_id, x.given, x.suggested, f"{x.quality:.3f}", f"{x.confidence:.3f}"]
         for i, x in enumerate(found.issues[:top], start=1)],
    )  # fmt: skip
    if export is not None:
        console.print(f"all {len(found.issues)} written to {escape(str(export))}", highlight=False)
    if to_review:
        console.print(f"{queued} queued for review (reason 'label_issue')", highlight=False)


# -- printing ----------------------------------------------------------------------------------


def _print_import(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"{result.dataset}: {result.added} labels added, {result.changed} changed, "
        f"{result.unchanged} already stored ({result.examples} examples, "
        f"{len(result.labelers)} labelers; checked against {result.checked_against})",
        highlight=False,
    )


def print_agreement_summary(report: AgreementReport) -> None:
    """The agreement per slice and each labeler's agreement with the others (the quickstart
    shows this much; ``inprod labels agreement`` adds pairs, confusion and examples)."""
    from ..data.agreement import label_key

    o = report.overall
    console.print(
        f"Agreement on {escape(report.dataset)}: {o.examples} examples with two or more labels, "
        f"{o.labels} labels by {len(report.labelers)} labelers; classes "
        f"{escape(', '.join(label_key(c) for c in report.classes))}"
        + (f"; {report.unmatched} labels name examples it lacks" if report.unmatched else ""),
        highlight=False,
    )
    every = [o, *report.slices]
    print_table(
        ["slice", "examples", "labels", "agreement", "Fleiss κ", "Krippendorff α"],
        [[s.name, s.examples, s.labels, _pct(s.agreement), _num(s.fleiss_kappa), _num(s.alpha)]
         for s in every],
    )  # fmt: skip
    print_table(
        ["labeler", *(f"agrees ({s.name})" for s in every)],
        [[who, *(_pct(s.labelers.get(who)) for s in every)] for who in report.labelers],
    )


def _print_agreement(report: AgreementReport, pair: str | None) -> None:
    from ..data.agreement import label_key

    print_agreement_summary(report)
    o = report.overall
    print_table(
        ["labeler a", "labeler b", "examples", "agreement", "Cohen's κ"],
        [[p.a, p.b, p.examples, _pct(p.agreement), _num(p.kappa)] for p in o.pairs],
    )
    chosen = _pair(report, pair)
    if chosen is not None:
        names = [label_key(c) for c in report.classes]
        print_table(
            [f"{chosen.a} \\ {chosen.b}", *names],
            [[n, *row] for n, row in zip(names, chosen.confusion, strict=True)],
            title=f"confusion: {chosen.a} (rows) vs {chosen.b} (columns)",
        )
    _print_disagreements(report.disagreements, title="most disagreement")


def _print_disagreements(found: list[Disagreement], *, title: str) -> None:
    from ..data.agreement import label_key

    print_table(
        ["example", "labels", "most common", "dissent"],
        [[d.example_id, ", ".join(f"{k}: {label_key(v)}" for k, v in d.votes.items()),
          label_key(d.top_label), _pct(d.dissent)] for d in found],
        title=title,
    )  # fmt: skip


def _pair(report: AgreementReport, spec: str | None) -> Any:
    from ..errors import InvalidInput

    if spec is None:
        return report.weakest_pair()
    names = _split(spec) or []
    for p in report.overall.pairs:
        if sorted(names) == sorted([p.a, p.b]):
            return p if names == [p.a, p.b] else _flipped(p)
    raise InvalidInput(
        f"--pair {spec!r} is not two labelers who labelled the same examples; pairs: "
        + ", ".join(f"{p.a},{p.b}" for p in report.overall.pairs),
        field="pair",
    )


def _flipped(p: Any) -> Any:
    from dataclasses import replace

    return replace(p, a=p.b, b=p.a, confusion=[list(r) for r in zip(*p.confusion, strict=True)])


def _export_borderline(found: list[Disagreement], path: Path) -> None:
    import pandas as pd

    from ..data.agreement import label_key

    rows = [{"example_id": d.example_id, "most_common": label_key(d.top_label),
             "dissent": d.dissent, **{k: label_key(v) for k, v in d.votes.items()}}
            for d in found]  # fmt: skip
    frame = pd.DataFrame(rows)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


# -- options -----------------------------------------------------------------------------------


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _taxonomy(path: Path | None) -> Taxonomy | None:
    from ..data.taxonomy import Taxonomy

    return None if path is None else Taxonomy.load(path)


def _weights(specs: list[str]) -> dict[str, float]:
    from ..errors import InvalidInput

    out = {}
    for spec in specs:
        who, _, value = spec.rpartition("=")
        try:
            out[who.strip()] = float(value)
        except ValueError:
            who = ""
        if not who.strip():
            raise InvalidInput(
                f"--weight {spec!r} is not LABELER=WEIGHT (e.g. inspector-1=2.5)", field="weight"
            )
    return out


def _check_folder(path: Path, option: str) -> None:
    from ..errors import InvalidInput

    if not path.parent.is_dir():
        raise InvalidInput(f"{option}: folder {path.parent} does not exist; create it first")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
