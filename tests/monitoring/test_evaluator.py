"""The evaluator in simulated time: pending → firing → resolved, no data never alarms, errors
are recorded, and each alert's actions run once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from monitor_helpers import ENDPOINT, T0, minute, two_versions, write_minutes
from sqlalchemy import func, select

from inprod.errors import InvalidInput
from inprod.monitoring import actions, alerts, monitors
from inprod.monitoring.evaluator import evaluate
from inprod.monitoring.metrics import register_metric
from inprod.rollout import actions as rollout
from inprod.store import Store
from inprod.store.tables import RetrainingRequest, ReviewTask


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    return store


def at(m: float):
    """Evaluation time: ``m`` minutes after T0, plus the writer's grace."""
    return minute(m) + timedelta(seconds=15)


def run(store: Store, m: float):
    [result] = evaluate(now=at(m), store=store)
    return result


def test_a_darkening_stream_fires_after_for_and_resolves_when_light_returns(served) -> None:
    m = monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, for_="3m", window="1m",
                     store=served)  # fmt: skip
    end = write_minutes(served, T0, 5, brightness=0.5)
    end = write_minutes(served, end, 6, brightness=0.25)
    write_minutes(served, end, 3, brightness=0.5)
    changes = {i: run(served, i) for i in range(1, 15)}
    assert [changes[i].state for i in range(1, 6)] == ["ok"] * 5
    assert changes[6].state == "pending"  # the first dark minute (5..6) is judged at 6
    assert [changes[i].state for i in (7, 8)] == ["pending", "pending"]
    fired = changes[9]
    assert (fired.state, fired.change) == ("firing", "fired")  # held for 3 minutes
    assert fired.value == pytest.approx(0.25, abs=0.03)
    assert changes[11].change is None and changes[11].state == "firing"
    assert changes[12].change == "resolved"
    [alert] = alerts.list_alerts(endpoint=ENDPOINT, store=served)
    assert (alert.state, alert.monitor_id) == ("resolved", m.id)
    assert alert.started_at == at(9) and alert.resolved_at == at(12)
    kinds = [e["kind"] for e in alerts.get(alert.id, store=served)["events"]]
    assert kinds == ["fired", "resolved"]


def test_empty_windows_are_no_data_never_an_alert(served) -> None:
    monitors.add(ENDPOINT, "qps", below=0.5, window="1m", store=served)
    write_minutes(served, T0, 2, n=60)
    assert run(served, 1).state == "ok"
    for m in range(3, 8):  # the stream stops: nothing to judge
        assert run(served, m).state == "no_data"
    assert alerts.list_alerts(store=served) == []


def test_a_firing_alert_stays_open_through_no_data(served) -> None:
    monitors.add(ENDPOINT, "error_rate", above=0.1, window="1m", store=served)
    write_minutes(served, T0, 1, n=20, errors=10)
    assert run(served, 1).change == "fired"
    assert run(served, 3).state == "no_data"
    [alert] = alerts.list_alerts(state="open", store=served)
    write_minutes(served, minute(4), 1, n=20, errors=10)
    again = run(served, 5)
    assert (again.state, again.change, again.alert_id) == ("firing", None, alert.id)


def test_relative_rules_compare_with_the_reference_window(served) -> None:
    write_minutes(served, T0, 10, brightness=0.5)
    write_minutes(served, minute(10), 2, brightness=0.3)
    reference = f"window:{T0.isoformat()}/{minute(10).isoformat()}"
    monitors.add(ENDPOINT, "input.brightness.mean", change_pct="20%", window="1m",
                 reference=reference, store=served)  # fmt: skip
    assert run(served, 10).state == "ok"
    fired = run(served, 11)
    assert fired.change == "fired"
    assert fired.reference_value == pytest.approx(0.5, abs=0.02)


