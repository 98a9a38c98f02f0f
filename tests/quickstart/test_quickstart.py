from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inprod import datasets, models, projects
from inprod.quickstart import phone_data
from inprod.quickstart.story import run_story
from inprod.registry.lineage import lineage
from inprod.store import Store
from inprod.tracking.queries import get_run


def test_generated_phone_data_is_seeded_and_inspectors_disagree() -> None:
    a, b = phone_data.generate(300, seed=3), phone_data.generate(300, seed=3)
    assert np.array_equal(a.images, b.images) and a.rows == b.rows
    votes = np.array([[r[i] == "scratch" for i in phone_data.INSPECTORS] for r in a.rows])
    disagreement = (votes.min(axis=1) != votes.max(axis=1)).mean()
    assert 0.03 < disagreement < 0.4
    factory_b = np.array([r["factory"] == "B" for r in a.rows])
    brightness = np.array([r["brightness"] for r in a.rows])
    assert brightness[factory_b].mean() < brightness[~factory_b].mean()


def test_quickstart_runs_the_story_and_registers_a_champion(cli, store: Store, tmp_path: Path):
    out = cli.ok(
        "quickstart", "--images", "200", "--requests", "0", "--data-dir", tmp_path / "data"
    ).stdout
    assert "phone-inspector@1 (alias champion)" in out
    assert "Try next" in out
    assert "potential improvement = gap to HLP" in out  # the prioritization table
    assert "Krippendorff α" in out and "scratch_contrast=0.12" in out  # the inspectors' agreement
    assert "agree least on scratch_contrast=0.12" in out

    from inprod.analysis import analyze_errors, load_predictions

    assert [m.name for m in projects.get("phone-inspection", store=store).metrics] == [
        "accuracy",
        "latency_p99_ms",
        "qps",
    ]
    champion = models.get("phone-inspector@champion", store=store)
    run = get_run(champion.run_id, store=store)
    assert run.status == "finished"
    assert {"factory=A", "factory=B"} <= set(run.slice_metrics)
    logged = load_predictions(run.id, store=store)  # error analysis can be run again later
    table = analyze_errors(logged, baseline_col="inspector-1", tags=["dark", "blurry"]).table
    assert {r.tag for r in table} == {"dark", "blurry"} and len(logged) == 50
    assert [d["ref"] for d in run.datasets] == ["phone-images@1"]
    dataset = datasets.get("phone-images@1", store=store)
    assert dataset.kind == "images" and dataset.row_count == 200

    tree = lineage("phone-inspector@champion", store=store).to_dict()
    assert "phone-images@1" in json.dumps(tree)

    predictor = models.load("phone-inspector@champion", store=store)
    images = datasets.load_images("phone-images@1", store=store)
    batch = predictor.predict(phone_data.features(images[:8]))
    assert len(batch.outputs) == 8 and batch.confidence is not None


def test_the_story_measures_the_inspectors_agreement_per_slice(store: Store, tmp_path: Path):
    """Faint scratches split the inspectors (κ near chance); elsewhere they mostly agree."""
    result = run_story(tmp_path / "data", n_images=400, store=store)
    report = result.agreement
    assert report.dataset == result.dataset_ref and report.labelers == list(phone_data.INSPECTORS)
    slices = {s.name: s for s in report.slices}
    assert list(slices) == ["factory=B", "blurry", "brightness<0.22", "scratch_contrast=0.12"]
    assert report.overall.examples == 400 and report.overall.labels == 1200
    assert report.overall.alpha > 0.6
    assert slices["scratch_contrast=0.12"].alpha < 0.25 < report.overall.alpha - 0.35
    faint = slices["scratch_contrast=0.12"].labelers
    assert faint["inspector-3"] < faint["inspector-1"]  # the lenient one misses faint scratches


def test_running_quickstart_twice_reuses_the_data_and_keeps_the_better_champion(
    cli, store: Store, tmp_path: Path
) -> None:
    for _ in range(2):
        cli.ok("quickstart", "--images", "150", "--requests", "0", "--data-dir", tmp_path / "data")
    assert [v.version for v in datasets.list_versions("phone-images", store=store)] == [1]
    v1, v2 = (models.get(f"phone-inspector@{v}", store=store) for v in (1, 2))
    champion = models.get("phone-inspector@champion", store=store)
    # same data and seed: the same accuracy, so the new version takes over (as good or better)
    assert v2.metrics["accuracy"] >= v1.metrics["accuracy"]
    assert champion.version == 2


