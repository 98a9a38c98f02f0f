"""The overview in Chromium against a real server on the quickstart story's store: every
endpoint with its plan and last hour, a drawn sparkline, links to its pages, and the table's
refresh."""

from __future__ import annotations

from ui_harness import chart_ink

from inprod.ui.pages.overview import REFRESH_S

ENDPOINT = "phone-inspector"


def test_the_overview_lists_the_story_s_endpoint_with_its_last_hour(served, page) -> None:
    page.goto(f"{served.url}/ui/")
    row = page.locator(f"tr[data-endpoint='{ENDPOINT}']")
    cells = row.locator("td")
    assert int(cells.nth(3).inner_text().replace(",", "")) > 0  # requests in the last hour
    assert float(cells.nth(4).inner_text()) > 0  # QPS
    assert cells.nth(6).inner_text().endswith("ms")  # p99
    assert "%" in cells.nth(8).inner_text()  # accuracy from the story's labels
    plan = cells.nth(1).inner_text()
    assert "phone-inspector@champion" in plan and "rolled_back" in plan  # the canary it undid
    assert cells.nth(2).inner_text().startswith("partial ≥")  # the story's automation
    assert chart_ink(row.locator(".chart.spark")) > 0
    assert row.locator(f"a[href^='/ui/alerts?endpoint={ENDPOINT}']").count() == 1
    row.locator(f"a[href='/ui/endpoints/{ENDPOINT}']").click()
    page.wait_for_url(f"**/ui/endpoints/{ENDPOINT}")


def test_the_table_refreshes_itself_and_redraws_its_sparklines(served, page) -> None:
    page.goto(f"{served.url}/ui/")
    spark = page.locator(f"tr[data-endpoint='{ENDPOINT}'] .chart.spark")
    spark.evaluate("el => { el.dataset.old = '1'; }")  # gone once the table is swapped
    with page.expect_response("**/ui/overview/table", timeout=(REFRESH_S + 10) * 1000) as got:
        pass
    assert got.value.status == 200
    fresh = page.locator(f"tr[data-endpoint='{ENDPOINT}'] .chart.spark:not([data-old])")
    fresh.wait_for()
    page.wait_for_function("el => el.dataset.drawn === '1'", arg=fresh.element_handle())
    assert chart_ink(fresh) > 0
