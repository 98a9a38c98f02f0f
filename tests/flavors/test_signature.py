from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from inprod.errors import InvalidInput
from inprod.flavors.signature import Schema, Signature, compatible


def test_signature_of_a_dataframe_names_columns_with_their_dtypes() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2], "c": ["x", "y"]})
    sig = Signature.infer(df, outputs=np.array([0, 1]), classes=[np.int64(0), np.int64(1)])
    assert sig.inputs.kind == "columns"
    assert [(c.name, c.dtype) for c in sig.inputs.columns] == [
        ("a", "float64"),
        ("b", "int64"),
        ("c", str(df["c"].dtype)),
    ]
    assert sig.outputs == Schema.of_tensor("int64", (-1,))
    assert sig.classes == (0, 1) and type(sig.classes[0]) is int


def test_signature_of_an_array_has_a_free_batch_dimension() -> None:
    sig = Signature.infer(np.zeros((5, 3, 2), dtype=np.float32))
    assert sig.inputs == Schema.of_tensor("float32", (-1, 3, 2))
    assert sig.inputs.width is None
    assert Signature.infer(np.zeros((5, 4))).inputs.width == 4


def test_signature_survives_a_json_round_trip() -> None:
    sig = Signature.infer(
        pd.DataFrame({"a": [1.0], "b": [2]}), outputs=np.array([[0.1, 0.9]]), classes=["ok", "bad"]
    )
    again = Signature.from_dict(json.loads(json.dumps(sig.to_dict())))
    assert again == sig
    assert Signature.from_dict({}) == Signature()
    assert Signature.from_dict(None).validate("anything") == "anything"


def test_validate_names_the_missing_or_mistyped_column() -> None:
    sig = Signature.infer(pd.DataFrame({"a": [1.0], "b": [2]}))
    with pytest.raises(InvalidInput, match="column 'b' is missing") as missing:
        sig.validate(pd.DataFrame({"a": [1.0]}))
    assert missing.value.field == "b"
    with pytest.raises(InvalidInput, match="column 'a' has dtype") as mistyped:
        sig.validate(pd.DataFrame({"a": ["x"], "b": [1]}))
    assert mistyped.value.field == "a"
    with pytest.raises(InvalidInput, match="unexpected column 'z'") as extra:
        sig.validate(pd.DataFrame({"a": [1.0], "b": [1], "z": [0]}))
    assert extra.value.field == "z"
    with pytest.raises(InvalidInput, match="named columns"):
        sig.validate(np.zeros((1, 2)))


def test_validate_puts_columns_in_the_signature_order_and_widens_ints_to_floats() -> None:
    sig = Signature.infer(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    out = sig.validate(pd.DataFrame({"b": [1], "a": [3]}))
    assert list(out.columns) == ["a", "b"]
    same = pd.DataFrame({"a": [1.0], "b": [2.0]})
    assert sig.validate(same) is same


def test_validate_checks_tensor_rank_width_and_dtype() -> None:
    sig = Signature.infer(np.zeros((2, 4)))
    assert sig.validate([[1, 2, 3, 4]]).shape == (1, 4)
    with pytest.raises(InvalidInput, match="size 3 on axis 1") as narrow:
        sig.validate(np.zeros((1, 3)))
    assert narrow.value.field == "inputs"
    with pytest.raises(InvalidInput, match="1 dimension"):
        sig.validate(np.zeros(4))
    with pytest.raises(InvalidInput, match="dtype <U1"):
        sig.validate(np.array([["a", "b", "c", "d"]]))


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("float32", "float64", True),
        ("float64", "int64", True),
        ("int64", "float64", False),
        ("object", "str", True),
        ("float64", "object", False),
        (None, "object", True),
        ("bool", "int64", False),
    ],
)
def test_dtype_compatibility(expected, actual, ok) -> None:
    assert compatible(expected, actual) is ok


def test_a_malformed_signature_is_refused_clearly() -> None:
    with pytest.raises(InvalidInput, match="not 'columns' or 'tensor'"):
        Signature.from_dict({"inputs": {"kind": "image"}})
    with pytest.raises(InvalidInput, match="missing"):
        Signature.from_dict({"inputs": {"kind": "tensor"}})
    with pytest.raises(InvalidInput, match="single value"):
        Signature.infer(np.float64(3.0))
