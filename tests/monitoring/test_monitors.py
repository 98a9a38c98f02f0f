"""Monitors: rules that make sense, audited tuning, defaults from the project's scoping."""

from __future__ import annotations

import pytest
from monitor_helpers import ENDPOINT, two_versions

from inprod import projects
from inprod.errors import Conflict, InvalidInput, NotFound
from inprod.monitoring import monitors
from inprod.store import Store


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    return store


def test_a_monitor_keeps_its_rule_and_describes_it(served: Store) -> None:
    m = monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, for_="10m",
                     severity="warning", actions=["pause", "review:5"], store=served)  # fmt: skip
    assert m.name == "input.brightness.mean < 0.35 for 10m"
    assert (m.rule.below, m.rule.for_s, m.rule.window_s) == (0.35, 600.0, 300.0)
    assert m.actions == [{"kind": "pause"}, {"kind": "review", "sample": 5}]
    assert m.state == "no_data"
    assert monitors.get(m.name, store=served).id == m.id
    assert [x.id for x in monitors.list_monitors(ENDPOINT, store=served)] == [m.id]


@pytest.mark.parametrize(
    ("metric", "rule", "match"),
    [
        ("error_rate", {"above": 1.5}, "never be above"),
        ("latency.p99", {"below": 0}, "never be below"),
        ("accuracy", {"below": 0.0}, "never be below"),
        ("input.brightness.mean", {"below": 0.5, "above": 0.4}, "no value that is fine"),
        ("input.brightness.mean", {}, "no threshold"),
        ("input.brightness.mean", {"below": 0.3, "change_pct": "20%"}, "not both"),
        ("input.brightness.mean", {"change_pct": "-5%"}, "more than 0%"),
        ("input.brightness.mean", {"below": 0.3, "window": "2s"}, "too short"),
        ("input.brightness.mean", {"below": 0.3, "for_": "soon"}, "not a duration"),
        ("input.brightness.mean", {"below": float("nan")}, "finite"),
        ("input.brightness.mean", {"below": 0.3, "reference": "train.csv"}, "dataset:NAME"),
        ("brightness", {"below": 0.3}, "not known"),
    ],
)
def test_impossible_or_malformed_rules_are_refused(served, metric, rule, match) -> None:
    with pytest.raises(InvalidInput, match=match):
        monitors.add(ENDPOINT, metric, store=served, **rule)
    assert monitors.list_monitors(store=served) == []


def test_unknown_endpoints_and_bad_actions_are_refused(served: Store) -> None:
    with pytest.raises(NotFound, match="did you mean 'phone-inspector'"):
        monitors.add("phone-inspectr", "qps", above=10, store=served)
    for action, match in [("email:me", "not one of"), ("webhook:ftp://x", "http"),
                          ("review:0", "1 to"), ("pause:now", "no argument")]:  # fmt: skip
        with pytest.raises(InvalidInput, match=match):
            monitors.add(ENDPOINT, "qps", above=10, actions=[action], store=served)


def test_names_are_unique_per_endpoint(served: Store) -> None:
    monitors.add(ENDPOINT, "qps", above=10, store=served)
    with pytest.raises(Conflict, match="already has a monitor"):
        monitors.add(ENDPOINT, "qps", above=10, store=served)


def test_tuning_a_threshold_is_audited_with_before_and_after(served: Store) -> None:
    m = monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, name="dark", store=served)
    tuned = monitors.tune("dark", endpoint=ENDPOINT, below=0.3, reason="too noisy",
                          actor="ana", store=served)  # fmt: skip
    assert tuned.rule.below == 0.3 and tuned.rule.window_s == m.rule.window_s
    kinds = [(e["kind"], e["actor"]) for e in monitors.history(m.id, store=served)]
    assert kinds[-1] == ("monitor.tuned", "ana")
    last = monitors.history(m.id, store=served)[-1]["details"]
    assert last["before"]["rule"]["below"] == 0.35 and last["after"]["rule"]["below"] == 0.3
    assert last["reason"] == "too noisy"
    with pytest.raises(InvalidInput, match="nothing to change"):
        monitors.tune(m.id, below=0.3, store=served)
    with pytest.raises(InvalidInput, match="no value that is fine"):
        monitors.tune(m.id, above=0.2, below=0.3, store=served)
    assert monitors.get(m.id, store=served).rule.below == 0.3  # a refused change changes nothing
    monitors.tune(m.id, enabled=False, store=served)
    assert not monitors.get(m.id, store=served).enabled
    monitors.remove(m.id, store=served)
    assert monitors.list_monitors(store=served) == []


def test_scoping_metrics_become_monitors_once(served: Store) -> None:
    projects.create("phones", metrics=["accuracy>=0.95", "latency_p99_ms<=300", "qps>=1000",
                                       "business:scrap_cost<=0.1"], store=served)  # fmt: skip
    made = monitors.scoping_defaults(ENDPOINT, "phones", store=served)
    rules = {m.metric: (m.rule.above, m.rule.below) for m in made}
    assert rules == {"accuracy": (None, 0.95), "latency.p99": (300.0, None),
                     "qps": (1000.0, None)}  # fmt: skip
    assert all(m.source == "scoping" for m in made)
    assert monitors.scoping_defaults(ENDPOINT, "phones", store=served) == []
