from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from inprod import deploy, models
from inprod.quickstart import phone_data
from inprod.quickstart.drift_story import FADE_TO
from inprod.retraining import requests
from inprod.store import Store
from inprod.store.tables import ReviewTask


def test_quickstart_retrain_part_gates_canaries_v2_and_shows_blue_green_with_rollback(
    cli, store: Store, tmp_path: Path
) -> None:
    out = cli.ok(
        "quickstart", "--images", "300", "--requests", "200", "--no-rollout",
        "--report", tmp_path / "report.html", "--data-dir", tmp_path / "data",
    ).stdout  # fmt: skip

    [request] = requests.list_requests(endpoint="phone-inspector", store=store)
    assert request.trigger.startswith("alert:")  # the drift alert's own request, run
    assert request.status == "deployed", request.details.get("message")
    assert [st["name"] for st in request.steps if st["status"] == "done"] == [
        "dataset", "train", "check", "evaluate", "rescore", "deploy",
    ]  # fmt: skip
    assert request.details["evaluation"]["passed"]
    steps = {st["name"]: st["outputs"] for st in request.steps}
    sweep = steps["train"]["sweep"]  # two strengths of C, each in its own run; the best won
    assert [p["params"] for p in sweep] == [{"C": 0.3}, {"C": 1.0}]
    assert steps["train"]["candidate"] == max(sweep, key=lambda p: p["value"])["candidate"]
    rescored = steps["rescore"]  # every logged phone of the story, re-scored by the candidate
    assert rescored["passed"] and rescored["rows"] >= 200 and rescored["changed"] <= 0.25
    candidate = models.get(request.details["candidate"], store=store)
    champion = models.get("phone-inspector@1", store=store)  # part 1's, served until now
    assert candidate.version in (2, 3)
    assert f"{candidate.ref} serves" in " ".join(out.split()), out  # rich wraps long lines

    # v2 serves after the canary's promotion, a blue-green switch back and its rollback
    plan = deploy.get_plan("phone-inspector", store=store)
    assert models.get(plan.primary_ref, store=store).ref == candidate.ref
    events = [
        (e.actor, e.action, e.to_state) for e in deploy.history("phone-inspector", store=store)
    ]
    actions = [a for _, a, _ in events]
    canary = actions.index("canary")
    assert ("controller", "advance", "promoted") in events[canary:]
    assert actions[-2:] == ["blue_green", "rollback"] and events[-1][2] == "rolled_back"

    # every image the drift alert queued was recognised and decided by an inspector
    with store.session(write=False) as s:
        by_status = dict(
            s.execute(
                select(ReviewTask.status, func.count())
                .where(ReviewTask.reason == "monitor")
                .group_by(ReviewTask.status)
            ).all()
        )
    assert by_status.get("decided", 0) > 0 and "open" not in by_status

    # better on dark phones neither model saw
    dark = phone_data.generate(1000, seed=99, dark_shift=FADE_TO)
    X = phone_data.features(dark.images)

    def accuracy(ref: str) -> float:
        outputs = np.asarray(models.load(ref, store=store).predict(X).outputs).astype(int)
        return float(np.mean(outputs == dark.truth))

    before, after = accuracy(champion.ref), accuracy(candidate.ref)
    assert after > before + 0.03, (before, after)
