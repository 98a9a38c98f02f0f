"""Likely label errors: seeded flipped labels are found (cleanlab on out-of-fold probabilities),
with a baseline estimator, a registered model refit, or given probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inprod.data import datasets
from inprod.data.label_issues import find_label_issues, send_to_review
from inprod.errors import InvalidInput
from inprod.registry import models
from inprod.review import queue
from inprod.store import Store

CLASSES = np.array(["ok", "scratch", "dent"])
FLIPPED_SHARE = 0.05


def flipped_table(n: int = 600, *, seed: int = 21) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Three well separated classes in four features; 5% of the labels flipped to another class.
    Returns (table, true labels, the flipped rows)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    centers = np.array([[0, 0, 0, 0], [3, 3, 0, 0], [0, 3, 3, 3]], dtype=float)
    X = centers[truth] + rng.normal(0.0, 0.9, (n, 4))
    flipped = rng.choice(n, int(n * FLIPPED_SHARE), replace=False)
    given = truth.copy()
    given[flipped] = (truth[flipped] + rng.integers(1, 3, len(flipped))) % 3
    frame = pd.DataFrame(X, columns=["f1", "f2", "f3", "f4"])
    frame.insert(0, "id", [f"part-{i:04d}" for i in range(n)])
    frame["factory"] = rng.choice(["A", "B"], n)
    frame["label"] = CLASSES[given]
    return frame, CLASSES[truth], np.sort(flipped)


def add_table(store: Store, tmp_path: Path, frame: pd.DataFrame, name: str = "parts") -> str:
    file = tmp_path / f"{name}.parquet"
    frame.to_parquet(file, index=False)
    return datasets.add(name, file, label_columns=["label"], metadata_columns=["factory"],
                        store=store).ref  # fmt: skip


def precision_at_k(found_rows: list[int], flipped: np.ndarray) -> float:
    top = found_rows[: len(flipped)]
    return len(set(top) & set(flipped.tolist())) / len(flipped)


def test_seeded_label_noise_is_found_with_a_baseline_estimator(store: Store, tmp_path) -> None:
    frame, _, flipped = flipped_table()
    ref = add_table(store, tmp_path, frame)
    progress: list[tuple[str, int, int]] = []
    result = find_label_issues(ref, estimator="logistic-regression", store=store,
                               progress=lambda *a: progress.append(a))  # fmt: skip
    rows = [issue.row for issue in result.issues]
    assert precision_at_k(rows, flipped) >= 0.7
    assert (result.examples, result.label_column) == (600, "label")
    assert result.classes == ["dent", "ok", "scratch"]
    assert "logistic-regression, 5-fold" in result.model
    qualities = [i.quality for i in result.issues]
    assert qualities == sorted(qualities)  # worst first
    first = result.issues[0]
    assert first.example_id == frame["id"][first.row] and first.given == frame["label"][first.row]
    assert first.suggested != first.given
    assert progress[-1] == ("cross-validating", 5, 5)


def test_a_registered_model_is_refit_per_fold_and_left_untouched(store: Store, tmp_path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, truth, flipped = flipped_table(seed=5)
    ref = add_table(store, tmp_path, frame)
    features = frame[["f1", "f2", "f3", "f4"]]
    fitted = LogisticRegression(max_iter=500).fit(features, truth)
    before = models.register("parts-model", fitted, sample=features.head(3), store=store)
    result = find_label_issues(ref, model="parts-model@1", store=store)
    assert precision_at_k([i.row for i in result.issues], flipped) >= 0.7
    assert result.model.startswith("parts-model@1 refit")
    after = models.get("parts-model", store=store)
    assert (after.version, after.artifact_sha) == (1, before.artifact_sha)


def test_a_model_that_cannot_be_refit_is_refused_with_the_alternative(
    store: Store, tmp_path
) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, truth, _ = flipped_table(n=60)
    ref = add_table(store, tmp_path, frame)
    features = frame[["f1", "f2", "f3", "f4"]].to_numpy()
    models.register("parts-model", LogisticRegression().fit(features, truth),
                    sample=features[:3], store=store)  # fmt: skip
    onnx = models.convert_to_onnx("parts-model@1", store=store)
    with pytest.raises(InvalidInput, match=r"flavor onnx.*cannot be refit.*--estimator"):
        find_label_issues(ref, model=onnx.ref, store=store)


def test_given_probabilities_are_used_as_they_are(store: Store, tmp_path) -> None:
    frame, truth, flipped = flipped_table(n=300)
    ref = add_table(store, tmp_path, frame)
    order = ["scratch", "ok", "dent"]  # any column order, named by classes
    probs = np.where(truth[:, None] == np.array(order)[None, :], 0.9, 0.05)
    result = find_label_issues(ref, pred_probs=probs, classes=order, store=store)
    assert sorted(i.row for i in result.issues) == flipped.tolist()
    assert all(i.suggested == truth[i.row] for i in result.issues)
    with pytest.raises(InvalidInput, match=r"\(300, 3\)"):
        find_label_issues(ref, pred_probs=probs[:, :2], classes=order, store=store)
    with pytest.raises(InvalidInput, match="'dent' are not among the classes"):
        find_label_issues(ref, pred_probs=probs[:, :2], classes=order[:2], store=store)


def test_export_writes_every_issue_as_csv_or_parquet(store: Store, tmp_path) -> None:
    frame, truth, _ = flipped_table(n=300)
    ref = add_table(store, tmp_path, frame)
    probs = np.where(truth[:, None] == np.array(sorted(CLASSES))[None, :], 0.9, 0.05)
    result = find_label_issues(ref, pred_probs=probs, store=store)
    for name in ("issues.csv", "issues.parquet"):
        path = result.export(tmp_path / name)
        back = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
        assert back["example_id"].tolist() == [i.example_id for i in result.issues]
        assert list(back.columns) == ["example_id", "row", "given", "suggested", "quality",
                                      "confidence"]  # fmt: skip
    with pytest.raises(InvalidInput, match=r"\.csv or \.parquet"):
        result.export(tmp_path / "issues.xlsx")


def test_issues_go_to_the_review_queue_once(store: Store, tmp_path) -> None:
    frame, truth, _ = flipped_table(n=300)
    ref = add_table(store, tmp_path, frame)
    probs = np.where(truth[:, None] == np.array(sorted(CLASSES))[None, :], 0.9, 0.05)
    result = find_label_issues(ref, pred_probs=probs, store=store)
    assert send_to_review(result, limit=5, store=store) == 5
    assert send_to_review(result, limit=5, store=store) == 0
    tasks = queue.list_tasks(endpoint="dataset:parts", store=store)
    assert len(tasks) == 5 and {t.reason for t in tasks} == {"label_issue"}
    first = next(t for t in tasks if t.inputs["example_id"] == result.issues[0].example_id)
    assert first.answer == result.issues[0].suggested
    assert first.outputs["given"] == result.issues[0].given
    assert first.inputs["f1"] == pytest.approx(frame["f1"][result.issues[0].row])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of model"),
        ({"estimator": "logistic-regression", "model": "x@1"}, "got model, estimator"),
        ({"estimator": "random-forrest"}, "did you mean 'random-forest'"),
        ({"estimator": "logistic-regression", "folds": 1}, "2 or more"),
        ({"estimator": "logistic-regression", "features": ["f9"]}, "did you mean"),
    ],
)
def test_bad_choices_say_what_to_fix(store: Store, tmp_path, kwargs: dict, match: str) -> None:
    frame, _, _ = flipped_table(n=60)
    ref = add_table(store, tmp_path, frame)
    with pytest.raises(InvalidInput, match=match):
        find_label_issues(ref, store=store, **kwargs)


def test_a_class_too_rare_for_the_folds_is_named(store: Store, tmp_path) -> None:
    frame, _, _ = flipped_table(n=60)
    frame.loc[:2, "label"] = "crack"
    ref = add_table(store, tmp_path, frame)
    with pytest.raises(InvalidInput, match=r"'crack' \(3\).*lower --folds"):
        find_label_issues(ref, estimator="random-forest", store=store)