def test_a_custom_metric_that_raises_is_recorded_against_its_monitor(served) -> None:
    def broken(ctx):
        raise ZeroDivisionError("no glare today")

    register_metric(ENDPOINT, "glare", broken)
    bad = monitors.add(ENDPOINT, "custom.glare", above=1, store=served)
    good = monitors.add(ENDPOINT, "requests", above=1000, window="1m", store=served)
    write_minutes(served, T0, 1)
    results = {r.monitor_id: r for r in evaluate(now=at(1), store=served)}
    assert results[bad.id].state == "error" and "no glare today" in results[bad.id].error
    assert results[good.id].state == "ok"
    assert "ZeroDivisionError" in monitors.get(bad.id, store=served).last_error


class _Hook(BaseHTTPRequestHandler):
    """Answers 503 to the first ``fail`` posts, then 200; keeps the bodies."""

    def do_POST(self) -> None:
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server.bodies.append(json.loads(body))
        code = 503 if len(server.bodies) <= server.fail else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.bodies, server.fail = [], 2
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_webhooks_retry_with_backoff_and_every_attempt_is_recorded(served, hook) -> None:
    url = f"http://127.0.0.1:{hook.server_port}/alerts"
    monitors.add(ENDPOINT, "error_rate", above=0.1, window="1m",
                 actions=[f"webhook:{url}"], store=served)  # fmt: skip
    write_minutes(served, T0, 1, n=20, errors=10)
    alert_id = run(served, 1).alert_id
    now = at(1)
    for _ in range(6):  # attempts come due 2 s, 4 s … apart
        actions.run_due(now=now, store=served)
        now += timedelta(seconds=20)
    assert len(hook.bodies) == 3  # two 503s, then delivered; never again
    assert hook.bodies[-1]["alert"]["alert_id"] == alert_id
    story = alerts.get(alert_id, store=served)
    [action] = story["actions"]
    assert (action["status"], action["attempts"]) == ("done", 3)
    kinds = [e["kind"] for e in story["events"]]
    assert kinds == ["fired", "action.failed", "action.failed", "action.done"]


def test_a_dead_webhook_fails_after_bounded_attempts(served, monkeypatch) -> None:
    monkeypatch.setattr(actions, "WEBHOOK_TIMEOUT_S", 0.5)
    monitors.add(ENDPOINT, "error_rate", above=0.1, window="1m",
                 actions=["webhook:http://127.0.0.1:9/nothing-listens"], store=served)  # fmt: skip
    write_minutes(served, T0, 1, n=20, errors=10)
    alert_id = run(served, 1).alert_id
    now = at(1)
    for _ in range(actions.MAX_ATTEMPTS + 2):
        actions.run_due(now=now, store=served)
        now += timedelta(minutes=5)
    [action] = alerts.get(alert_id, store=served)["actions"]
    assert (action["status"], action["attempts"]) == ("failed", actions.MAX_ATTEMPTS)
    assert action["last_error"]


def test_actions_run_once_per_alert(served) -> None:
    from monitor_helpers import log_predictions

    log_predictions(served, n=30, version=1, role="primary", at=at(0))
    with served.session() as s:  # the review sample needs logged inputs
        from inprod.store.tables import Prediction

        for p in s.scalars(select(Prediction)):
            p.inputs = [0.1, 0.2, 0.3, 0.4]
    rollout.canary(ENDPOINT, "inspector@2", steps="10,50,100", interval="10m",
                   gates=["error_rate<=0.5"], min_requests=5, store=served)  # fmt: skip
    monitors.add(ENDPOINT, "error_rate", above=0.1, window="1m",
                 actions=["pause", "retrain", "review:10"], store=served)  # fmt: skip
    write_minutes(served, T0, 1, n=20, errors=10)
    alert_id = run(served, 1).alert_id
    for _ in range(3):  # repeated passes and runs: still one of each
        evaluate(now=at(1.5), store=served)
        actions.run_due(now=at(2), store=served)
    assert rollout.get_plan(ENDPOINT, store=served).state == "paused"
    with served.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(RetrainingRequest)) == 1
        assert s.scalar(select(func.count()).select_from(ReviewTask)) == 10
        request = s.scalar(select(RetrainingRequest))
        assert request.trigger == f"alert:{alert_id}" and request.endpoint == ENDPOINT
    statuses = {a["action"]: a["status"] for a in alerts.get(alert_id, store=served)["actions"]}
    assert statuses == {"pause": "done", "retrain": "done", "review:10": "done"}


