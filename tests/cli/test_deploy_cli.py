"""``inprod deploy``, ``inprod rollback`` and ``inprod automation`` from the command line."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from inprod import deploy, endpoints, models
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction

EP = "phone-inspector"


@pytest.fixture
def served(store: Store) -> None:
    """``tiny@1`` (champion) serves the endpoint; ``tiny@2``, ``tiny@3`` and ``wide@1`` (8
    features instead of 4) are registered."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8))
    y = (X[:, 0] > 0).astype(int)
    for c in (1.0, 0.1, 0.01):
        fitted = LogisticRegression(C=c).fit(X[:, :4], y)
        models.register("tiny", fitted, sample=X[:3, :4], store=store)
    models.register("wide", LogisticRegression().fit(X, y), sample=X[:3], store=store)
    models.set_alias("tiny@1", "champion", store=store)
    endpoints.create(EP, "tiny@champion", store=store)


def _plan(cli) -> dict:
    return json.loads(cli.ok("deploy", "status", EP, "--json").stdout)


def _log(s, version: int, role: str, *, output: object = 1, model: str = "tiny", **extra) -> str:
    """One logged answer (with the inputs a warm check can replay); returns its id."""
    pid = uuid.uuid4().hex
    fields = {"latency_ms": 5.0, "inputs": [0.1, 0.2, 0.3, 0.4], **extra}
    s.add(
        Prediction(
            id=pid,
            time=datetime.now(UTC),
            endpoint=EP,
            model_name=model,
            model_version=version,
            role=role,
            outputs={"output": output},
            **fields,
        )
    )
    return pid  # fmt: skip


def test_shadow_then_promote_prints_what_happens_and_records_history(cli, served) -> None:
    out = cli.ok("deploy", EP, "--shadow", "tiny@2", "--reason", "v2 beside v1").stdout
    assert "phone-inspector: tiny@2 runs in shadow beside tiny@champion (tiny@1)" in out
    assert "servers apply it within a second" in out
    plan = _plan(cli)
    assert (plan["state"], plan["candidate"]["ref"], plan["candidate"]["role"]) == (
        "shadowing", "tiny@2", "shadow",
    )  # fmt: skip
    assert plan["judgement"]["action"] == "none"
    status = cli.ok("deploy", "status", EP).stdout
    assert (
        "candidate   tiny@2 (shadow)" in status and "allowed now: canary, promote, abort" in status
    )

    out = cli.ok("deploy", "promote", EP, "--reason", "agrees 99%").stdout
    assert "tiny@champion (tiny@2) now takes all traffic" in out
    assert "tiny@1 stays loaded until" in out
    assert _plan(cli)["primary_version"] == "tiny@2"

    events = json.loads(cli.ok("deploy", "history", EP, "--json").stdout)
    assert [(e["action"], e["from_state"], e["to_state"], e["reason"]) for e in events] == [
        ("shadow", "stable", "shadowing", "v2 beside v1"),
        ("promote", "shadowing", "promoted", "agrees 99%"),
    ]
    table = cli.ok("deploy", "history", EP).stdout
    assert "shadowing" in table and "agrees 99%" in table
    assert len(json.loads(cli.ok("deploy", "history", EP, "--limit", "1", "--json").stdout)) == 1


