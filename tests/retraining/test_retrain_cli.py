"""``inprod retrain policy add | list | show | update | remove`` and ``inprod retrain list |
show | request | approve | cancel | run | check``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from inprod.monitoring import monitors
from inprod.retraining import requests
from inprod.store import Store
from inprod.store.tables import Alert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
from rollout_helpers import ENDPOINT, give_labels, log_predictions, two_versions

TRAIN = "statistics:mean"  # any importable function passes the policy's check


@pytest.fixture
def served(store: Store) -> Store:
    two_versions(store)
    monitors.add(ENDPOINT, "input.brightness.mean", below=0.35, name="dark", store=store)
    return store


def test_a_policy_on_the_command_line(cli, served: Store) -> None:
    made = json.loads(cli.ok(
        "retrain", "policy", "add", ENDPOINT, "--train", TRAIN, "--on", "alert:dark",
        "--on", "new-labels:500", "--on", "schedule:weekly", "--approve", "auto",
        "--data", "phone-images@2", "--require", "accuracy>=champion",
        "--require-slices", "accuracy>=champion-0.02", "--tags", "brightness<0.3",
        "--label-map", "0=ok", "--label-map", "1=scratch", "--canary-steps", "5,50,100",
        "--canary-interval", "2m", "--canary-gate", "error_rate<=0.01",
        "--canary-min-requests", "50", "--timeout", "20m", "--min-labels", "10", "--json",
    ).stdout)  # fmt: skip
    assert made["triggers"] == ["alert:dark", "new-labels:500", "schedule:weekly"]
    assert made["settings"] == {
        "data": "phone-images@2", "require": ["accuracy>=champion"],
        "require_slices": ["accuracy>=champion-0.02"], "tags": ["brightness<0.3"],
        "label_map": {"0": "ok", "1": "scratch"}, "timeout_s": 1200.0, "min_labels": 10,
        "canary": {"steps": "5,50,100", "interval": 120.0, "gates": ["error_rate<=0.01"],
                   "min_requests": 50},
    }  # fmt: skip
    listed = cli.ok("retrain", "policy", "list").stdout
    assert ENDPOINT in listed and "new-labels:500" in listed
    changed = json.loads(cli.ok(
        "retrain", "policy", "update", ENDPOINT, "--approve", "manual", "--canary-steps",
        "10,100", "--unset", "data", "--on", "new-labels:100", "--reason", "new team", "--json",
    ).stdout)  # fmt: skip
    assert changed["approve"] == "manual" and changed["triggers"] == ["new-labels:100"]
    assert "data" not in changed["settings"]
    assert changed["settings"]["canary"]["steps"] == "10,100"
    assert changed["settings"]["canary"]["interval"] == 120.0  # kept
    shown = cli.ok("retrain", "policy", "show", ENDPOINT).stdout
    assert "approve manual" in shown and "new team" in shown and "updated" in shown
    cleared = json.loads(cli.ok("retrain", "policy", "update", ENDPOINT, "--no-triggers",
                                "--disable", "--json").stdout)  # fmt: skip
    assert cleared["triggers"] == [] and cleared["enabled"] is False
    assert "removed" in cli.ok("retrain", "policy", "remove", ENDPOINT).stdout
    assert "no retraining policies yet" in cli.ok("retrain", "policy", "list").stdout


def test_bad_policies_fail_cleanly(cli, served: Store) -> None:
    add = ("retrain", "policy", "add")
    cli.fails(*add, "phone-inspectr", "--train", TRAIN, match="did you mean 'phone-inspector'")
    cli.fails(*add, ENDPOINT, "--train", "nowhere:train", match="cannot be imported")
    cli.fails(*add, ENDPOINT, "--train", TRAIN, "--on", "alert:drak",
              match="no monitor 'drak'; did you mean 'dark'")  # fmt: skip
    cli.fails(*add, ENDPOINT, "--train", TRAIN, "--label-map", "0", match="OUTPUT=LABEL")
    cli.fails(*add, ENDPOINT, "--train", TRAIN, "--timeout", "soon", match="not a duration")
    cli.fails("retrain", "policy", "show", "nope", match="no retraining policy for 'nope'")
    cli.ok(*add, ENDPOINT, "--train", TRAIN)
    cli.fails("retrain", "policy", "update", ENDPOINT, "--on", "new-labels:5", "--no-triggers",
              match="not both")  # fmt: skip
    cli.fails("retrain", "policy", "update", ENDPOINT, match="nothing to change")


def test_requests_on_the_command_line(cli, served: Store) -> None:
    cli.ok("retrain", "policy", "add", ENDPOINT, "--train", TRAIN, "--on", "alert:dark")
    assert "no trigger fired" in cli.ok("retrain", "check").stdout
    monitor = monitors.get("dark", endpoint=ENDPOINT, store=served)
    with served.session() as s:
        s.add(Alert(monitor_id=monitor.id, endpoint=ENDPOINT, message="brightness 0.21"))
    fired = cli.ok("retrain", "check").stdout
    assert "request 1 for phone-inspector (open): alert 1 of monitor 'dark'" in fired
    joined = json.loads(cli.ok("retrain", "request", ENDPOINT, "--reason", "lamps changed",
                               "--json").stdout)  # fmt: skip
    assert joined["id"] == 1
    assert [t["trigger"] for t in joined["details"]["triggers"]] == ["alert:dark", "manual"]
    listed = cli.ok("retrain", "list", "--status", "open").stdout
    assert "alert:dark" in listed and "open" in listed
    assert "approved; the server's worker runs it" in cli.ok("retrain", "approve", "1").stdout
    cli.fails("retrain", "approve", "1", match="request 1 is approved; only a request that is open")
    assert "cancelled" in cli.ok("retrain", "cancel", "1", "--reason", "not today").stdout
    cli.fails("retrain", "cancel", "1", match="is cancelled")
    cli.fails("retrain", "show", "9", match="retraining request 9 not found")
    cli.fails("retrain", "list", "--status", "done", match="not one of open")
    assert json.loads(cli.ok("retrain", "list", "--endpoint", "other", "--json").stdout) == []


def test_show_tells_the_story_of_a_request(cli, served: Store) -> None:
    cli.ok("retrain", "policy", "add", ENDPOINT, "--train", TRAIN)
    r = requests.open_request(ENDPOINT, trigger="manual", reason="dark images", actor="ann",
                              store=served)  # fmt: skip
    with served.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        requests.record_step(s, row, "dataset", "running")
        requests.record_step(s, row, "dataset", "done", "240 new labelled examples")
        requests.record_step(s, row, "train", "running")
        requests.record_step(s, row, "train", "done", "inspector@3 registered")
        row.details = {
            **row.details,
            "candidate": "inspector@3",
            "evaluation": {"passed": True, "summary": "gate passed: accuracy 0.97 >= 0.91"},
        }
        requests.finish(s, row, "deployed", "canary started at 5%", actor="runner")
    out = cli.ok("retrain", "show", str(r.id)).stdout
    for expected in ("request 1 for phone-inspector: deployed — canary started at 5%",
                     "opened", "by ann: dark images", "240 new labelled examples",
                     "inspector@3 registered", "candidate: inspector@3",
                     "gate passed: accuracy 0.97 >= 0.91"):  # fmt: skip
        assert expected in out, out
    assert "gate passed: gate passed" not in out  # the runner's summary names the verdict too
    story = json.loads(cli.ok("retrain", "show", str(r.id), "--json").stdout)
    assert [st["name"] for st in story["details"]["steps"]] == ["dataset", "train"]


def test_run_records_why_a_request_failed(cli, served: Store) -> None:
    cli.ok("retrain", "policy", "add", ENDPOINT, "--train", TRAIN)
    give_labels(served, log_predictions(served, n=2, version=1, role="primary"), ["ok", "ok"])
    r = requests.open_request(ENDPOINT, trigger="manual", reason="now", store=served)
    out = cli.ok("retrain", "run", str(r.id)).stdout
    assert f"request {r.id} for phone-inspector: failed" in out
    assert requests.get_request(r.id, store=served).status == "failed"


def test_sweep_ray_and_rescore_options_and_the_sweep_table(cli, served: Store) -> None:
    made = json.loads(cli.ok(
        "retrain", "policy", "add", ENDPOINT, "--train", TRAIN, "--sweep", "C=0.1,1",
        "--sweep", "solver=lbfgs", "--select", "val_loss:min", "--parallel", "2",
        "--ray", "local", "--rescore", "24h", "--max-changed", "0.2", "--json",
    ).stdout)  # fmt: skip
    assert {k: made["settings"][k] for k in ("sweep", "select", "parallel", "ray", "rescore",
                                             "max_changed")} == {
        "sweep": {"C": [0.1, 1], "solver": ["lbfgs"]}, "select": "val_loss:min", "parallel": 2,
        "ray": "local", "rescore": 86400.0, "max_changed": 0.2,
    }  # fmt: skip
    update = ("retrain", "policy", "update", ENDPOINT)
    cli.fails(*update, "--unset", "select", match="a sweep needs select")
    cli.fails(*update, "--sweep", "C", match="is not NAME=VALUE,VALUE")
    cli.fails(*update, "--max-changed", "1.5", match="must be a share between 0 and 1")
    cli.fails(*update, "--rescore", "0s", match="rescore window must be more than 0")
    unset = json.loads(cli.ok(*update, "--unset", "sweep", "--unset", "ray", "--json").stdout)
    assert "sweep" not in unset["settings"] and unset["settings"]["select"] == "val_loss:min"

    r = requests.open_request(ENDPOINT, trigger="manual", reason="sweep", store=served)
    with served.session() as s:
        row = requests.lock_request(s, r.id)
        requests.move(s, row, "running", actor="runner")
        requests.record_step(s, row, "train", "running")
        points = [
            {"params": {"C": 0.1}, "value": 0.41, "candidate": "inspector@3", "run_id": "ab" * 16},
            {"params": {"C": 1}, "error": "the training function raised ValueError: nope"},
        ]
        requests.record_step(s, row, "train", "done", "registered inspector@3",
                             {"candidate": "inspector@3", "select": "val_loss:min",
                              "sweep": points})  # fmt: skip
    out = cli.ok("retrain", "show", str(r.id)).stdout
    assert "sweep" in out and "C=0.1" in out and "0.41" in out and "abababab" in out
    assert "C=1" in out and "raised ValueError: nope" in " ".join(out.split())
