"""Open Inference Protocol V2 tensors: JSON requests to model inputs, results to output tensors.

How a model's signature looks in V2 (the same rules give ``GET /v2/models/{name}`` and check
``POST .../infer``):

- a tensor signature is one input named ``input`` with the signature's shape (-1 for the batch);
- a columns signature is one input per column, each of shape ``[-1, 1]`` (``[N]`` is accepted);
- outputs are ``output`` (the class or value of each instance) and, for a classifier,
  ``probabilities`` (FP64 ``[-1, K]``, columns in the order of the signature's classes).

A datatype the signature does not know (a python-callable model registered without a sample) is
left out of the metadata, and any datatype is taken for it. Otherwise a request's datatype must
convert to the model's without loss, by the same rule the V1 edge uses (ints widen to floats,
bools to ints; BYTES only for string columns); values are checked against the datatype they
were sent as (an INT8 tensor holding 300 is refused, not wrapped). Tensors travel as JSON
``data``, flat in row-major order or nested exactly as the shape; the binary tensor extension is
refused with a message saying how to send JSON instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput, PayloadTooLarge, Unprocessable, UnsupportedMediaType, suggest
from ..flavors import PredictionBatch, Signature
from ..flavors.signature import Schema, compatible

TENSOR_INPUT = "input"
OUTPUT = "output"
PROBABILITIES = "probabilities"

DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dt: name for name, dt in DATATYPES.items() if name != "BYTES"}
# numpy kinds of parsed JSON data that a datatype's kind takes (JSON ints are fine for floats)
_DATA_KINDS = {"f": "fiub", "i": "iub", "u": "iub", "b": "b"}
_REQUEST_KEYS = ("id", "inputs", "outputs", "parameters")
_BINARY_HINT = (
    "the binary tensor extension is not supported; send tensors as JSON 'data' "
    "(tritonclient: set_data_from_numpy(..., binary_data=False))"
)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One tensor of the model metadata; ``datatype`` None when the signature does not say."""

    name: str
    datatype: str | None
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.datatype is not None:
            out["datatype"] = self.datatype
        out["shape"] = list(self.shape)
        return out


@dataclass(frozen=True, slots=True)
class InferRequest:
    """What the response needs from the request: its id and the outputs asked for."""

    id: str | None
    outputs: tuple[str, ...] | None


@functools.lru_cache(maxsize=1024)
def datatype_of(dtype: Any) -> str | None:
    """The V2 datatype for a signature or numpy dtype (None: not known)."""
    if dtype is None:
        return None
    text = str(dtype)
    if text == "boolean":
        return "BOOL"
    try:  # pandas' nullable Int64 / Float64 / UInt8 are numpy's int64 / float64 / uint8
        np_dtype = np.dtype(text.lower() if text[:1] in "IFU" else text)
    except TypeError:
        return "BYTES"  # pandas' string / category dtypes
    return _BY_DTYPE.get(np_dtype, "BYTES")


def input_specs(signature: Signature) -> list[TensorSpec]:
    schema = signature.inputs
    if schema is None:
        return []
    if schema.kind == "columns":
        return [TensorSpec(c.name, datatype_of(c.dtype), (-1, 1)) for c in schema.columns]
    return [TensorSpec(TENSOR_INPUT, datatype_of(schema.dtype), schema.shape or (-1,))]


@functools.lru_cache(maxsize=256)
def _input_names(schema: Schema | None) -> tuple[str, ...]:
    return tuple(spec.name for spec in input_specs(Signature(inputs=schema)))


def output_names(signature: Signature) -> tuple[str, ...]:
    return (OUTPUT, PROBABILITIES) if signature.classes is not None else (OUTPUT,)


def output_specs(signature: Signature) -> list[TensorSpec]:
    outputs = signature.outputs
    if outputs is not None and outputs.kind == "tensor":
        specs = [TensorSpec(OUTPUT, datatype_of(outputs.dtype), outputs.shape or (-1,))]
    else:
        specs = [TensorSpec(OUTPUT, None, (-1,))]
    if signature.classes is not None:
        specs.append(TensorSpec(PROBABILITIES, "FP64", (-1, len(signature.classes))))
    return specs


