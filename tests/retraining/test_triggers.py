"""Triggers: an alert, new labels or the schedule open a request once, join the live one, and
racing checks still make one request."""

from __future__ import annotations

import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inprod import endpoints
from inprod.monitoring import monitors
from inprod.retraining import policies, requests, triggers
from inprod.store import Store
from inprod.store.tables import Alert, Feedback, Prediction

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
from rollout_helpers import ENDPOINT, give_labels, log_predictions, two_versions

TRAIN = "statistics:mean"  # any importable function passes the policy's check
MONITOR = "brightness-drift"


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, name=MONITOR, store=store)
    return store


def _policy(store: Store, *on: str, **settings) -> policies.PolicyInfo:
    return policies.add(ENDPOINT, train=TRAIN, triggers=list(on), settings=settings, store=store)


def _fire(store: Store, *, state: str = "firing", endpoint: str = ENDPOINT) -> int:
    monitor = monitors.get(MONITOR, endpoint=endpoint, store=store)
    with store.session() as s:
        alert = Alert(monitor_id=monitor.id, endpoint=endpoint, state=state,
                      message="brightness fell to 0.21")  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id


def _labels(store: Store, n: int, *, endpoint: str = ENDPOINT) -> None:
    give_labels(store, log_predictions(store, n=n, version=1, role="primary", endpoint=endpoint),
                ["scratch"] * n)  # fmt: skip


def test_an_alert_opens_a_request_once_and_a_new_alert_joins_it(served: Store) -> None:
    _policy(served, f"alert:{MONITOR}")
    assert triggers.check(store=served) == []
    first_alert = _fire(served)
    [opened] = triggers.check(store=served)
    assert (opened.trigger, opened.alert_id, opened.status) == (f"alert:{MONITOR}",
                                                                first_alert, "open")  # fmt: skip
    assert opened.reason == f"alert {first_alert} of monitor {MONITOR!r}: brightness fell to 0.21"
    assert triggers.check(store=served) == []  # seen: fires once
    _fire(served, state="resolved")  # over before anyone looked: not a reason to retrain
    assert triggers.check(store=served) == []
    second_alert = _fire(served, state="acknowledged")
    [joined] = triggers.check(store=served)
    assert joined.id == opened.id
    assert [t.get("alert_id") for t in joined.triggers] == [first_alert, second_alert]


def test_new_labels_count_labelled_predictions_of_the_endpoint_since_the_last_request(
    served: Store,
) -> None:
    endpoints.create("elsewhere", "inspector@1", store=served)
    _policy(served, "new-labels:5")
    _labels(served, 3)
    _labels(served, 3, endpoint="elsewhere")  # another endpoint's labels do not count
    ids = log_predictions(served, n=2, version=1, role="primary")
    with served.session() as s:  # an event without a label does not count
        s.add(Feedback(prediction_id=ids[0], label=None, event="clicked", source="app"))
    give_labels(served, [ids[1], ids[1]], ["ok", "scratch"])  # relabelled: one prediction
    assert triggers.check(store=served) == []  # 4 labelled predictions
    _labels(served, 1)
    [opened] = triggers.check(store=served)
    assert opened.reason == "5 new labels since the last request (at least 5)"
    assert triggers.check(store=served) == []
    requests.cancel(opened.id, store=served)
    _labels(served, 4)
    assert triggers.check(store=served) == []
    _labels(served, 1)
    [again] = triggers.check(store=served)
    assert again.id != opened.id


def test_labels_count_from_any_new_request_of_the_policy(served: Store) -> None:
    _policy(served, "new-labels:5")
    _labels(served, 4)
    manual = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=served)
    requests.cancel(manual.id, store=served)
    _labels(served, 4)
    assert triggers.check(store=served) == []  # 4 since the manual request, not 8


def test_the_schedule_fires_each_period_when_there_are_new_labels(served: Store) -> None:
    made = _policy(served, "schedule:daily", min_labels=2).created_at
    assert triggers.check(made + timedelta(hours=23), store=served) == []
    _labels(served, 1)
    assert triggers.check(made + timedelta(hours=25), store=served) == []
    marks = policies.get_policy(ENDPOINT, store=served).marks
    assert marks["schedule"]["skipped"] == "1 new labels, need 2"  # the clock moved on
    _labels(served, 1)
    assert triggers.check(made + timedelta(hours=30), store=served) == []
    [opened] = triggers.check(made + timedelta(hours=49), store=served)
    assert opened.trigger == "schedule:daily" and opened.reason.startswith("scheduled (daily)")


def test_several_triggers_at_once_make_one_request(served: Store) -> None:
    policy = _policy(served, f"alert:{MONITOR}", "new-labels:2", "schedule:hourly", min_labels=0)
    _fire(served)
    _labels(served, 2)
    [opened] = triggers.check(policy.created_at + timedelta(hours=2), store=served)
    assert [t["trigger"] for t in opened.triggers] == [
        f"alert:{MONITOR}", "new-labels:2", "schedule:hourly"
    ]  # fmt: skip
    assert len(requests.list_requests(store=served)) == 1


def test_racing_checks_fire_a_trigger_once(served: Store) -> None:
    _policy(served, f"alert:{MONITOR}", "new-labels:3")
    _fire(served)
    _labels(served, 3)
    start = threading.Barrier(4)
    seen: list[list[requests.RequestInfo]] = []

    def check() -> None:
        start.wait()
        seen.append(triggers.check(store=served))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [request] = requests.list_requests(store=served)
    assert len(request.triggers) == 2  # each trigger once, whoever checked first
    assert sorted(len(found) for found in seen) == [0, 0, 0, 1]


def test_disabled_policies_and_removed_monitors_do_not_fire(
    served: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _policy(served, f"alert:{MONITOR}")
    _fire(served)
    policies.update(ENDPOINT, enabled=False, store=served)
    assert triggers.check(store=served) == []
    policies.update(ENDPOINT, enabled=True, store=served)
    monitors.remove(MONITOR, endpoint=ENDPOINT, store=served)
    assert triggers.check(datetime.now(UTC), store=served) == []
    assert f"no monitor {MONITOR!r} any more" in caplog.text


def test_a_label_that_arrives_before_its_prediction_is_stored_is_counted_later(
    served: Store,
) -> None:
    """The server logs predictions a moment after answering; a label sent at once must not be
    passed by while its prediction is on its way."""
    _policy(served, "new-labels:3")
    early = [uuid.uuid4().hex for _ in range(3)]
    give_labels(served, early, ["scratch"] * 3)  # the predictions are not stored yet
    assert triggers.check(store=served) == []
    with served.session() as s:  # now the log writer stores them
        for pid in early:
            s.add(Prediction(id=pid, time=datetime.now(UTC), endpoint=ENDPOINT,
                             model_name="inspector", model_version=1, role="primary",
                             latency_ms=5.0, status="ok"))  # fmt: skip
    [opened] = triggers.check(store=served)
    assert opened.trigger == "new-labels:3"
    # a label whose prediction never comes is passed by once it is old enough
    give_labels(served, [uuid.uuid4().hex], ["ok"])
    later = datetime.now(UTC) + timedelta(seconds=triggers.LABEL_WAIT_S + 1)
    triggers.check(now=later, store=served)
    mark = policies.get_policy(ENDPOINT, store=served).marks["new-labels"]
    with served.session(write=False) as s:
        assert mark["feedback_id"] == s.scalar(select(func.max(Feedback.id)))
