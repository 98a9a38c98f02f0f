"""The retraining pages: their data on SQLite and PostgreSQL, the Approve and Cancel actions over
HTTP (once per click, refusals shown above the story, roles, bad input), and in a browser: the
quickstart story's request, and Approve starting a real canary on a server of its own."""

from __future__ import annotations

import re
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "retraining"))
from e2e_server import run_server
from retrain_functions import add_policy, approved_request, log_labelled, serve_champion
from rollout_helpers import ENDPOINT, MODEL, two_versions

from inprod import deploy, endpoints, tokens
from inprod.errors import InvalidInput
from inprod.monitoring import monitors
from inprod.retraining import policies, requests
from inprod.retraining.runner import run_request
from inprod.serving.app import create_app
from inprod.store import Store
from inprod.store.tables import AuditEvent, RetrainingPolicy
from inprod.ui.pages.retraining import AnswerShare, last_seen, request_story, retraining_list

OTHER = "phone-inspector-b"
TRAIN = "statistics:mean"  # any importable function passes the policy's check
LOOSE = {"require": ["accuracy>=0"], "require_slices": ["accuracy>=0"]}
CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')
ACTION = re.compile(
    r'action="/ui/retraining/\d+/(\w+)"[^>]*>\s*<input type="hidden" name="action_id" '
    r'value="([0-9a-f]{32})"'
)
SWEEP = [
    {"params": {"C": 0.3}, "run_name": "r-1", "candidate": f"{MODEL}@3", "run_id": "cd" * 16,
     "value": 0.8813},
    {"params": {"C": 1.0}, "run_name": "r-2", "candidate": f"{MODEL}@2", "run_id": "ab" * 16,
     "value": 0.9096},
    {"params": {"C": 3.0}, "run_name": "r-3",
     "error": "the training function raised ValueError: nope"},
]  # fmt: skip
RESCORE = {
    "passed": False, "summary": "gate failed: re-scored 2006 logged answer(s): 30.5% change",
    "rows": 2006, "changed": 0.305, "before": {"0": 0.8, "1": 0.2},
    "after": {"0": 0.6, "1": 0.35, "2": 0.05}, "labelled": 199, "accuracy_before": 0.849,
    "accuracy_after": 0.915, "job_id": "f1" * 16,
}  # fmt: skip
GATE = {"passed": True, "summary": "gate passed: accuracy 0.957 vs 0.908", "failures": []}


@pytest.fixture
def world(store: Store) -> Store:
    """Two endpoints; the first has a manual policy with a trigger of each kind."""
    two_versions(store)
    endpoints.create(OTHER, f"{MODEL}@champion", store=store)
    monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, name="dark", store=store)
    policies.add(ENDPOINT, train=TRAIN, triggers=["alert:dark", "new-labels:500",
                 "schedule:weekly"], actor="test", store=store)  # fmt: skip
    return store


@pytest.fixture
def client(world: Store) -> TestClient:
    """The whole server's app, its background services not started (no worker runs requests)."""
    return TestClient(create_app(world))


