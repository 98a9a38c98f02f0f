"""The drift, alerts and pipelines pages without a browser: their data functions on both stores,
and their answers to bad input, acknowledgements and roles over HTTP (Starlette's TestClient)."""

from __future__ import annotations

import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "monitoring"))
from monitor_helpers import ENDPOINT, T0, minute, two_versions, write_minutes

from inprod import endpoints, models, tokens
from inprod.monitoring import alerts, monitors, pipelines
from inprod.monitoring.evaluator import evaluate
from inprod.monitoring.window_drift import drift_windows
from inprod.monitoring.windows import WindowAggregator, window_start
from inprod.serving.app import create_app
from inprod.serving.tap import PredictionLog
from inprod.store import Store
from inprod.ui.pages.alerts import alert_rows
from inprod.ui.pages.drift import TRAINING, drift_page
from inprod.ui.pages.pipelines import pipeline_page

REFERENCE = f"window:{T0.isoformat()}/{minute(20).isoformat()}"
CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')
ACTION_ID = re.compile(r'name="action_id" value="([0-9a-f]{32})"')


def darken(store: Store, start: datetime, *, watched: bool = True) -> None:
    """20 minutes of normal light from ``start``, then 10 dark ones; with ``watched``, a drift
    monitor whose reference is the first 20 minutes."""
    two_versions(store)
    write_minutes(store, start, 20, brightness=0.5)
    write_minutes(store, start + timedelta(minutes=20), 10, brightness=0.3)
    if watched:
        reference = f"window:{start.isoformat()}/{(start + timedelta(minutes=20)).isoformat()}"
        monitors.add(ENDPOINT, "drift.brightness.psi", above=0.2, reference=reference, store=store)


@pytest.fixture
def darkened(store: Store) -> Store:
    darken(store, T0)
    return store


@pytest.fixture
def client(store: Store) -> TestClient:
    """The whole server's app, its background services not started (nothing evaluates)."""
    return TestClient(create_app(store))


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


# -- drift ---------------------------------------------------------------------------------


def test_the_drift_page_tests_each_feature_against_the_monitors_reference(darkened) -> None:
    page = drift_page(ENDPOINT, window="1h", now=minute(30), store=darkened)
    assert page.reference == REFERENCE  # what the drift monitor compares with
    assert [value for value, _ in page.choices] == [REFERENCE, TRAINING]
    assert page.problem == ""
    verdicts = {row.drift.column: row.drift.drifted for row in page.features}
    assert verdicts["brightness"] is True and verdicts["factory"] is False
    assert page.features[0].drift.column == "brightness"  # most drifted first
    assert page.explanation.startswith("brightness: PSI")
    by_name = {row.drift.column: row for row in page.features}
    assert by_name["brightness"].test == "KS" and by_name["factory"].test == "χ²"
    assert 'aria-label="reference (blue) and current (orange) distributions"' in (
        by_name["brightness"].plot
    )
    assert 'aria-label="shares per category' in by_name["factory"].plot
    # the last hour before the dark minutes looks like the reference
    calm = drift_page(ENDPOINT, window="1h", now=minute(20), store=darkened)
    assert not any(row.drift.drifted for row in calm.features)


def test_the_drift_page_says_why_it_cannot_compare(darkened) -> None:
    quiet = drift_page(ENDPOINT, window="1h", now=minute(200), store=darkened)
    assert quiet.problem == "No primary traffic in the last 1h." and quiet.features == []
    untrained = drift_page(ENDPOINT, reference=TRAINING, now=minute(30), store=darkened)
    assert untrained.problem.startswith("Cannot compare with this reference:")
    assert untrained.report is None


def test_the_drift_page_lists_the_stored_hourly_checks(darkened) -> None:
    drift_windows(ENDPOINT, since=T0, until=minute(60), reference=REFERENCE, store=darkened)
    page = drift_page(ENDPOINT, window="1h", now=minute(30), store=darkened)
    assert [(h["window_start"], h["drifted"]) for h in page.history] == [(T0, ["brightness"])]
    assert page.history[0]["explanation"].startswith("brightness: PSI")


def test_the_drift_page_over_http(store: Store, client: TestClient) -> None:
    start = window_start(datetime.now(UTC)) - timedelta(minutes=40)
    darken(store, start)
    page = client.get(f"/ui/endpoints/{ENDPOINT}/drift")
    assert page.status_code == 200
    row = re.search(r'<tr data-feature="brightness">.*?</tr>', page.text, re.S)
    assert row and ">drifted<" in row.group(0) and "<svg" in row.group(0)
    day = client.get(f"/ui/endpoints/{ENDPOINT}/drift?window=24h&reference={TRAINING}")
    assert day.status_code == 200 and "Cannot compare with this reference" in day.text


