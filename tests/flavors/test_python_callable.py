from __future__ import annotations

import json

import numpy as np
import pytest

from inprod.errors import InvalidInput
from inprod.flavors import load_predictor
from inprod.flavors.python_callable import callable_ref_of


def brightness_rule(batch):
    """A heuristic baseline: 'dark' when the first feature is below zero."""
    return np.where(np.asarray(batch)[:, 0] < 0, "dark", "ok")


def scored_rule(batch):
    p = 1 / (1 + np.exp(-np.asarray(batch)[:, 0]))
    return {"outputs": (p > 0.5).astype(int), "probabilities": np.c_[1 - p, p], "classes": [0, 1]}


def no_outputs(batch):
    return {"labels": [1] * len(batch)}


def callable_files(files_of, ref: str):
    return files_of({"callable.json": json.dumps({"callable": ref}).encode()})


def test_a_callable_returning_outputs_is_a_predictor(files_of, xy) -> None:
    ref = callable_ref_of(brightness_rule)
    assert ref == f"{brightness_rule.__module__}:brightness_rule"
    predictor = load_predictor("python", callable_files(files_of, ref))
    batch = predictor.predict(xy[0])
    assert list(batch.outputs) == list(brightness_rule(xy[0]))
    assert batch.probabilities is None and predictor.flavor == "python"


def test_a_callable_may_return_probabilities_and_classes(files_of, xy) -> None:
    ref = f"{scored_rule.__module__}:scored_rule"
    batch = load_predictor("python", callable_files(files_of, ref)).predict(xy[0][:5])
    assert batch.classes == [0, 1]
    np.testing.assert_allclose(batch.confidence, batch.probabilities.max(axis=1))


def test_a_dict_without_outputs_is_reported(files_of, xy) -> None:
    predictor = load_predictor(
        "python", callable_files(files_of, f"{no_outputs.__module__}:no_outputs")
    )
    with pytest.raises(InvalidInput, match="without 'outputs'"):
        predictor.predict(xy[0][:2])


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_such_module_xyz:predict", "cannot be imported"),
        ("json:no_such_function", "has no attribute 'no_such_function'"),
        ("json", "not MODULE:FUNCTION"),
        ("json:__doc__", "not a function"),
    ],
)
def test_a_target_that_cannot_be_imported_is_refused(files_of, ref, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_predictor("python", callable_files(files_of, ref))


def test_a_local_function_cannot_be_named() -> None:
    def local(batch):
        return batch

    with pytest.raises(InvalidInput, match="top level of an importable module"):
        callable_ref_of(local)