def tell_story(store: Store) -> int:
    """A request joined by a second trigger that ran every step: a sweep, a gate that passed,
    a re-scored window that changed too much (rejected). The train step took 150 s."""
    r = requests.open_request(ENDPOINT, trigger="manual", reason="dark images", actor="ann",
                              store=store)  # fmt: skip
    requests.open_request(ENDPOINT, trigger="new-labels:500", reason="512 new labels",
                          store=store)  # fmt: skip
    steps = [
        ("dataset", "240 new labelled examples", {"training": "phones-training@1"}),
        ("train", f"registered {MODEL}@2: best of 3 sweep points",
         {"candidate": f"{MODEL}@2", "run_id": "ab" * 16, "select": "val_accuracy:max",
          "sweep": SWEEP}),
        ("check", f"{MODEL}@2 takes what {MODEL}@1 takes", {"serving": f"{MODEL}@1"}),
        ("evaluate", GATE["summary"], GATE),
        ("rescore", RESCORE["summary"], RESCORE),
    ]  # fmt: skip
    with store.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        for name, message, outputs in steps:
            requests.record_step(s, row, name, "running")
            requests.record_step(s, row, name, "done", message, outputs)
        timed = [dict(st) for st in row.details["steps"]]
        started = datetime.fromisoformat(timed[1]["started_at"])
        timed[1]["finished_at"] = (started + timedelta(seconds=150)).isoformat()
        row.details = {
            **row.details,
            "steps": timed,
            "candidate": f"{MODEL}@2",
            "run_id": "ab" * 16,
            "dataset": "phones-training@1",
            "evaluation": GATE,
        }
        requests.finish(s, row, "rejected", RESCORE["summary"], actor="runner")  # fmt: skip
    return r.id


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def actions_of(html: str) -> dict[str, str]:
    """Each action form's action id on a request's page, by action."""
    return dict(ACTION.findall(html))


def post(
    client: TestClient, request_id: int, action: str, html: str, csrf: str, **form: str
) -> Response:
    """Click a button of ``html`` (a page, or the story an action answered with) as htmx does:
    the page's CSRF header (the browser keeps it from the page) and the form's action id."""
    return client.post(
        f"/ui/retraining/{request_id}/{action}",
        data={"action_id": actions_of(html)[action], **form},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )


# -- data ---------------------------------------------------------------------------------------


def test_last_seen_says_what_each_trigger_saw() -> None:
    marks = {
        "alert:dark": {"alert_id": 7},
        "new-labels": {"feedback_id": 90, "count": 37},
        "schedule": {"at": "2026-01-05T10:00:00+00:00", "skipped": "0 new labels, need 1"},
    }
    assert last_seen("alert:dark", marks) == "last fired on alert 7"
    assert last_seen("alert:other", marks) == "no alert seen yet"
    assert last_seen("new-labels:500", marks) == "37 of 500 new labels since the last request"
    assert last_seen("new-labels:500", {}) == "0 of 500 new labels since the last request"
    assert last_seen("schedule:weekly", marks) == (
        "skipped at 2026-01-05 10:00:00 UTC: 0 new labels, need 1"
    )
    assert last_seen("schedule:daily", {"schedule": {"at": "2026-01-05T10:00:00+00:00"}}) == (
        "last ran at 2026-01-05 10:00:00 UTC"
    )
    assert last_seen("schedule:daily", {}).startswith("not due yet")


def test_the_list_has_policies_and_requests_latest_first_filtered(world: Store) -> None:
    told = tell_story(world)
    waiting = requests.open_request(ENDPOINT, trigger="manual", reason="again", store=world)
    other = requests.open_request(OTHER, trigger="manual", reason="b too", store=world)
    with world.session() as s:
        row = s.scalar(select(RetrainingPolicy))
        row.marks = {"new-labels": {"feedback_id": 3, "count": 12}}

    found = retraining_list(endpoint=None, status="all", store=world)

    assert [r.id for r in found.requests] == [other.id, waiting.id, told]
    story = found.requests[-1]
    assert (story.status, story.trigger, story.joined) == ("rejected", "manual", 1)
    assert (story.last_step, story.candidate) == ("rescore done", f"{MODEL}@2")
    assert (found.requests[0].last_step, found.requests[0].candidate) == ("", None)
    [policy] = found.policies
    assert [(t.text, t.seen) for t in policy.triggers] == [
        ("alert:dark", "no alert seen yet"),
        ("new-labels:500", "12 of 500 new labels since the last request"),
        ("schedule:weekly", "not due yet: the period counts from when the policy was made"),
    ]
    assert found.endpoints == sorted([ENDPOINT, OTHER])
    rejected = retraining_list(endpoint=None, status="rejected", store=world)
    assert [r.id for r in rejected.requests] == [told]
    mine = retraining_list(endpoint=OTHER, status="all", store=world)
    assert [r.id for r in mine.requests] == [other.id] and mine.policies == []
    with pytest.raises(InvalidInput, match="did you mean 'phone-inspector'"):
        retraining_list(endpoint="phone-inspektor", status="all", store=world)


