"""Fixtures for the dashboard's browser tests (helpers in ``ui_harness``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ui_harness import CHROMIUM, CHROMIUM_ARGS, E2E, run_story, shot

sys.path.insert(0, str(E2E))
from e2e_server import Server, run_server

from inprod.store import Store


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """A store after the whole quickstart story (run once per test worker)."""
    home = tmp_path_factory.mktemp("story")
    store = run_story(home)
    yield store, home
    store.close()


@pytest.fixture(scope="session")
def served(story: tuple[Store, Path]) -> Iterator[Server]:
    """``inprod serve`` on the story's store, auth off (a loopback server)."""
    store, home = story
    with run_server(store, home / "served") as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context and page; a screenshot of where it ended is saved either way."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    try:
        shot(page, request.node.name)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
