"""The error analysis as one self-contained HTML page (``inprod analyze errors --html``): the
prioritization table with a bar per potential improvement, accuracy against the baseline per
tag, rare classes, precision/recall per tag and the fairness view with its worst group marked.
Built from :mod:`inprod.monitoring.html`'s page and charts: no scripts, nothing fetched."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from ..monitoring.html import ALARM_COLOR, REFERENCE_COLOR, bars_svg, page
from .errors import ClassRow, ErrorAnalysis

__all__ = ["errors_html", "percent"]

_BAR_W = 120


def percent(value: float | None) -> str:
    """0.0016 → "0.16%", 0.6 → "60%": two decimals at most, none when they are zeros."""
    if value is None:
        return "—"
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{'0' if text in ('-0', '') else text}%"


def errors_html(analysis: ErrorAnalysis, *, title: str = "Error analysis") -> str:
    sections = [_summary(analysis), _priorities(analysis)]
    tagged = [r for r in analysis.table if r.accuracy is not None]
    if tagged and analysis.baseline_col:
        sections.append(
            "<h2>Accuracy against the baseline, per tag</h2>"
            f'<p class="note">blue (ref): {escape(analysis.baseline_col)}; '
            "orange (cur): the model</p>"
            + bars_svg(
                [r.tag for r in tagged],
                [r.baseline or 0.0 for r in tagged],
                [r.accuracy or 0.0 for r in tagged],
                width=520,
            )
        )
    sections.append(_classes("Rare classes", analysis.rare_classes, "no class is rare here"))
    for tag, rows in analysis.slice_classes.items():
        sections.append(_classes(f"Precision and recall: {tag}", rows, "no labelled rows"))
    if analysis.fairness is not None:
        sections.append(_fairness(analysis))
    return page(title, sections)


def _summary(a: ErrorAnalysis) -> str:
    parts = [
        f"{a.rows:,} rows ({a.unlabelled:,} without a label)",
        f"accuracy {percent(a.accuracy)}",
    ]
    if a.baseline_col:
        parts.append(f"baseline ({escape(a.baseline_col)}) {percent(a.baseline)}")
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in a.notes)
    return f'<p class="meta">{" · ".join(parts)}</p>{notes}'


def _priorities(a: ErrorAnalysis) -> str:
    peak = max((r.potential or 0.0 for r in a.table), default=0.0) or 1.0
    head = ("tag", "accuracy", "baseline", "gap", "% of data", "potential improvement",
            "% of errors", "rows")  # fmt: skip
    body = []
    for r in a.table:
        width = _BAR_W * max(r.potential or 0.0, 0.0) / peak
        bar = (
            f'<svg width="{_BAR_W}" height="10" role="img" aria-label="{percent(r.potential)}">'
            f'<rect width="{width:.1f}" height="10" fill="{REFERENCE_COLOR}"/></svg>'
        )
        cells = [percent(r.accuracy), percent(r.baseline), percent(r.gap), percent(r.share)]
        body.append(
            f"<tr><td>{escape(r.tag)}</td>"
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + f'<td class="num">{percent(r.potential)} {bar}</td>'
            + f'<td class="num">{percent(r.error_share)}</td><td class="num">{r.count:,}</td></tr>'
        )
    return "<h2>Prioritization table</h2>" + _table(head, body)


def _classes(title: str, rows: Sequence[ClassRow], empty: str) -> str:
    if not rows:
        return f'<h2>{escape(title)}</h2><p class="note">{escape(empty)}</p>'
    head = ("class", "labelled", "share", "predicted", "precision", "recall", "F1")
    body = []
    for c in rows:
        cells = (
            percent(c.share),
            f"{c.predicted:,}",
            _num(c.precision),
            _num(c.recall),
            _num(c.f1),
        )
        body.append(
            f"<tr><td>{escape(str(c.cls))}</td><td class='num'>{c.support:,}</td>"
            + "".join(f'<td class="num">{v}</td>' for v in cells)
            + "</tr>"
        )
    return f"<h2>{escape(title)}</h2>" + _table(head, body)


def _fairness(a: ErrorAnalysis) -> str:
    view = a.fairness
    assert view is not None
    body = []
    for g in view.groups:
        style = f' style="color:{ALARM_COLOR};font-weight:600"' if g.worst else ""
        note = "worst" if g.worst else ("" if g.compared else "too few rows to compare")
        body.append(
            f"<tr{style}><td>{escape(g.value)}</td><td class='num'>{g.count:,}</td>"
            f"<td class='num'>{_num(g.metric)}</td><td>{note}</td></tr>"
        )
    summary = (
        f'<p class="meta">{escape(view.metric)} by {escape(view.attribute)}: disparity '
        f"(best − worst) {_num(view.disparity)}, ratio (worst / best) {_num(view.ratio)}</p>"
    )
    head = (view.attribute, "rows", view.metric, "")
    return "<h2>Fairness</h2>" + summary + _table(head, body)


def _table(head: Sequence[str], body: list[str]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"
