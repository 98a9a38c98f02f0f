"""``inprod monitor``: is the data a model sees still like the data it learned from?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._output import JSON_OPTION_HELP, console, fmt_num, print_json

if TYPE_CHECKING:
    import pandas as pd

    from ..monitoring.drift import DriftReport

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
) -> None:
    """Test each shared column of two tables for drift.

    KS, Wasserstein and PSI for numbers; chi² and Jensen–Shannon for categories. A column drifts
    when p < 0.05 and PSI or JS ≥ 0.1.
    """
    from ..monitoring.drift import CATEGORICAL, table_drift

    ref = _load_side(reference, "reference")
    cur = _load_side(current, "current")
    kinds = {name: CATEGORICAL for name in _split(categorical)}
    report = table_drift(
        ref, cur, columns=_split(columns) if columns is not None else None, kinds=kinds
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _load_side(given: str, side: str) -> pd.DataFrame:
    """A file that exists is read as a table; anything else is a dataset version reference."""
    from pathlib import Path

    from ..data import datasets, readers
    from ..errors import NotFound

    path = Path(given)
    if path.exists():
        readers.check_file(path)
        fmt = readers.table_format(path)
        return readers.read_table(path, fmt).to_pandas()
    if path.suffix.lower() in readers.FORMATS or "/" in given or "\\" in given:
        raise NotFound(
            f"{side} file not found: {given}; check the path, or give a dataset version such "
            "as 'phone-images@3'",
            field=side,
        )
    return datasets.load(given)


def _print_report(report: DriftReport) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    for name in ("column", "test", "statistic", "p-value", "PSI/JS", "W/std", "missing", "drifted"):
        table.add_column(name, overflow="fold")
    ordered = sorted(report.columns, key=lambda c: (not c.drifted, -(c.effect_size or 0.0)))
    for c in ordered:
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
        what = {
            "only_in_reference": "only in the reference",
            "only_in_current": "only in the current table",
            "kind_mismatch": f"{d.reference} in the reference but {d.current} now",
        }[d.problem]
        console.print(f"[yellow]not compared:[/] {d.column!r} is {what}", highlight=False)
    for c in report.columns:
        if c.note:
            console.print(f"[dim]{c.column}: {c.note}[/]", highlight=False)


def _num(value: float | None) -> str:
    return "" if value is None else fmt_num(value)