def test_the_story_has_its_steps_the_sweep_the_gate_and_the_rescore(world, client) -> None:
    told = tell_story(world)

    story = request_story(told, store=world)

    assert [st.name for st in story.steps] == ["dataset", "train", "check", "evaluate", "rescore"]
    assert story.steps[1].took_s == pytest.approx(150)
    assert story.select == "val_accuracy:max"
    assert [(p.params, p.chosen, p.error) for p in story.sweep] == [
        ("C=0.3", False, ""), ("C=1.0", True, ""),
        ("C=3.0", False, "the training function raised ValueError: nope"),
    ]  # fmt: skip
    assert story.shares == [AnswerShare("0", 0.8, 0.6), AnswerShare("1", 0.2, 0.35),
                            AnswerShare("2", None, 0.05)]  # fmt: skip
    assert story.gate == GATE and story.buttons == []  # finished: nothing to approve
    page = client.get(f"/ui/retraining/{told}")
    assert page.status_code == 200
    html = page.text
    for expected in (
        "dark images", "new-labels:500", "512 new labels", "took 2.5 min",
        "val_accuracy:max", "0.9096", "abababab", "raised ValueError: nope",
        "gate passed: accuracy 0.957 vs 0.908", "30.5%", "84.9% → 91.5%",
        f'href="/ui/models/{MODEL}/2"', f'href="/ui/endpoints/{ENDPOINT}/rollout"',
    ):  # fmt: skip
        assert expected in html, expected
    assert actions_of(html) == {}
    listed = client.get(f"/ui/retraining?endpoint={ENDPOINT}&status=rejected").text
    assert f'id="request-{told}"' in listed and "+1 joined" in listed


def test_a_failed_gate_lists_its_failures(world, client) -> None:
    r = requests.open_request(ENDPOINT, trigger="manual", reason="try", store=world)
    failure = {"requirement": "accuracy>=champion-0.02", "scope": "brightness<0.3",
               "metric": "accuracy", "value": 0.61, "champion": 0.7, "limit": 0.68, "count": 40,
               "status": "fail", "note": ""}  # fmt: skip
    gate = {"passed": False, "summary": "gate failed: accuracy 0.61 on brightness<0.3",
            "failures": [failure]}  # fmt: skip
    with world.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        requests.record_step(s, row, "evaluate", "running")
        requests.record_step(s, row, "evaluate", "done", gate["summary"], gate)
        row.details = {**row.details, "evaluation": gate}
        requests.finish(s, row, "rejected", gate["summary"], actor="runner")

    html = client.get(f"/ui/retraining/{r.id}").text

    gate_html = html[html.index('id="gate"') :]
    assert "badge failed" in gate_html and "accuracy&gt;=champion-0.02" in gate_html
    assert "brightness&lt;0.3" in gate_html and "0.68" in gate_html


def test_bad_filters_and_unknown_requests_get_pages_that_say_what_to_do(world, client) -> None:
    bad = client.get("/ui/retraining?status=done")
    assert bad.status_code == 400
    assert "status &#39;done&#39; is not one of all, open, approved, running" in bad.text
    unknown = client.get("/ui/retraining?endpoint=phone-inspektor")
    assert unknown.status_code == 400 and "did you mean &#39;phone-inspector&#39;" in unknown.text
    missing = client.get("/ui/retraining/999")
    assert missing.status_code == 404
    assert "retraining request 999 not found (there are no requests yet)" in missing.text
    assert client.get("/ui/retraining/abc").status_code == 404
    empty = client.get("/ui/retraining?status=failed")
    assert empty.status_code == 200 and "No failed retraining requests" in empty.text


# -- actions ------------------------------------------------------------------------------------


