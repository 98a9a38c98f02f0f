from __future__ import annotations

import numpy as np
import pytest
import yaml
from mlflow_folders import (
    column_spec,
    onnx_folder,
    pyfunc_only_folder,
    sklearn_folder,
    tensor_spec,
)
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression

from inprod.errors import InvalidInput, UnsafeContent
from inprod.flavors import FolderFiles, load_predictor
from inprod.flavors.signature import Schema


def load(folder, **kwargs):
    return load_predictor("mlflow", FolderFiles.of_folder(folder), **kwargs)


def test_an_mlflow_skops_folder_predicts_like_the_model_and_keeps_its_signature(
    tmp_path, logreg, xy
) -> None:
    X, _ = xy
    folder = sklearn_folder(
        tmp_path / "m", logreg, signature=(tensor_spec("float64", 4), tensor_spec("int64", None))
    )
    predictor = load(folder)
    assert predictor.flavor == "mlflow"
    batch = predictor.predict(X)
    np.testing.assert_array_equal(batch.outputs, logreg.predict(X))
    np.testing.assert_array_equal(batch.probabilities, logreg.predict_proba(X))
    assert predictor.signature.inputs == Schema.of_tensor("float64", (-1, 4))
    assert predictor.signature.outputs == Schema.of_tensor("int64", (-1,))


def test_mlflow_column_types_become_numpy_dtypes(tmp_path, frame, xy) -> None:
    model = LogisticRegression().fit(frame, xy[1])
    spec = column_spec({"a": "double", "b": "float", "c": "long", "d": "integer"})
    predictor = load(sklearn_folder(tmp_path / "m", model, signature=(spec, None)))
    assert [(c.name, c.dtype) for c in predictor.signature.inputs.columns] == [
        ("a", "float64"),
        ("b", "float32"),
        ("c", "int64"),
        ("d", "int32"),
    ]


def test_an_mlflow_pickle_folder_needs_allow_pickle(tmp_path, logreg, xy) -> None:
    folder = sklearn_folder(tmp_path / "m", logreg, fmt="cloudpickle")
    with pytest.raises(UnsafeContent, match="--allow-pickle"):
        load(folder)
    batch = load(folder, allow_pickle=True).predict(xy[0])
    np.testing.assert_array_equal(batch.outputs, logreg.predict(xy[0]))


def test_an_mlflow_onnx_folder_loads_safely(tmp_path, logreg, xy) -> None:
    onnx_model = to_onnx(logreg, initial_types=[("input", FloatTensorType([None, 4]))])
    folder = onnx_folder(tmp_path / "m", onnx_model, signature=(tensor_spec("float32", 4), None))
    batch = load(folder).predict(xy[0])
    np.testing.assert_allclose(batch.probabilities, logreg.predict_proba(xy[0]), atol=1e-5)


def test_an_old_python_function_only_folder_maps_to_sklearn(tmp_path, logreg, xy) -> None:
    batch = load(pyfunc_only_folder(tmp_path / "m", logreg)).predict(xy[0])
    np.testing.assert_array_equal(batch.outputs, logreg.predict(xy[0]))


def test_folders_we_cannot_import_are_refused_clearly(tmp_path, logreg) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "model.pkl").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="has no MLmodel file"):
        load(tmp_path / "empty")
    folder = sklearn_folder(tmp_path / "torch", logreg)
    (folder / "MLmodel").write_text(
        yaml.safe_dump({"flavors": {"pytorch": {"model_data": "data"}}})
    )
    with pytest.raises(InvalidInput, match="flavors pytorch; inprod imports sklearn, onnx"):
        load(folder)
    (folder / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load(folder)