def decode_request(
    payload: Any, signature: Signature, *, max_instances: int
) -> tuple[Any, list[Any], InferRequest]:
    """An infer request body to ``(model input, loggable instances, InferRequest)``.

    Raises Unprocessable (422) naming the field for anything that does not fit the signature,
    PayloadTooLarge (413) for more than ``max_instances`` rows, UnsupportedMediaType (415) for
    binary tensor data.
    """
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise Unprocessable(
            'the body must be an object with "inputs": a list of tensors, e.g. {"inputs": '
            '[{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.2]}]}',
            field="inputs",
        )
    extra = [k for k in payload if k not in _REQUEST_KEYS]
    if extra:
        raise Unprocessable(
            f"unexpected field {extra[0]!r} in the body; send only {', '.join(_REQUEST_KEYS)}",
            field=extra[0],
        )
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise Unprocessable(f'"id" must be a string, got {type(request_id).__name__}', field="id")
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise Unprocessable('"parameters" must be an object', field="parameters")
    tensors = _named_tensors(payload["inputs"], signature)
    outputs = _requested_outputs(payload.get("outputs"), signature)
    schema = signature.inputs
    if schema is None or schema.kind == "tensor":  # checked here as the signature would
        batch, instances = _tensor(schema, tensors, max_instances)
        return batch, instances, InferRequest(request_id, outputs)
    frame, instances = _columns(schema, tensors, max_instances)
    try:
        frame = signature.validate(frame)
    except InvalidInput as exc:
        raise Unprocessable(exc.message, field=exc.field) from None
    return frame, instances, InferRequest(request_id, outputs)


def _named_tensors(inputs: Any, signature: Signature) -> dict[str, tuple[int, dict]]:
    """The request's tensors by name, with their index; unknown, duplicate, missing refused."""
    if not isinstance(inputs, list) or not inputs:
        raise Unprocessable('"inputs" must be a non-empty list of tensors', field="inputs")
    known = _input_names(signature.inputs)
    found: dict[str, tuple[int, dict]] = {}
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            raise Unprocessable(
                f'{where} must be an object with "name", "shape", "datatype" and "data"',
                field=where,
            )
        name = tensor.get("name")
        if not isinstance(name, str):
            raise Unprocessable(
                f"{where} has no name; give each input its name", field=f"{where}.name"
            )
        if name in found:
            raise Unprocessable(f"input {name!r} is given twice", field=f"{where}.name")
        if known and name not in known:
            raise Unprocessable(
                f"unknown input {name!r}; {suggest(name, known, what='inputs')}",
                field=f"{where}.name",
            )
        found[name] = (i, tensor)
    if not known and len(found) > 1:
        raise Unprocessable(
            f"the model takes one tensor; got {len(found)} inputs", field="inputs[1].name"
        )
    for name in known:
        if name not in found:
            raise Unprocessable(
                f"input {name!r} is missing; the model takes {_listed(known)}", field=name
            )
    return found


def _listed(names: tuple[str, ...], most: int = 8) -> str:
    shown = ", ".join(map(repr, names[:most]))
    return shown + (f" (and {len(names) - most} more)" if len(names) > most else "")


def _requested_outputs(outputs: Any, signature: Signature) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise Unprocessable('"outputs" must be a list of {"name": ...} objects', field="outputs")
    known = output_names(signature)
    names = []
    for i, output in enumerate(outputs):
        where = f"outputs[{i}]"
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str):
            raise Unprocessable(f'{where} must be an object with a "name"', field=where)
        if name not in known:
            raise Unprocessable(
                f"unknown output {name!r}; the model gives {_listed(known)}",
                field=f"{where}.name",
            )
        params = output.get("parameters") or {}
        if isinstance(params, dict) and "classification" in params:
            raise Unprocessable(
                "the classification extension is not supported; ask for 'probabilities'",
                field=f"{where}.parameters",
            )
        names.append(name)
    return tuple(names)


def _tensor(
    schema: Schema | None, tensors: dict[str, tuple[int, dict]], max_instances: int
) -> tuple[np.ndarray, list[Any]]:
    ((name, (i, tensor)),) = tensors.items()
    expected = datatype_of(schema.dtype) if schema is not None else None
    datatype, shape = _header(name, i, tensor, expected, max_instances)
    if schema is not None:
        want = schema.shape
        if len(shape) != len(want) or any(
            w >= 0 and w != h for w, h in zip(want[1:], shape[1:], strict=True)
        ):
            raise Unprocessable(
                f"input {name!r} has shape {list(shape)}; the model takes {list(want)} "
                "(-1: any size)",
                field=f"inputs[{i}].shape",
            )
    array = _values(i, tensor, datatype, expected, shape)
    return array, array.tolist()


