from __future__ import annotations

import numpy as np
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.linear_model import LinearRegression, LogisticRegression

from inprod.errors import IntegrityFailure, InvalidInput
from inprod.flavors import load_predictor
from inprod.flavors.signature import Schema, Signature

FLOAT4 = [("input", FloatTensorType([None, 4]))]


def onnx_bytes(model, initial_types=FLOAT4, **kwargs) -> bytes:
    return to_onnx(model, initial_types=initial_types, **kwargs).SerializeToString()


def test_zipmap_and_tensor_probabilities_both_match_sklearn(files_of, logreg, xy) -> None:
    X, _ = xy
    for options in (None, {"zipmap": False}):
        predictor = load_predictor(
            "onnx", files_of({"model.onnx": onnx_bytes(logreg, options=options)})
        )
        batch = predictor.predict(X)  # float64 in; cast to the graph's float32
        np.testing.assert_allclose(batch.probabilities, logreg.predict_proba(X), atol=1e-5)
        np.testing.assert_array_equal(batch.outputs, logreg.predict(X))
        assert batch.classes == [0, 1]
        np.testing.assert_allclose(batch.confidence, batch.probabilities.max(axis=1))
        assert predictor.flavor == "onnx"


def test_string_class_labels_come_from_the_graph(files_of, xy) -> None:
    X, y = xy
    model = LogisticRegression().fit(X, np.where(y == 1, "scratch", "ok"))
    predictor = load_predictor(
        "onnx", files_of({"model.onnx": onnx_bytes(model, options={"zipmap": False})})
    )
    batch = predictor.predict(X[:20])
    assert batch.classes == ["ok", "scratch"]
    assert list(batch.outputs) == list(model.predict(X[:20]))


def test_a_regressor_gives_one_value_per_instance(files_of, xy) -> None:
    X, _ = xy
    reg = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5, 3.0]))
    types = [("input", DoubleTensorType([None, 4]))]
    batch = load_predictor("onnx", files_of({"model.onnx": onnx_bytes(reg, types)})).predict(X)
    assert batch.outputs.shape == (200,)
    np.testing.assert_allclose(batch.outputs, reg.predict(X), atol=1e-5)
    assert batch.probabilities is None


def test_one_input_per_column_is_fed_from_a_dataframe(files_of, frame, xy) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    columns = ColumnTransformer([("num", StandardScaler(), ["a", "b", "c", "d"])])
    model = make_pipeline(columns, LogisticRegression()).fit(frame, xy[1])
    data = to_onnx(model, frame[:1].astype(np.float32), options={"zipmap": False})
    predictor = load_predictor("onnx", files_of({"model.onnx": data.SerializeToString()}))
    assert predictor.signature.inputs.names == ["a", "b", "c", "d"]
    batch = predictor.predict(frame)
    np.testing.assert_allclose(batch.probabilities, model.predict_proba(frame), atol=1e-5)
    np.testing.assert_allclose(
        predictor.predict(frame.to_numpy()).probabilities, batch.probabilities
    )


def test_the_graph_gives_the_signature_and_disagreements_are_refused(files_of, logreg) -> None:
    files = files_of({"model.onnx": onnx_bytes(logreg)})
    assert load_predictor("onnx", files).signature.inputs == Schema.of_tensor("float32", (-1, 4))
    with pytest.raises(IntegrityFailure, match=r"takes float32 \[N, 4\]"):
        load_predictor("onnx", files, signature=Signature(Schema.of_tensor("float64", (-1, 3))))
    with pytest.raises(InvalidInput, match="object"):
        load_predictor(
            "onnx",
            files,
            signature=Signature(Schema.of_tensor("object", (-1, 4))),
            mismatch=InvalidInput,
        )
    columns = Signature(Schema.of_columns([(n, "float64") for n in "abcd"]))
    assert load_predictor("onnx", files, signature=columns).signature == columns


def test_bytes_that_are_not_onnx_are_refused(files_of) -> None:
    with pytest.raises(InvalidInput, match="not a model onnxruntime can load"):
        load_predictor("onnx", files_of({"model.onnx": b"\x00garbage"}))