def _events(store: Store, request_id: int, kind: str) -> int:
    with store.session(write=False) as s:
        return s.scalar(
            select(func.count()).where(
                AuditEvent.subject == f"retraining-request:{request_id}", AuditEvent.kind == kind
            )
        )


def test_approving_an_open_request_acts_once_however_many_clicks(world, client) -> None:
    r = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=world)
    page = client.get(f"/ui/retraining/{r.id}").text
    assert set(actions_of(page)) == {"approve", "cancel"}

    first = post(client, r.id, "approve", page, csrf_of(page))
    again = post(client, r.id, "approve", page, csrf_of(page))  # a double click: the same action id

    assert first.status_code == again.status_code == 200
    assert "Approved by ui: the server&#39;s worker runs it next." in first.text
    assert "<html" not in first.text  # the story alone, swapped in place
    assert requests.get_request(r.id, store=world).status == "approved"
    assert _events(world, r.id, "retraining.approved") == 1
    assert set(actions_of(first.text)) == {"cancel"}  # approved: it may still be cancelled

    cancelled = post(client, r.id, "cancel", first.text, csrf_of(page), reason="wrong data window")

    assert cancelled.status_code == 200 and "wrong data window" in cancelled.text
    done = requests.get_request(r.id, store=world)
    assert (done.status, done.details["message"]) == ("cancelled", "wrong data window")
    assert actions_of(cancelled.text) == {}


def test_a_refused_action_says_why_above_the_story(world, client) -> None:
    r = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=world)
    page = client.get(f"/ui/retraining/{r.id}").text
    requests.cancel(r.id, reason="someone else", actor="bob", store=world)

    refused = post(client, r.id, "approve", page, csrf_of(page))

    assert refused.status_code == 409
    assert 'class="error" role="alert"' in refused.text
    assert f"retraining request {r.id} is cancelled; only a request that is open or " in (
        refused.text
    )
    assert 'id="request-status">cancelled' in refused.text
    no_token = client.post(f"/ui/retraining/{r.id}/approve", data={"action_id": uuid.uuid4().hex})
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    no_action = client.post(
        f"/ui/retraining/{r.id}/retrain", headers={"X-CSRF-Token": csrf_of(page)}
    )
    assert no_action.status_code == 404 and "use one of approve, cancel" in no_action.text


def test_a_plain_form_post_without_htmx_answers_with_the_whole_page(world, client) -> None:
    r = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=world)
    page = client.get(f"/ui/retraining/{r.id}").text

    answer = client.post(
        f"/ui/retraining/{r.id}/cancel",
        data={"action_id": actions_of(page)["cancel"], "csrf": csrf_of(page), "reason": "no JS"},
    )

    assert answer.status_code == 200 and "<html" in answer.text and "no JS" in answer.text
    assert requests.get_request(r.id, store=world).status == "cancelled"


def test_a_viewer_sees_no_buttons_and_may_not_approve(world) -> None:
    r = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=world)
    viewer = tokens.create("predict", name="viewer", store=world).secret
    operator = tokens.create("operator", name="op", store=world).secret
    with TestClient(create_app(world, auth=True)) as c:
        pages = {
            secret: c.get(f"/ui/retraining/{r.id}", headers={"Authorization": f"Bearer {secret}"})
            for secret in (viewer, operator)
        }
        assert set(actions_of(pages[operator].text)) == {"approve", "cancel"}
        assert actions_of(pages[viewer].text) == {}
        assert "an operator or admin approves or cancels requests" in pages[viewer].text
        refused = c.post(
            f"/ui/retraining/{r.id}/approve",
            data={"action_id": uuid.uuid4().hex},
            headers={"Authorization": f"Bearer {viewer}",
                     "X-CSRF-Token": csrf_of(pages[viewer].text)},
        )  # fmt: skip
    assert refused.status_code == 403 and "this needs operator or higher" in refused.text
    assert requests.get_request(r.id, store=world).status == "open"


