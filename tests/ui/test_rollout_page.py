"""The rollout page in Chromium against a real server on the quickstart story: a canary started
here is rolled back from the page (with a reason, audited with its actor), a double click acts
once, the live part follows changes made elsewhere, and a viewer sees no buttons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_server import Server, run_server
from playwright.sync_api import expect

from inprod import deploy, tokens
from inprod.store import Store

ENDPOINT = "phone-inspector"
PAGE = f"/ui/endpoints/{ENDPOINT}/rollout"


@pytest.fixture
def canary(story: tuple[Store, Path]) -> Iterator[Store]:
    """A fresh canary of v2 that waits (it needs more answers than anyone sends); whatever a
    test leaves in flight is rolled back after it, as the story ended."""
    store, _ = story
    deploy.canary(ENDPOINT, f"{ENDPOINT}@2", steps="10,50,100", interval="10m",
                  min_requests=100_000, reason="ui test: a canary", store=store)  # fmt: skip
    yield store
    if deploy.get_plan(ENDPOINT, store=store).state in ("ramping", "paused", "shadowing"):
        deploy.rollback(ENDPOINT, reason="ui test: clean up", store=store)


def answer_prompts(page, *answers: str | None) -> list[str]:
    """Answer the page's prompts in turn (None: cancel); returns the questions asked."""
    asked: list[str] = []
    queue = list(answers)

    def on_dialog(dialog) -> None:
        asked.append(dialog.message)
        answer = queue.pop(0) if queue else None
        dialog.dismiss() if answer is None else dialog.accept(answer)

    page.on("dialog", on_dialog)
    return asked


def events_since_start(store: Store) -> list[deploy.PlanEvent]:
    """The plan's events after the test's canary began."""
    events = deploy.history(ENDPOINT, limit=50, store=store)
    starts = [i for i, e in enumerate(events) if e.reason == "ui test: a canary"]
    return events[starts[-1] + 1 :]


def test_rollback_asks_for_a_reason_and_changes_the_plan(served, canary, page) -> None:
    asked = answer_prompts(page, None, "", "«dark» phones: v2 is worse")
    page.goto(served.url + PAGE)
    expect(page.locator(".plan [data-state]")).to_have_attribute("data-state", "ramping")
    expect(page.locator("section.canary")).to_contain_text("step 1 of 3")
    rollback = page.locator("button[data-action=rollback]")

    rollback.click()  # cancelled: nothing is sent
    page.wait_for_timeout(300)
    assert deploy.get_plan(ENDPOINT, store=canary).state == "ramping"

    rollback.click()  # an empty reason is refused, in place
    expect(page.locator("#rollout-message .error")).to_contain_text("give a reason")
    assert deploy.get_plan(ENDPOINT, store=canary).state == "ramping"

    page.locator("button[data-action=rollback]").click()
    expect(page.locator("#rollout-message .notice")).to_contain_text("Rolled back by ui")
    assert asked[0].startswith(f"Take {ENDPOINT}@2 out of {ENDPOINT}'s traffic?")
    plan = deploy.get_plan(ENDPOINT, store=canary)
    assert (plan.state, plan.candidate) == ("rolled_back", None)
    [event] = events_since_start(canary)
    assert (event.action, event.actor, event.reason) == (
        "rollback",
        "ui",
        "«dark» phones: v2 is worse",
    )
    expect(page.locator(".plan [data-state]")).to_have_attribute("data-state", "rolled_back")
    expect(page.locator(".history tbody tr").first).to_contain_text("«dark» phones: v2 is worse")
    expect(page.locator("button[data-action]")).to_have_count(0)  # nothing left to steer


def test_a_double_click_rolls_back_once(served, canary, page) -> None:
    answer_prompts(page, "double click", "double click")
    page.goto(served.url + PAGE)
    page.locator("button[data-action=rollback]").dblclick()
    expect(page.locator("#rollout-message .notice")).to_contain_text("Rolled back")
    page.wait_for_timeout(500)  # a second request would have arrived by now
    assert [e.action for e in events_since_start(canary)] == ["rollback"]
    expect(page.locator("#rollout-message .error")).to_have_count(0)


def test_pause_and_resume_show_the_buttons_that_apply_and_the_page_follows_the_store(
    served, canary, page
) -> None:
    answer_prompts(page, "hold for the night shift")
    page.goto(served.url + PAGE)
    actions = page.locator("button[data-action]")
    expect(actions).to_have_count(3)
    assert [b.get_attribute("data-action") for b in actions.all()] == [
        "promote",
        "pause",
        "rollback",
    ]
    page.locator("button[data-action=pause]").click()
    expect(page.locator(".plan [data-state]")).to_have_attribute("data-state", "paused")
    assert [b.get_attribute("data-action") for b in actions.all()] == [
        "promote",
        "resume",
        "rollback",
    ]
    deploy.resume(ENDPOINT, reason="resumed elsewhere", store=canary)  # not on this page
    expect(page.locator(".plan [data-state]")).to_have_attribute(
        "data-state", "ramping", timeout=10_000
    )  # the live part polls
    expect(page.locator(".history tbody tr").first).to_contain_text("resumed elsewhere")


@pytest.fixture(scope="module")
def guarded(story: tuple[Store, Path]) -> Iterator[tuple[Server, dict[str, tokens.CreatedToken]]]:
    """``inprod serve --auth on`` on the story's store, with a viewer and an operator token."""
    store, home = story
    made = {role: tokens.create(role, name=f"rollout-{role}", store=store)
            for role in ("predict", "operator")}  # fmt: skip
    with run_server(store, home / "guarded-rollout", "--auth", "on") as server:
        yield server, made


def log_in(page, server: Server, secret: str) -> None:
    page.goto(f"{server.url}/ui/login?next={PAGE}")
    page.fill("#token", secret)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{PAGE}")


def test_a_viewer_sees_no_buttons_and_an_operator_acts_as_their_token(
    guarded, canary, page
) -> None:
    server, made = guarded
    log_in(page, server, made["predict"].secret)
    expect(page.locator(".plan [data-state]")).to_have_attribute("data-state", "ramping")
    expect(page.locator("button[data-action]")).to_have_count(0)
    forged = httpx.post(
        f"{server.url}{PAGE}/rollback",
        headers={"Authorization": f"Bearer {made['predict'].secret}"},
        data={"action_id": "0" * 32, "reason": "I am only a viewer"},
    )
    assert forged.status_code == 403
    assert deploy.get_plan(ENDPOINT, store=canary).state == "ramping"

    page.click("text=log out")
    answer_prompts(page, "operator pauses")
    log_in(page, server, made["operator"].secret)
    page.locator("button[data-action=pause]").click()
    expect(page.locator(".plan [data-state]")).to_have_attribute("data-state", "paused")
    [event] = events_since_start(canary)
    assert (event.action, event.actor) == ("pause", f"ui:token:{made['operator'].info.id}")
