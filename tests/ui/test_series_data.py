"""The overview's and the endpoint page's data, in-process on SQLite and PostgreSQL: windows and
their steps, profiles read from rollups, series per stream, accuracy from labels, plan and alert
marks, monitors' limits; and the pages' answers to bad input."""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitoring"))
from monitor_helpers import (
    ENDPOINT,
    MODEL,
    give_labels,
    log_predictions,
    two_versions,
    write_minute,
    write_minutes,
)

from inprod import deploy
from inprod.config import load_settings
from inprod.errors import InvalidInput
from inprod.monitoring import monitors
from inprod.monitoring.alerts import AlertInfo
from inprod.monitoring.rollups import roll_up
from inprod.rollout.actions import PlanEvent
from inprod.serving.app import create_app
from inprod.store import Store
from inprod.store.tables import Alert
from inprod.ui.pages.overview import endpoint_rows
from inprod.ui.series import (
    LEVELS,
    MAX_POINTS,
    MAX_ROWS_PER_STREAM,
    MAX_SPAN_S,
    Window,
    accuracy,
    alert_marks,
    chart_of,
    choose_step,
    covering_profiles,
    parse_window,
    plan_marks,
    qps_values,
    read_buckets,
    stream_label,
    thresholds,
)

DAY = datetime(2026, 11, 20, tzinfo=UTC)  # a Friday, midnight UTC
NOW = datetime(2026, 11, 26, 10, 17, 30, tzinfo=UTC)


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def custom(start: datetime, end: datetime) -> Window:
    return parse_window({"start": start.isoformat(), "end": end.isoformat()})


# --- windows and steps ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "span", "step"), [("1h", 3600, 60), ("24h", 86400, 3600),
                                                    ("7d", 7 * 86400, 3600)])  # fmt: skip
def test_a_preset_window_ends_now_and_starts_on_a_step(name: str, span: int, step: int) -> None:
    window = parse_window({"window": name}, now=NOW)
    assert (window.name, window.end, window.step) == (name, NOW, step)
    assert window.start.timestamp() % step == 0
    assert NOW - timedelta(seconds=span + step) < window.start <= NOW - timedelta(seconds=span)
    assert len(window.times()) == window.count <= MAX_POINTS
    assert window.params() == [("window", name)]


def test_no_window_is_the_last_hour() -> None:
    assert parse_window({}, now=NOW) == parse_window({"window": "1h"}, now=NOW)