def test_a_worse_model_does_not_take_the_champion_alias(cli, store: Store, tmp_path: Path) -> None:
    cli.ok("quickstart", "--images", "150", "--requests", "0", "--data-dir", tmp_path / "data")
    better = models.get("phone-inspector@champion", store=store)
    # pretend the champion was better than anything the next run can reach
    models.register(
        "phone-inspector",
        flavor="python",
        callable_ref="numpy:zeros_like",
        signature=better.signature,
        metrics={"accuracy": 1.0},
        alias="champion",
        store=store,
    )
    out = cli.ok(
        "quickstart", "--images", "150", "--requests", "0", "--data-dir", tmp_path / "data"
    ).stdout
    assert "champion kept" in out
    assert models.get("phone-inspector@champion", store=store).version == 2


def test_an_unwritable_data_dir_is_a_clean_error(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cli.fails("quickstart", "--images", "100", "--data-dir", blocker / "sub", match="--data-dir")


def test_quickstart_serves_the_champion_and_logs_every_request(cli, store: Store, tmp_path):
    from inprod import predictions
    from inprod.store.tables import Feedback

    out = cli.ok(
        "quickstart", "--images", "150", "--requests", "40", "--no-rollout", "--no-drift",
        "--data-dir", tmp_path / "data",
    ).stdout  # fmt: skip
    assert "40 requests" in out and "0 errors" in out
    assert "40 predictions logged" in out
    assert predictions.count("phone-inspector", store=store) == 40
    with store.session(write=False) as s:
        assert s.query(Feedback).count() == 8  # every 5th request gets the inspectors' label


def test_quickstart_rollout_part_reviews_ramps_a_canary_and_rolls_back(cli, store: Store, tmp_path):
    from inprod import deploy, review
    from inprod.store.tables import Annotation

    out = cli.ok(
        "quickstart", "--images", "300", "--requests", "20", "--no-drift",
        "--data-dir", tmp_path / "data",
    ).stdout  # fmt: skip
    assert "degree of automation: shadow" in out and "partial at confidence" in out
    events = deploy.history("phone-inspector", store=store)
    actions = [(e.actor, e.action, e.to_state) for e in events]
    modes = [e.details["to"]["automation"] for e in events if e.action == "automation"]
    assert modes == ["shadow", "partial"]
    assert any(a[1] == "canary" for a in actions)
    if any(a[1:] == ("advance", "promoted") for a in actions):  # the challenger passed its gates
        assert actions[-1][1:] == ("rollback", "rolled_back") and actions[-1][0] != "controller"
        assert "then rolled back" in out
    else:  # a gate stopped it: the controller rolled it back and said which
        assert actions[-1][:3] == ("controller", "rollback", "rolled_back")
        assert "failed" in events[-1].reason
    assert deploy.get_plan("phone-inspector", store=store).automation.mode == "partial"
    stats = review.stats(endpoint="phone-inspector", store=store)
    assert stats.decided >= 60 and stats.open == 0
    with store.session(write=False) as s:
        assert s.query(Annotation).filter(Annotation.source == "review").count() == stats.decided


def test_quickstart_drift_part_fires_the_lighting_monitors(cli, store: Store, tmp_path):
    from sqlalchemy import select

    from inprod.monitoring import alerts, monitors
    from inprod.store.tables import RetrainingRequest, ReviewTask

    report = tmp_path / "report.html"
    out = cli.ok(
        "quickstart", "--images", "150", "--requests", "20", "--no-rollout", "--no-retrain",
        "--report", report, "--data-dir", tmp_path / "data",
    ).stdout  # fmt: skip
    assert "the lamps fade" in out and "2 alert(s)" in out
    fired = {a.monitor: a for a in alerts.list_alerts(endpoint="phone-inspector", store=store)}
    assert set(fired) == {"lighting: brightness 15% below normal", "lighting: brightness drift"}
    drift = next(m for m in monitors.list_monitors(store=store) if m.metric.startswith("drift."))
    assert drift.state == "firing"
    page = report.read_text()
    assert "input.brightness.mean" in page and "<svg" in page
    with store.session(write=False) as s:  # the drift alert's actions ran
        assert s.scalars(select(RetrainingRequest.trigger)).all() == [
            f"alert:{fired['lighting: brightness drift'].id}"
        ]
        reasons = s.scalars(select(ReviewTask.reason)).all()
    assert 0 < reasons.count("monitor") <= 20
