"""The pipelines pages in a browser: a pipeline over the story's endpoint and a function stage,
its stages side by side with drawn charts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from ui_harness import chart_ink

from inprod.monitoring import pipelines

PIPELINE = "inspection"
ENDPOINT = "phone-inspector"


@pytest.fixture(scope="module")
def inspection(story) -> Iterator[str]:
    """Pipeline inspection: the story's endpoint, then a triage function that logged 40 answers
    over the last 20 minutes. Deleted afterwards (its logged answers stay, as they would)."""
    store, _ = story
    pipelines.create(PIPELINE, [f"inspect={ENDPOINT}", "triage=py:triage_rules:route"],
                     description="camera station, then the triage rules", store=store)  # fmt: skip
    rng = random.Random(0)
    now = datetime.now(UTC)
    for i in range(40):
        pipelines.log_stage(
            PIPELINE, "triage", trace_id=f"trace-{i:03d}", inputs={"score": rng.random()},
            outputs={"output": rng.choice(["ship", "rework"]), "confidence": rng.random()},
            latency_ms=rng.uniform(1, 5), when=now - timedelta(seconds=30 * i), store=store,
        )  # fmt: skip
    pipelines.flush_stages(store=store)
    yield PIPELINE
    pipelines.delete(PIPELINE, actor="test", store=store)


def test_the_pipeline_page_shows_its_stages_side_by_side_with_drawn_charts(
    served, page, inspection
) -> None:
    page.goto(f"{served.url}/ui/pipelines")
    row = page.locator("#pipelines tr", has_text=inspection)
    assert row.locator(f'a[href="/ui/endpoints/{ENDPOINT}"]').count() == 1
    row.locator(f"text={inspection}").first.click()
    page.wait_for_url(f"**/ui/pipelines/{inspection}")
    stages = page.locator("#stages .stage")
    assert stages.count() == 2
    first, second = (stages.nth(i).bounding_box() for i in range(2))
    assert first["y"] == second["y"] and first["x"] + first["width"] <= second["x"]
    assert stages.nth(0).locator(f'a[href="/ui/endpoints/{ENDPOINT}"]').count() == 1
    assert "triage_rules:route" in stages.nth(1).inner_text()
    for i in range(2):
        chart = stages.nth(i).locator(".chart").first  # requests per window
        chart.locator("canvas").wait_for()
        assert int(chart.get_attribute("data-points")) > 0
        assert chart_ink(chart) > 0
    triage_requests = stages.nth(1).locator(".chart").first.get_attribute("data-chart")
    assert '"label": "triage"' in triage_requests


def test_the_window_picker_and_an_unknown_pipeline(served, page, inspection) -> None:
    page.goto(f"{served.url}/ui/pipelines/{inspection}")
    page.click("text=last 24h")
    page.wait_for_url("**window=24h")
    assert page.locator("#stages .stage").count() == 2
    response = page.goto(f"{served.url}/ui/pipelines/no-such-pipeline")
    assert response.status == 404 and "no pipeline 'no-such-pipeline'" in page.inner_text("main")
