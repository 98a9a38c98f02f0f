"""Self-contained HTML: what the plots draw, that nothing is fetched, that all text is escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from inprod.monitoring.drift import table_drift
from inprod.monitoring.html import (
    ALARM_COLOR,
    bars_svg,
    drift_section,
    histogram_svg,
    page,
    time_series_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "quotes"'
START = datetime(2024, 5, 1, tzinfo=UTC)


def parse(svg: str) -> ET.Element:
    """SVG is XML: parsing fails on anything unescaped."""
    return ET.fromstring(svg)


def points(element: ET.Element) -> list[tuple[float, float]]:
    pairs = element.attrib["points"].split()
    return [(float(x), float(y)) for x, y in (p.split(",") for p in pairs)]


def test_page_is_one_self_contained_document_with_an_escaped_title() -> None:
    document = page(HOSTILE, ["<p>body</p>"])
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    assert "<script>" not in document
    assert "&lt;script&gt;" in document and "<p>body</p>" in document
    for fetches in ("src=", "href=", "@import", "url(", "<link", "<script"):
        assert fetches not in document
    assert "@media print" in document


def test_histogram_draws_each_side_as_shares_of_its_own_values() -> None:
    # Given edges 0|1|2|3: the reference is all in the first bin, the current side (of another
    # size) half in the second, half in the third.
    svg = parse(histogram_svg([0.5] * 10, [1.5] * 3 + [2.5] * 3, bins=[0, 1, 2, 3]))
    reference = points(svg.find(f"{SVG}polygon"))
    current = points(svg.find(f"{SVG}polyline"))
    assert len(reference) == len(current) == 2 * 3 + 2
    ref_tops = [y for _, y in reference[1:-1:2]]
    cur_tops = [y for _, y in current[1:-1:2]]
    base = reference[0][1]
    top = ref_tops[0]  # the tallest bar (share 1.0) reaches the top of the plot
    assert ref_tops[1] == ref_tops[2] == base  # empty bins lie on the baseline
    assert cur_tops[0] == base
    assert cur_tops[1] == cur_tops[2] == pytest.approx(base - (base - top) / 2, abs=0.1)
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "0" in labels and "3" in labels


def test_histogram_leaves_out_missing_values_and_spans_both_sides() -> None:
    rng = np.random.default_rng(3)
    svg = histogram_svg(
        np.append(rng.normal(0, 1, 5000), [np.nan, np.inf]), rng.normal(10, 1, 5000)
    )
    labels = [t.text for t in parse(svg).iter(f"{SVG}text")]
    low, high = float(labels[-2]), float(labels[-1])
    assert -4 < low < -2 and 12 < high < 14  # the 0.5th and 99.5th percentiles of both sides
    assert "no values" in histogram_svg([], [np.nan])


def test_bars_escape_category_names_and_scale_to_the_largest_share() -> None:
    svg = bars_svg(["ok", HOSTILE], [0.8, 0.2], [0.4, 0.6])
    root = parse(svg)
    assert HOSTILE in "".join(root.itertext())  # escaped in the markup, intact as text
    widths = [float(r.attrib["width"]) for r in root.iter(f"{SVG}rect") if "height" in r.attrib]
    bars = widths[2:]  # after the legend's two swatches
    assert bars[0] == max(bars)  # 0.8, the largest share
    assert bars[1] == pytest.approx(bars[0] * 0.4 / 0.8, abs=0.1)


def test_time_series_breaks_the_line_at_missing_values() -> None:
    minutes = [START + timedelta(minutes=i) for i in range(10)]
    values = [1.0, 2.0, 3.0, None, None, 2.0, 2.5, 3.0, None, 1.0]
    svg = parse(time_series_svg({"errors": list(zip(minutes, values, strict=True))}, title="t"))
    lines = svg.findall(f"{SVG}polyline")
    assert [len(points(line)) for line in lines] == [3, 3]
    assert len(svg.findall(f"{SVG}circle")) == 1  # the lone last point
    first, second = lines
    assert points(first)[-1][0] < points(second)[0][0]  # the gap is left empty


def test_time_series_draws_labelled_thresholds_and_event_marks() -> None:
    series = {
        "p99": [(START + timedelta(minutes=i), 40.0 + i) for i in range(30)],
        "p50": [(START + timedelta(minutes=i), 10.0) for i in range(30)],
    }
    svg = time_series_svg(
        series,
        thresholds=[("SLO", 60.0)],
        marks=[(START + timedelta(minutes=20), "alert <fired>")],
        title="Latency & more",
        unit=" ms",
    )
    root = parse(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "Latency & more" in texts and "alert <fired>" in texts and "SLO 60 ms" in texts
    assert {"p99", "p50"} <= set(texts)
    dashed = [e for e in root.iter(f"{SVG}line") if e.get("stroke-dasharray")]
    assert len(dashed) == 1 and dashed[0].get("stroke") == ALARM_COLOR
    y_threshold = float(dashed[0].attrib["y1"])
    y_top_value = points(root.findall(f"{SVG}polyline")[0])[-1][1]  # p99 ends at 69
    assert y_threshold > y_top_value  # 60 is drawn below 69 (y grows downwards)
    mark = [e for e in root.iter(f"{SVG}line") if e.find(f"{SVG}title") is not None]
    start_x = points(root.findall(f"{SVG}polyline")[0])[0][0]
    end_x = points(root.findall(f"{SVG}polyline")[0])[-1][0]
    expected_x = start_x + (end_x - start_x) * 20 / 29
    assert float(mark[0].attrib["x1"]) == pytest.approx(expected_x, abs=0.1)


def test_time_series_without_values_says_no_data() -> None:
    svg = time_series_svg({"x": [(START, None)]}, title="empty")
    assert "no data" in svg
    parse(svg)


def hours(rng: np.random.Generator, n: int) -> pd.Series:
    return pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="h")


def test_drift_section_lists_drifted_columns_first_with_a_plot_each() -> None:
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({
        "calm": rng.normal(size=3000),
        "moved": rng.normal(size=3000),
        "line": rng.choice(["L1", "L2", HOSTILE], 3000),
        "when": hours(rng, 3000),
        "gone": 1.0,
    })  # fmt: skip
    cur = pd.DataFrame({
        "calm": rng.normal(size=2000),
        "moved": rng.normal(1.0, 1.0, size=2000),
        "line": rng.choice(["L1", "L2", HOSTILE], 2000),
        "when": hours(rng, 2000),
    })  # fmt: skip
    report = table_drift(ref, cur)
    sides = {c: (ref[c], cur[c]) for c in ("calm", "moved", "line", "when")}
    section = drift_section(report, sides)
    body = section[section.index("<tbody>") : section.index("</tbody>")]
    rows = re.findall(r"<tr><td>(.*?)</td>", body)
    assert rows[0] == "moved" and set(rows) == {"moved", "calm", "line", "when"}
    assert body.count('class="yes"') == 1 and body.count('class="no"') == 3
    assert body.count("<svg") == 4
    assert "<script>" not in section and "&lt;script&gt;" in section
    assert "1 of 4 columns drifted" in section
    assert "<code>gone</code> is only in the reference" in section  # the schema difference
    assert "2024-01-01" in section  # datetimes are labelled as dates
