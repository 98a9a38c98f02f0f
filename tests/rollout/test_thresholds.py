"""Suggesting a partial-automation threshold on hand-built labelled predictions."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from inprod import deploy, endpoints, models
from inprod.errors import InvalidInput, NotFound
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction

EP = "phone-inspector"
# confidence, and whether the answer matches its label
CONFIDENCES = [0.55, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.95, 0.97, 0.99]
RIGHT = [False, True, False, True, True, True, False, True, True, True]


@pytest.fixture
def served(store: Store) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    for c in (1.0, 0.1):
        models.register("tiny", LogisticRegression(C=c).fit(X, y), sample=X[:3], store=store)
    endpoints.create(EP, "tiny@1", store=store)


def _answer(
    store: Store,
    confidence: float | None,
    label: Any,
    *,
    right: bool = True,
    version: int = 1,
    role: str = "primary",
) -> str:
    """One logged answer "scratch"; labelled ``label`` (or the other class when not right)."""
    pid = uuid.uuid4().hex
    with store.session() as s:
        s.add(
            Prediction(
                id=pid, time=datetime.now(UTC), endpoint=EP, model_name="tiny",
                model_version=version, role=role, latency_ms=1.0, status="ok",
                outputs={"output": "scratch", "confidence": confidence}, confidence=confidence,
            )
        )  # fmt: skip
        if label is not None:
            s.add(Feedback(prediction_id=pid, label=label if right else "ok", source="test"))
    return pid


def _fill(store: Store) -> None:
    for c, r in zip(CONFIDENCES, RIGHT, strict=True):
        _answer(store, c, "scratch", right=r)
    # not counted: no label, no confidence, another version, a shadow's answer, an event only
    _answer(store, 0.99, None)
    _answer(store, None, "scratch", right=False)
    _answer(store, 0.99, "scratch", right=False, version=2)
    _answer(store, 0.99, "scratch", right=False, role="shadow")
    pid = _answer(store, 0.99, None)
    with store.session() as s:
        s.add(Feedback(prediction_id=pid, event="redo", source="test"))


def test_suggests_the_lowest_threshold_that_reaches_the_target(store: Store, served: None) -> None:
    _fill(store)
    result = deploy.suggest_threshold(EP, target_precision=0.85, store=store)
    # at 0.8: 7 of 10 labelled answers are covered and 6 of those 7 are right
    assert (result.model, result.labelled, result.threshold) == ("tiny@1", 10, 0.8)
    assert result.coverage == pytest.approx(0.7)
    assert result.precision == pytest.approx(6 / 7)
    assert result.command == "inprod automation set phone-inspector partial --threshold 0.8"
    assert "rough" in result.note  # 10 labels is few
    table = {row.threshold: row for row in result.table}
    expected = {  # threshold: (covered, precision)
        0.5: (10, 0.7), 0.55: (10, 0.7), 0.6: (9, 7 / 9), 0.7: (8, 0.75), 0.8: (7, 6 / 7),
        0.85: (6, 5 / 6), 0.9: (5, 0.8), 0.95: (3, 1.0), 0.97: (2, 1.0), 0.98: (1, 1.0),
        0.99: (1, 1.0),
    }  # fmt: skip
    assert sorted(table) == sorted(expected)
    for t, (covered, precision) in expected.items():
        assert table[t].covered == covered
        assert table[t].coverage == pytest.approx(covered / 10)
        assert table[t].precision == pytest.approx(precision)
    assert [row.threshold for row in result.table if row.suggested] == [0.8]
    assert result.to_dict()["table"][0]["threshold"] == 0.5

    strict = deploy.suggest_threshold(EP, target_precision=0.99, store=store)
    assert (strict.threshold, strict.coverage, strict.precision) == (0.95, 0.3, 1.0)


def test_a_suggestion_off_the_grid_is_added_to_the_table(store: Store, served: None) -> None:
    for c, r in [(0.42, False), (0.63, True), (0.77, True)]:
        _answer(store, c, "scratch", right=r)
    result = deploy.suggest_threshold(EP, target_precision=1.0, store=store)
    assert result.threshold == 0.63
    rows = [(r.threshold, r.covered, r.suggested) for r in result.table]
    assert rows[:4] == [(0.42, 3, False), (0.5, 2, False), (0.6, 2, False), (0.63, 2, True)]
    assert len(result.table) <= 15
    assert result.table[-1].precision is None  # nothing is as confident as 0.99


def test_no_threshold_reaching_the_target_is_said_plainly(store: Store, served: None) -> None:
    _answer(store, 0.6, "scratch", right=False)
    _answer(store, 0.9, "scratch", right=True)
    _answer(store, 0.95, "scratch", right=False)
    result = deploy.suggest_threshold(EP, target_precision=0.9, store=store)
    assert (result.threshold, result.coverage, result.command) == (None, None, None)
    assert "no threshold reaches a precision of 0.9: the best is 0.5" in result.note
    assert not any(row.suggested for row in result.table)


@pytest.mark.parametrize("target", [0, -0.1, 1.01, 2, math.nan, True, "0.9"])
def test_a_target_outside_zero_to_one_is_refused(store: Store, served: None, target: Any) -> None:
    with pytest.raises(InvalidInput, match=r"must be a number in \(0, 1\]") as info:
        deploy.suggest_threshold(EP, target_precision=target, store=store)
    assert info.value.field == "target_precision"


def test_without_labels_it_says_to_send_feedback(store: Store, served: None) -> None:
    _answer(store, 0.9, None)
    with pytest.raises(InvalidInput, match="have a feedback label yet; send labels"):
        deploy.suggest_threshold(EP, target_precision=0.9, store=store)
    with pytest.raises(NotFound, match="no endpoint 'nope'"):
        deploy.suggest_threshold("nope", target_precision=0.9, store=store)


def test_another_version_can_be_asked_for(store: Store, served: None) -> None:
    _answer(store, 0.7, "scratch", version=2)
    assert (
        deploy.suggest_threshold(EP, target_precision=0.5, model="tiny@2", store=store).threshold
        == 0.7
    )