def _columns(
    schema: Schema, tensors: dict[str, tuple[int, dict]], max_instances: int
) -> tuple[Any, list[dict]]:
    import pandas as pd

    headers = []
    for column in schema.columns:
        i, tensor = tensors[column.name]
        expected = datatype_of(column.dtype)
        datatype, shape = _header(column.name, i, tensor, expected, max_instances)
        if len(shape) > 2 or shape[1:] not in ((), (1,)):
            raise Unprocessable(
                f"input {column.name!r} has shape {list(shape)}; a column takes [N, 1] or [N]",
                field=f"inputs[{i}].shape",
            )
        if headers and shape[0] != headers[0][3][0]:
            first = schema.columns[0].name
            raise Unprocessable(
                f"input {column.name!r} has {shape[0]} rows but {first!r} has "
                f"{headers[0][3][0]}; every column needs one value per instance",
                field=f"inputs[{i}].shape",
            )
        headers.append((i, tensor, datatype, shape, expected))
    columns = {
        column.name: _values(i, tensor, datatype, expected, shape).reshape(shape[0])
        for column, (i, tensor, datatype, shape, expected) in zip(
            schema.columns, headers, strict=True
        )
    }
    names = list(columns)
    values = [a.tolist() for a in columns.values()]
    instances = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    return pd.DataFrame(columns), instances


def _header(
    name: str, i: int, tensor: dict, expected: str | None, max_instances: int
) -> tuple[str, tuple[int, ...]]:
    """A tensor's datatype and shape, checked before its data is read."""
    where = f"inputs[{i}]"
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise Unprocessable(
            f"{where}.datatype is {datatype!r}; use one of {', '.join(DATATYPES)}",
            field=f"{where}.datatype",
        )
    if expected is not None and not _accepts(expected, datatype):
        if datatype == "BYTES":
            why = f"is BYTES but the model takes {expected}; send numbers as {expected}"
        else:
            why = f"has datatype {datatype}, the model takes {expected}; send {expected}"
        raise Unprocessable(f"input {name!r} {why}", field=f"{where}.datatype")
    return datatype, _shape(tensor.get("shape"), where, max_instances)


def _values(
    i: int, tensor: dict, datatype: str, expected: str | None, shape: tuple[int, ...]
) -> np.ndarray:
    """A tensor's data as an ndarray of ``shape``, in the model's dtype."""
    where = f"inputs[{i}]"
    if "data" not in tensor:
        params = tensor.get("parameters")
        if isinstance(params, dict) and "binary_data_size" in params:
            raise UnsupportedMediaType(f"{where}: {_BINARY_HINT}", field=f"{where}.data")
        raise Unprocessable(f'{where} has no "data"; send the values', field=f"{where}.data")
    data = tensor["data"]
    if not isinstance(data, list):
        raise Unprocessable(
            f"{where}.data must be a list (flat or nested), got {type(data).__name__}",
            field=f"{where}.data",
        )
    if datatype == "BYTES":
        array = _strings(data, where)
    else:
        target = DATATYPES[expected if expected is not None else datatype]
        array = _numbers(data, datatype, target, where)
    return _reshaped(array, shape, where)


@functools.lru_cache(maxsize=256)
def _accepts(expected: str, sent: str) -> bool:
    if sent == expected:
        return True
    if "BYTES" in (sent, expected):
        return False
    return compatible(DATATYPES[expected].name, DATATYPES[sent])


def _shape(shape: Any, where: str, max_instances: int) -> tuple[int, ...]:
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise Unprocessable(
            f"{where}.shape must be a non-empty list of sizes (integers >= 0), got {shape!r}",
            field=f"{where}.shape",
        )
    if shape[0] == 0:
        raise Unprocessable(
            f"{where}.shape {shape} has no rows; send at least one", field=f"{where}.shape"
        )
    if shape[0] > max_instances:
        raise PayloadTooLarge(
            f"{where}.shape {shape} has {shape[0]} instances; this endpoint takes at most "
            f"{max_instances} (split the request or raise the endpoint's max_instances)",
            field=f"{where}.shape",
        )
    return tuple(shape)