def test_canary_with_options_then_pause_resume_and_abort(cli, served) -> None:
    out = cli.ok(
        "deploy", EP, "--canary", "tiny@2", "--steps", "10,50,100", "--interval", "5m",
        "--gate", "error_rate<=0.02", "--gate", "latency_p99_ms<=champion*1.5",
        "--min-requests", "40",
    ).stdout  # fmt: skip
    assert (
        "phone-inspector: canary tiny@2 takes 10% (step 1 of 3; gates error_rate<=0.02, "
        "latency_p99_ms<=champion*1.5)" in out
    )
    plan = _plan(cli)
    cand = plan["candidate"]
    assert (cand["steps"], cand["interval_s"], cand["min_requests"], cand["weight"]) == (
        [10.0, 50.0, 100.0], 300.0, 40, 0.1,
    )  # fmt: skip
    assert cand["gates"] == ["error_rate<=0.02", "latency_p99_ms<=champion*1.5"]
    assert plan["judgement"]["action"] == "wait"
    assert "0 of 40 canary requests" in plan["judgement"]["reason"]
    assert "next: wait — step 1 (10%) has 0 of 40" in cli.ok("deploy", "status", EP).stdout

    assert "held at 10%" in cli.ok("deploy", "pause", EP).stdout
    cli.fails(
        "deploy", "pause", EP, match="nothing is ramping: endpoint 'phone-inspector' is paused"
    )
    assert "takes 10%" in cli.ok("deploy", "resume", EP).stdout
    assert "stopped trying tiny@2; tiny@champion (tiny@1) keeps serving" in (
        cli.ok("deploy", "abort", EP, "--reason", "enough").stdout
    )
    assert _plan(cli)["candidate"] is None


def test_canary_defaults_are_the_documented_ones(cli, served) -> None:
    cli.ok("deploy", EP, "--canary", "tiny@2", "--json")
    cand = _plan(cli)["candidate"]
    assert (cand["steps"], cand["interval_s"], cand["gates"], cand["min_requests"]) == (
        [5.0, 25.0, 50.0, 100.0], 600.0, ["error_rate<=0.01"], 500,
    )  # fmt: skip


def test_blue_green_then_rollback_serves_the_previous_version(cli, served) -> None:
    out = cli.ok("deploy", EP, "--blue-green", "tiny@3", "--keep-previous", "2h").stdout
    assert "tiny@champion (tiny@3) now takes all traffic; tiny@1 stays loaded until" in out
    plan = _plan(cli)
    kept = datetime.fromisoformat(plan["previous"]["until"]) - datetime.now(UTC)
    assert 7100 < kept.total_seconds() <= 7200
    assert plan["keep_previous_s"] == 7200
    rolled = json.loads(cli.ok("rollback", EP, "--reason", "p99 up", "--json").stdout)
    assert (rolled["state"], rolled["previous"]) == ("rolled_back", None)
    assert _plan(cli)["primary_version"] == "tiny@1"
    cli.fails(
        "rollback", EP, match="nothing to roll back: endpoint 'phone-inspector' is rolled_back"
    )
    out = cli.ok("deploy", EP, "--blue-green", "tiny@2", "--no-check").stdout
    assert "(tiny@2) now takes all traffic" in out
    assert "rolled back; tiny@champion (tiny@1)" in cli.ok("rollback", EP).stdout


def test_compare_prints_agreement_and_both_sides(cli, served, store: Store) -> None:
    deploy.shadow(EP, "tiny@2", store=store)
    with store.session() as s:
        for i in range(4):
            pid = _log(s, 1, "primary", latency_ms=10.0)
            _log(s, 2, "shadow", output=1 if i else 0, latency_ms=12.0, primary_id=pid)
            s.add(Feedback(prediction_id=pid, label="1"))
    result = json.loads(cli.ok("deploy", "compare", EP, "--json").stdout)
    assert (result["pairs"], result["agreements"], result["agreement"]) == (4, 3, 0.75)
    assert [s["accuracy"] for s in result["sides"]] == [1.0, 0.75]
    out = cli.ok("deploy", "compare", EP).stdout
    assert "3 of 4 paired answers agree (75.0%), 1 disagree" in out
    assert "tiny@1 (primary)" in out and "tiny@2 (shadow)" in out
    cli.fails("deploy", "compare", EP, "--model", "tiny@3", match="no shadow or canary predictions")