@pytest.fixture
def awaiting(store: Store, tmp_path: Path) -> tuple[Store, int]:
    """A champion serving ``phones``, labelled dark phones, a manual policy, and a request
    whose candidate passed the gate and awaits approval of its canary."""
    serve_champion(store, tmp_path / "phones", n=80)
    log_labelled(store, 40)
    add_policy(store, approve="manual", **LOOSE)
    waiting = run_request(approved_request(store).id, store=store)
    assert waiting.status == "awaiting_approval"
    return store, waiting.id


def test_approving_a_request_awaiting_approval_starts_its_canary(awaiting) -> None:
    store, request_id = awaiting
    client = TestClient(create_app(store))
    page = client.get(f"/ui/retraining/{request_id}").text
    candidate = requests.get_request(request_id, store=store).details["candidate"]
    assert f"Approve the canary of {candidate}</button>" in page

    answer = post(client, request_id, "approve", page, csrf_of(page))

    assert answer.status_code == 200 and f"canary of {candidate} started" in answer.text
    plan = deploy.get_plan("phones", store=store)
    assert plan.state == "ramping" and plan.candidate is not None
    assert plan.candidate.ref == candidate
    done = requests.get_request(request_id, store=store)
    assert (done.status, done.details["deploy_approved_by"]) == ("deployed", "ui")


# -- in a browser -------------------------------------------------------------------------------


def test_the_storys_retraining_request_in_a_browser(served, story, page) -> None:
    store, _ = story
    [told] = requests.list_requests(endpoint=ENDPOINT, status="deployed", store=store)
    page.goto(f"{served.url}/ui/retraining")
    assert page.locator('header nav a[aria-current="page"]').inner_text() == "Retraining"
    row = page.locator(f"#request-{told.id}")
    assert row.locator(".badge.deployed").inner_text() == "deployed"
    assert told.details["candidate"] in row.inner_text()
    page.select_option('select[name="status"]', "failed")
    page.click("button:has-text('Show')")
    page.wait_for_url("**status=failed")
    assert page.locator(f"#request-{told.id}").count() == 0

    page.goto(f"{served.url}/ui/retraining/{told.id}")
    assert page.locator("#steps li").count() == len(told.steps)
    sweep = page.locator("#sweep tbody tr")
    assert sweep.count() == 2 and page.locator("#sweep tr.chosen").count() == 1
    assert "passed" in page.locator("#gate h2").inner_text()
    assert "→" in page.locator("#rescore").inner_text()
    assert page.locator("#retraining-story form").count() == 0  # deployed: nothing to approve
    page.click(f"#retraining-story .kpi a:has-text('{told.details['candidate']}')")
    page.wait_for_url(f"**/ui/models/{told.details['candidate'].replace('@', '/')}")


def test_approve_and_cancel_in_a_browser(page, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    try:
        serve_champion(store, tmp_path / "phones", n=80)
        log_labelled(store, 40)
        add_policy(store, approve="manual", **LOOSE)
        waiting = run_request(approved_request(store).id, store=store)
        candidate = waiting.details["candidate"]
        with run_server(store, tmp_path / "served") as server:
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{server.url}/ui/retraining/{waiting.id}")
            page.click(f"button:has-text('Approve the canary of {candidate}')")
            page.locator("#request-status", has_text="deployed").wait_for()
            assert f"canary of {candidate} started" in page.locator(".notice").inner_text()
            plan = deploy.get_plan("phones", store=store)
            assert plan.state == "ramping" and plan.candidate.ref == candidate

            again = requests.open_request("phones", trigger="manual", reason="x", store=store)
            page.goto(f"{server.url}/ui/retraining/{again.id}")
            page.fill('input[name="reason"]', "the labels are late")
            page.click("button:has-text('Cancel')")
            page.locator("#request-status", has_text="cancelled").wait_for()
        done = requests.get_request(again.id, store=store)
        assert (done.status, done.details["message"]) == ("cancelled", "the labels are late")
    finally:
        store.close()
