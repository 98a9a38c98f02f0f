"""Self-contained HTML reports: one file with inline CSS and inline SVG, nothing fetched.

A report has to open from a mail attachment or a share with no internet, and print on paper: so
no scripts, no CDN, no web fonts, and every plot is an SVG drawn here from numbers. All text that
comes from data (column names, categories, titles) is escaped; the helpers return fragments that
``page`` puts together as they are.

Colours: reference blue, current orange, alarms red, all right in light mode and in print.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .drift import ColumnDrift, DriftReport

REFERENCE_COLOR = "#4c78a8"
CURRENT_COLOR = "#f58518"
ALARM_COLOR = "#c62828"
SERIES_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#72b7b2", "#e45756")
DEFAULT_BINS = 30
PLOT_QUANTILES = (0.005, 0.995)  # computed bins span these: a far outlier cannot squash a plot
RANGE_SAMPLE = 100_000  # values a side used to find that span (the counts use every value)
MAX_CATEGORIES = 12
_DRIFT_COLUMNS = ("column", "test", "statistic", "p-value", "effect", "score", "W/std", "missing",
                  "drifted", "reference vs current")  # fmt: skip

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  background: #fff; margin: 2rem auto; max-width: 1180px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left;
  vertical-align: middle; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.yes { color: #fff; background: #c62828; font-weight: 600; text-align: center; }
.no { color: #fff; background: #2e7d32; text-align: center; }
.note, .meta { color: #57606a; }
.legend span { display: inline-block; width: .8em; height: .8em; margin: 0 .3em 0 .8em; }
svg { display: block; } svg text { font: 10px system-ui, sans-serif; fill: #1f2328; }
@media print { body { margin: 0; max-width: none; } tr, svg { break-inside: avoid; }
  .yes, .no, th, .legend span { print-color-adjust: exact; -webkit-print-color-adjust: exact; } }
"""


def page(title: str, sections: list[str]) -> str:
    """A whole HTML document: the escaped ``title`` as heading, then the ``sections`` as given.

    ``sections`` are fragments made by this module's helpers (or escaped by the caller).
    """
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style></head>",
            f"<body>\n<h1>{escape(title)}</h1>",
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )


def histogram_svg(
    reference: Sequence[float],
    current: Sequence[float],
    *,
    bins: int | Sequence[float] = DEFAULT_BINS,
    width: int = 260,
    height: int = 90,
) -> str:
    """Two overlaid histograms, each side as shares of its own values, so sizes may differ.

    ``bins`` is a count of equal bins over the 0.5th–99.5th percentiles of both sides (so at
    most 1% of a side lies beyond the outer edges and is not drawn), or the edges themselves.
    Missing and non-finite values are left out; datetimes are labelled as dates.
    """
    ref, cur = _finite(reference), _finite(current)
    dates = np.asarray(reference[:1]).dtype.kind == "M"
    if len(ref) == 0 and len(cur) == 0:
        return _message_svg("no values", width, height)
    edges = _edges(ref, cur, bins)
    uniform = isinstance(bins, int)
    ref_shares = _shares(ref, edges, uniform=uniform)
    cur_shares = _shares(cur, edges, uniform=uniform)
    left, top, bottom = 2, 12, 14
    plot_w, plot_h = width - 2 * left, height - top - bottom
    peak = max(float(np.max(ref_shares, initial=0)), float(np.max(cur_shares, initial=0))) or 1.0

    xs = left + plot_w * (edges - edges[0]) / (edges[-1] - edges[0])

    def outline(shares: np.ndarray) -> str:
        points = [(xs[0], top + plot_h)]
        for i, share in enumerate(shares):
            y = top + plot_h * (1 - share / peak)
            points += [(xs[i], y), (xs[i + 1], y)]
        points.append((xs[-1], top + plot_h))
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)

    low, high = (_fmt_date(e) if dates else _fmt(e) for e in (edges[0], edges[-1]))
    return _svg(
        width,
        height,
        "reference (blue) and current (orange) distributions",
        f'<polygon points="{outline(ref_shares)}" fill="{REFERENCE_COLOR}" fill-opacity=".35" '
        f'stroke="{REFERENCE_COLOR}" stroke-width="1"/>',
        f'<polyline points="{outline(cur_shares)}" fill="none" stroke="{CURRENT_COLOR}" '
        'stroke-width="1.5"/>',
        _legend(width),
        f'<text x="{left}" y="{height - 2}">{escape(low)}</text>',
        f'<text x="{width - left}" y="{height - 2}" text-anchor="end">{escape(high)}</text>',
    )


