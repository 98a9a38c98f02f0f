"""``inprod monitor add | list | tune | history | alerts | ack | run | metrics | defaults``."""

from __future__ import annotations

import json

import pytest
from monitor_helpers import ENDPOINT, T0, minute, two_versions, write_minutes

from inprod.store import Store


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    return store


def test_the_monitor_story_on_the_command_line(cli, served) -> None:
    out = cli.ok("monitor", "add", ENDPOINT, "input.brightness.mean", "--below", "0.35",
                 "--for", "2m", "--window", "1m", "--severity", "critical", "--name", "dark",
                 "--json").stdout  # fmt: skip
    created = json.loads(out)
    assert created["rule"]["below"] == 0.35 and created["severity"] == "critical"
    write_minutes(served, T0, 3, brightness=0.5)
    write_minutes(served, minute(3), 4, brightness=0.25)
    start, end = minute(1).isoformat(), minute(7).isoformat()
    replay = json.loads(cli.ok("monitor", "run", "--from", start, "--to", end, "--step", "1m",
                               "--json").stdout)  # fmt: skip
    changes = [(r["at"][11:16], r["change"]) for r in replay]
    # each pass judges the minutes closed 10 s before it: 08:03-08:04, the first dark one, at 08:05
    assert changes == [("08:02", "ok"), ("08:05", "pending"), ("08:07", "fired")]
    alerts = json.loads(cli.ok("monitor", "alerts", ENDPOINT, "--json").stdout)
    assert [(a["monitor"], a["state"], a["severity"]) for a in alerts] == [
        ("dark", "firing", "critical")
    ]
    cli.ok("monitor", "ack", str(alerts[0]["id"]), "--note", "checking the lamps")
    story = json.loads(cli.ok("monitor", "alerts", "--id", str(alerts[0]["id"]), "--json").stdout)
    assert [e["kind"] for e in story["events"]] == ["fired", "acknowledged"]
    listed = cli.ok("monitor", "list").stdout
    assert "dark" in listed and "firing" in listed
    cli.ok("monitor", "tune", "dark", "--below", "0.2", "--reason", "lamps replaced")
    history = json.loads(cli.ok("monitor", "history", "dark", "--json").stdout)
    assert [e["kind"] for e in history] == ["monitor.created", "monitor.tuned"]
    assert history[-1]["details"]["reason"] == "lamps replaced"


def test_bad_monitor_commands_fail_cleanly(cli, served) -> None:
    cli.fails("monitor", "add", "nope", "qps", "--above", "1", match="endpoint 'nope' not found")
    cli.fails("monitor", "add", ENDPOINT, "error_rate", "--above", "2", match="never be above")
    cli.fails("monitor", "add", ENDPOINT, "brightness", "--above", "2", match="not known")
    cli.fails("monitor", "ack", "999", match="alert 999 not found")
    cli.fails("monitor", "tune", "ghost", "--below", "1", match="monitor 'ghost' not found")
    cli.fails("monitor", "run", "--from", "yesterday", match="not an ISO time")


def test_metrics_lists_the_endpoint_s_features(cli, served) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_minutes(served, now - timedelta(minutes=5), 2)
    names = [r["metric"] for r in json.loads(cli.ok("monitor", "metrics", ENDPOINT,
                                                    "--json").stdout)]  # fmt: skip
    assert "input.brightness.mean" in names and "input.factory.share.A" in names
    assert "output.class.scratch" in names and "latency.p99" in names


def test_defaults_come_from_the_project(cli, served) -> None:
    cli.ok("project", "create", "phones", "--metric", "accuracy>=0.9", "--metric",
           "latency_p99_ms<=200")  # fmt: skip
    out = cli.ok("monitor", "defaults", ENDPOINT, "--project", "phones").stdout
    assert "accuracy" in out and "latency.p99" in out
    assert "nothing to add" in cli.ok("monitor", "defaults", ENDPOINT, "-p", "phones").stdout
