from __future__ import annotations

import json

import pytest

from inprod import projects
from inprod.errors import InvalidInput
from inprod.projects import MetricTarget


def test_metric_targets_are_machine_readable() -> None:
    t = MetricTarget.parse("latency_p99_ms<=300")
    assert (t.name, t.op, t.target, t.kind) == ("latency_p99_ms", "<=", 300.0, "software")
    assert MetricTarget.parse("accuracy>=0.95").kind == "ml"
    assert MetricTarget.parse("business:cost_per_phone<0.01").kind == "business"
    assert t.holds(250) and not t.holds(301)


@pytest.mark.parametrize("spec", ["accuracy", "accuracy>=high", ">=3", "x:acc>=1"])
def test_bad_metric_specs_are_refused(spec: str) -> None:
    with pytest.raises(InvalidInput):
        MetricTarget.parse(spec)


def test_project_create_and_show_from_the_cli(cli) -> None:
    cli.ok(
        "project", "create", "phone-inspection",
        "--metric", "accuracy>=0.95", "--metric", "latency_p99_ms<=300", "--metric", "qps>=1000",
        "--owner", "ana", "--milestone", "POC: 2026-12-15", "--resource", "labelers=3",
    )  # fmt: skip
    shown = json.loads(cli.ok("project", "show", "phone-inspection", "--json").stdout)
    assert [m["name"] for m in shown["metrics"]] == ["accuracy", "latency_p99_ms", "qps"]
    assert shown["metrics"][2] == {"name": "qps", "op": ">=", "target": 1000.0, "kind": "software"}
    assert shown["milestones"] == [{"name": "POC", "date": "2026-12-15"}]
    assert shown["resources"] == {"labelers": "3"}
    assert "phone-inspection" in cli.ok("project", "list").stdout
    assert "accuracy" in cli.ok("project", "show", "phone-inspection").stdout


def test_project_errors_are_clean_and_store_nothing(cli, store) -> None:
    cli.fails("project", "create", "p", "--metric", "accuracy=>0.9", match="NAME OP NUMBER")
    cli.fails("project", "create", "p", "--milestone", "POC 2026", match="YYYY-MM-DD")
    cli.fails("project", "create", "p", "--milestone", "POC: 2026-13-01", match="not a date")
    cli.fails("project", "create", "../p", match="not allowed")
    assert projects.list_projects(store=store) == []
    cli.ok("project", "create", "phone-inspection")
    cli.fails("project", "create", "phone-inspection", match="already exists")
    cli.fails("project", "show", "phone-inspectoin", match="did you mean 'phone-inspection'")
