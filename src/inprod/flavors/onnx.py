"""ONNX models on onnxruntime (CPU provider): safe to load, fast to call, any training framework.

Outputs follow skl2onnx's convention, which most converters share: the first output is the
label (or the value, for a regressor), an optional second output holds class probabilities —
either an N×K tensor (``options={"zipmap": False}``) or ZipMap's list of {class: probability}
dicts. Class labels are read from the graph (``classlabels_*`` attributes) when present.
Inputs are cast to the model's dtype (float64 samples feed a float32 model); a model with one
input per feature (what skl2onnx makes from a DataFrame) is fed column by column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInput
from . import LoadOptions, ModelFiles, PredictionBatch, mismatch_error
from .signature import Schema, Signature, compatible

ONNX_FILE = "model.onnx"
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}
_CLASS_ATTRS = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")


class OnnxPredictor:
    def __init__(
        self, session: Any, *, signature: Signature, classes: list[Any] | None, flavor: str
    ) -> None:
        self.session = session
        self.flavor = flavor
        self.signature = signature
        inputs = session.get_inputs()
        self._inputs = [(i.name, np.dtype(_ORT_DTYPES.get(i.type, "float32"))) for i in inputs]
        outputs = session.get_outputs()
        self._has_proba = len(outputs) > 1
        self._zipmap = self._has_proba and outputs[1].type.startswith("seq(map")
        self.classes = classes

    def predict(self, instances: Any) -> PredictionBatch:
        results = self.session.run(None, self._feeds(instances))
        outputs = results[0]
        if outputs.ndim == 2 and outputs.shape[1] == 1:
            outputs = outputs[:, 0]
        if not self._has_proba:
            return PredictionBatch(outputs)
        proba = results[1]
        classes = self.classes
        if self._zipmap:
            if classes is None:
                classes = list(proba[0]) if len(proba) else []
            proba = np.array([[row[c] for c in classes] for row in proba], dtype=np.float64)
        return PredictionBatch(outputs, proba, classes, proba.max(axis=1))

    def _feeds(self, instances: Any) -> dict[str, np.ndarray]:
        if len(self._inputs) == 1:
            name, dtype = self._inputs[0]
            array = instances.to_numpy() if hasattr(instances, "columns") else instances
            array = np.asarray(array)
            return {name: array if array.dtype == dtype else array.astype(dtype)}
        if hasattr(instances, "columns"):
            return {
                name: instances[name].to_numpy().astype(dtype, copy=False).reshape(-1, 1)
                for name, dtype in self._inputs
            }
        array = np.asarray(instances)
        return {
            name: array[:, i : i + 1].astype(dtype, copy=False)
            for i, (name, dtype) in enumerate(self._inputs)
        }


def session_from_bytes(data: bytes, where: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings go to stderr, not our logger
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{where} is not a model onnxruntime can load: {first}") from None


def classes_from_graph(data: bytes) -> list[Any] | None:
    """Class labels stored on a classifier node (skl2onnx writes them), if any."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception:
        return None
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name in _CLASS_ATTRS:
                value = onnx.helper.get_attribute_value(attr)
                return [v.decode() if isinstance(v, bytes) else int(v) for v in value]
    return None


def signature_of(session: Any) -> Signature:
    """The inputs the graph declares: one tensor, or one named column per input."""
    inputs = session.get_inputs()
    if len(inputs) == 1:
        shape = [d if isinstance(d, int) and i > 0 else -1 for i, d in enumerate(inputs[0].shape)]
        return Signature(inputs=Schema.of_tensor(_ORT_DTYPES.get(inputs[0].type), shape))
    return Signature(inputs=Schema.of_columns([(i.name, _ORT_DTYPES.get(i.type)) for i in inputs]))


def check_session(session: Any, signature: Signature | None, allowed: LoadOptions) -> None:
    """Compare the graph's declared inputs with the signature's."""
    inputs = signature.inputs if signature is not None else None
    if inputs is None:
        return
    declared = session.get_inputs()
    if len(declared) > 1:
        _check_per_column_inputs(declared, inputs, allowed)
        return
    model_in = declared[0]
    dtype = _ORT_DTYPES.get(model_in.type)
    shape = list(model_in.shape)
    want = f"ONNX input {model_in.name!r} takes {dtype} {_shape_text(shape)}"
    if inputs.kind == "columns":
        width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        if len(shape) != 2 or (width is not None and width != len(inputs.columns)):
            raise mismatch_error(allowed, f"{want} but the signature is {inputs.describe()}")
        bad = [c for c in inputs.columns if not compatible(dtype, c.dtype)]
        if bad:
            raise mismatch_error(allowed, f"{want} but column {bad[0].name!r} is {bad[0].dtype}")
        return
    if len(shape) != len(inputs.shape):
        raise mismatch_error(allowed, f"{want} but the signature is {inputs.describe()}")
    for axis, (have, sig) in enumerate(zip(shape, inputs.shape, strict=True)):
        if axis > 0 and isinstance(have, int) and have >= 0 and sig >= 0 and have != sig:
            raise mismatch_error(allowed, f"{want} but the signature is {inputs.describe()}")
    if not compatible(dtype, inputs.dtype):
        raise mismatch_error(allowed, f"{want} but the signature is {inputs.describe()}")


def _check_per_column_inputs(declared: list[Any], inputs: Schema, allowed: LoadOptions) -> None:
    names = [i.name for i in declared]
    if inputs.kind != "columns" or sorted(inputs.names) != sorted(names):
        raise mismatch_error(
            allowed,
            f"the ONNX model takes one input per column {names} but the signature is "
            f"{inputs.describe()}",
        )
    by_name = {c.name: c for c in inputs.columns}
    for model_in in declared:
        dtype = _ORT_DTYPES.get(model_in.type)
        if not compatible(dtype, by_name[model_in.name].dtype):
            raise mismatch_error(
                allowed,
                f"ONNX input {model_in.name!r} takes {dtype} but the signature says "
                f"{by_name[model_in.name].dtype}",
            )


def _shape_text(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else "N" for d in shape) + "]"


def onnx_predictor(
    data: bytes, *, signature: Signature | None, allowed: LoadOptions, where: str, flavor: str
) -> OnnxPredictor:
    session = session_from_bytes(data, where)
    check_session(session, signature, allowed)
    signature = signature if signature is not None else signature_of(session)
    classes = classes_from_graph(data)
    if classes is None and signature.classes is not None:
        classes = list(signature.classes)
    return OnnxPredictor(session, signature=signature, classes=classes, flavor=flavor)


def load_onnx(
    files: ModelFiles,
    *,
    options: Mapping[str, Any],
    signature: Signature | None,
    allowed: LoadOptions,
) -> OnnxPredictor:
    return onnx_predictor(
        files.read(ONNX_FILE),
        signature=signature,
        allowed=allowed,
        where=files.where,
        flavor="onnx",
    )