def _numbers(data: list, datatype: str, target: np.dtype, where: str) -> np.ndarray:
    try:
        raw = np.asarray(data)
    except ValueError:
        raise _ragged(where) from None
    declared = DATATYPES[datatype]
    if raw.dtype.kind not in _DATA_KINDS[declared.kind]:
        raise _bad_value(data, datatype, where)
    if raw.size and raw.dtype.kind in "iu":
        low, high = raw.min(), raw.max()
        for dtype in (declared, target):
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                if low < info.min or high > info.max:
                    value = low if low < info.min else high
                    raise Unprocessable(
                        f"{where}.data holds {value}, outside the range of "
                        f"{_BY_DTYPE[dtype]} ({info.min} to {info.max})",
                        field=f"{where}.data",
                    )
    with np.errstate(over="ignore"):  # too large for FP16/FP32 becomes inf, refused below
        array = raw.astype(target, copy=False)
    if target.kind == "f" and not np.isfinite(array).all():
        raise Unprocessable(
            f"{where}.data holds a value too large for {_BY_DTYPE[target]}",
            field=f"{where}.data",
        )
    return array


def _strings(data: list, where: str) -> np.ndarray:
    array = np.array(data, dtype=object)
    for k, value in enumerate(array.flat):
        if not isinstance(value, str):
            index = "".join(f"[{j}]" for j in np.unravel_index(k, array.shape))
            shown = "ragged nesting" if isinstance(value, list) else _describe(value)
            raise Unprocessable(
                f"{where}.data{index} is {shown}; BYTES data are strings",
                field=f"{where}.data",
            )
    return array


def _reshaped(array: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    if array.shape == shape:
        return array
    size = math.prod(shape)
    if array.ndim == 1:
        if array.size != size:
            raise Unprocessable(
                f"{where}.data has {array.size} values; shape {list(shape)} needs {size}",
                field=f"{where}.data",
            )
        return array.reshape(shape)
    raise Unprocessable(
        f"{where}.data is nested as {list(array.shape)} but the shape is {list(shape)}; "
        "send it flat in row-major order or nested exactly as the shape",
        field=f"{where}.data",
    )


def _ragged(where: str) -> Unprocessable:
    return Unprocessable(
        f"{where}.data is ragged (nested lists of different lengths); send it flat in "
        "row-major order or nested exactly as the shape",
        field=f"{where}.data",
    )


def _bad_value(data: list, datatype: str, where: str) -> Unprocessable:
    """The error naming the first value of ``data`` that ``datatype`` cannot hold."""
    kinds = _DATA_KINDS[DATATYPES[datatype].kind]
    for path, value in _leaves(data, ""):
        kind = "b" if isinstance(value, bool) else np.asarray(value).dtype.kind
        if isinstance(value, list | dict) or value is None or kind not in kinds:
            return Unprocessable(
                f"{where}.data{path} is {_describe(value)}; {datatype} takes "
                f"{_what_it_takes(datatype)}",
                field=f"{where}.data",
            )
    return Unprocessable(f"{where}.data cannot be read as {datatype}", field=f"{where}.data")


def _what_it_takes(datatype: str) -> str:
    kind = DATATYPES[datatype].kind
    return {"b": "true or false", "f": "numbers"}.get(kind, "integers")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, list):
        for j, v in enumerate(value):
            yield from _leaves(v, f"{path}[{j}]")
    else:
        yield path, value


def encode_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    result: PredictionBatch,
    ids: list[str],
    response_id: str,
) -> dict[str, Any]:
    """The infer response; ``ids`` (the prediction ids, for feedback) go in its parameters.

    ``response_id`` is the request's id, or one the server made up when it had none.
    """
    names = request.outputs
    if names is None:
        names = (OUTPUT,) if result.probabilities is None else (OUTPUT, PROBABILITIES)
    outputs = []
    for name in names:
        if name == OUTPUT:
            outputs.append(_output_tensor(OUTPUT, result.outputs))
        elif result.probabilities is not None:
            proba = np.asarray(result.probabilities, dtype=np.float64)
            outputs.append(_output_tensor(PROBABILITIES, proba))
    return {
        "model_name": model_name,
        "model_version": model_version,
        "id": response_id,
        "parameters": {"prediction_ids": ids},
        "outputs": outputs,
    }


def _output_tensor(name: str, values: Any) -> dict[str, Any]:
    if isinstance(values, np.ndarray):
        array = values
    else:
        try:
            array = np.asarray(values)
        except ValueError:  # a callable's ragged outputs: one BYTES value per instance
            array = np.empty(len(values), dtype=object)
            array[:] = list(values)
    datatype = _BY_DTYPE.get(array.dtype)
    if datatype is None:  # strings, objects, dates: BYTES as text
        data: Any = [_text(v) for v in array.ravel().tolist()]
        datatype = "BYTES"
    else:
        data = np.ascontiguousarray(array).ravel()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()