def bars_svg(
    categories: Sequence[str],
    ref_shares: Sequence[float],
    cur_shares: Sequence[float],
    *,
    width: int = 260,
) -> str:
    """A pair of horizontal bars per category: its share of the reference and of the current."""
    if not categories:
        return _message_svg("no values", width, 40)
    label_w, row_h, top = 90, 14, 12
    bar_w = width - label_w - 40
    peak = max([*ref_shares, *cur_shares, 0.0]) or 1.0
    parts = [_legend(width)]
    for i, (name, ref, cur) in enumerate(zip(categories, ref_shares, cur_shares, strict=True)):
        y = top + i * row_h
        shown = name if len(name) <= 14 else name[:13] + "…"
        parts.append(
            f'<text x="{label_w - 4}" y="{y + 10}" text-anchor="end"><title>{escape(name)}'
            f"</title>{escape(shown)}</text>"
        )
        for offset, share, color in ((1, ref, REFERENCE_COLOR), (6.5, cur, CURRENT_COLOR)):
            length = bar_w * share / peak
            parts.append(
                f'<rect x="{label_w}" y="{y + offset:.1f}" width="{length:.1f}" height="5.5" '
                f'fill="{color}"><title>{share:.1%}</title></rect>'
            )
        parts.append(f'<text x="{label_w + bar_w + 4}" y="{y + 10}">{cur:.0%}</text>')
    height = top + len(categories) * row_h + 4
    return _svg(width, height, "shares per category: reference (blue), current (orange)", *parts)


def time_series_svg(
    series: dict[str, list[tuple[datetime, float | None]]],
    *,
    thresholds: Sequence[tuple[str, float]] = (),
    marks: Sequence[tuple[datetime, str]] = (),
    title: str,
    unit: str = "",
    width: int = 720,
    height: int = 240,
) -> str:
    """Lines over time, one per series; None leaves a gap (no data), never a zero.

    ``thresholds`` are dashed horizontal lines with their label, ``marks`` vertical lines at
    events (an alert fired, a version deployed). Times must be all naive or all aware.
    """
    times = [t for points in series.values() for t, _ in points] + [t for t, _ in marks]
    values = [v for points in series.values() for _, v in points if _is_number(v)]
    values += [v for _, v in thresholds]
    left, right, top, bottom = 52, 110, 34, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<text x="{left}" y="14" style="font-size:13px;font-weight:600">{escape(title)}</text>'
    ]
    parts += _series_legend(list(series), left, 28)
    if not times or not values:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}">no data</text>')
        return _svg(width, height, title, *parts)
    t0, t1 = min(times).timestamp(), max(times).timestamp()
    pad = (max(values) - min(values)) * 0.05  # lines never run along the frame
    ticks = _nice_ticks(min(values) - pad, max(values) + pad)
    y0, y1 = ticks[0], ticks[-1]

    def x(when: datetime) -> float:
        return left + plot_w * ((when.timestamp() - t0) / (t1 - t0) if t1 > t0 else 0.5)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y0) / (y1 - y0))

    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#e5e7eb"/>'
            f'<text x="{left - 4}" y="{y(tick) + 3:.1f}" text-anchor="end">'
            f"{escape(_fmt(tick) + unit)}</text>"
        )
    for when in _time_ticks(min(times), max(times)):
        parts.append(
            f'<text x="{x(when):.1f}" y="{height - 6}" text-anchor="middle">'
            f"{escape(_fmt_time(when, t1 - t0))}</text>"
        )
    for i, points in enumerate(series.values()):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        for run in _runs(sorted(points, key=lambda p: p[0].timestamp())):
            coords = [(x(t), y(v)) for t, v in run]
            if len(coords) == 1:
                (cx, cy) = coords[0]
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{color}"/>')
            else:
                joined = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
                parts.append(
                    f'<polyline points="{joined}" fill="none" stroke="{color}" stroke-width="1.5"/>'
                )
    for label, value in thresholds:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{ALARM_COLOR}" stroke-dasharray="5 3"/>'
            f'<text x="{left + plot_w + 4}" y="{y(value) + 3:.1f}" fill="{ALARM_COLOR}">'
            f"{escape(f'{label} {_fmt(value)}{unit}')}</text>"
        )
    for when, label in marks:
        parts.append(
            f'<line x1="{x(when):.1f}" x2="{x(when):.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{ALARM_COLOR}" stroke-width="1"><title>{escape(label)}</title></line>'
            f'<text x="{x(when) + 3:.1f}" y="{top + 10}" fill="{ALARM_COLOR}">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#8c959f"/>'
    )
    return _svg(width, height, title, *parts)


