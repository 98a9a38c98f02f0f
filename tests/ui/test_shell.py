"""The dashboard's shell: logging in with a token (and being refused with a wrong one), roles,
the 404 page and the vendored static files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from e2e_server import Server, run_server

from inprod import tokens
from inprod.store import Store


@pytest.fixture(scope="module")
def guarded(story: tuple[Store, Path]) -> Iterator[tuple[Server, dict[str, str]]]:
    """``inprod serve --auth on`` on the story's store, with a token of each role."""
    store, home = story
    secrets = {role: tokens.create(role, name=f"ui-{role}", store=store).secret
               for role in ("predict", "reviewer", "operator")}  # fmt: skip
    with run_server(store, home / "guarded", "--auth", "on") as server:
        yield server, secrets


def test_a_wrong_token_is_refused_and_a_right_one_logs_in(guarded, page) -> None:
    server, secrets = guarded
    page.goto(f"{server.url}/ui/?window=24h")
    assert "/ui/login" in page.url and "next=/ui/?window=24h" in unquote(page.url)
    page.fill("#token", "inp_" + "x" * 43)
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text().startswith("That token is unknown or revoked")
    page.fill("#token", "not a token")
    page.click("button[type=submit]")
    assert "That is not a token" in page.locator(".error").inner_text()
    page.fill("#token", secrets["reviewer"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/?window=24h")
    assert page.locator("header .role").inner_text() == "reviewer"
    page.click("text=log out")
    page.wait_for_url("**/ui/login")
    page.goto(f"{server.url}/ui/")
    assert "/ui/login" in page.url  # the cookie is gone


def test_the_login_cookie_is_http_only_and_strict(guarded) -> None:
    server, secrets = guarded
    response = httpx.post(
        f"{server.url}/ui/login",
        data={"token": secrets["predict"], "next": "https://evil.example/"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/"  # not off-site
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie


def status_within(url: str, headers: dict[str, str], wanted: int, seconds: float = 10) -> int:
    """Poll until ``url`` answers ``wanted`` (servers re-read tokens every 2 s)."""
    deadline = time.monotonic() + seconds
    while True:
        status = httpx.get(url, headers=headers).status_code
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_a_bearer_token_works_for_scripts_and_a_revoked_one_does_not(guarded, story) -> None:
    server, _ = guarded
    store, _ = story
    viewer = tokens.create("predict", name="ui-revoked", store=store)
    headers = {"Authorization": f"Bearer {viewer.secret}"}
    assert status_within(f"{server.url}/ui/", headers, 200) == 200
    tokens.revoke(viewer.info.id, store=store)
    assert status_within(f"{server.url}/ui/", headers, 303) == 303  # sent to the login form


def test_an_unknown_page_is_a_404_page_that_links_back(served, page) -> None:
    response = page.goto(f"{served.url}/ui/no-such-page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    page.click("text=Back to the overview")
    page.wait_for_url("**/ui/")


def test_static_files_are_vendored_and_served(served) -> None:
    for name, needle in (("htmx.min.js", "htmx"), ("uPlot.iife.min.js", "uPlot"),
                         ("ui.js", "inprodDrawCharts"), ("ui.css", "--accent")):  # fmt: skip
        response = httpx.get(f"{served.url}/ui/static/{name}")
        assert response.status_code == 200 and needle in response.text, name
