"""The registry pages in Chromium against a real server on the quickstart story's store: the
models list, a version (by number or alias) with its signature, slice metrics and lineage graph,
and the 404 and 400 pages."""

from __future__ import annotations

from inprod import models
from inprod.store import Store

MODEL = "phone-inspector"
STORY_SLICES = ("factory=A", "factory=B", "dark", "blurry", "faint-scratch")


def test_models_list_shows_the_model_its_versions_and_champion(served, story, page) -> None:
    store: Store = story[0]
    [info] = [m for m in models.list_models(store=store) if m.name == MODEL]
    page.goto(f"{served.url}/ui/models")
    link = page.locator(f"a[href='/ui/models/{MODEL}']")
    row = page.locator("table.models tbody tr", has=link)
    cells = row.locator("td")
    assert cells.nth(1).inner_text() == str(info.versions) and info.versions >= 2
    assert cells.nth(2).inner_text() == f"v{info.latest_version}"
    assert f"champion → v{info.aliases['champion']}" in cells.nth(4).inner_text()
    assert "primary" in cells.nth(5).inner_text()  # the story's endpoint serves the champion
    link.click()
    page.wait_for_url(f"**/ui/models/{MODEL}")
    assert page.locator("table.versions tbody tr").count() == info.versions


def test_version_page_shows_signature_slices_and_the_lineage_graph(served, page) -> None:
    page.goto(f"{served.url}/ui/models/{MODEL}/1")  # the story's baseline, its first champion
    assert page.locator("h1").inner_text().startswith(f"{MODEL}@1")
    signature = page.locator("section.signature").inner_text()
    assert "inputs" in signature and "float32" in signature and "[N, 1024]" in signature
    slices = page.locator("section.slices table tbody td:first-child").all_inner_texts()
    assert sorted(slices) == sorted(STORY_SLICES)
    graph = page.locator("section.lineage-card svg")
    assert graph.is_visible() and graph.bounding_box()["width"] > 600
    drawn = " ".join(graph.locator("text").all_text_contents())
    assert "phone-images@1" in drawn and "inprod quickstart generator" in drawn
    assert graph.locator("rect").count() == 4  # model, run, dataset, source
    page.locator("a[href='#run']").first.click()
    assert "baseline-logreg" in page.locator("#run").inner_text()


def test_an_alias_names_the_version_it_points_at(served, story, page) -> None:
    champion = models.get(f"{MODEL}@champion", store=story[0])
    page.goto(f"{served.url}/ui/models/{MODEL}/champion")
    heading = page.locator("h1")
    assert heading.inner_text().startswith(champion.ref) and "champion" in heading.inner_text()


def test_an_unknown_model_is_a_404_page_that_links_back(served, page) -> None:
    response = page.goto(f"{served.url}/ui/models/no-such-model")
    assert response.status == 404
    assert "no model 'no-such-model'" in page.locator(".error").inner_text()
    page.click("text=Back to the overview")
    page.wait_for_url("**/ui/")


def test_a_malformed_version_is_a_400_page(served, page) -> None:
    response = page.goto(f"{served.url}/ui/models/{MODEL}/x@y")
    assert response.status == 400
    assert "is not NAME, NAME@VERSION or NAME@ALIAS" in page.locator(".error").inner_text()