def drift_section(
    report: DriftReport, distributions: Mapping[str, tuple[Sequence[Any], Sequence[Any]]]
) -> str:
    """The drift table, drifted columns first, with a small plot per column.

    ``distributions`` maps a column to its (reference values, current values), e.g. the two
    DataFrame columns; a column without an entry gets no plot. Numeric columns get
    ``histogram_svg``, categorical ones ``bars_svg`` of their most common categories.
    """
    drifted, tested = len(report.drifted), len(report.columns)
    rows = [_drift_row(c, distributions.get(c.column)) for c in report.most_drifted_first()]
    header = "".join(f"<th>{name}</th>" for name in _DRIFT_COLUMNS)
    notes = [
        f"<li>not compared: <code>{escape(d.column)}</code> is {escape(d.describe())}</li>"
        for d in report.schema_differences
    ] + [f"<li>{escape(c.column)}: {escape(c.note)}</li>" for c in report.columns if c.note]
    return "\n".join(
        [
            '<section class="drift">',
            f"<h2>Drift: {drifted} of {tested} columns drifted</h2>",
            f'<p class="meta">{report.n_reference:,} reference rows, {report.n_current:,} '
            f"current rows. A column drifted when its test's p-value &lt; {report.alpha} and its "
            f"effect is not negligible: PSI ≥ {report.psi_threshold} (numeric, KS test) or "
            f"Jensen–Shannon ≥ {report.js_threshold} (categorical, chi² test). W/std: "
            "Wasserstein distance / reference standard deviation.</p>",
            '<p class="legend"><span style="background:' + REFERENCE_COLOR + '"></span>'
            'reference<span style="background:' + CURRENT_COLOR + '"></span>current</p>',
            f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>",
            *rows,
            "</tbody></table>",
            f'<ul class="note">{"".join(notes)}</ul>' if notes else "",
            "</section>",
        ]
    )