def test_automation_set_show_and_suggest(cli, served, store: Store) -> None:
    out = cli.ok(
        "automation", "set", EP, "partial", "--threshold", "0.9", "--audit-rate", "0.05",
        "--no-review-disagreements", "--reason", "review queue staffed",
    ).stdout  # fmt: skip
    assert "automation partial, threshold 0.9, audit 5% of decisions" in out
    shown = json.loads(cli.ok("automation", "show", EP, "--json").stdout)
    assert shown == {
        "endpoint": EP, "mode": "partial", "threshold": 0.9, "audit_rate": 0.05,
        "review_disagreements": False,
    }  # fmt: skip
    assert "needs_review" in cli.ok("automation", "show", EP).stdout
    cli.ok("automation", "set", EP, "full")
    assert json.loads(cli.ok("automation", "show", EP, "--json").stdout)["audit_rate"] == 0.05
    assert deploy.history(EP, store=store)[-1].action == "automation"

    with store.session() as s:
        for conf, label in [(0.6, "0"), (0.8, "1"), (0.95, "1")]:
            pid = _log(s, 1, "primary", output="1", confidence=conf)
            s.add(Feedback(prediction_id=pid, label=label))
    result = json.loads(
        cli.ok("automation", "suggest", EP, "--target-precision", "0.99", "--json").stdout
    )
    assert (result["threshold"], result["coverage"], result["precision"]) == (0.8, 2 / 3, 1.0)
    out = cli.ok("automation", "suggest", EP, "--target-precision", "0.99").stdout
    assert "suggested: --threshold 0.8 decides 66.7% alone at a precision of 100.00%" in out
    assert "inprod automation set phone-inspector partial --threshold 0.8" in out


@pytest.mark.parametrize(
    "args, message",
    [
        ([EP], "give exactly one of --shadow, --canary, --blue-green with the version"),
        ([EP, "--shadow", "tiny@2", "--canary", "tiny@3"], "(got --shadow and --canary)"),
        ([EP, "--shadow", "tiny@2", "--steps", "5,100"], "--steps applies only to --canary, not"),
        ([EP, "--canary", "tiny@2", "--no-check"], "--no-check applies only to --blue-green"),
        ([EP, "--shadow", "tiny@9"], "model 'tiny' has no version 9 (latest is 3)"),
        ([EP, "--shadow", "nope@1"], "no model 'nope'"),
        ([EP, "--shadow", "tiny@1"], "already serves endpoint 'phone-inspector' as its primary"),
        ([EP, "--canary", "wide@1"], "wide@1 is not compatible with tiny@1"),
        ([EP, "--canary", "tiny@2", "--steps", "5,50,25,100"], "must increase (25 follows 50)"),
        ([EP, "--canary", "tiny@2", "--steps", "5,25,50"], "must end at 100"),
        ([EP, "--canary", "tiny@2", "--steps", "five"], "must be percentages like 5,25,50,100"),
        ([EP, "--canary", "tiny@2", "--gate", "bogus<=0.1"], "unknown metric 'bogus'"),
        ([EP, "--canary", "tiny@2", "--gate", "error_rate=0.1"], "is not METRIC OP LIMIT"),
        ([EP, "--canary", "tiny@2", "--interval", "soon"], "is not a duration like 30s"),
        ([EP, "--canary", "tiny@2", "--min-requests", "-1"], "must be a whole number >= 0"),
        (["nope", "--shadow", "tiny@2"], "no endpoint 'nope'"),
        ([EP, "--shadow", "tiny@2", "--shadow-rate", "0"], "sample rate 0.0 must be in (0, 1]"),
        ([EP, "--canary", "tiny@2", "--shadow-rate", "0.5"], "--shadow-rate applies only to"),
        (["promote", EP], "nothing to promote: endpoint 'phone-inspector' is stable; allowed now:"),
        (["pause", EP], "nothing is ramping"),
        (["resume", EP], "nothing is paused"),
        (["abort", EP], "nothing is in flight"),
    ],
)  # fmt: skip
def test_deploy_refusals_name_what_to_fix_and_change_nothing(
    cli, served, store: Store, args: list[str], message: str
) -> None:
    cli.fails("deploy", *args, match=message)
    plan = deploy.get_plan(EP, store=store)
    assert (plan.state, plan.revision, plan.primary_ref) == ("stable", 0, "tiny@champion")
    assert deploy.history(EP, store=store) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["set", EP, "partial", "--threshold", "1.5"], "threshold in (0, 1], got 1.5"),
        (["set", EP, "partial", "--threshold", "0"], "threshold in (0, 1], got 0.0"),
        (["set", EP, "partial"], "needs a confidence threshold in (0, 1], got None"),
        (["set", EP, "full", "--threshold", "0.9"], "a threshold applies only to partial"),
        (["set", EP, "sometimes"], "automation mode 'sometimes' is not one of human, shadow"),
        (["set", EP, "full", "--audit-rate", "2"], "audit rate 2.0 must be in [0, 1]"),
        (["suggest", EP, "--target-precision", "1.5"], "target precision 1.5 must be a number"),
        (["suggest", EP, "--target-precision", "0.9"], "have a feedback label yet; send labels"),
        (["show", "nope"], "no endpoint 'nope'"),
    ],
)  # fmt: skip
def test_automation_refusals_name_what_to_fix_and_change_nothing(
    cli, served, store: Store, args: list[str], message: str
) -> None:
    cli.fails("automation", *args, match=message)
    assert deploy.get_plan(EP, store=store).automation.mode == "full"
    assert deploy.history(EP, store=store) == []


