"""Gates: the METRIC OP LIMIT forms, refusals, and the metric registry seam."""

from __future__ import annotations

import pytest
from rollout_helpers import ENDPOINT, MODEL, later, log_predictions, start_canary, two_versions

from inprod.errors import InvalidInput
from inprod.rollout import gates
from inprod.rollout.gates import (
    Gate,
    GateMetric,
    GateWindow,
    MetricValue,
    parse_gate,
    register_gate_metric,
)
from inprod.rollout.judge import judge
from inprod.store import Store


@pytest.mark.parametrize(
    ("text", "gate"),
    [
        ("error_rate<=0.01", Gate("error_rate<=0.01", "error_rate", "<=", 0.01)),
        ("latency_p99_ms < 300", Gate("latency_p99_ms < 300", "latency_p99_ms", "<", 300.0)),
        (
            "accuracy>=champion-0.01",
            Gate("accuracy>=champion-0.01", "accuracy", ">=", 0.01, "-"),
        ),
        (
            "latency_p99_ms<=champion*1.2",
            Gate("latency_p99_ms<=champion*1.2", "latency_p99_ms", "<=", 1.2, "*"),
        ),
        ("accuracy>=champion", Gate("accuracy>=champion", "accuracy", ">=", 0.0, "=")),
        ("  mean_confidence > 0.5  ", Gate("mean_confidence > 0.5", "mean_confidence", ">", 0.5)),
    ],
)
def test_parse_gate_reads_absolute_and_relative_forms(text: str, gate: Gate) -> None:
    assert parse_gate(text) == gate


@pytest.mark.parametrize(
    ("text", "champion", "limit"),
    [
        ("error_rate<=0.01", 0.5, 0.01),
        ("error_rate<=0.01", None, 0.01),
        ("accuracy>=champion-0.01", 0.9, 0.89),
        ("accuracy>=champion+0.02", 0.9, 0.92),
        ("latency_p99_ms<=champion*1.2", 100.0, 120.0),
        ("accuracy>=champion", 0.9, 0.9),
        ("accuracy>=champion-0.01", None, None),
    ],
)
def test_gate_limit_follows_the_champion(
    text: str, champion: float | None, limit: float | None
) -> None:
    assert parse_gate(text).limit(champion) == pytest.approx(limit)


def test_gate_holds_by_its_operator() -> None:
    assert parse_gate("error_rate<=0.01").holds(0.01, 0.01)
    assert not parse_gate("error_rate<0.01").holds(0.01, 0.01)
    assert parse_gate("accuracy>=champion").holds(0.9, 0.9)
    assert not parse_gate("accuracy>champion").holds(0.9, 0.9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not METRIC OP LIMIT"),
        ("error_rate", "is not METRIC OP LIMIT"),
        ("error_rate==0.01", "is not METRIC OP LIMIT"),
        ("error_rate<=", "is not METRIC OP LIMIT"),
        ("error_rate<=abc", "is not METRIC OP LIMIT"),
        ("error_rate<=champion/2", "is not METRIC OP LIMIT"),
        ("accuracy>=champion*", "is not METRIC OP LIMIT"),
        ("<=0.01", "is not METRIC OP LIMIT"),
        ("error_rate<=0.01.2", "the limit is not a number"),
        ("error_rate<=1e999", "must be a finite number"),
        ("bogus<=0.01", "unknown metric 'bogus'"),
    ],
)
def test_parse_gate_refuses_malformed_gates(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_gate(text)
    assert info.value.field == "gates"


def test_an_unknown_metric_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_gate("drift_score<=0.2")
    assert "known gate metrics:" in info.value.message
    for name in ("error_rate", "latency_p99_ms", "accuracy"):
        assert repr(name) in info.value.message


def test_a_gate_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be text"):
        parse_gate(0.01)  # type: ignore[arg-type]


def test_register_gate_metric_makes_a_new_name_usable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gates, "_METRICS", gates.gate_metrics())  # undone after the test
    seen: list[GateWindow] = []

    def drift(window: GateWindow, store: Store) -> MetricValue:
        seen.append(window)
        return MetricValue(0.3, 100)

    register_gate_metric(GateMetric("drift_score", "input drift against training", drift))
    assert parse_gate("drift_score<=0.2").metric == "drift_score"

    two_versions(store)
    plan = start_canary(store, gates=["drift_score<=0.2"])
    log_predictions(store, n=20, version=2, role="canary")
    j = judge(plan, store=store, now=later(plan, 601))

    assert j.action == "rollback"
    assert "drift_score<=0.2 failed: 0.3" in j.reason
    [window] = seen
    assert (window.endpoint, window.model_name, window.version, window.role) == (
        ENDPOINT, MODEL, 2, "canary",
    )  # fmt: skip