def test_acknowledging_marks_the_alert_until_it_resolves(served) -> None:
    monitors.add(ENDPOINT, "error_rate", above=0.1, window="1m", store=served)
    write_minutes(served, T0, 1, n=20, errors=10)
    alert_id = run(served, 1).alert_id
    acked = alerts.acknowledge(alert_id, actor="ana", note="looking", store=served)
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", "ana")
    from inprod.errors import Conflict

    with pytest.raises(Conflict, match="already acknowledged"):
        alerts.acknowledge(alert_id, store=served)
    write_minutes(served, minute(1), 1, n=20)
    assert run(served, 2).change == "resolved"
    assert alerts.list_alerts(store=served)[0].state == "resolved"


class _Hang(BaseHTTPRequestHandler):
    """Never answers in time: the receiver hangs."""

    def do_POST(self) -> None:
        self.server.calls += 1
        threading.Event().wait(2.0)

    def log_message(self, *args) -> None:
        pass


def test_a_hanging_webhook_is_cut_by_its_timeout_and_retried(served, monkeypatch) -> None:
    import time

    monkeypatch.setattr(actions, "WEBHOOK_TIMEOUT_S", 0.3)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hang)
    server.calls = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        monitors.add(ENDPOINT, "error_rate", above=0.1, window="1m",
                     actions=[f"webhook:{url}"], store=served)  # fmt: skip
        write_minutes(served, T0, 1, n=20, errors=10)
        alert_id = run(served, 1).alert_id
        began = time.monotonic()
        [attempt] = actions.run_due(now=at(1), store=served)
        assert time.monotonic() - began < 1.5  # bounded by the timeout, not the receiver
        assert attempt["status"] == "pending" and attempt["retrying"]
        assert "Timeout" in attempt["error"]
        [action] = alerts.get(alert_id, store=served)["actions"]
        assert (action["status"], action["attempts"]) == ("pending", 1)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert server.calls == 1


def test_a_multivariate_drift_monitor_fires_on_a_shift_of_the_logged_inputs(served) -> None:
    import uuid

    import numpy as np

    from inprod.store.tables import Prediction

    rng = np.random.default_rng(0)
    with served.session() as s:
        for i in range(400):  # 08:00-08:10 as usual, 08:10-08:20 with a and b moved together
            shifted = i >= 200
            a = rng.normal(2.0 if shifted else 0.0, 1.0)
            s.add(Prediction(
                id=uuid.uuid4().hex, time=minute(i / 20), endpoint=ENDPOINT,
                model_name="inspector", model_version=1, role="primary", latency_ms=1.0,
                inputs={"a": a, "b": a + rng.normal(0, 0.3), "c": rng.normal()},
                outputs={"output": "ok"}, status="ok",
            ))  # fmt: skip
    reference = f"window:{T0.isoformat()}/{minute(10).isoformat()}"
    monitors.add(ENDPOINT, "drift.multivariate.auc", above=0.7, window="10m",
                 reference=reference, store=served)  # fmt: skip
    with pytest.raises(InvalidInput, match="never be above"):
        monitors.add(ENDPOINT, "drift.multivariate.auc", above=1.5, store=served)
    fired = evaluate(now=at(20), profile_s=60, store=served)[0]
    assert fired.change == "fired" and fired.value > 0.7, fired
    assert evaluate(now=at(40), store=served)[0].state == "no_data"  # nothing logged then
