"""Sweeps: a grid of training parameters, each point in its own tracked run (child processes
in parallel, or Ray tasks on a local Ray), the best by the policy's ``select`` metric becomes
the candidate; a failing point is recorded and does not stop the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from retrain_functions import (
    ENDPOINT,
    MODEL,
    add_policy,
    approved_request,
    log_labelled,
    serve_champion,
)

from inprod import deploy, models
from inprod.batch.jobs import get_job
from inprod.errors import InvalidInput
from inprod.retraining import policies, sweeps
from inprod.retraining.requests import get_request
from inprod.retraining.runner import run_request
from inprod.store import Store
from inprod.tracking.runs import get_run

LOOSE = {"require": ["accuracy>=0"], "require_slices": ["accuracy>=0"]}


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Store:
    serve_champion(store, tmp_path / "phones", n=80)
    log_labelled(store, 40)
    return store


def test_the_grid_is_every_combination_in_order() -> None:
    grid = sweeps.parse_sweep_options(["C=0.1,1", "solver=lbfgs,liblinear", "fit=true"])
    assert grid == {"C": [0.1, 1], "solver": ["lbfgs", "liblinear"], "fit": [True]}
    assert sweeps.points(grid) == [
        {"C": 0.1, "solver": "lbfgs", "fit": True},
        {"C": 0.1, "solver": "liblinear", "fit": True},
        {"C": 1, "solver": "lbfgs", "fit": True},
        {"C": 1, "solver": "liblinear", "fit": True},
    ]
    assert sweeps.points(None) == [{}]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ([0.1, 1], "sweep must map parameter names to lists of values"),
        ({}, "sweep must map parameter names to lists of values"),
        ({"C": []}, "sweep parameter 'C' needs a non-empty list of values"),
        ({"C": [0.1, [1]]}, "sweep parameter 'C': [1] is not a number"),
        ({"C": [float("nan")]}, "sweep parameter 'C': nan is not a number"),
        ({"bad name": [1]}, "sweep parameter name 'bad name' is not a plain name"),
        ({"a": list(range(10)), "b": list(range(10))}, "the sweep has 100 points; at most 64"),
    ],
)
def test_a_bad_grid_is_refused_saying_what_to_fix(grid: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        sweeps.check_sweep(grid)


def test_select_reads_a_metric_and_its_direction() -> None:
    assert sweeps.check_select("val_accuracy") == "val_accuracy:max"
    assert sweeps.parse_select("val_loss:min").better(0.1, 0.2)
    for bad in ("", "val:sideways", "a b", 3):
        with pytest.raises(InvalidInput, match="select"):
            sweeps.parse_select(bad)


def test_a_policy_with_a_sweep_needs_a_metric_to_pick_the_best(world: Store) -> None:
    with pytest.raises(InvalidInput, match="a sweep needs select"):
        add_policy(world, sweep={"C": [0.1, 1.0]})
    with pytest.raises(InvalidInput, match="max_changed 2 must be a share between 0 and 1"):
        add_policy(world, max_changed=2)
    with pytest.raises(InvalidInput, match="parallel 0 must be 1 or more"):
        add_policy(world, parallel=0)
    assert policies.list_policies(store=world) == []  # nothing half-made


def test_a_policy_on_ray_is_refused_where_ray_is_not_installed(
    world: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(InvalidInput, match=r"pip install 'inprod\[ray\]'"):
        add_policy(world, ray="local")
    assert policies.list_policies(store=world) == []


def _assert_best_of_sweep(store: Store, request_id: int, grid: dict[str, list[Any]]) -> None:
    done = run_request(request_id, actor="ana", store=store)
    assert done.status == "deployed", done.details.get("message")
    train = next(st for st in done.steps if st["name"] == "train")["outputs"]
    points = train["sweep"]
    assert [p["params"] for p in points] == sweeps.points(grid)
    failed = [p for p in points if p["params"]["C"] < 0]
    assert len(failed) == 1 and "raised InvalidParameterError" in failed[0]["error"]
    trained = [p for p in points if "error" not in p]
    assert len(trained) == len(points) - 1
    best = max(trained, key=lambda p: p["value"])
    assert train["candidate"] == best["candidate"] == done.details["candidate"]
    assert train["select"] == "val_accuracy:max"
    for p in trained:  # each point: its own run, its params, its registered version
        run = get_run(p["run_id"], store=store)
        assert run.name == p["run_name"] and run.status == "finished"
        assert run.params["C"] == p["params"]["C"]
        version = models.get(p["candidate"], store=store)
        assert version.metrics["val_accuracy"] == p["value"]
        assert version.tags["retraining.sweep"] == f"C={p['params']['C']}"
    assert len(models.list_versions(MODEL, store=store)) == 1 + len(trained)
    plan = deploy.get_plan(ENDPOINT, store=store)  # the best one's canary started
    assert plan.state == "ramping"
    assert f"{plan.candidate.model_name}@{plan.candidate.version}" == best["candidate"]


def test_a_sweep_trains_each_point_in_its_own_run_and_the_best_becomes_the_candidate(
    world: Store,
) -> None:
    grid = {"C": [0.001, 1.0, -1.0]}
    add_policy(world, sweep=grid, select="val_accuracy", parallel=2, **LOOSE)
    _assert_best_of_sweep(world, approved_request(world).id, grid)


def test_a_sweep_whose_every_point_fails_fails_the_request_with_each_reason(world: Store) -> None:
    add_policy(world, sweep={"C": [-1.0, -2.0]}, select="val_accuracy", **LOOSE)
    done = run_request(approved_request(world).id, store=world)
    assert done.status == "failed"
    message = next(st for st in done.steps if st["name"] == "train")["message"]
    assert message.startswith("no point of the sweep gave a model to judge (C=-1.0: ")
    assert "C=-2.0: the training function" in message
    assert [v.version for v in models.list_versions(MODEL, store=world)] == [1]


def test_a_sweep_on_a_local_ray_trains_its_points_and_re_scores_the_window_as_ray_tasks(
    world: Store,
) -> None:
    pytest.importorskip("ray", reason="the Ray sweep needs inprod[ray]")
    grid = {"C": [0.01, -1.0]}
    add_policy(world, sweep=grid, select="val_accuracy", ray="local", rescore="1h", **LOOSE)
    request = approved_request(world)
    _assert_best_of_sweep(world, request.id, grid)
    rescored = next(
        st for st in get_request(request.id, store=world).steps if st["name"] == "rescore"
    )["outputs"]  # the logged window, re-scored by Ray workers too
    assert rescored["rows"] == 40
    assert get_job(rescored["job_id"], store=world).engine == "ray"
