"""The alerts page in a browser: the story's alerts, acknowledging one with a note (the
browser's prompt), and a change posted from elsewhere being refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from inprod.monitoring import alerts, monitors
from inprod.store.tables import Alert, utcnow

ENDPOINT = "phone-inspector"


@pytest.fixture
def own_alert(story) -> Iterator[int]:
    """A firing alert of this test's own monitor (disabled, so no evaluator touches it), so the
    story's alerts stay as other tests expect; removed with its monitor afterwards."""
    store, _ = story
    monitor = monitors.add(ENDPOINT, "error_rate", above=0.5, name="ui test: acknowledge me",
                           store=store)  # fmt: skip
    monitors.tune(monitor.id, enabled=False, actor="test", reason="fired by hand", store=store)
    with store.session() as s:
        row = Alert(
            monitor_id=monitor.id, endpoint=ENDPOINT, severity="critical", state="firing",
            started_at=utcnow(), value=0.75, message=f"{ENDPOINT}: error_rate = 0.75",
            details={"metric": "error_rate", "rule": monitor.rule.to_dict(),
                     "reference_value": None, "monitor": monitor.name},
        )  # fmt: skip
        s.add(row)
        s.flush()
        alert_id = row.id
    yield alert_id
    monitors.remove(monitor.id, actor="test", store=store)


def test_the_alerts_page_lists_the_storys_alerts(served, page) -> None:
    page.goto(f"{served.url}/ui/alerts")
    rows = page.locator("#alerts tbody tr")
    text = page.locator("#alerts").inner_text()
    assert rows.count() >= 2
    assert "lighting: brightness drift" in text and "drift.brightness.psi" in text
    drift = page.locator("#alerts tbody tr", has_text="lighting: brightness drift")
    assert drift.locator(".badge.critical").count() == 1
    assert "> 0.2" in drift.inner_text()  # the rule it broke
    assert "retrain" in drift.inner_text()  # an action its monitor ran
    page.click("text=resolved")
    page.wait_for_url("**state=resolved")
    assert page.locator("#alerts tbody tr", has_text="lighting: brightness drift").count() == 0


def test_acknowledging_asks_for_a_note_and_changes_the_alert_in_the_store(
    served, page, story, own_alert
) -> None:
    store, _ = story
    page.goto(f"{served.url}/ui/alerts?endpoint={ENDPOINT}&state=firing")
    assert page.locator('nav.tabs a[aria-current="page"]').inner_text() == "Alerts"
    prompts: list[str] = []

    def answer(dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept("looking at the camera — ana")

    page.on("dialog", answer)
    page.click(f"#alert-{own_alert} button:has-text('Acknowledge')")
    row = page.locator(f'#alert-{own_alert}[data-state="acknowledged"]')
    row.wait_for()
    assert prompts and f"alert {own_alert}" in prompts[0]
    assert "looking at the camera — ana" in row.inner_text()
    assert row.locator("button").count() == 0
    found = alerts.get(own_alert, store=store)
    assert (found["state"], found["acknowledged_by"]) == ("acknowledged", "ui")
    notes = [e["details"]["note"] for e in found["events"] if e["kind"] == "acknowledged"]
    assert notes == ["looking at the camera — ana"]


def test_a_refused_acknowledgement_says_why_above_the_table(served, page, own_alert) -> None:
    page.goto(f"{served.url}/ui/alerts?state=firing")
    page.on("dialog", lambda dialog: dialog.accept("me"))
    httpx.post(f"{served.url}/api/alerts/{own_alert}/ack", json={"note": "someone else"})
    page.click(f"#alert-{own_alert} button:has-text('Acknowledge')")
    flash = page.locator("#alerts-flash .error")
    flash.wait_for()
    assert "already acknowledged by" in flash.inner_text()


def test_a_change_without_the_csrf_token_is_refused(served) -> None:
    response = httpx.post(f"{served.url}/ui/alerts/1/ack", data={"note": "x"})
    assert response.status_code == 403 and "reload the page" in response.text
