"""MLflow model folders written the way MLflow writes them, without installing MLflow.

The layout and the MLmodel keys are copied from folders that ``mlflow.sklearn.save_model`` and
``mlflow.onnx.save_model`` (MLflow 3.17.2) wrote: MLmodel (YAML; the signature's inputs and
outputs are JSON *strings*), conda.yaml, python_env.yaml, requirements.txt and the model file.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import skops.io as sio
import yaml

_ENV = {
    "conda.yaml": "channels:\n- conda-forge\ndependencies:\n- python=3.11.7\n- pip\n",
    "python_env.yaml": (
        "python: 3.11.7\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
    ),
    "requirements.txt": "mlflow==3.17.2\nscikit-learn==1.9.1\n",
}


def tensor_spec(dtype: str, width: int | None) -> str:
    shape = [-1] if width is None else [-1, width]
    return json.dumps([{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}])


def column_spec(columns: dict[str, str]) -> str:
    return json.dumps([{"type": t, "name": n, "required": True} for n, t in columns.items()])


def _write(folder: Path, flavors: dict[str, Any], files: dict[str, bytes], signature) -> Path:
    folder.mkdir(parents=True)
    spec: dict[str, Any] = {
        "flavors": flavors,
        "is_signature_from_type_hint": False,
        "mlflow_version": "3.17.2",
        "model_id": None,
        "model_size_bytes": sum(len(b) for b in files.values()),
        "model_uuid": "e45f4f380c8345c48388b76bfa89e113",
        "prompts": None,
        "type_hint_from_example": False,
        "utc_time_created": "2026-11-25 14:34:30.040288",
    }
    if signature is not None:
        spec["signature"] = {"inputs": signature[0], "outputs": signature[1], "params": None}
    (folder / "MLmodel").write_text(yaml.safe_dump(spec, sort_keys=True))
    for name, text in _ENV.items():
        (folder / name).write_text(text)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def sklearn_folder(folder: Path, model: Any, *, fmt: str = "skops", signature=None) -> Path:
    """``mlflow.sklearn.save_model(model, folder, serialization_format=fmt)``."""
    name = "model.skops" if fmt == "skops" else "model.pkl"
    data = sio.dumps(model) if fmt == "skops" else pickle.dumps(model)
    flavors = {
        "python_function": {
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": "mlflow.sklearn",
            "model_path": name,
            "predict_fn": "predict",
            "python_version": "3.11.7",
        },
        "sklearn": {
            "code": None,
            "pickled_model": name,
            "serialization_format": fmt,
            "sklearn_version": "1.9.1",
            "skops_trusted_types": None,
        },
    }
    return _write(folder, flavors, {name: data}, signature)


def onnx_folder(folder: Path, onnx_model: Any, *, signature=None) -> Path:
    """``mlflow.onnx.save_model(onnx_model, folder)``."""
    flavors = {
        "onnx": {
            "code": None,
            "data": "model.onnx",
            "onnx_session_options": None,
            "onnx_version": "1.23.2",
            "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        },
        "python_function": {
            "data": "model.onnx",
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": "mlflow.onnx",
            "python_version": "3.11.7",
        },
    }
    return _write(folder, flavors, {"model.onnx": onnx_model.SerializeToString()}, signature)


def pyfunc_only_folder(folder: Path, model: Any) -> Path:
    """An older folder: only python_function, the sklearn file named under ``data``."""
    flavors = {
        "python_function": {
            "data": "model.skops",
            "env": "conda.yaml",
            "loader_module": "mlflow.sklearn",
            "python_version": "3.11.7",
        }
    }
    return _write(folder, flavors, {"model.skops": sio.dumps(model)}, None)
