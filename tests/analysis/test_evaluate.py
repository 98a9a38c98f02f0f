"""The evaluation gate: requirements overall and per slice, against the champion, on table and
image datasets, recorded on the candidate version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import (
    add_bolts,
    add_phone_images,
    bolt_frame,
    register_rule,
    slack_on_b,
    threshold_rule,
)
from sklearn.linear_model import LogisticRegression

from inprod.analysis import evaluate, evaluations
from inprod.analysis.evaluate import parse_requirement
from inprod.data import datasets
from inprod.errors import InvalidInput, NotFound
from inprod.quickstart import phone_data
from inprod.registry import models
from inprod.store import Store


@pytest.fixture
def bolts(store: Store, tmp_path: Path) -> str:
    """bolts@1, with bolt@1 (the right rule) as champion and bolt@2 (slack at factory B)."""
    ref = add_bolts(store, tmp_path)
    register_rule(store, "bolt", threshold_rule, alias="champion")
    register_rule(store, "bolt", slack_on_b)
    return ref


def accuracy(answers: np.ndarray, labels: np.ndarray) -> float:
    return float((answers == labels).mean())


def test_a_candidate_worse_on_one_slice_fails_there_only(store: Store, bolts: str) -> None:
    result = evaluate(
        "bolt@2",
        dataset=bolts,
        require=["accuracy>=champion-0.05"],
        require_slices=["accuracy>=champion-0.01"],
        tags=["factory=A", "factory=B"],
        store=store,
    )
    frame = bolt_frame()
    b = frame["factory"] == "B"
    labels = frame["label"].to_numpy()
    assert not result.passed
    assert [(c.scope, c.status) for c in result.checks] == [
        ("all", "pass"),
        ("factory=A", "pass"),
        ("factory=B", "fail"),
    ]
    failed = result.failures[0]
    assert failed.value == pytest.approx(accuracy(slack_on_b(frame)[b], labels[b]))
    assert failed.champion == pytest.approx(accuracy(threshold_rule(frame)[b], labels[b]))
    assert failed.limit == pytest.approx(failed.champion - 0.01)
    assert result.overall.candidate["accuracy"] == pytest.approx(
        accuracy(slack_on_b(frame), labels)
    )
    assert result.against == "bolt@1" and result.dataset == "bolts@1"


def test_the_result_is_recorded_on_the_candidate_version(store: Store, bolts: str) -> None:
    passed = evaluate("bolt@1", dataset=bolts, against="bolt@1", store=store)
    assert passed.passed
    assert [c.requirement for c in passed.checks] == ["accuracy>=champion"]  # the default
    failed = evaluate("bolt@2", dataset=bolts, store=store)
    assert not failed.passed

    tags = models.get("bolt@2", store=store).tags
    assert tags["evaluation"] == "failed"
    assert tags["evaluation.dataset"] == "bolts@1"
    assert tags["evaluation.against"] == "bolt@1"
    assert models.get("bolt@1", store=store).tags["evaluation"] == "passed"
    history = evaluations("bolt@2", store=store)
    assert len(history) == 1 and history[0]["passed"] is False
    assert history[0]["checks"][0]["requirement"] == "accuracy>=champion"

    evaluate("bolt@2", dataset=bolts, require_slices=["accuracy>=0.5"], store=store, record=False)
    assert len(evaluations("bolt@2", store=store)) == 1


def test_default_slices_are_the_metadata_values_and_small_ones_are_not_judged(
    store: Store, bolts: str
) -> None:
    result = evaluate(
        "bolt@2",
        dataset=bolts,
        against=None,
        require_slices=["accuracy>=0.9"],
        min_slice=400,
        store=store,
    )
    assert [s.tag for s in result.slices] == ["factory=A", "factory=B", "shift=day", "shift=night"]
    statuses = {c.scope: c.status for c in result.checks}
    assert statuses["factory=B"] == "skip"  # ~300 rows, fewer than 400
    assert statuses["factory=A"] == "pass"
    assert result.passed


def test_class_metrics_can_be_required(store: Store, bolts: str) -> None:
    result = evaluate(
        "bolt@2", dataset=bolts, require=["recall.bad>=champion", "precision.bad>=0.9"],
        store=store,
    )  # fmt: skip
    checks = {c.requirement: c for c in result.checks}
    assert checks["recall.bad>=champion"].status == "fail"  # slack means missed bad parts
    assert checks["precision.bad>=0.9"].status == "pass"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"against": None}, InvalidInput, "nothing to compare with"),
        ({"against": "gold"}, NotFound, "has no alias 'gold'"),
        ({"require": ["auc>=0.5"]}, InvalidInput, "unknown metric 'auc'"),
        ({"require": ["recall.scratch>=0.5"]}, InvalidInput, "no class 'scratch'"),
        ({"require": ["accuracy=>0.5"]}, InvalidInput, "is not METRIC OP LIMIT"),
        ({"label_col": "x2"}, NotFound, "has no column 'x2'"),
        ({"min_slice": 0}, InvalidInput, "min_slice"),
        ({"tags": ["factory=C", "colour=red"]}, InvalidInput, "no column 'colour'"),
    ],
)
def test_bad_input_is_refused_before_anything_is_recorded(
    store: Store, bolts: str, kwargs: dict, error: type, match: str
) -> None:
    kwargs.setdefault("require", ["accuracy>=champion"])
    with pytest.raises(error, match=match):
        evaluate("bolt@2", dataset=bolts, store=store, **kwargs)
    assert "evaluation" not in models.get("bolt@2", store=store).tags


def test_requirements_parse_like_deployment_gates() -> None:
    gate = parse_requirement("accuracy >= champion - 0.01")
    assert (gate.metric, gate.op, gate.relative, gate.value) == ("accuracy", ">=", "-", 0.01)
    assert gate.limit(0.9) == pytest.approx(0.89)
    assert parse_requirement("macro_f1>=champion*0.98").limit(0.5) == pytest.approx(0.49)
    assert parse_requirement("f1.scratch>0.7").limit(None) == 0.7


@pytest.fixture
def phones(store: Store, tmp_path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    ref = add_phone_images(store, tmp_path / "phones", n=120)
    X = phone_data.features(datasets.load_images(ref, store=store))
    labels = datasets.load(ref, store=store)["label"].to_numpy()
    return ref, X, labels


def test_images_are_scaled_and_shaped_to_the_signature(
    store: Store, phones: tuple[str, np.ndarray, np.ndarray]
) -> None:
    ref, X, labels = phones
    model = LogisticRegression(max_iter=300).fit(X[:60], labels[:60])
    models.register("phone", model, sample=X[:2], store=store)  # tensor float32 [-1, 1024]
    result = evaluate("phone@1", dataset=ref, against=None, require=["accuracy>=0.5"], store=store)
    assert result.overall.candidate["accuracy"] == pytest.approx(accuracy(model.predict(X), labels))
    custom = evaluate(
        "phone@1", dataset=ref, against=None, require=["accuracy>=0.5"],
        features="analysis_helpers:pixels", store=store, record=False,
    )  # fmt: skip
    assert custom.overall == result.overall


def test_a_model_answering_0_1_needs_a_label_map(
    store: Store, phones: tuple[str, np.ndarray, np.ndarray]
) -> None:
    ref, X, labels = phones
    y = (labels == "scratch").astype(int)
    models.register("phone", LogisticRegression(max_iter=300).fit(X, y), sample=X[:2], store=store)
    with pytest.raises(InvalidInput, match="--label-map 0=ok,1=scratch"):
        evaluate("phone@1", dataset=ref, against=None, require=["accuracy>=0.5"], store=store)
    result = evaluate(
        "phone@1", dataset=ref, against=None, require=["recall.scratch>=0.5"],
        label_map={0: "ok", 1: "scratch"}, store=store,
    )  # fmt: skip
    assert result.checks[0].metric == "recall.scratch"


def test_images_that_do_not_fit_the_model_ask_for_a_features_function(
    store: Store, phones: tuple[str, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    ref, X, labels = phones
    small = LogisticRegression(max_iter=300).fit(X[:, :100], labels)
    models.register("phone", small, sample=X[:2, :100], store=store)
    with pytest.raises(InvalidInput, match=r"are 32x32 \(1024 values each\).*--features"):
        evaluate("phone@1", dataset=ref, against=None, require=["accuracy>=0.5"], store=store)
    register_rule(store, "bolt", threshold_rule)
    with pytest.raises(InvalidInput, match="takes named columns"):
        evaluate("bolt@1", dataset=ref, against=None, require=["accuracy>=0.5"], store=store)
