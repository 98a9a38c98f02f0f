"""Part 1 of the phone-inspection story: scope, data, a tracked run, a registered champion.

Later parts (serving, shadow, canary, monitoring, retraining) extend this as they land.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Conflict, InvalidInput
from ..store import Store, get_store
from . import phone_data

log = logging.getLogger(__name__)

PROJECT = "phone-inspection"
DATASET = "phone-images"
MODEL = "phone-inspector"
METRICS = ("accuracy>=0.95", "latency_p99_ms<=300", "qps>=1000")
DARK_BRIGHTNESS = 0.22


@dataclass(frozen=True)
class QuickstartResult:
    promoted: bool
    dataset_ref: str
    run_id: str
    model_ref: str
    accuracy: float
    slice_accuracy: dict[str, float]
    priorities: list[Any] = field(default_factory=list)  # analysis.errors.TagRow, sorted
    agreement: Any = None  # the inspectors' label agreement (data.agreement)


def _slices(rows: list[dict]) -> dict[str, np.ndarray]:
    """The tags error analysis looks at: factory, dark images, blurry images, faint scratches."""
    factory = np.array([r["factory"] for r in rows])
    brightness = np.array([float(r["brightness"]) for r in rows])
    blurry = np.array([str(r["blurry"]).lower() == "true" for r in rows])
    faint = np.array([0 < float(r["scratch_contrast"]) < 0.2 for r in rows])
    return {
        "factory=A": factory == "A",
        "factory=B": factory == "B",
        "dark": brightness < DARK_BRIGHTNESS,
        "blurry": blurry,
        "faint-scratch": faint,
    }


def _champion_accuracy(models: Any, store: Store) -> float | None:
    """The current champion's test accuracy: a new model takes the alias only if it is as good."""
    from ..errors import NotFound

    try:
        return models.get(f"{MODEL}@champion", store=store).metrics.get("accuracy")
    except NotFound:
        return None


def training_data(
    dataset_ref: str, *, seed: int, store: Store
) -> tuple[np.ndarray, np.ndarray, list[dict], np.ndarray, np.ndarray]:
    """Features, labels, rows and the seeded, stratified train/test split of a dataset version."""
    from sklearn.model_selection import train_test_split

    from ..data import datasets

    table = datasets.load(dataset_ref, store=store)
    images = datasets.load_images(dataset_ref, store=store)
    X = phone_data.features(images)
    y = (table["label"] == "scratch").to_numpy().astype(int)
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=0.25, random_state=seed, stratify=y)
    return X, y, table.to_dict("records"), train_idx, test_idx


def run_story(
    folder: Path,
    *,
    n_images: int = 1200,
    seed: int = 7,
    store: Store | None = None,
    step: Callable[[str], None] = lambda msg: None,
) -> QuickstartResult:
    """Generate the data under ``folder`` and run part 1 of the story against ``store``."""
    from sklearn.linear_model import LogisticRegression

    from .. import projects
    from ..data import datasets, labels
    from ..registry import models
    from ..tracking.runs import start_run

    store = get_store(store)

    step("scoping the project")
    try:
        projects.create(
            PROJECT,
            metrics=list(METRICS),
            owners=["quality-team"],
            milestones=["POC: 2026-12-15", "shadow: 2027-01-15"],
            resources=["labelers=3", "factories=2"],
            description="Detect scratches on phones from the inspection camera.",
            store=store,
        )
    except Conflict:
        log.info("project %s exists; reusing it", PROJECT)

    step(f"generating {n_images} phone images from two factories, labelled by three inspectors")
    data = phone_data.generate(n_images, seed=seed)
    try:
        manifest = phone_data.write_image_folder(data, folder)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the generated images under {folder}: {exc.strerror}; "
            "give a writable folder with --data-dir"
        ) from None

    step("adding the images as a dataset with provenance")
    version = datasets.add(
        DATASET,
        manifest,
        image_column="image",
        label_columns=["label", *phone_data.INSPECTORS],
        metadata_columns=["factory", "line", "camera", "brightness", "blurry"],
        source=f"inprod quickstart generator (seed {seed})",
        transform="synthetic 32x32 phone images; label = majority of three inspectors",
        description="Phone images from factories A and B with inspector labels.",
        store=store,
    )

    step("measuring how well the three inspectors agree, overall and per slice")
    agreement = labels.agreement(  # the faint scratches (contrast 0.12) split them most
        version.ref,
        labeler_columns=list(phone_data.INSPECTORS),
        slices=["factory=B", "blurry", f"brightness<{DARK_BRIGHTNESS}", "scratch_contrast=0.12"],
        store=store,
    )

    step("training a scikit-learn model in a tracked run")
    X, y, rows, train_idx, test_idx = training_data(version.ref, seed=seed, store=store)
    params = {"model": "LogisticRegression", "C": 1.0, "max_iter": 1000, "test_size": 0.25}
    with start_run(project=PROJECT, name="baseline-logreg", store=store) as run:
        run.use_dataset(version, role="train")
        run.log_params(params)
        model = LogisticRegression(C=params["C"], max_iter=params["max_iter"])
        model.fit(X[train_idx], y[train_idx])
        pred = model.predict(X[test_idx])
        correct = pred == y[test_idx]
        accuracy = float(correct.mean())
        run.log_metrics(
            {"accuracy": accuracy, "train_accuracy": model.score(X[train_idx], y[train_idx])}
        )
        slices = _slices([rows[i] for i in test_idx])
        per_slice = {
            name: {"accuracy": float(correct[mask].mean()), "count": int(mask.sum())}
            for name, mask in slices.items()
            if mask.any()
        }
        run.log_slice_metrics(per_slice)
        priorities = _prioritize(run, [rows[i] for i in test_idx], pred, store)
        champion = _champion_accuracy(models, store)
        promote = champion is None or accuracy >= champion
        step(
            "registering the model"
            + (" as phone-inspector@champion" if promote else f" (champion stays: {champion:.3f})")
        )
        registered = models.register(
            MODEL,
            model,
            run=run,
            sample=X[test_idx[:5]],
            alias="champion" if promote else None,
            description="Logistic regression on raw pixels (baseline).",
            store=store,
        )
    return QuickstartResult(
        promoted=promote,
        dataset_ref=version.ref,
        run_id=run.id,
        model_ref=registered.ref,
        accuracy=accuracy,
        slice_accuracy={k: v["accuracy"] for k, v in per_slice.items()},
        priorities=priorities,
        agreement=agreement,
    )


def _prioritize(run: Any, rows: list[dict], predicted: np.ndarray, store: Store) -> list[Any]:
    """Error analysis on the test phones, the course's prioritization table: the quality team
    re-inspected them under a microscope (the generator's truth: a scratch of any contrast), so
    the model and a typical inspector (inspector-1, human-level performance) are judged alike.
    The predictions are logged on the run (``inprod analyze errors RUN`` shows them again)."""
    import pandas as pd

    from ..analysis import analyze_errors, log_predictions

    frame = pd.DataFrame(rows).rename(columns={"label": "majority"})
    frame["truth"] = np.where(frame["scratch_contrast"].astype(float) > 0, "scratch", "ok")
    frame["prediction"] = np.where(predicted == 1, "scratch", "ok")
    for name, mask in _slices(rows).items():
        if "=" not in name:
            frame[name] = mask
    frame = frame.rename(columns={"truth": "label"})
    log_predictions(run, frame)
    result = analyze_errors(
        frame,
        baseline_col="inspector-1",
        tags=["dark", "blurry", "faint-scratch", "factory=A", "factory=B"],
    )
    return result.table