def test_a_custom_window_is_utc_and_starts_on_its_step() -> None:
    window = parse_window({"start": "2026-11-20T08:10", "end": "2026-11-20T11:00"})
    assert window.name == "custom" and window.step == 60
    assert window.start == DAY + hours(8) + timedelta(minutes=10)
    assert window.end == DAY + hours(11)
    assert window.params() == [("start", "2026-11-20T08:10"), ("end", "2026-11-20T11:00")]
    offset = parse_window({"start": "2026-11-20T09:10+01:00", "end": "2026-11-20T11:00Z"})
    assert offset.start == window.start
    week = parse_window({"start": "2026-11-13T08:10", "end": "2026-11-20T08:10"})
    assert (week.step, week.start) == (3600, DAY - timedelta(days=7) + hours(8))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "2h"}, "window"),
        ({"start": "2026-11-20T10:00", "end": "2026-11-20T09:00"}, "start"),
        ({"start": "2026-11-20T10:00", "end": "2026-11-20T10:00"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-11-20T09:00", "end": "soon"}, "end"),
        ({"end": "2026-11-20T09:00"}, "start"),
        ({"start": "2020-01-01T00:00", "end": "2026-01-01T00:00"}, "start"),
    ],
)
def test_a_bad_window_names_the_parameter_to_fix(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_window(params, now=NOW)
    assert caught.value.field == field and field in caught.value.message


@pytest.mark.parametrize("span", [60, 3600, 6 * 3600, 7 * 3600, 86400, 7 * 86400, 17 * 86400,
                                  90 * 86400, MAX_SPAN_S])  # fmt: skip
def test_a_step_keeps_points_and_rows_bounded_and_rollups_inside_one_step(span: int) -> None:
    step = choose_step(span)
    level = max(lv for lv in LEVELS if step % lv == 0)  # the coarsest rows a step may read
    assert span / step <= MAX_POINTS
    assert span / level <= MAX_ROWS_PER_STREAM or level == LEVELS[-1]
    assert step >= LEVELS[0]


# --- reading profiles ----------------------------------------------------------------------


def test_hourly_steps_read_hour_rollups_and_the_minutes_after_them(store: Store) -> None:
    two_versions(store)
    write_minutes(store, DAY + hours(8), 150, n=10)  # 08:00 to 10:30
    roll_up(now=DAY + hours(10) + timedelta(minutes=5), store=store)  # rolls 08:00 and 09:00
    window = custom(DAY, DAY + hours(12))
    assert window.step == 3600
    profiles = covering_profiles(
        ENDPOINT, window.start, window.end, max_seconds=window.step, store=store
    )
    assert sorted(p.key.seconds for p in profiles) == [60.0] * 30 + [3600.0] * 2
    buckets = read_buckets(ENDPOINT, window, store=store)[(MODEL, 1, "primary")]
    assert [p.requests if p else 0 for _, p in buckets] == [0] * 8 + [600, 600, 300, 0]
    short = custom(DAY + hours(8), DAY + hours(9))
    minutes = covering_profiles(ENDPOINT, short.start, short.end, max_seconds=60, store=store)
    assert [p.key.seconds for p in minutes] == [60.0] * 60  # a short window reads the minutes


def test_day_rollups_are_read_for_daily_steps_but_never_inside_one_hour(store: Store) -> None:
    two_versions(store)
    for h in range(24):
        write_minute(store, DAY + hours(h), n=10 + h)
    roll_up(now=DAY + hours(25), store=store)
    hourly = read_buckets(ENDPOINT, custom(DAY, DAY + hours(24)), store=store)
    assert [p.requests for _, p in hourly[(MODEL, 1, "primary")]] == [10 + h for h in range(24)]
    daily = custom(DAY - timedelta(days=19), DAY + hours(24))
    assert daily.step == 86400
    profiles = covering_profiles(
        ENDPOINT, daily.start, daily.end, max_seconds=daily.step, store=store
    )
    assert [(p.key.seconds, p.requests) for p in profiles] == [(86400.0, sum(range(10, 34)))]


def test_streams_come_primary_first_each_with_its_label(store: Store) -> None:
    two_versions(store)
    write_minute(store, DAY, version=2, role="canary")
    write_minute(store, DAY, version=1, role="primary")
    streams = list(read_buckets(ENDPOINT, custom(DAY, DAY + hours(1)), store=store))
    assert streams == [(MODEL, 1, "primary"), (MODEL, 2, "canary")]
    assert [stream_label(s, streams) for s in streams] == ["v1 primary", "v2 canary"]
    several = [*streams, ("other", 1, "shadow")]
    assert stream_label(streams[0], several) == f"{MODEL}@1 primary"


def test_qps_is_a_step_s_requests_over_its_length(store: Store) -> None:
    two_versions(store)
    write_minute(store, DAY, n=30)
    write_minute(store, DAY + timedelta(minutes=2), n=12)
    window = custom(DAY, DAY + timedelta(minutes=2, seconds=30))
    buckets = read_buckets(ENDPOINT, window, store=store)[(MODEL, 1, "primary")]
    assert qps_values(buckets, window) == [0.5, None, pytest.approx(12 / 30)]


# --- accuracy ------------------------------------------------------------------------------


def test_accuracy_counts_each_answer_s_latest_label_in_its_step(store: Store) -> None:
    two_versions(store)
    first = log_predictions(store, n=4, version=1, role="primary", at=DAY + timedelta(seconds=5))
    later = log_predictions(store, n=2, version=2, role="canary", at=DAY + hours(1.5))
    give_labels(store, first, ["ok", "ok", "scratch", "scratch"])
    give_labels(store, first[2:3], ["ok"])  # a correction: the latest label counts
    give_labels(store, later, ["ok", "scratch"])
    window = custom(DAY, DAY + hours(2))
    counts, since = accuracy(ENDPOINT, window, store=store)
    assert since is None
    assert counts[(MODEL, 1, "primary")][0] == (3, 4)
    assert counts[(MODEL, 2, "canary")][90] == (1, 2)
    assert sum(t for _, t in counts[(MODEL, 1, "primary")]) == 4
    cut, since = accuracy(ENDPOINT, window, store=store, limit=2)
    assert since == DAY + hours(1.5) and (MODEL, 1, "primary") not in cut


# --- marks and limits ----------------------------------------------------------------------


def _event(when: datetime, action: str, to_state: str) -> PlanEvent:
    return PlanEvent(1, when.isoformat(), "ui", action, "stable", to_state, "", {})


def _alert(when: datetime, monitor: str) -> AlertInfo:
    return AlertInfo(1, 1, monitor, ENDPOINT, "critical", "firing", when, None, None, None, 1.0, "")


def test_plan_changes_and_alerts_are_marked_once_a_step_inside_the_window() -> None:
    window = custom(DAY, DAY + hours(1))
    events = [
        _event(DAY + timedelta(minutes=5, seconds=1), "canary", "ramping"),
        _event(DAY + timedelta(minutes=5, seconds=40), "rollback", "rolled_back"),
        _event(DAY + timedelta(minutes=30), "promote", "promoted"),
        _event(DAY + hours(2), "pause", "paused"),
    ]
    assert plan_marks(events, window) == [
        {"t": (DAY + timedelta(minutes=5, seconds=1)).timestamp(), "kind": "plan",
         "label": "canary → ramping (+1 more)"},
        {"t": (DAY + timedelta(minutes=30)).timestamp(), "kind": "plan",
         "label": "promote → promoted"},
    ]  # fmt: skip
    alerts = [_alert(DAY + timedelta(minutes=7), "dark"), _alert(DAY - hours(1), "old")]
    assert alert_marks(alerts, window) == [
        {"t": (DAY + timedelta(minutes=7)).timestamp(), "kind": "alert", "label": "critical: dark"}
    ]


@pytest.mark.parametrize(
    ("metric", "chart"),
    [
        ("latency.p99", "latency"),
        ("latency.mean", "latency"),
        ("qps", "qps"),
        ("error_rate", "errors"),
        ("output.class.scratch", "classes"),
        ("output.confidence.p05", "confidence"),
        ("accuracy", "accuracy"),
        ("input.brightness.mean", "feature:brightness"),
        ("accuracy@factory=B", None),
        ("drift.brightness.psi", None),
        ("requests", None),
    ],
)
def test_a_monitor_s_metric_belongs_to_one_chart(metric: str, chart: str | None) -> None:
    assert chart_of(metric) == chart


def test_fixed_limits_are_drawn_and_moving_ones_are_not(store: Store) -> None:
    two_versions(store)
    monitors.add(ENDPOINT, "latency.p99", above=300, name="slow", store=store)
    monitors.add(ENDPOINT, "error_rate", above=0.05, below=0.0001, role="canary", name="band",
                 store=store)  # fmt: skip
    monitors.add(ENDPOINT, "latency.p50", change_pct=20, name="moved", store=store)
    off = monitors.add(ENDPOINT, "latency.max", above=900, name="off", store=store)
    monitors.tune(off.id, enabled=False, store=store)
    found = monitors.list_monitors(ENDPOINT, store=store)
    assert thresholds(found, "latency") == [{"value": 300, "label": "slow: latency.p99 > 300"}]
    assert thresholds(found, "errors") == [
        {"value": 0.05, "label": "band: error_rate > 0.05 (canary)"},
        {"value": 0.0001, "label": "band: error_rate < 0.0001 (canary)"},
    ]
    assert thresholds(found, "qps") == []


# --- the pages -----------------------------------------------------------------------------


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    settings = replace(load_settings(), rollout_tick_seconds=0.0, monitor_tick_seconds=0.0)
    with TestClient(create_app(store, settings=settings, auth=False)) as c:
        yield c


def charts(page: str) -> dict[str, dict]:
    """Each chart card's data, by its key."""
    found = re.findall(r'data-key="([^"]+)">.*?data-chart=\'([^\']*)\'', page, re.S)
    return {key: json.loads(html.unescape(data)) for key, data in found}


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def test_the_endpoint_page_draws_the_window_s_data_with_limits_and_marks(
    store: Store, client: TestClient
) -> None:
    two_versions(store)
    now = datetime.now(UTC)
    for m in (3, 2):
        write_minute(store, minute_of(now - timedelta(minutes=m)), latency_ms=42.0, errors=2)
    ids = log_predictions(store, n=3, version=1, role="primary", at=now - timedelta(minutes=2))
    give_labels(store, ids, ["ok", "ok", "scratch"])
    monitors.add(ENDPOINT, "latency.p99", above=300, name="slow", store=store)
    deploy.canary(ENDPOINT, f"{MODEL}@2", steps="10,100", store=store)
    response = client.get(f"/ui/endpoints/{ENDPOINT}?window=1h")
    assert response.status_code == 200
    drawn = charts(response.text)
    assert set(drawn) == {"qps", "latency", "errors", "classes", "confidence", "accuracy",
                          "feature:brightness", "feature:factory"}  # fmt: skip
    qps = [v for v in drawn["qps"]["series"][0]["values"] if v is not None]
    assert qps == [pytest.approx(40 / 60)] * 2
    latency = drawn["latency"]
    assert [s["label"] for s in latency["series"]] == ["p50 · v1 primary", "p90 · v1 primary",
                                                       "p99 · v1 primary"]  # fmt: skip
    assert {v for v in latency["series"][2]["values"] if v is not None} == {42.0}
    assert latency["thresholds"] == [{"value": 300, "label": "slow: latency.p99 > 300"}]
    assert [m["label"] for m in latency["marks"]] == ["canary → ramping"]
    errors = [v for v in drawn["errors"]["series"][0]["values"] if v is not None]
    assert errors == [pytest.approx(2 / 40)] * 2
    accurate = [v for v in drawn["accuracy"]["series"][0]["values"] if v is not None]
    assert accurate == [pytest.approx(2 / 3)]
    shares = {s["label"] for s in drawn["feature:factory"]["series"]}
    assert shares == {"A · v1 primary", "B · v1 primary"}
    assert (
        'data-key="latency"' in response.text and "monitor <strong>slow</strong>" in response.text
    )
    picked = charts(client.get(f"/ui/endpoints/{ENDPOINT}?window=24h&feature=brightness").text)
    assert picked["qps"]["x"][1] - picked["qps"]["x"][0] == 3600
    assert [k for k in picked if k.startswith("feature:")] == ["feature:brightness"]


def test_an_unknown_endpoint_is_a_404_page_that_links_back(
    store: Store, client: TestClient
) -> None:
    two_versions(store)
    response = client.get("/ui/endpoints/phone-inspectr?window=24h")
    assert response.status_code == 404
    assert "phone-inspectr" in response.text and 'href="/ui/"' in response.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("window=2h", "window"),
        ("start=2026-11-20T10:00&end=2026-11-20T09:00", "start"),
        ("start=2026-11-20T10:00&end=later", "end"),
        ("&".join(f"feature=f{i}" for i in range(7)), "feature"),
    ],
)
def test_a_bad_query_parameter_is_a_400_page_naming_it(
    store: Store, client: TestClient, query: str, field: str
) -> None:
    two_versions(store)
    response = client.get(f"/ui/endpoints/{ENDPOINT}?{query}")
    assert response.status_code == 400
    assert re.search(rf"\b{field}\b", response.text) and 'href="/ui/"' in response.text