@pytest.mark.parametrize(
    ("url", "status", "needle"),
    [
        (f"/ui/endpoints/{ENDPOINT}/drift?window=2d", 400, "window &#39;2d&#39; is not one of"),
        (f"/ui/endpoints/{ENDPOINT}/drift?reference=yesterday", 400, "reference &#39;yesterday"),
        ("/ui/endpoints/phone-inspektor/drift", 404, "no endpoint &#39;phone-inspektor&#39;"),
        ("/ui/alerts?state=open", 400, "state &#39;open&#39; is not one of all, firing"),
        ("/ui/alerts?endpoint=nope", 404, "no endpoint &#39;nope&#39;"),
        ("/ui/pipelines/nope", 404, "no pipeline &#39;nope&#39;"),
        ("/ui/pipelines/speech?window=2d", 400, "window &#39;2d&#39; is not one of 1h, 24h"),
    ],
)
def test_bad_urls_get_a_page_that_names_the_problem(
    store: Store, client: TestClient, url: str, status: int, needle: str
) -> None:
    two_versions(store)
    pipelines.create("speech", [f"inspect={ENDPOINT}"], store=store)
    response = client.get(url)
    assert response.status_code == status and needle in response.text
    assert 'href="/ui/"' in response.text  # a way back


# -- alerts --------------------------------------------------------------------------------


@pytest.fixture
def fired(store: Store) -> int:
    """A brightness monitor that fired in the dark minutes (with a review action)."""
    darken(store, T0, watched=False)
    monitors.add(ENDPOINT, "input.brightness.mean", below=0.4, window="1m", name="dark",
                 actions=["review:2"], store=store)  # fmt: skip
    for m in range(18, 31):
        evaluate(now=minute(m) + timedelta(seconds=15), store=store)
    (alert,) = alerts.list_alerts(state="firing", store=store)
    return alert.id


def test_alert_rows_show_the_rule_the_value_and_the_actions(store, fired) -> None:
    (row,) = alert_rows(endpoint=ENDPOINT, state="firing", store=store)
    assert (row.id, row.monitor, row.metric, row.state) == (fired, "dark", "input.brightness.mean",
                                                              "firing")  # fmt: skip
    assert row.threshold.startswith("< 0.4") and row.value is not None and row.value < 0.4
    assert [a["action"] for a in row.actions] == ["review:2"]
    assert alert_rows(endpoint=None, state="resolved", store=store) == []
    assert [r.id for r in alert_rows(endpoint=None, state="all", store=store)] == [fired]


def ack(client: TestClient, alert_id: int, csrf: str, action_id: str, note: str) -> object:
    return client.post(
        f"/ui/alerts/{alert_id}/ack",
        data={"action_id": action_id},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true", "HX-Prompt": note},
    )


def test_acknowledging_swaps_the_row_and_a_double_click_acts_once(store, fired, client) -> None:
    page = client.get("/ui/alerts?state=firing")
    assert page.status_code == 200 and f'id="alert-{fired}"' in page.text
    csrf, action_id = csrf_of(page.text), ACTION_ID.search(page.text).group(1)
    first = ack(client, fired, csrf, action_id, "on it")
    again = ack(client, fired, csrf, action_id, "on it")  # the same click, sent twice
    for response in (first, again):
        assert response.status_code == 200
        assert response.text.lstrip().startswith(
            f'<tr id="alert-{fired}" data-state="acknowledged"'
        )
        assert "Acknowledge</button>" not in response.text and "on it" in response.text
    found = alerts.get(fired, store=store)
    assert (found["state"], found["acknowledged_by"]) == ("acknowledged", "ui")
    acks = [e for e in found["events"] if e["kind"] == "acknowledged"]
    assert [e["details"] for e in acks] == [{"by": "ui", "note": "on it"}]
    other_click = ack(client, fired, csrf, uuid.uuid4().hex, "me too")
    assert other_click.status_code == 409 and "already acknowledged by ui" in other_click.text


def test_a_note_htmx_had_to_encode_is_decoded(store, fired, client) -> None:
    csrf = csrf_of(client.get("/ui/alerts").text)
    response = client.post(
        f"/ui/alerts/{fired}/ack",
        data={"action_id": uuid.uuid4().hex},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true",
                 "HX-Prompt": "on%20it%20%E2%80%94%20ana", "HX-Prompt-URI-AutoEncoded": "true"},
    )  # fmt: skip
    assert response.status_code == 200
    events = alerts.get(fired, store=store)["events"]
    assert [e["details"]["note"] for e in events if e["kind"] == "acknowledged"] == ["on it — ana"]


def test_acknowledging_refuses_unknown_alerts_and_forms_without_token_or_action_id(
    store, fired, client
) -> None:
    csrf = csrf_of(client.get("/ui/alerts").text)
    unknown = ack(client, 999, csrf, uuid.uuid4().hex, "x")
    assert unknown.status_code == 404 and "alert 999 not found" in unknown.text
    no_token = client.post(f"/ui/alerts/{fired}/ack", data={"note": "x"})
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    no_action = client.post(f"/ui/alerts/{fired}/ack", data={"note": "x", "csrf": csrf})
    assert no_action.status_code == 400 and "action id" in no_action.text
    assert alerts.get(fired, store=store)["state"] == "firing"


