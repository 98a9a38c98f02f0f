"""The review queue in Chromium against a real server on the quickstart story: the phone's image
is drawn, tasks are decided with the keyboard alone (stored with their feedback), a skipped task
does not come back, a task another reviewer took is refused in place, and an empty queue says
so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from inprod.review import queue
from inprod.store import Store
from inprod.store.tables import Feedback

ENDPOINT = "phone-inspector"
PAGE = f"/ui/review?endpoint={ENDPOINT}"
TASK = "#review-task section.task"


@pytest.fixture(autouse=True, scope="module")
def _give_back_claims(story: tuple[Store, Path]) -> Iterator[None]:
    """The page claims tasks as ``ui``; give them back after these tests, as the story left them."""
    yield
    store, _ = story
    for task in queue.list_tasks(status="claimed", limit=queue.MAX_LIMIT, store=store):
        if task.claimed_by == "ui":
            queue.release(task.id, reviewer="ui", store=store)


def shown_task(page) -> str:
    task_id = page.locator(TASK).get_attribute("data-task")
    assert task_id
    return task_id


def next_after(page, task_id: str) -> str:
    """Wait until another task replaced ``task_id``; its id."""
    expect(page.locator(TASK)).not_to_have_attribute("data-task", task_id)
    return shown_task(page)


def feedback_of(store: Store, prediction_id: str) -> list[tuple[object, str]]:
    with store.session(write=False) as s:
        rows = s.scalars(select(Feedback).where(Feedback.prediction_id == prediction_id))
        return [(f.label, f.source) for f in rows]


def test_tasks_are_decided_with_the_keyboard_alone(served, story, page) -> None:
    store, _ = story
    page.goto(served.url + PAGE)
    first = shown_task(page)
    image = page.locator(f"{TASK} img.input-image")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 32  # 32×32 pixels
    expect(page.locator(f"{TASK} button[data-key='2']")).to_contain_text("1")

    page.keyboard.press("2")  # the second class: 1
    second = next_after(page, first)
    expect(page.locator("#review-task .notice")).to_contain_text("Decided 1")
    decided = queue.get_task(first, store=store)
    assert (decided.status, decided.decision, decided.decided_by) == ("decided", 1, "ui")
    assert feedback_of(store, decided.prediction_id) == [(1, "review:ui")]

    answer = queue.get_task(second, store=store).answer
    page.keyboard.press("Enter")  # accept the model's answer
    next_after(page, second)
    accepted = queue.get_task(second, store=store)
    assert (accepted.decision, accepted.agrees) == (answer, True)
    assert feedback_of(store, accepted.prediction_id) == [(answer, "review:ui")]


def test_a_skipped_task_goes_back_to_the_queue_and_does_not_come_back(served, story, page) -> None:
    store, _ = story
    page.goto(served.url + PAGE)
    skipped = shown_task(page)
    page.keyboard.press("s")
    expect(page.locator("#review-task .notice")).to_contain_text("Skipped")
    next_after(page, skipped)
    task = queue.get_task(skipped, store=store)
    assert (task.status, task.decision) == ("open", None)


def test_a_task_another_reviewer_took_is_refused_in_place(served, story, page) -> None:
    store, _ = story
    page.goto(served.url + PAGE)
    mine = shown_task(page)
    queue.release(mine, reviewer="ui", store=store)  # as if our lease lapsed: another takes it
    waiting = [t.id for t in queue.list_tasks(status="open", endpoint=ENDPOINT, store=store)]
    older = waiting[: waiting.index(mine)]  # a task skipped earlier may be older
    other = queue.next_task(reviewer="inspector-9", endpoint=ENDPOINT, skip=older, store=store)
    assert other is not None and other.id == mine
    try:
        page.keyboard.press("1")
        expect(page.locator("#review-task .error")).to_contain_text(
            f"review task {mine} is claimed by 'inspector-9'"
        )
        task = queue.get_task(mine, store=store)
        assert (task.status, task.claimed_by, task.decision) == ("claimed", "inspector-9", None)
        assert feedback_of(store, task.prediction_id) == []
        next_after(page, mine)  # the page moved on to a task of its own
    finally:
        queue.release(mine, reviewer="inspector-9", store=store)


def test_an_empty_queue_says_so_and_a_bad_filter_is_a_page_that_says_which(served, page) -> None:
    page.goto(f"{served.url}{PAGE}&reason=audit")  # the story audits nothing
    expect(page.locator("#review-task h2")).to_have_text("Nothing to review")
    expect(page.locator("#review-stats")).to_contain_text("low confidence")
    response = page.goto(f"{served.url}/ui/review?endpoint=phone-inspektor")
    assert response is not None and response.status == 404
    expect(page.locator(".error")).to_contain_text("did you mean 'phone-inspector'")
