"""Slices ("tags" in error analysis): named subsets of the rows ("dark", "factory=B", "car noise")
that error analysis, HLP, the evaluation gate, label agreement and augmentation work on one by one.

A tag is written as one of:

==========================  =================================================================
``factory=B``               rows whose column equals the value (compared as text, so ``line=2``
                            matches the integer 2); also ``!=``
``brightness<0.22``         a numeric comparison: ``<``, ``<=``, ``>``, ``>=``
``blurry``                  a true/false column (bool, 0/1, or the words true/false/yes/no)
``mytags:reflection``       a function ``module:function`` taking one row (a dict) → bool;
                            decorated with :func:`frame_tag` it takes the whole DataFrame
                            and returns a boolean mask (fast on millions of rows)
==========================  =================================================================

A *tag column* holds one tag per row (``noise`` = "car noise", "people noise", …): each of its
values becomes a tag; a true/false tag column is one tag named after the column. With nothing
named, :func:`auto_tags` slices every column with few distinct values.

Missing values never belong to a tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import InvalidInput, suggest

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_AUTO_VALUES",
    "TagFunction",
    "as_text",
    "auto_tags",
    "frame_tag",
    "split_tag_list",
    "tag_masks",
]

MAX_AUTO_VALUES = 20  # a column with more distinct values than this is not sliced automatically
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_COMPARISON = re.compile(r"^(?P<column>.+?)\s*(?P<op>==|!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FRAME_ATTR = "__inprod_frame_tag__"

TagFunction = Callable[[Any], Any]


class _Say(NamedTuple):
    """How an error names a spec ("tag" in error analysis, "slice" elsewhere) and its field."""

    what: str
    field: str


def as_text(value: Any) -> str:
    """A value as a person writes it: 2.0 as "2", so values read the same from CSV, Parquet, JSON
    and a model's float outputs (a label ``1``, ``1.0`` and ``"1"`` are one class)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def frame_tag(fn: TagFunction) -> TagFunction:
    """Mark a tag function as taking the whole DataFrame and returning one bool per row.

    Row functions are simple to write but run in Python once per row (about a second per
    million rows); a frame function runs vectorized.
    """
    setattr(fn, _FRAME_ATTR, True)
    return fn


def split_tag_list(values: Iterable[str]) -> list[str]:
    """``["dark,blurry", "factory=B"]`` → ``["dark", "blurry", "factory=B"]`` (CLI options may
    be repeated or comma-separated); blanks and repeats are dropped."""
    out = [part.strip() for value in values for part in value.split(",")]
    return list(dict.fromkeys(p for p in out if p))


def tag_masks(
    frame: pd.DataFrame,
    tags: Sequence[str] = (),
    *,
    tag_columns: Sequence[str] = (),
    functions: Mapping[str, TagFunction] | None = None,
    what: str = "tag",
    field: str = "tags",
) -> dict[str, np.ndarray]:
    """``{tag: boolean mask over frame's rows}`` for every tag named, in the order given.

    ``tags`` are specs as in the module docstring; ``tag_columns`` are columns holding one tag
    per row (or true/false); ``functions`` maps a tag name to a row function (or a
    :func:`frame_tag` one). Raises InvalidInput naming the unknown column or bad spec; its
    message calls a spec a ``what`` ("tag", "slice") and its field is ``field``.
    """
    say = _Say(what, field)
    masks: dict[str, np.ndarray] = {}

    def put(name: str, mask: np.ndarray, fallback: str | None = None) -> None:
        if name in masks:
            if fallback is None or fallback in masks:
                raise InvalidInput(f"{what} {name!r} is named twice; give each once", field=field)
            name = fallback
        masks[name] = mask

    for spec in tags:
        put(spec, _spec_mask(frame, spec, say))
    for name, fn in (functions or {}).items():
        put(name, _function_mask(frame, fn, name, say))
    for column in tag_columns:
        _check_column(frame, column, say)
        truth = _truth_values(frame[column])
        if truth is not None:
            put(column, truth)
            continue
        codes, values = _factorize(frame[column])
        for i, value in enumerate(values):
            text = as_text(value)
            put(text, codes == i, fallback=f"{column}={text}")
    return masks


def auto_tags(
    frame: pd.DataFrame, columns: Iterable[str], *, max_values: int = MAX_AUTO_VALUES
) -> list[str]:
    """Specs slicing ``columns`` that have at most ``max_values`` distinct values: the column's
    name for a true/false column, else ``column=value`` per value (most frequent first)."""
    specs: list[str] = []
    for column in columns:
        values = frame[column]
        if _truth_values(values) is not None:
            specs.append(column)
            continue
        counts = values.value_counts(dropna=True)
        if 0 < len(counts) <= max_values:
            specs.extend(f"{column}={as_text(v)}" for v in counts.index)
    return specs