def test_a_script_may_post_the_note_as_a_field_and_is_sent_back_to_the_list(
    store, fired, client
) -> None:
    csrf = csrf_of(client.get("/ui/alerts").text)
    response = client.post(
        f"/ui/alerts/{fired}/ack",
        data={"note": "from a script", "csrf": csrf, "action_id": uuid.uuid4().hex},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/alerts")
    assert alerts.get(fired, store=store)["events"][-1]["details"]["note"] == "from a script"


def test_a_viewer_sees_no_button_and_may_not_acknowledge(store, fired) -> None:
    viewer = tokens.create("predict", name="viewer", store=store).secret
    operator = tokens.create("operator", name="op", store=store).secret
    with TestClient(create_app(store, auth=True)) as c:
        for secret, buttons in ((viewer, 0), (operator, 1)):
            page = c.get("/ui/alerts", headers={"Authorization": f"Bearer {secret}"})
            assert page.status_code == 200 and page.text.count("Acknowledge</button>") == buttons
        page = c.get("/ui/alerts", headers={"Authorization": f"Bearer {viewer}"})
        refused = c.post(
            f"/ui/alerts/{fired}/ack",
            data={"action_id": uuid.uuid4().hex},
            headers={"Authorization": f"Bearer {viewer}", "X-CSRF-Token": csrf_of(page.text)},
        )
    assert refused.status_code == 403 and "this needs operator or higher" in refused.text
    assert alerts.get(fired, store=store)["state"] == "firing"


# -- pipelines -----------------------------------------------------------------------------


def _serve(tap: PredictionLog, endpoint: str, when: datetime, trace_id: str, latency_ms: float,
           output: float) -> None:  # fmt: skip
    """One prediction as the server logs it (the tap's record order)."""
    tap.record((uuid.uuid4().hex, when, endpoint, "toy", 1, "primary", None, None, trace_id,
                [1.0, 2.0], {"output": output, "confidence": 0.8}, 0.8, latency_ms, "ok", None,
                None))  # fmt: skip


@pytest.fixture
def speech(store: Store) -> datetime:
    """Pipeline speech (vad-ep -> asr-ep): 6 traces a few minutes ago, 4 of them reaching asr
    100 ms after vad answered; returns the time of the first."""
    models.register("toy", flavor="python", callable_ref="json:dumps", store=store)
    for name in ("vad-ep", "asr-ep"):
        endpoints.create(name, "toy@1", store=store)
    pipelines.create("speech", ["vad=vad-ep", "asr=asr-ep"], store=store)
    first = window_start(datetime.now(UTC), 120) - timedelta(minutes=6)
    tap = PredictionLog(store, windows=WindowAggregator(replica="test"))
    for i in range(6):
        when = first + timedelta(seconds=10 * i)
        _serve(tap, "vad-ep", when, f"t{i}", 10.0, 2.0)
        if i < 4:
            _serve(tap, "asr-ep", when + timedelta(milliseconds=100), f"t{i}", 30.0, 1.0)
    tap.close()
    return first


def test_the_pipeline_page_puts_stages_side_by_side_with_their_join(store, speech) -> None:
    page = pipeline_page("speech", span="1h", store=store)
    assert [c.stage.name for c in page.stages] == ["vad", "asr"]
    assert page.window_s == 120 and len(page.stages[0].charts[0][1]["x"]) in (30, 31)
    for column, requests in zip(page.stages, (6, 4), strict=True):
        charts = dict(column.charts)
        assert sum(v or 0 for v in charts["requests per window"]["series"][0]["values"]) == requests
        assert "mean output value" in charts and "latency p95" in charts
    totals = page.totals
    assert (totals["traces"], totals["completed"]) == (6, 4)
    assert totals["reached"] == {"vad": 6, "asr": 4} and totals["stopped_after"] == {"vad": 2}
    latency = dict(page.join_charts)["end-to-end latency"]["series"]
    assert max(v for v in latency[0]["values"] if v is not None) == pytest.approx(110.0, abs=1)


def test_the_pipelines_pages_over_http(store, speech, client) -> None:
    listed = client.get("/ui/pipelines")
    assert listed.status_code == 200 and 'href="/ui/pipelines/speech"' in listed.text
    assert 'href="/ui/endpoints/vad-ep"' in listed.text
    one = client.get("/ui/pipelines/speech?window=24h")
    assert one.status_code == 200
    assert one.text.count('class="card stage"') == 2 and 'href="/ui/endpoints/asr-ep"' in one.text
    assert (
        "6 traces entered vad" in one.text and "vad saw 6, 2 stopped there; asr saw 4." in one.text
    )
