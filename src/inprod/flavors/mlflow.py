"""Import MLflow model folders without MLflow: read ``MLmodel`` and load the model inside.

Format followed (what ``mlflow.sklearn.save_model`` / ``mlflow.onnx.save_model`` write, checked
against MLflow 3.17): a folder with a YAML file ``MLmodel``::

    flavors:
      python_function: {loader_module: mlflow.sklearn, model_path: model.skops, ...}
      sklearn: {pickled_model: model.skops, serialization_format: skops, ...}
      # or: onnx: {data: model.onnx, ...} + python_function: {loader_module: mlflow.onnx, data: ...}
    signature:
      inputs: '[{"type": "double", "name": "a", "required": true}, ...]'   # a JSON string
      outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'

``serialization_format`` is ``skops`` (loaded with our skops checks), or ``pickle``/
``cloudpickle`` (older MLflow's default; loaded only with ``allow_pickle``). Older folders name
the sklearn file under ``python_function.data`` instead of ``model_path``. Types the MLmodel
lists as ``skops_trusted_types`` are not trusted automatically: the file comes from outside.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput
from . import LoadOptions, ModelFiles, Predictor
from .signature import Schema, Signature

logger = logging.getLogger(__name__)

MLMODEL = "MLmodel"
_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
_SUPPORTED = "sklearn, onnx, and python_function with loader_module mlflow.sklearn or mlflow.onnx"


def read_mlmodel(files: ModelFiles) -> dict[str, Any]:
    import yaml

    if MLMODEL not in files.names():
        raise InvalidInput(
            f"{files.where} has no MLmodel file, so it is not an MLflow model folder; give the "
            "folder that mlflow.<flavor>.save_model wrote (it holds MLmodel and the model files)",
            field="path",
        )
    try:
        spec = yaml.safe_load(files.read(MLMODEL))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{files.where}/MLmodel is not valid YAML: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("flavors"), dict):
        raise InvalidInput(f"{files.where}/MLmodel has no 'flavors' mapping")
    return spec


def inner_model(spec: Mapping[str, Any], where: str) -> dict[str, str]:
    """Which model file to load and how: {"flavor": "sklearn"|"onnx", "file", "format"}."""
    flavors = spec["flavors"]
    onnx = flavors.get("onnx")
    if isinstance(onnx, dict) and onnx.get("data"):
        return {"flavor": "onnx", "file": str(onnx["data"]), "format": "onnx"}
    sk = flavors.get("sklearn")
    if isinstance(sk, dict) and sk.get("pickled_model"):
        return {
            "flavor": "sklearn",
            "file": str(sk["pickled_model"]),
            "format": str(sk.get("serialization_format") or "cloudpickle"),
        }
    pyfunc = flavors.get("python_function")
    if isinstance(pyfunc, dict):
        loader = pyfunc.get("loader_module")
        if loader == "mlflow.onnx" and pyfunc.get("data"):
            return {"flavor": "onnx", "file": str(pyfunc["data"]), "format": "onnx"}
        path = pyfunc.get("model_path") or pyfunc.get("data")
        if loader == "mlflow.sklearn" and path:
            fmt = "skops" if str(path).endswith(".skops") else "cloudpickle"
            return {"flavor": "sklearn", "file": str(path), "format": fmt}
    raise InvalidInput(
        f"{where}/MLmodel has flavors {', '.join(sorted(flavors)) or 'none'}; inprod imports "
        f"{_SUPPORTED}",
        field="flavor",
    )


def signature_of(spec: Mapping[str, Any], where: str) -> Signature | None:
    """The MLmodel's signature in our form, or None when it has none we can express."""
    raw = spec.get("signature")
    if not isinstance(raw, dict):
        return None
    inputs = _schema(raw.get("inputs"), where, "inputs")
    if inputs is None:
        return None
    return Signature(inputs=inputs, outputs=_schema(raw.get("outputs"), where, "outputs"))


def _schema(text: Any, where: str, what: str) -> Schema | None:
    if not text:
        return None
    try:
        specs = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        raise InvalidInput(f"{where}/MLmodel: signature {what} is not valid JSON") from None
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        return None
    if len(specs) == 1 and specs[0].get("type") == "tensor":
        tensor = specs[0].get("tensor-spec") or {}
        shape = tensor.get("shape")
        if isinstance(shape, list):
            return Schema.of_tensor(tensor.get("dtype"), [-1, *shape[1:]])
    if all(s.get("type") != "tensor" and s.get("name") for s in specs):
        return Schema.of_columns([(s["name"], _TYPES.get(str(s.get("type")))) for s in specs])
    logger.info("%s: MLmodel signature %s is not expressible here; ignoring it", where, what)
    return None


def load_mlflow(
    files: ModelFiles,
    *,
    options: Mapping[str, Any],
    signature: Signature | None,
    allowed: LoadOptions,
) -> Predictor:
    from .onnx import onnx_predictor
    from .sklearn import estimator_predictor, require_pickle_allowed, skops_model, unpickle

    spec = read_mlmodel(files)
    inner = inner_model(spec, files.where)
    if signature is None:
        signature = signature_of(spec, files.where)
    where = f"{files.where}/{inner['file']}"
    if inner["flavor"] == "onnx":
        data = files.read(inner["file"])
        return onnx_predictor(
            data, signature=signature, allowed=allowed, where=where, flavor="mlflow"
        )
    untrusted: list[str] = []
    if inner["format"] == "skops":
        model, untrusted = skops_model(files.read(inner["file"]), allowed, where)
    elif inner["format"] in ("pickle", "cloudpickle"):
        require_pickle_allowed(inner["file"], allowed, f"the MLflow model {files.where}")
        model = unpickle(files.read(inner["file"]), inner["file"], allowed, where)
    else:
        raise InvalidInput(
            f"{files.where}/MLmodel: serialization_format {inner['format']!r} is not skops, "
            "pickle or cloudpickle"
        )
    return estimator_predictor(
        model,
        flavor="mlflow",
        signature=signature,
        allowed=allowed,
        where=where,
        untrusted_types=untrusted,
    )