def _spec_mask(frame: pd.DataFrame, spec: str, say: _Say) -> np.ndarray:
    what, field = say
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput(f"{what} {spec!r} is empty; e.g. 'dark' or 'factory=B'", field=field)
    if spec in frame.columns:
        truth = _truth_values(frame[spec])
        if truth is None:
            raise InvalidInput(
                f"{what} {spec!r}: column {spec!r} is not true/false; name a value, e.g. "
                f"{_example_value(frame, spec)}"
                + (", or give it as a tag column (one tag per value)" if what == "tag" else ""),
                field=field,
            )
        return truth
    match = _COMPARISON.match(spec)
    if match and match.group("column") in frame.columns:
        return _comparison_mask(frame[match.group("column")], spec, match, say)
    if _FUNCTION.match(spec):
        from ..flavors.python_callable import import_callable

        return _function_mask(frame, import_callable(spec), spec, say)
    column = match.group("column") if match else spec
    hint = suggest(column, map(str, frame.columns), what="columns")
    raise InvalidInput(
        f"{what} {spec!r}: no column {column!r}; {hint} (a {what} is COLUMN, COLUMN=VALUE, "
        "COLUMN<NUMBER or module:function)",
        field=field,
    )


def _comparison_mask(values: pd.Series, spec: str, match: re.Match[str], say: _Say) -> np.ndarray:
    import pandas as pd

    what, field = say
    op, raw = match.group("op"), match.group("value")
    if op in ("=", "==", "!="):
        equal = _equal_mask(values, raw)
        return ~equal & values.notna().to_numpy() if op == "!=" else equal
    try:
        number = float(raw)
    except ValueError:
        raise InvalidInput(
            f"{what} {spec!r}: {raw!r} is not a number; {op} compares numbers", field=field
        ) from None
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InvalidInput(
            f"{what} {spec!r}: column {match.group('column')!r} is not numeric; use = for text",
            field=field,
        )
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[op](
            array, number
        )


def _equal_mask(values: pd.Series, raw: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        wanted = _word_truth(raw)
        if wanted is not None:
            return values.to_numpy(dtype=bool, na_value=False) == wanted
    elif pd.api.types.is_numeric_dtype(values):
        try:
            number = float(raw)
        except ValueError:
            return np.zeros(len(values), dtype=bool)
        return values.to_numpy(dtype=np.float64, na_value=np.nan) == number
    # text: compare the distinct values once, then look the codes up
    codes, uniques = _factorize(values)
    hits = np.array([as_text(u) == raw for u in uniques] + [False], dtype=bool)
    return hits[codes]


def _function_mask(frame: pd.DataFrame, fn: TagFunction, name: str, say: _Say) -> np.ndarray:
    what, field = say
    try:
        if getattr(fn, _FRAME_ATTR, False):
            result = fn(frame)
        else:
            result = [fn(row) for row in frame.to_dict("records")]
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"{what} function {name!r} failed: {type(exc).__name__}: {exc}", field=field
        ) from None
    mask = np.asarray(result)
    if mask.shape != (len(frame),):
        raise InvalidInput(
            f"{what} function {name!r} returned {mask.shape[0] if mask.ndim else 'one'} value(s) "
            f"for {len(frame)} rows; return one true/false per row",
            field=field,
        )
    if mask.dtype != bool:
        try:
            mask = mask.astype(bool)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"{what} function {name!r} must return true/false per row", field=field
            ) from None
    return mask


def _truth_values(values: pd.Series) -> np.ndarray | None:
    """The column as a mask when it is true/false (bool, 0/1, true/false words), else None."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool, na_value=False)
    if pd.api.types.is_numeric_dtype(values):
        present = values.dropna()
        if len(present) and present.isin((0, 1)).all():
            return values.to_numpy(dtype=np.float64, na_value=np.nan) == 1
        return None
    codes, uniques = _factorize(values)
    truth = [_word_truth(as_text(u)) for u in uniques]
    if not uniques.size or any(t is None for t in truth):
        return None
    return np.array([*truth, False], dtype=bool)[codes]


def _word_truth(text: str) -> bool | None:
    lowered = text.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (missing = -1, which indexes a trailing False) and the distinct values."""
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _check_column(frame: pd.DataFrame, column: str, say: _Say) -> None:
    if column not in frame.columns:
        known = map(str, frame.columns)
        raise InvalidInput(
            f"{say.what} column {column!r} is not a column; "
            f"{suggest(column, known, what='columns')}",
            field=say.field,
        )


def _example_value(frame: pd.DataFrame, column: str) -> str:
    present = frame[column].dropna()
    return f"'{column}={as_text(present.iloc[0])}'" if len(present) else f"'{column}=VALUE'"
