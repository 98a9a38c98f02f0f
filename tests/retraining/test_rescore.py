"""The rescore step: the candidate re-scores the endpoint's logged window through the batch
engine; the share of changed answers and both models' accuracy on the window's labels are
recorded, and ``max_changed`` turns too many changes into a rejected request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from retrain_functions import (
    ENDPOINT,
    add_policy,
    approved_request,
    log_labelled,
    serve_champion,
)
from sqlalchemy import select

from inprod import deploy, models
from inprod.batch.jobs import get_job
from inprod.quickstart import phone_data
from inprod.retraining.data import held_out
from inprod.retraining.runner import run_request
from inprod.store import Store
from inprod.store.tables import Prediction

LOOSE = {"require": ["accuracy>=0"], "require_slices": ["accuracy>=0"]}
N = 40


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Store:
    serve_champion(store, tmp_path / "phones", n=80)
    log_labelled(store, N)  # logged answers all say 0 (ok); about a third are scratches
    return store


def _logged_ids(store: Store) -> list[str]:
    """log_labelled's prediction ids, in the order it logged them."""
    with store.session(write=False) as s:
        return list(s.scalars(select(Prediction.id).order_by(Prediction.time)))


def _rescore_step(request) -> dict:
    return next(st for st in request.steps if st["name"] == "rescore")


def test_the_candidate_re_scores_the_logged_window_and_the_changes_are_recorded(
    world: Store,
) -> None:
    add_policy(world, rescore="1h", **LOOSE)
    done = run_request(approved_request(world).id, store=world)

    assert done.status == "deployed", done.details.get("message")
    assert [st["name"] for st in done.steps] == [
        "dataset", "train", "check", "evaluate", "rescore", "deploy",
    ]  # fmt: skip
    step = _rescore_step(done)
    found = step["outputs"]
    dark = phone_data.generate(N, seed=11, dark_shift=0.35)  # what log_labelled logged
    X = np.round(phone_data.features(dark.images), 6)
    answers = np.asarray(models.load(done.details["candidate"], store=world).predict(X).outputs)
    assert found["rows"] == N
    assert found["changed"] == pytest.approx(float(np.mean(answers != 0)))
    assert found["before"] == {"0": 1.0}
    # accuracy only on the held-out labelled answers: the candidate trained on the others
    kept = np.array([held_out(pid) for pid in _logged_ids(world)])
    assert found["labelled"] == kept.sum() > 0
    assert found["accuracy_before"] == pytest.approx(float(np.mean(dark.truth[kept] == 0)))
    assert found["accuracy_after"] == pytest.approx(
        float(np.mean(answers[kept] == dark.truth[kept]))
    )
    assert get_job(found["job_id"], store=world).rows == N  # a batch job like 'inprod batch'
    assert step["message"].startswith(f"re-scored {N} logged answer(s) of the last 3600 s with ")


def test_more_changed_answers_than_max_changed_reject_the_candidate(world: Store) -> None:
    add_policy(world, rescore="1h", max_changed=0.05, **LOOSE)
    done = run_request(approved_request(world).id, store=world)

    assert done.status == "rejected"
    message = _rescore_step(done)["message"]
    assert message.startswith("gate failed: re-scored 40 logged answer(s)")
    assert "change (over max 5.0%;" in message
    assert done.details["message"] == message
    plan = deploy.get_plan(ENDPOINT, store=world)
    assert (plan.state, plan.candidate) == ("stable", None)  # nothing reached traffic


def test_an_empty_window_fails_only_a_policy_that_demands_the_check(world: Store) -> None:
    # log_labelled's answers are older than a second by the time training is over
    add_policy(world, rescore="1s", **LOOSE)
    done = run_request(approved_request(world).id, store=world)
    assert done.status == "deployed"
    assert _rescore_step(done)["message"] == "nothing logged in the last 1 s to re-score"


def test_an_empty_window_with_max_changed_fails_saying_why(world: Store) -> None:
    add_policy(world, rescore="1s", max_changed=0.5, **LOOSE)
    done = run_request(approved_request(world).id, store=world)
    assert done.status == "failed"
    assert (
        f"no answer of endpoint {ENDPOINT!r} in the last 1 s kept its inputs"
        in (_rescore_step(done)["message"])
    )


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([[[0.1, 0.2]], [[0.3, 0.4]]], "re-scoring takes flat inputs"),  # nested tensors
        ([[0.1, 0.2], [0.3]], "re-scoring takes flat inputs"),  # mixed widths
        ([{"a": 1}, [0.3]], "the window mixes column and tensor inputs"),
    ],
)
def test_inputs_re_scoring_cannot_take_are_refused_saying_why(
    instances: list, message: str, tmp_path: Path
) -> None:
    from inprod.errors import InvalidInput
    from inprod.retraining.rescore import _write_inputs

    with pytest.raises(InvalidInput, match=message):
        _write_inputs(instances, tmp_path / "window.parquet")
    assert not (tmp_path / "window.parquet").exists()
