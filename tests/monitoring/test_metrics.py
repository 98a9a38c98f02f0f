"""Metric names, and their values from window profiles and from feedback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from monitor_helpers import (
    ENDPOINT,
    T0,
    give_labels,
    log_predictions,
    minute,
    two_versions,
    write_minute,
    write_minutes,
)

from inprod.errors import InvalidInput, NotFound
from inprod.monitoring.metrics import Span, compute, parse_metric, register_metric
from inprod.rollout.gates import parse_gate, resolve_gate_metric
from inprod.store import Store


@pytest.mark.parametrize(
    ("name", "family", "feature", "stat", "value"),
    [
        ("qps", "software", None, "qps", None),
        ("latency.p99", "software", None, "p99", None),
        ("input.brightness.mean", "input", "brightness", "mean", None),
        ("input.image.size.p95", "input", "image.size", "p95", None),
        ("input.factory.share.B", "input", "factory", "share", "B"),
        ("input.missing", "input", None, "missing", None),
        ("output.class.scratch", "output", "class", "share", "scratch"),
        ("output.confidence.p05", "output", "confidence", "p05", None),
        ("output.needs_review", "output", None, "needs_review", None),
        ("accuracy", "feedback", None, "accuracy", None),
        ("recall.scratch", "feedback", None, "recall", "scratch"),
        ("event.redo", "feedback", None, "event", "redo"),
        ("drift.brightness.psi", "drift", "brightness", "psi", None),
        ("drift.share", "drift", None, "share", None),
        ("custom.glare", "custom", None, None, "glare"),
    ],
)
def test_metric_names_parse_into_their_family(name, family, feature, stat, value) -> None:
    spec = parse_metric(name)
    assert (spec.family, spec.feature, spec.stat, spec.value) == (family, feature, stat, value)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("brightness", "not known"),
        ("input.brightness", "input.FEATURE.STAT"),
        ("input.brightness.average", "input.FEATURE.STAT"),
        ("output.colour", "output.class.LABEL"),
        ("drift.brightness.psy", "drift.FEATURE.STAT"),
        ("latency.p42", "not known"),
        ("", "not a metric name"),
    ],
)
def test_bad_metric_names_say_which_forms_exist(name: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_metric(name)


def _span(since: float, until: float, **kw) -> Span:
    return Span(ENDPOINT, minute(since), minute(until), **kw)


def test_profile_metrics_merge_the_span_s_windows(store: Store) -> None:
    write_minutes(store, T0, 3, brightness=0.5, n=40, errors=4, latency_ms=5.0)
    write_minute(store, minute(3), brightness=0.2, n=40, latency_ms=50.0)
    span = _span(0, 3)
    assert compute("requests", span, store=store).value == 120
    assert compute("qps", span, store=store).value == pytest.approx(120 / 180)
    assert compute("error_rate", span, store=store).value == pytest.approx(0.1)
    assert compute("latency.p99", span, store=store).value == pytest.approx(5.0)
    mean = compute("input.brightness.mean", span, store=store)
    assert mean.value == pytest.approx(0.5, abs=0.02) and mean.samples == 120
    assert compute("input.brightness.mean", _span(3, 4), store=store).value == pytest.approx(
        0.2, abs=0.03
    )
    assert compute("input.factory.share.B", span, store=store).value == pytest.approx(0.5)
    assert compute("output.class.scratch", span, store=store).value == pytest.approx(0.5)
    assert compute("output.confidence.mean", span, store=store).value == pytest.approx(0.9)
    assert compute("input.missing", span, store=store).value == 0.0
    # a span without profiles is "no data", not zero
    empty = compute("requests", _span(30, 40), store=store)
    assert (empty.value, empty.samples) == (None, 0)


def test_a_numeric_stat_of_a_categorical_feature_is_refused(store: Store) -> None:
    write_minute(store, T0)
    with pytest.raises(InvalidInput, match="categorical"):
        compute("input.factory.mean", _span(0, 1), store=store)


def test_custom_metric_functions_see_the_span_s_profile(store: Store) -> None:
    write_minutes(store, T0, 2, brightness=0.4)
    register_metric(
        ENDPOINT, "dark_share", lambda ctx: ctx.profile.features["brightness"].rank(0.45)
    )
    value = compute("custom.dark_share", _span(0, 2), store=store)
    assert value.value == pytest.approx(0.84, abs=0.05)
    with pytest.raises(NotFound, match="not registered"):
        compute("custom.unknown", _span(0, 2), store=store)


def test_gates_accept_monitoring_metrics_and_still_refuse_unknown_ones() -> None:
    assert parse_gate("input.brightness.mean>=0.3").metric == "input.brightness.mean"
    assert resolve_gate_metric("output.class.scratch") is not None
    assert resolve_gate_metric("drift.brightness.psi") is None  # needs a reference
    with pytest.raises(InvalidInput, match="unknown metric"):
        parse_gate("bogus<=1")


def test_feedback_metrics_join_answers_with_their_latest_labels(store: Store) -> None:
    two_versions(store)
    at = T0 + timedelta(seconds=5)
    outputs = ["ok"] * 6 + ["scratch"] * 4
    ids = log_predictions(store, n=10, version=1, role="primary", outputs=outputs, at=at)
    labels = ["ok"] * 5 + ["scratch"] + ["scratch"] * 3 + ["ok"]
    give_labels(store, ids, labels)
    span = _span(0, 1)
    acc = compute("accuracy", span, store=store)
    assert (acc.value, acc.samples) == (pytest.approx(0.8), 10)
    assert compute("precision.scratch", span, store=store).value == pytest.approx(3 / 4)
    assert compute("recall.scratch", span, store=store).value == pytest.approx(3 / 4)
    assert compute("labels", span, store=store).value == 10
    # every confidence is 0.9 and 80% are right: calibration error 0.1
    assert compute("calibration", span, store=store).value == pytest.approx(0.1)
    # a later label replaces the first one
    give_labels(store, ids[9:], ["scratch"])
    assert compute("accuracy", span, store=store).value == pytest.approx(0.9)


def test_event_rates_count_answers_with_that_user_event(store: Store) -> None:
    from inprod.store.tables import Feedback

    two_versions(store)
    ids = log_predictions(store, n=8, version=1, role="primary", at=T0 + timedelta(seconds=1))
    with store.session() as s:
        for pid in ids[:2]:
            s.add(Feedback(prediction_id=pid, event="redo", source="app"))
        s.add(Feedback(prediction_id=ids[0], event="redo", source="app"))  # twice: one answer
    assert compute("event.redo", _span(0, 1), store=store).value == pytest.approx(2 / 8)


def test_feedback_metrics_per_slice_show_where_the_concept_drifted(store: Store) -> None:
    from inprod.store.tables import Prediction

    two_versions(store)
    ids = log_predictions(store, n=20, version=1, role="primary", at=T0 + timedelta(seconds=1))
    rows = {p: "AB"[i % 2] for i, p in enumerate(ids)}
    with store.session() as s:  # factory A: every answer right; factory B: some wrong
        for p in s.query(Prediction).filter(Prediction.id.in_(ids)):
            p.inputs = {"factory": rows[p.id], "brightness": 0.5}
    labels = ["scratch" if rows[p] == "B" and j % 4 == 1 else "ok" for j, p in enumerate(ids)]
    give_labels(store, ids, labels)
    span = _span(0, 1)
    a = compute("accuracy@factory=A", span, store=store)
    b = compute("accuracy@factory=B", span, store=store)
    assert (a.value, a.samples) == (1.0, 10)
    assert (b.value, b.samples) == (0.5, 10)
    assert compute("accuracy", span, store=store).value == pytest.approx((10 + 10 * b.value) / 20)
    with pytest.raises(InvalidInput, match="METRIC@FEATURE=VALUE"):
        parse_metric("qps@factory=A")
    with pytest.raises(InvalidInput, match="METRIC@FEATURE=VALUE"):
        parse_metric("accuracy@factory")


def test_series_read_profiles_once_and_feedback_step_by_step(store: Store) -> None:
    from inprod.monitoring.series import metric_series

    two_versions(store)
    write_minutes(store, T0, 2, errors=4)
    points = metric_series(ENDPOINT, parse_metric("error_rate"), T0, minute(3), 60, store=store)
    assert [v for _, v in points] == [pytest.approx(0.1), pytest.approx(0.1), None]
    ids = log_predictions(
        store, n=4, version=1, role="primary", at=minute(1) + timedelta(seconds=1)
    )
    give_labels(store, ids, ["ok", "ok", "ok", "scratch"])
    points = metric_series(ENDPOINT, parse_metric("accuracy"), T0, minute(2), 60, store=store)
    assert [v for _, v in points] == [None, 0.75]
    with pytest.raises(InvalidInput, match="reference"):
        metric_series(ENDPOINT, parse_metric("drift.x0.psi"), T0, minute(2), 60, store=store)
