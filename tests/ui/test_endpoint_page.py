"""The endpoint page in Chromium against a real server on the quickstart story's store: every
chart drawn from the story's traffic, a monitor's limit on the latency chart, the window picker,
the feature choice, and the 400 and 404 pages."""

from __future__ import annotations

import json

from ui_harness import chart_ink

from inprod.monitoring import monitors

ENDPOINT = "phone-inspector"
STORY_CHARTS = ["qps", "latency", "errors", "classes", "confidence", "accuracy",
                "feature:brightness", "feature:contrast"]  # fmt: skip


def x_span(page, key: str) -> float:
    """Seconds the drawn x axis spans on chart ``key``."""
    chart = page.locator(f"[data-key='{key}'] .chart")
    return chart.evaluate("el => el._plot.scales.x.max - el._plot.scales.x.min")


def test_every_chart_draws_the_story_s_traffic(served, page) -> None:
    page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}")
    keys = page.locator("[data-key]").evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == STORY_CHARTS  # the story's monitor watches brightness: it comes first
    for key in keys:
        assert chart_ink(page.locator(f"[data-key='{key}'] .chart")) > 0, key
    assert int(page.locator("#kpi-requests").inner_text().replace(",", "")) > 0
    legend = page.locator("[data-key='latency'] .u-legend").text_content()
    assert "p99 · v1 primary" in legend
    watch = page.locator("[data-key='feature:brightness'] .watch").inner_text()
    assert "lighting: brightness 15% below normal" in watch  # its limit moves: listed only
    assert page.locator("nav.tabs a[aria-current='page']").inner_text() == "Charts"


def test_a_latency_monitor_draws_its_limit_on_the_latency_chart(served, story, page) -> None:
    store = story[0]
    limit = monitors.add(ENDPOINT, "latency.p99", above=250, name="ui test: p99", store=store)
    try:
        page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}")
        chart = page.locator("[data-key='latency'] .chart")
        spec = json.loads(chart.get_attribute("data-chart"))
        assert spec["thresholds"] == [{"value": 250, "label": "ui test: p99: latency.p99 > 250"}]
        assert chart_ink(chart) > 0
        # the story answers in well under 250 ms: the y axis stretches to show the limit
        assert chart.evaluate("el => el._plot.scales.y.max") >= 250
        other = page.locator("[data-key='errors'] .chart")
        assert other.evaluate("el => el._plot.scales.y.max") < 250
        assert "ui test: p99" in page.locator("[data-key='latency'] .watch").inner_text()
    finally:
        monitors.remove(limit.id, store=store)


def test_the_window_picker_changes_the_url_and_the_charts_range(served, page) -> None:
    page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}")
    assert 3600 <= x_span(page, "qps") <= 3660
    page.click(".window-picker a:text-is('24h')")
    page.wait_for_url("**window=24h**")
    assert 23 * 3600 <= x_span(page, "qps") <= 24 * 3600
    assert chart_ink(page.locator("[data-key='qps'] .chart")) > 0
    page.click(".window-picker a:text-is('7d')")
    page.wait_for_url("**window=7d**")
    assert 6 * 86400 < x_span(page, "qps") <= 7 * 86400


def test_a_custom_window_shows_that_span_and_one_ending_before_it_starts_is_refused(
    served, page
) -> None:
    page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}")
    form = page.locator("form[aria-label='custom window']")
    today = form.locator("input[name=end]").input_value()[:11]  # the shown window ends now
    form.locator("input[name=start]").fill(today + "00:00")
    form.locator("input[name=end]").fill(today + "23:59")
    form.locator("button").click()
    page.wait_for_url("**start=**")
    assert x_span(page, "qps") == 23 * 3600  # hourly points from 00:00 to 23:00
    form = page.locator("form[aria-label='custom window']")
    form.locator("input[name=start]").fill("2026-11-20T10:00")
    form.locator("input[name=end]").fill("2026-11-20T09:00")
    with page.expect_navigation() as navigation:
        form.locator("button").click()
    assert navigation.value.status == 400
    message = page.locator(".error").inner_text()
    assert message.startswith("start 2026-11-20T10:00 is not before end 2026-11-20T09:00")


def test_choosing_features_keeps_the_window(served, page) -> None:
    page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}?window=24h")
    features = page.locator("form[aria-label='input features']")
    features.locator("input[value=contrast]").uncheck()
    features.locator("button").click()
    page.wait_for_url("**feature=brightness**")
    assert "window=24h" in page.url
    keys = page.locator("[data-key^='feature:']").evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == ["feature:brightness"]


def test_an_unknown_endpoint_is_a_404_page_that_links_back(served, page) -> None:
    response = page.goto(f"{served.url}/ui/endpoints/no-such-endpoint")
    assert response.status == 404
    assert "no endpoint 'no-such-endpoint'" in page.locator(".error").inner_text()
    page.click("text=Back to the overview")
    page.wait_for_url("**/ui/")
