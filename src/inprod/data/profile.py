"""What each column holds: one pass per column gives both its schema entry and its profile.

Statistics run on Arrow arrays and numpy views of them, never on Python objects, so profiling a
million rows costs about what computing the same numbers with pyarrow alone would. Nulls are
excluded from every statistic and counted; so are NaN and infinities in float columns
(``nan_count``, ``inf_count``).
``std`` is the sample standard deviation (ddof=1, as pandas); quantiles interpolate linearly
(numpy's and pandas' default).

A profile is ``{"rows": n, "columns": {name: stats}}``: numbers get count, mean, std, min, max
and quantiles p01..p99; strings and booleans get distinct and ``top`` (value, count) pairs —
every value when there are at most 50, else the 10 most frequent; times get min and max.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ._progress import ProgressFn, report
from .schema import MAX_CATEGORIES, column_kind, type_name

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_VALUES = 10
STAGE = "profiling columns"


def describe_table(
    table: pa.Table, *, roles: dict[str, str], progress: ProgressFn | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(schema entries in column order, profile) for every column of ``table``."""
    entries: list[dict[str, Any]] = []
    stats: dict[str, Any] = {}
    total = table.num_columns
    report(progress, STAGE, 0, total)
    for i, name in enumerate(table.column_names):
        entry, column_stats = describe_column(name, table.column(i), role=roles.get(name))
        entries.append(entry)
        stats[name] = column_stats
        report(progress, STAGE, i + 1, total)
    return entries, {"rows": table.num_rows, "columns": stats}


def describe_column(
    name: str, column: pa.ChunkedArray, *, role: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    kind = column_kind(column.type)
    rows, nulls = len(column), column.null_count
    entry: dict[str, Any] = {
        "name": name,
        "type": type_name(column.type),
        "kind": kind,
        "nullable": nulls > 0,
        "null_count": nulls,
    }
    if role:
        entry["role"] = role
    stats: dict[str, Any] = {
        "count": rows - nulls,
        "null_count": nulls,
        "null_fraction": nulls / rows if rows else 0.0,
    }
    if kind == "numeric":
        stats.update(_numeric_stats(column))
        entry["min"], entry["max"] = stats["min"], stats["max"]
        if role in ("label", "metadata") and _is_integer(column.type):
            _add_value_counts(column, entry, stats)
    elif kind in ("string", "boolean"):
        _add_value_counts(column, entry, stats)
        if kind == "boolean":
            true_count = _true_count(column)
            stats["true_count"] = true_count
            stats["mean"] = true_count / stats["count"] if stats["count"] else None
    elif kind == "temporal":
        stats.update(_min_max(column))
        entry["min"], entry["max"] = stats["min"], stats["max"]
    return entry, stats


def _is_integer(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t))


def numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, dict[str, int]]:
    """The non-null, finite values as one numpy array, and how many NaN / infinities were dropped.

    Infinities are counted, not averaged: one would make mean and std meaningless (and JSON
    cannot hold them).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_decimal(column.type) or pa.types.is_float16(column.type):
        column = column.cast(pa.float64())
    if column.null_count:
        column = pc.drop_null(column)
    values = column.to_numpy()
    dropped: dict[str, int] = {}
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            nan_count = int(np.count_nonzero(np.isnan(values)))
            dropped = {
                "nan_count": nan_count,
                "inf_count": values.size - int(finite.sum()) - nan_count,
            }
            values = values[finite]
    return values, dropped


def _numeric_stats(column: pa.ChunkedArray) -> dict[str, Any]:
    values, dropped = numbers(column)
    out: dict[str, Any] = {"count": int(values.size), **dropped}
    out.update(summarize(values))
    return out


def summarize(values: np.ndarray) -> dict[str, Any]:
    """mean, std, min, max and quantiles of a 1-D array without NaN (all None when empty)."""
    import numpy as np

    if values.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "quantiles": None}
    out: dict[str, Any] = {}
    out["mean"] = _number(values.mean(dtype=np.float64))
    out["std"] = _number(values.std(ddof=1, dtype=np.float64)) if values.size > 1 else None
    out["min"] = _number(values.min())
    out["max"] = _number(values.max())
    qs = np.quantile(values, QUANTILES)
    out["quantiles"] = {_quantile_key(q): _number(v) for q, v in zip(QUANTILES, qs, strict=True)}
    return out


def _quantile_key(q: float) -> str:
    return f"p{round(q * 100):02d}"


def _number(value: Any) -> int | float | None:
    """A JSON-safe Python number: ints stay ints; NaN and infinity become None (JSON has none)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def _add_value_counts(
    column: pa.ChunkedArray, entry: dict[str, Any], stats: dict[str, Any]
) -> None:
    import numpy as np
    import pyarrow.compute as pc

    counted = pc.value_counts(column)
    values, counts = counted.field("values"), counted.field("counts")
    if values.null_count:
        valid = values.is_valid()
        values, counts = values.filter(valid), counts.filter(valid)
    distinct = len(values)
    stats["distinct"] = distinct
    count_array = counts.to_numpy()
    keep = distinct if distinct <= MAX_CATEGORIES else TOP_VALUES
    order = np.argsort(-count_array, kind="stable")[:keep]
    top_values = values.take(order).to_pylist()
    stats["top"] = [
        [_plain(v), int(count_array[i])] for v, i in zip(top_values, order, strict=True)
    ]
    if distinct <= MAX_CATEGORIES:
        entry["categories"] = sorted(_plain(v) for v in values.to_pylist())


def _plain(value: Any) -> Any:
    """A JSON value PostgreSQL accepts: its JSONB cannot hold the NUL character."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)


def _true_count(column: pa.ChunkedArray) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(column).as_py() or 0)


def _min_max(column: pa.ChunkedArray) -> dict[str, Any]:
    import pyarrow.compute as pc

    result = pc.min_max(column)
    return {"min": _iso(result["min"]), "max": _iso(result["max"])}


def _iso(scalar: pa.Scalar) -> str | None:
    value = scalar.as_py()
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