def test_the_overview_row_sums_the_last_hour_of_client_facing_traffic(store: Store) -> None:
    two_versions(store)
    now = DAY + hours(12)
    write_minute(store, now - timedelta(minutes=10), n=40, errors=4, latency_ms=20.0)
    write_minute(store, now - timedelta(minutes=10), n=10, version=2, role="canary")
    write_minute(store, now - timedelta(minutes=10), n=40, version=2, role="shadow")
    write_minute(store, now - hours(2), n=1000)  # before the hour: not counted
    ids = log_predictions(store, n=4, version=1, role="primary", at=now - timedelta(minutes=9))
    give_labels(store, ids, ["ok", "scratch", "ok", "ok"])
    rule = monitors.add(ENDPOINT, "error_rate", above=0.01, store=store)
    with store.session() as s:
        for severity in ("warning", "critical"):
            s.add(Alert(monitor_id=rule.id, endpoint=ENDPOINT, severity=severity))
        s.add(Alert(monitor_id=rule.id, endpoint=ENDPOINT, severity="info", state="resolved"))
    [row] = endpoint_rows(store=store, now=now)
    assert (row.name, row.primary_version, row.requests) == (ENDPOINT, f"{MODEL}@1", 50)
    assert row.qps == pytest.approx(50 / (now - parse_window({}, now=now).start).total_seconds())
    assert row.error_rate == pytest.approx(4 / 50)
    assert (row.accuracy, row.labels) == (0.75, 4)
    assert (row.alerts, row.worst) == (2, "critical")
    assert row.automation == "full"
    spark = [v for v in row.spark["series"][0]["values"] if v is not None]
    assert spark == [pytest.approx(50 / 60)] and row.spark["spark"] is True


def test_the_overview_links_each_endpoint_and_refreshes_its_table(
    store: Store, client: TestClient
) -> None:
    two_versions(store)
    deploy.canary(ENDPOINT, f"{MODEL}@2", steps="10,50,100", store=store)
    page = client.get("/ui/").text
    assert f'href="/ui/endpoints/{ENDPOINT}"' in page
    assert 'hx-get="/ui/overview/table"' in page and 'hx-trigger="every 10s"' in page
    assert "step 1/3, 10% of traffic" in page and f"{MODEL}@2" in page
    table = client.get("/ui/overview/table")
    assert table.status_code == 200 and "<html" not in table.text
    assert f'data-endpoint="{ENDPOINT}"' in table.text


def test_an_empty_store_says_how_to_create_an_endpoint(client: TestClient) -> None:
    page = client.get("/ui/").text
    assert "No endpoints yet" in page and "inprod endpoints create" in page
