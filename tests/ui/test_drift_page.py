"""The drift page in a browser: the story's lighting drift per feature, with plots, and the
reference and window pickers."""

from __future__ import annotations

ENDPOINT = "phone-inspector"


def test_the_drift_page_shows_the_lighting_drift_per_feature(served, page) -> None:
    page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}/drift")
    assert page.locator('nav.tabs a[aria-current="page"]').inner_text() == "Drift"
    brightness = page.locator('#drift-table tr[data-feature="brightness"]')
    assert brightness.locator(".status").inner_text() == "drifted"
    assert brightness.locator("td").nth(1).inner_text() == "KS"
    rows = page.locator("#drift-table tbody tr")
    assert rows.count() >= 3  # brightness, contrast and the model's outputs
    assert page.locator("#drift-table td.plot svg").count() == rows.count()
    plot = brightness.locator("td.plot svg").bounding_box()
    assert plot is not None and plot["width"] > 200 and plot["height"] > 50  # drawn, not hidden
    assert (
        "brightness" in page.locator("#drift-table").locator("..").locator("p").first.inner_text()
    )


def test_the_reference_and_the_window_can_be_picked(served, page) -> None:
    page.goto(f"{served.url}/ui/endpoints/{ENDPOINT}/drift")
    page.select_option("#reference", "training")  # submits the form
    page.wait_for_url("**reference=training**")
    problem = page.locator("#drift-problem").inner_text()
    assert problem.startswith("Cannot compare with this reference") and "image dataset" in problem
    page.click("text=last 24h")
    page.wait_for_url("**window=24h**")
    assert "reference=training" in page.url
    assert page.locator("#reference").input_value() == "training"


def test_an_unknown_endpoint_is_a_404_page_that_links_back(served, page) -> None:
    response = page.goto(f"{served.url}/ui/endpoints/phone-inspektor/drift")
    assert response.status == 404
    assert "no endpoint 'phone-inspektor'" in page.locator(".error").inner_text()
    page.click("text=Back to the overview")
    page.wait_for_url("**/ui/")