def test_rollback_with_nothing_to_roll_back_is_refused(cli, served) -> None:
    cli.fails("rollback", EP, match="nothing to roll back: endpoint 'phone-inspector' is stable")
    cli.fails("rollback", "nope", match="no endpoint 'nope'")


def test_subcommand_names_still_win_over_the_default_command(cli, served) -> None:
    assert "Show the plan" in cli.ok("deploy", "status", "--help").stdout
    assert "--blue-green" in cli.ok("deploy", "start", "--help").stdout
    assert "status" in cli.ok("deploy", "--help").stdout


def test_the_python_example_in_docs_deployment_runs(inprod_env, store: Store, capsys) -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    block = re.search(r"^## Python API\n\n```python\n(.*?)^```", doc, re.M | re.S)
    assert block is not None
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    for c in (1.0, 0.5, 0.1, 0.05, 0.01):
        models.register(
            "phone-inspector", LogisticRegression(C=c).fit(X, y), sample=X[:3], store=store
        )
    models.set_alias("phone-inspector@3", "champion", store=store)
    endpoints.create(EP, "phone-inspector@champion", store=store)
    with store.session() as s:  # v4 answered in shadow; later, labelled answers of v4 as primary
        for i in range(20):
            pid = _log(s, 3, "primary", model="phone-inspector")
            _log(s, 4, "shadow", model="phone-inspector", output=1 if i else 0, latency_ms=6.0,
                 primary_id=pid)  # fmt: skip
            labelled = _log(s, 4, "primary", model="phone-inspector", confidence=0.5 + i / 40)
            s.add(Feedback(prediction_id=labelled, label=1 if i >= 5 else 0))

    exec(compile(block.group(1), "docs/deployment.md", "exec"), {})

    out = capsys.readouterr().out
    assert out.startswith(
        "0.95 [('phone-inspector@3', None, 5.0), ('phone-inspector@4', None, 6.0)]"
    )
    plan = deploy.get_plan(EP, store=store)
    assert (plan.state, plan.automation.mode, plan.automation.threshold) == (
        "rolled_back", "partial", 0.6,
    )  # fmt: skip
    assert [e.action for e in deploy.history(EP, store=store)] == [
        "shadow", "abort", "canary", "pause", "resume", "promote", "blue_green", "rollback",
        "automation",
    ]  # fmt: skip
