"""The REST data plane's JSON: request bodies to model inputs, results to response rows.

Validation happens here, once, at the edge: a bad request gets a 4xx naming the field and what
was expected before the model sees it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from ..flavors import PredictionBatch, Signature


def check_content_type(content_type: str | None) -> None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"content type {content_type or '(none)'!r} is not supported; "
            "send the body as JSON with 'Content-Type: application/json'",
            field="content-type",
        )


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidInput("the request body is empty; send JSON", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}", field="body") from None


def instances_of(payload: Any, *, max_instances: int) -> list[Any]:
    if not isinstance(payload, dict) or "instances" not in payload:
        raise Unprocessable(
            'the body must be an object with "instances": a list of rows, '
            'e.g. {"instances": [[0.1, 0.2]]} or {"instances": [{"brightness": 0.4}]}',
            field="instances",
        )
    extra = sorted(set(payload) - {"instances", "parameters"})
    if extra:
        raise Unprocessable(
            f'unexpected field {extra[0]!r} in the body; send only "instances"', field=extra[0]
        )
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise Unprocessable(
            f'"instances" must be a list of rows, got {type(instances).__name__}',
            field="instances",
        )
    if not instances:
        raise Unprocessable('"instances" is empty; send at least one row', field="instances")
    if len(instances) > max_instances:
        raise PayloadTooLarge(
            f"{len(instances)} instances in one request; this endpoint takes at most "
            f"{max_instances} (split the request or raise the endpoint's max_instances)",
            field="instances",
        )
    return instances


def to_model_input(instances: list[Any], signature: Signature) -> Any:
    """Rows (objects or arrays) to what the model takes: a DataFrame or an ndarray."""
    schema = signature.inputs
    first = instances[0]
    if isinstance(first, dict):
        return _records_to_frame(instances, signature)
    if schema is not None and schema.kind == "columns":
        # arrays for a column model: positional, in the signature's order
        _check_rows_are_arrays(instances, len(schema.columns))
        import pandas as pd

        frame = pd.DataFrame(instances, columns=schema.names)
        return _checked(signature, frame)
    dtype = _numpy_dtype(schema.dtype if schema is not None else None)
    try:
        array = np.asarray(instances, dtype=dtype)
    except (ValueError, TypeError):
        _explain_bad_array(instances, schema.dtype if schema is not None else None)
        raise
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        where = "instances" + "".join(f"[{i}]" for i in np.argwhere(~np.isfinite(array))[0])
        raise Unprocessable(f"{where} is null, NaN or infinite; send finite numbers", field=where)
    return _checked(signature, array)


def _checked(signature: Signature, batch: Any) -> Any:
    try:
        return signature.validate(batch)
    except InvalidInput as exc:
        raise Unprocessable(exc.message, field=exc.field) from None


def _numpy_dtype(dtype: str | None) -> Any:
    if dtype is None or dtype == "object":
        return None
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return None
    return dtype if kind in "fiub" else None


def _check_rows_are_arrays(instances: list[Any], width: int) -> None:
    for i, row in enumerate(instances):
        if not isinstance(row, list):
            raise Unprocessable(
                f"instances[{i}] is {type(row).__name__}; send every row the same way "
                "(all objects or all arrays)",
                field=f"instances[{i}]",
            )
        if len(row) != width:
            raise Unprocessable(
                f"instances[{i}] has {len(row)} values, the model takes {width}",
                field=f"instances[{i}]",
            )


def _explain_bad_array(instances: list[Any], dtype: str | None) -> None:
    shape = None
    for i, row in enumerate(instances):
        row_shape = np.shape(row) if not isinstance(row, dict) else None
        if isinstance(row, dict):
            raise Unprocessable(
                f"instances[{i}] is an object but instances[0] is not; send every row the same way",
                field=f"instances[{i}]",
            )
        if shape is None:
            shape = row_shape
        elif row_shape != shape:
            raise Unprocessable(
                f"instances[{i}] has shape {list(row_shape)}, instances[0] has {list(shape)}; "
                "rows must all have the same shape",
                field=f"instances[{i}]",
            )
        for path, value in _leaves(row, f"instances[{i}]"):
            if value is None:
                raise Unprocessable(
                    f"{path} is null; the model takes {dtype or 'numbers'}", field=path
                )
            if not isinstance(value, int | float | bool):
                raise Unprocessable(
                    f"{path} is {type(value).__name__} {value!r}; "
                    f"the model takes {dtype or 'numbers'}",
                    field=path,
                )
    raise Unprocessable(f"instances cannot be read as {dtype or 'an array'}", field="instances")


def _leaves(value: Any, path: str):
    if isinstance(value, list):
        for j, v in enumerate(value):
            yield from _leaves(v, f"{path}[{j}]")
    else:
        yield path, value


def _records_to_frame(instances: list[Any], signature: Signature) -> Any:
    import pandas as pd

    schema = signature.inputs
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise Unprocessable(
                f"instances[{i}] is {type(row).__name__} but instances[0] is an object; "
                "send every row the same way",
                field=f"instances[{i}]",
            )
        for key, value in row.items():
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                raise Unprocessable(
                    f"instances[{i}].{key} is null or not finite; send a value", field=key
                )
            if isinstance(value, dict | list):
                raise Unprocessable(
                    f"instances[{i}].{key} is a nested {type(value).__name__}; send a plain value",
                    field=key,
                )
    if schema is None or schema.kind != "columns":
        raise Unprocessable(
            f"the model takes {schema.describe() if schema else 'arrays'}; send rows as arrays",
            field="instances",
        )
    frame = pd.DataFrame.from_records(instances)
    missing_somewhere = frame.columns[frame.isna().any()].tolist()
    if missing_somewhere:
        col = str(missing_somewhere[0])
        row = int(np.flatnonzero(frame[col].isna().to_numpy())[0])
        raise Unprocessable(
            f"instances[{row}] has no {col!r}; every row needs {', '.join(schema.names)}",
            field=col,
        )
    return _checked(signature, frame)


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def response_rows(result: PredictionBatch) -> list[dict[str, Any]]:
    outputs = _plain(result.outputs)
    conf = None if result.confidence is None else _plain(result.confidence)
    if result.probabilities is not None and result.classes is not None:
        classes = [str(c) for c in result.classes]
        probs = _plain(result.probabilities)
        return [
            {"output": o, "confidence": c, "probabilities": dict(zip(classes, p, strict=True))}
            for o, c, p in zip(outputs, conf or [None] * len(outputs), probs, strict=True)
        ]
    if conf is not None:
        return [{"output": o, "confidence": c} for o, c in zip(outputs, conf, strict=True)]
    return [{"output": o} for o in outputs]


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
