"""A tour of inprod's Python API: the phone-inspection story, end to end, in one script.

Run it with ``python examples/python_api_tour.py``. It works on a fresh store in a temporary
folder (deleted at the end) and passes ``store=store`` to every call, so it touches neither
``./.inprod`` nor any setting. docs/python-api.md quotes it; tests/test_examples.py runs it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import inprod
from inprod.flavors import PredictionBatch, Predictor
from inprod.quickstart import phone_data


def tour(tmp: Path) -> None:
    # -- store --
    store = inprod.Store(f"sqlite:///{tmp}/store.db", f"{tmp}/artifacts")

    # -- project --
    project = inprod.projects.create(
        "phone-inspection",
        metrics=["accuracy>=0.95", "latency_p99_ms<=300", "qps>=1000"],
        owners=["quality-team"],
        milestones=["POC: 2026-12-15"],
        resources=["labelers=3", "factories=2"],
        description="Detect scratches on phones from the inspection camera.",
        store=store,
    )
    accuracy_target = project.metrics[0]  # MetricTarget(name="accuracy", op=">=", target=0.95, ...)
    print(f"project {project.name}: {', '.join(str(m) for m in project.metrics)}")

    # -- add images --
    week_1 = phone_data.generate(200, seed=7)
    manifest = phone_data.write_image_folder(week_1, tmp / "week-1")  # PNGs + manifest.csv
    images = inprod.datasets.add(
        "phone-images",
        manifest,
        image_column="image",
        label_columns=["label"],
        metadata_columns=["factory", "brightness"],
        source="inspection cameras, factories A and B, week 1",
        store=store,
    )
    print(f"added {images.ref}: {images.row_count} rows, hash {images.content_hash[:12]}")
    again = inprod.datasets.add(
        "phone-images",
        manifest,
        image_column="image",
        label_columns=["label"],
        metadata_columns=["factory", "brightness"],
        store=store,
    )
    assert again.ref == images.ref and not again.created  # same content: no new version

    # -- add a derived table --
    rows = inprod.datasets.load(images.ref, store=store)  # the manifest rows, as a DataFrame
    votes = rows[list(phone_data.INSPECTORS)]
    labels_table = rows[["image", "factory", "label"]].assign(
        agreement=votes.eq(rows["label"], axis=0).mean(axis=1)
    )
    labels_table.to_csv(tmp / "phone-labels.csv", index=False)
    labels = inprod.datasets.add(
        "phone-labels",
        tmp / "phone-labels.csv",
        label_columns=["label"],
        metadata_columns=["factory"],
        parents=[images.ref],
        transform="majority label of three inspectors, and the share who agree with it",
        store=store,
    )
    print(f"added {labels.ref} from {', '.join(labels.parents)}: columns {labels.columns}")

    # -- diff versions --
    week_2 = phone_data.generate(200, seed=8, dark_shift=0.15)  # a week later: dimmer lamps
    images_2 = inprod.datasets.add(
        "phone-images",
        phone_data.write_image_folder(week_2, tmp / "week-2"),
        image_column="image",
        label_columns=["label"],
        metadata_columns=["factory", "brightness"],
        source="inspection cameras, factories A and B, week 2",
        store=store,
    )
    change = inprod.datasets.diff(images.ref, images_2.ref, store=store)
    for stat in change.stat_changes:
        if stat.column == "brightness" and stat.stat == "mean":
            print(f"{change.a} -> {change.b}: mean brightness {stat.a:.3f} -> {stat.b:.3f}")

    # -- read datasets back --
    versions = inprod.datasets.list_versions("phone-images", store=store)  # oldest first
    names = [d.name for d in inprod.datasets.list_datasets(store=store)]
    csv_file = inprod.datasets.path(labels.ref, store=store)  # verified, read-only local copy
    pixels = inprod.datasets.load_images(images.ref, store=store)  # uint8 (N, 32, 32)
    print(f"datasets {names}; phone-images has {len(versions)} versions; pixels {pixels.shape}")
    print(f"{labels.ref} is {csv_file.stat().st_size} bytes of {labels.format}")

    # -- train in a tracked run --
    X = phone_data.features(pixels)  # (N, 1024) floats in [0, 1]
    y = inprod.datasets.load(labels.ref, store=store)["label"].to_numpy()  # "ok" / "scratch"
    factory = rows["factory"].to_numpy()
    train, test = train_test_split(np.arange(len(y)), test_size=0.25, random_state=7, stratify=y)
    candidates = []
    for C in (1.0, 0.05):
        with inprod.start_run(
            project="phone-inspection", name=f"logreg-C{C}", params={"C": C}, store=store
        ) as run:
            run.use_dataset(images, role="train")
            run.use_dataset(labels.ref, role="labels")  # a version object or "name@N"
            run.log_params({"model": "LogisticRegression", "max_iter": 1000, "test_size": 0.25})
            run.set_tags({"owner": "ana"})
            for n in (50, 100, len(train)):  # a learning curve: step = training rows
                model = LogisticRegression(C=C, max_iter=1000).fit(X[train[:n]], y[train[:n]])
                run.log_metric("accuracy", model.score(X[test], y[test]), step=n)
            correct = model.predict(X[test]) == y[test]
            run.log_slice_metrics(
                {
                    f"factory={f}": {"accuracy": correct[factory[test] == f].mean(), "count": n_f}
                    for f, n_f in zip(*np.unique(factory[test], return_counts=True), strict=True)
                }
            )
            (tmp / "errors.csv").write_text("row\n" + "\n".join(map(str, np.flatnonzero(~correct))))
            run.log_artifact(tmp / "errors.csv")
            version = inprod.models.register(
                "phone-inspector",
                model,
                run=run,  # links the version to the run and copies its latest metrics
                sample=X[test[:5]],  # gives the signature: 1024 float32 inputs, classes
                description=f"Logistic regression on raw pixels, C={C}.",
                store=store,
            )
        candidates.append((run.id, version))
        print(f"run {run.id[:8]} {run.status}: accuracy {version.metrics['accuracy']:.3f}")

    # -- read runs back --
    (run_a, _), (run_b, _) = candidates
    info = inprod.runs.get_run(run_a[:8], store=store)  # full id or a unique prefix
    curve = inprod.runs.metric_history(run_a, "accuracy", store=store)
    recent = inprod.runs.list_runs("phone-inspection", status="finished", store=store)
    cmp = inprod.runs.compare_runs(run_a, run_b, store=store)  # delta = b - a
    print(
        f"{info.name}: datasets {[d['ref'] for d in info.datasets]}, artifacts "
        f"{[a['path'] for a in info.artifacts]}"
    )
    print(f"learning curve {[(p.step, round(p.value, 3)) for p in curve]}; {len(recent)} runs")
    print(
        f"compare: params that differ {list(cmp.params)}, "
        f"accuracy delta {cmp.metrics['accuracy']['delta']:+.3f}"
    )

    # -- promote the champion --
    best = max((v for _, v in candidates), key=lambda v: v.metrics["accuracy"])
    champion = inprod.models.set_alias(best.ref, "champion", store=store)
    print(f"champion: {champion.name}@champion -> version {champion.version}")
    print(f"target {accuracy_target} met: {accuracy_target.holds(champion.metrics['accuracy'])}")
    inprod.models.set_alias("phone-inspector@latest", "challenger", store=store)
    inprod.models.delete_alias("phone-inspector", "challenger", store=store)
    for v in inprod.models.list_versions("phone-inspector", store=store):
        print(f"  {v.ref} {v.flavor} aliases={v.aliases} run={v.run_id[:8]}")

    # -- load and predict --
    predictor = inprod.models.load("phone-inspector@champion", store=store)
    assert isinstance(predictor, Predictor)
    batch: PredictionBatch = predictor.predict(X[test[:4]])
    confidence = [round(float(c), 2) for c in batch.confidence]  # the largest probability
    print(f"prediction: {list(batch.outputs)} confidence {confidence}")
    print(f"classes {batch.classes}; signature inputs {predictor.signature.inputs.describe()}")

    # -- convert to ONNX --
    onnx_version = inprod.models.convert_to_onnx("phone-inspector@champion", store=store)
    fast = inprod.models.load(onnx_version.ref, store=store)
    same = list(fast.predict(X[test[:4]]).outputs) == list(batch.outputs)
    print(
        f"{onnx_version.ref} ({fast.flavor}) from {onnx_version.tags['converted_from']}: "
        f"same predictions {same}"
    )

    # -- lineage --
    tree = inprod.lineage("phone-inspector@champion", store=store)
    as_json = tree.to_dict()  # what `inprod lineage phone-inspector@champion --json` prints
    print(f"lineage of {as_json['label']}:")
    for node in tree.walk():  # depth first: model, run, datasets, their parents, sources
        print(f"  {node.kind:<15} {node.label}")

    # -- deploy: an endpoint, a canary on gates, its judgement and history --
    inprod.endpoints.create("phone-inspector", "phone-inspector@champion", store=store)
    challenger = next(v for _, v in candidates if v.version != champion.version)
    plan = inprod.deploy.canary(
        "phone-inspector",
        challenger.ref,
        steps="10,50,100",
        interval="5m",
        gates=["error_rate<=0.01", "accuracy>=champion-0.02"],
        min_requests=200,
        reason="the challenger earns its traffic",
        store=store,
    )
    print(f"plan {plan.state}: {plan.candidate.ref} takes {plan.candidate.weight:.0%}")
    judgement = inprod.deploy.status("phone-inspector", store=store)["judgement"]
    print(f"controller: {judgement['action']} ({judgement['reason']})")
    inprod.deploy.rollback("phone-inspector", reason="not today", store=store)
    inprod.deploy.set_automation("phone-inspector", "partial", threshold=0.9, store=store)
    for event in inprod.deploy.history("phone-inspector", store=store):
        print(f"  {event.action}: {event.from_state} -> {event.to_state} ({event.reason})")

    # -- monitoring --
    from inprod.monitoring import alerts, monitors
    from inprod.monitoring.evaluator import evaluate

    monitors.add("phone-inspector", "input.x0.mean", below=-1.0, for_="10m", store=store)
    monitors.scoping_defaults("phone-inspector", "phone-inspection", store=store)
    for result in evaluate(store=store):  # what the server's leader does every 15 s
        print(f"  monitor {result.name}: {result.state} (value {result.value})")
    print(f"open alerts: {alerts.list_alerts(state='open', store=store)}")

    # -- errors --
    try:
        inprod.models.get("phone-inspector@7", store=store)
    except inprod.errors.NotFound as exc:  # also a LookupError
        print(f"error ({type(exc).__name__}, HTTP {exc.status}): {exc.message}")
    try:
        inprod.projects.create("phone-inspection", store=store)
    except inprod.InprodError as exc:
        print(f"error ({type(exc).__name__}): {exc.message}")

    store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="inprod-tour-") as folder:
        tour(Path(folder))
