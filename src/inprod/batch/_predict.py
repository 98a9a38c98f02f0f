"""Scoring one chunk: validate it, call the model, and lay the result out as output columns.

The same function runs in this process (local engine) and inside Ray workers, so both engines
produce the same columns from the same Predictor code:

    <kept input columns...>, prediction, confidence (when the model gives probabilities),
    proba_<class> for each class (in the model's class order)

A model whose outputs have more than one value per row (multi-output) gets a fixed-size list
``prediction`` column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InprodError, InvalidInput
from ..flavors import PredictionBatch, Predictor
from ._input import first_line
from ._plan import PROBA_PREFIX, ScoringPlan


def score_chunk(
    predictor: Predictor, plan: ScoringPlan, chunk: pa.Table, first_row: int | None = None
) -> pa.Table:
    """Output columns for one chunk of the input; ``first_row`` (0-based) is for messages."""
    where = _rows(first_row, chunk.num_rows)
    frame = chunk.select(list(plan.features)).to_pandas()
    try:
        batch = plan.signature.validate(frame)
    except InvalidInput as exc:
        raise InvalidInput(
            f"input {plan.input_name}, {where}: {exc.message}{_nulls_hint(chunk, exc.field)}",
            field=exc.field,
        ) from None
    try:
        result = predictor.predict(batch)
    except InprodError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"model {plan.model_ref} failed on {where} of {plan.input_name}: "
            f"{type(exc).__name__}: {first_line(exc)}{_missing_hint(chunk, plan.features)}"
        ) from None
    try:
        return output_table(chunk.select(list(plan.keep)), result)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"model {plan.model_ref} returned outputs for {where} of {plan.input_name} that "
            f"cannot be stored as a Parquet column: {exc}"
        ) from None


def output_table(kept: pa.Table, result: PredictionBatch) -> pa.Table:
    """Kept columns, then ``prediction``, ``confidence`` and ``proba_<class>`` columns."""
    n = kept.num_rows
    if len(result) != n:
        raise InvalidInput(f"the model returned {len(result)} predictions for {n} rows")
    columns: dict[str, Any] = {name: kept.column(name) for name in kept.column_names}
    columns["prediction"] = _prediction_array(result.outputs)
    if result.confidence is not None:
        columns["confidence"] = pa.array(np.asarray(result.confidence, dtype=np.float64))
    if result.probabilities is not None:
        proba = np.asarray(result.probabilities, dtype=np.float64)
        for j, name in enumerate(proba_columns(result.classes, proba.shape[1])):
            columns[name] = pa.array(proba[:, j])
    return pa.table(columns)


def proba_columns(classes: list[Any] | None, count: int) -> list[str]:
    """``proba_<class>`` names; class positions when the classes are unknown or not distinct."""
    names = [f"{PROBA_PREFIX}{c}" for c in classes] if classes is not None else []
    if len(names) != count or len(set(names)) != count:
        names = [f"{PROBA_PREFIX}{j}" for j in range(count)]
    return names


def _prediction_array(outputs: Any) -> pa.Array:
    values = np.asarray(outputs)
    if values.ndim <= 1:
        return pa.array(values)
    flat = values.reshape(len(values), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])


def _rows(first_row: int | None, n: int) -> str:
    if first_row is None:
        return f"a chunk of {n} rows"
    # 1-based data rows, as a person counts them (the header is not a row)
    return f"rows {first_row + 1}-{first_row + n}"


def _missing_hint(chunk: pa.Table, features: tuple[str, ...]) -> str:
    counts = {name: chunk.column(name).null_count for name in features}
    missing = [f"{name!r} ({n})" for name, n in counts.items() if n]
    if not missing:
        return ""
    return f" (missing values there in {', '.join(missing)}; fill or drop them first)"


def _nulls_hint(chunk: pa.Table, field: str | None) -> str:
    if field is None or field not in chunk.column_names:
        return ""
    nulls = chunk.column(field).null_count
    if not nulls:
        return ""
    return f" (it has {nulls} missing value(s) there; fill or drop them first)"
