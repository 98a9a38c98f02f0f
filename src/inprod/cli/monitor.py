"""``inprod monitor``: is the data a model sees still like the data it learned from?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InvalidInput
from ._output import JSON_OPTION_HELP, console, err_console, fmt_num, print_json

if TYPE_CHECKING:
    import pandas as pd

    from ..monitoring.drift import DriftReport
    from ..monitoring.multivariate import MultivariateDrift

app = typer.Typer(help="Monitor data and predictions: drift.", no_args_is_help=True)

SIDE_HELP = "A .csv or .parquet file, or a dataset version such as 'phone-images@3'."


@app.command("drift")
def drift(
    reference: str = typer.Argument(..., help="The baseline. " + SIDE_HELP),
    current: str = typer.Argument(..., help="The data to check. " + SIDE_HELP),
    columns: str | None = typer.Option(
        None, "--columns", "-c", help="Comma-separated columns to test (default: all shared)."
    ),
    categorical: str | None = typer.Option(
        None, "--categorical", help="Comma-separated columns to test as categories (integer codes)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    html: Path | None = typer.Option(
        None,
        "--html",
        help="Also write a self-contained HTML report (table and a plot per column) here.",
        dir_okay=False,
    ),
    multivariate: bool = typer.Option(
        False,
        "--multivariate",
        help="Also train a domain classifier to tell the tables' rows apart: catches changes in "
        "how columns go together that per-column tests miss (about a second more).",
    ),
) -> None:
    """Test each shared column of two tables for drift.

    KS, Wasserstein and PSI for numbers; chi² and Jensen–Shannon for categories. A column drifts
    when p < 0.05 and PSI or JS ≥ 0.1. --multivariate adds a domain classifier's ROC AUC over
    whole rows (drifted at ≥ 0.6).
    """
    from ..monitoring.drift import CATEGORICAL, table_drift

    if html is not None and not html.absolute().parent.is_dir():  # say so before the work
        raise InvalidInput(
            f"cannot write the HTML report to {html}: folder {html.parent} does not exist; "
            "create it or give another path",
            field="html",
        )
    ref = _load_side(reference, "reference")
    cur = _load_side(current, "current")
    kinds = {name: CATEGORICAL for name in _split(categorical)}
    report = table_drift(
        ref, cur, columns=_split(columns) if columns is not None else None, kinds=kinds
    )
    domain = None
    if multivariate:
        from ..monitoring.multivariate import domain_classifier_drift

        tested = [c.column for c in report.columns]
        domain = domain_classifier_drift(ref[tested], cur[tested], categorical=list(kinds))
    if as_json:
        extra = {"multivariate": domain.to_dict()} if domain is not None else {}
        print_json(report.to_dict() | extra)
    else:
        _print_report(report)
        if domain is not None:
            _print_multivariate(domain)
    if html is not None:
        title = f"Drift: {reference} → {current}"
        _write_html(html, report, ref, cur, title=title, multivariate=domain)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _load_side(given: str, side: str) -> pd.DataFrame:
    """A file that exists is read as a table; anything else is a dataset version reference."""
    from ..data import readers
    from ..errors import NotFound

    path = Path(given)
    if path.exists():
        readers.check_file(path)
        fmt = readers.table_format(path)
        # One block per column: no copy into a 2-D block, float columns without nulls stay
        # Arrow's buffers (the drift tests sort copies of them anyway).
        return readers.read_table(path, fmt).to_pandas(split_blocks=True)
    if path.suffix.lower() in readers.FORMATS or "/" in given or "\\" in given:
        raise NotFound(
            f"{side} file not found: {given}; check the path, or give a dataset version such "
            "as 'phone-images@3'",
            field=side,
        )
    from ..data import datasets  # the store and SQLAlchemy: 0.4 s a plain file does not need

    return datasets.load(given)


def _write_html(
    path: Path,
    report: DriftReport,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    *,
    title: str,
    multivariate: MultivariateDrift | None = None,
) -> None:
    from ..monitoring.html import drift_section, page

    sides = {c.column: (ref[c.column], cur[c.column]) for c in report.columns}
    sections = [drift_section(report, sides)]
    if multivariate is not None:
        sections.append(_multivariate_section(multivariate))
    document = page(title, sections)
    try:
        path.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the HTML report to {path}: {exc.strerror}; check that its folder "
            "exists and is writable",
            field="html",
        ) from None
    err_console.print(f"wrote the drift report to {path}", highlight=False, soft_wrap=True)


def _print_report(report: DriftReport) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    for name in ("column", "test", "statistic", "p-value", "PSI/JS", "W/std", "missing", "drifted"):
        table.add_column(name, overflow="fold")
    for c in report.most_drifted_first():
        table.add_row(
            c.column,
            c.test,
            _num(c.statistic),
            _num(c.p_value),
            _num(c.effect_size),
            _num(c.wasserstein_normalized),
            f"{c.missing_reference:.0%}→{c.missing_current:.0%}",
            "yes" if c.drifted else "no",
            style="bold red" if c.drifted else None,
        )
    console.print(table)
    console.print(
        "[dim]ks: Kolmogorov–Smirnov, effect PSI (numeric); chi2: chi², effect Jensen–Shannon "
        "(categorical); W/std: Wasserstein distance / reference std; missing: reference→current[/]"
    )
    n = len(report.drifted)
    console.print(
        f"{n} of {len(report.columns)} columns drifted "
        f"(p < {report.alpha} and PSI ≥ {report.psi_threshold} / JS ≥ {report.js_threshold}); "
        f"{report.n_reference} reference rows, {report.n_current} current rows",
        highlight=False,
    )
    for d in report.schema_differences:
        console.print(f"[yellow]not compared:[/] {d.column!r} is {d.describe()}", highlight=False)
    for c in report.columns:
        if c.note:
            console.print(f"[dim]{c.column}: {c.note}[/]", highlight=False)


SHOWN_FEATURES = 10  # features listed with their importance, most important first
_AUC_MEANING = "0.5: the rows cannot be told apart, 1: every row gives its table away"


def _print_multivariate(result: MultivariateDrift) -> None:
    verdict = "[bold red]drifted[/]" if result.drifted else "not drifted"
    console.print(
        f"multivariate: domain classifier ROC AUC {result.auc:.3f} ± {result.auc_std:.3f}: "
        f"{verdict} (at AUC ≥ {result.threshold})",
        highlight=False,
    )
    top = ", ".join(f"{name} {value:.3f}" for name, value in result.features[:SHOWN_FEATURES])
    console.print(
        f"[dim]{_AUC_MEANING}; AUC lost when a column is shuffled: {top}[/]", highlight=False
    )
    if result.note:
        console.print(f"[dim]{result.note}[/]", highlight=False)


def _multivariate_section(result: MultivariateDrift) -> str:
    from html import escape

    verdict = "drifted" if result.drifted else "not drifted"
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{value:.3f}</td></tr>'
        for name, value in result.features[:SHOWN_FEATURES]
    )
    note = f'<p class="note">{escape(result.note)}</p>' if result.note else ""
    return "\n".join(
        [
            '<section class="multivariate">',
            f"<h2>Multivariate drift: {verdict} (ROC AUC {result.auc:.3f})</h2>",
            f'<p class="meta">A classifier trained to tell {result.n_reference:,} reference rows '
            f"from {result.n_current:,} current rows scores a cross-validated ROC AUC of "
            f"{result.auc:.3f} ± {result.auc_std:.3f} ({_AUC_MEANING}); drifted at ≥ "
            f"{result.threshold}. Importance: the AUC lost when a column's values are shuffled."
            "</p>",
            "<table><thead><tr><th>column</th><th>importance</th></tr></thead>",
            f"<tbody>{rows}</tbody></table>",
            note,
            "</section>",
        ]
    )


def _num(value: float | None) -> str:
    return "" if value is None else fmt_num(value)
