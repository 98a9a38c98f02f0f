"""The loop end to end: the factory's light dims, the champion (trained on well-lit phones) gets
the dark ones wrong, inspectors and reviewers label them, a drift alert asks for retraining, and
the retrained model passes the gate — better on the dark slice — and is canaried."""

from __future__ import annotations

from pathlib import Path

from retrain_functions import (
    ENDPOINT,
    MODEL,
    add_policy,
    approved_request,
    firing_drift_alert,
    log_labelled,
    serve_champion,
)

from inprod import deploy, lineage, models
from inprod.analysis import evaluations
from inprod.retraining.runner import run_request
from inprod.store import Store


def test_a_shift_makes_a_retrained_model_pass_the_gate_and_be_canaried(
    store: Store, tmp_path: Path
) -> None:
    reference = serve_champion(store, tmp_path / "phones")
    log_labelled(store, 160, source="inspector")
    log_labelled(store, 80, seed=12, source="review:ana")
    add_policy(store)  # auto, the default gate: accuracy>=champion, slices >= champion-0.02
    request = approved_request(store, alert_id=firing_drift_alert(store, "brightness"))

    done = run_request(request.id, actor="retraining", store=store)

    assert done.status == "deployed", done.details.get("message")
    assert [(st["name"], st["status"]) for st in done.steps] == [
        (name, "done") for name in ("dataset", "train", "check", "evaluate", "deploy")
    ]
    candidate = done.details["candidate"]
    assert candidate == f"{MODEL}@2"
    # the gate judged the dark phones the drift alert was about, and the candidate won there
    (recorded,) = evaluations(candidate, store=store)
    assert recorded["passed"] and recorded["against"] == f"{MODEL}@1"
    dark = [c for c in recorded["checks"] if c["scope"].startswith("monitored.brightness<")]
    assert dark and all(c["status"] == "pass" and c["count"] >= 30 for c in dark)
    assert dark[0]["value"] > dark[0]["champion"]
    unseen = next(s for s in recorded["slices"] if s["tag"] == "origin=production")
    assert unseen["candidate"]["accuracy"] > unseen["champion"]["accuracy"]
    assert models.get(candidate, store=store).tags["evaluation"] == "passed"
    # and it is canaried, with the policy's canary settings
    plan = deploy.get_plan(ENDPOINT, store=store)
    assert plan.state == "ramping" and plan.candidate is not None
    assert plan.candidate.ref == candidate and plan.candidate.steps == (10.0, 100.0)
    assert done.details["plan_revision"] == plan.revision
    # lineage: candidate -> run -> training data -> the reference and the labels it added
    (run,) = lineage(candidate, store=store).children
    (training,) = run.children
    assert training.label == f"{done.details['dataset']} (train)"
    parents = {c.label for c in training.children if c.kind == "dataset_version"}
    assert parents == {reference, f"{ENDPOINT}-labels@1"}