def _drift_row(column: ColumnDrift, sides: tuple[Sequence[Any], Sequence[Any]] | None) -> str:
    missing = f"{column.missing_reference:.0%}→{column.missing_current:.0%}"
    cells = [
        f"<td>{escape(column.column)}</td>",
        f"<td>{column.test}</td>",
        *(f'<td class="num">{_fmt(v)}</td>' for v in (column.statistic, column.p_value)),
        f"<td>{column.effect}</td>",
        *(
            f'<td class="num">{_fmt(v)}</td>'
            for v in (column.effect_size, column.wasserstein_normalized)
        ),
        f'<td class="num">{missing}</td>',
        f'<td class="{"yes" if column.drifted else "no"}">{"yes" if column.drifted else "no"}</td>',
        f"<td>{_plot(column, sides)}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _plot(column: ColumnDrift, sides: tuple[Sequence[Any], Sequence[Any]] | None) -> str:
    if sides is None:
        return ""
    reference, current = sides
    if column.kind == "numeric":
        try:
            return histogram_svg(reference, current)
        except (TypeError, ValueError):  # e.g. time zone-aware datetimes: no float axis
            return '<span class="note">no plot for this type</span>'
    ref, cur = _category_shares(reference), _category_shares(current)
    ranked = sorted(ref.keys() | cur.keys(), key=lambda c: -(ref.get(c, 0.0) + cur.get(c, 0.0)))
    categories = ranked[:MAX_CATEGORIES]
    ref_shares = [ref.get(c, 0.0) for c in categories]
    cur_shares = [cur.get(c, 0.0) for c in categories]
    if len(ranked) > MAX_CATEGORIES:
        categories.append(f"({len(ranked) - MAX_CATEGORIES} more)")
        ref_shares.append(max(0.0, 1 - sum(ref_shares)))
        cur_shares.append(max(0.0, 1 - sum(cur_shares)))
    return bars_svg(categories, ref_shares, cur_shares)


def _category_shares(values: Sequence[Any]) -> dict[str, float]:
    import pandas as pd

    counts = pd.Series(values).value_counts(dropna=True)  # fast on a million rows, unlike a loop
    total = int(counts.sum()) or 1
    shares: dict[str, float] = {}
    for name, n in counts.items():  # 1 and "1" show as one category
        shares[str(name)] = shares.get(str(name), 0.0) + int(n) / total
    return shares


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "M":  # datetimes plot on an axis of seconds since the epoch
        array = array.astype("datetime64[ns]").astype(np.int64) / 1e9
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    return array if finite.all() else array[finite]


def _edges(ref: np.ndarray, cur: np.ndarray, bins: int | Sequence[float]) -> np.ndarray:
    if not isinstance(bins, int):
        return np.asarray(bins, dtype=np.float64)
    spans = [
        np.quantile(side[:: max(1, len(side) // RANGE_SAMPLE)], PLOT_QUANTILES)
        for side in (ref, cur)
        if len(side)
    ]
    low, high = min(float(s[0]) for s in spans), max(float(s[1]) for s in spans)
    if high <= low:  # one value everywhere: a unit-wide bin around it
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def _shares(values: np.ndarray, edges: np.ndarray, *, uniform: bool) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(len(edges) - 1)
    # Equal bins take numpy's arithmetic path; given edges make it sort the values (10× slower).
    bins = len(edges) - 1 if uniform else edges
    counts, _ = np.histogram(values, bins=bins, range=(edges[0], edges[-1]))
    return counts / len(values)


def _svg(width: int, height: int, label: str, *parts: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>" + "".join(parts) + "</svg>"
    )


def _message_svg(message: str, width: int, height: int) -> str:
    return _svg(
        width, height, message, f'<text x="4" y="{height / 2:.0f}">{escape(message)}</text>'
    )


def _legend(width: int) -> str:
    return (
        f'<rect x="{width - 78}" y="2" width="7" height="7" fill="{REFERENCE_COLOR}"/>'
        f'<text x="{width - 68}" y="9">ref</text>'
        f'<rect x="{width - 40}" y="2" width="7" height="7" fill="{CURRENT_COLOR}"/>'
        f'<text x="{width - 30}" y="9">cur</text>'
    )


def _series_legend(names: list[str], left: int, baseline: int) -> list[str]:
    parts, x = [], float(left)
    for i, name in enumerate(names):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        parts.append(
            f'<rect x="{x:.0f}" y="{baseline - 8}" width="10" height="3" fill="{color}"/>'
            f'<text x="{x + 14:.0f}" y="{baseline - 4}">{escape(name)}</text>'
        )
        x += 24 + 6 * len(name)
    return parts


def _runs(
    points: list[tuple[datetime, float | None]],
) -> Iterator[list[tuple[datetime, float]]]:
    """The stretches of consecutive points with a value: a line must not bridge a gap."""
    run: list[tuple[datetime, float]] = []
    for when, value in points:
        if _is_number(value):
            run.append((when, float(value)))  # type: ignore[arg-type]
        elif run:
            yield run
            run = []
    if run:
        yield run


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10^k) that enclose ``low``..``high``."""
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _time_ticks(first: datetime, last: datetime) -> list[datetime]:
    return [first] if first == last else [first, first + (last - first) / 2, last]


def _fmt_time(when: datetime, span_s: float) -> str:
    if span_s <= 600:  # minutes or less: the seconds matter
        return when.strftime("%H:%M:%S")
    return when.strftime("%m-%d %H:%M" if span_s <= 3 * 86400 else "%Y-%m-%d")


def _fmt_date(seconds: float) -> str:
    return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%d")


def _fmt(value: float | None) -> str:
    """Four significant digits, as the CLI's tables show numbers; empty for None."""
    return "" if value is None else f"{value:.4g}"
