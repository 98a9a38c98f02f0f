"""Classification counts on integer codes, shared by error analysis, HLP and the evaluation gate.

Labels, predictions and baselines are factorized together once into codes 0..K-1 (missing = -1),
so every per-tag number after that is a count over a boolean mask: no Python loop over rows.
Values are compared as text when the columns' types differ (the model says 1, the CSV says
"1"; a float 1.0 reads as "1"), the way review decisions are compared with model answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.slices import as_text as as_text
from ..errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

MISSING = -1


@dataclass(frozen=True)
class Coded:
    """Columns as codes into one shared list of ``classes``."""

    codes: list[np.ndarray]
    classes: list[Any]

    @property
    def k(self) -> int:
        return len(self.classes)


def encode(*columns: pd.Series) -> Coded:
    """Factorize ``columns`` jointly into codes of sorted classes (numbers by value, else as
    text), so tables list classes in a stable order."""
    import pandas as pd

    kinds = {_kind(c) for c in columns}
    if len(kinds) > 1:
        columns = tuple(_as_text(c) for c in columns)
    stacked = pd.concat([c.reset_index(drop=True) for c in columns], ignore_index=True)
    codes, uniques = pd.factorize(stacked, use_na_sentinel=True)
    values = list(uniques)
    try:
        order = sorted(range(len(values)), key=lambda i: values[i])
    except TypeError:
        order = sorted(range(len(values)), key=lambda i: str(values[i]))
    remap = np.full(len(values) + 1, MISSING, dtype=np.int64)
    remap[np.asarray(order, dtype=np.int64)] = np.arange(len(values))
    codes = remap[codes]  # -1 indexes the trailing MISSING
    out, start = [], 0
    for column in columns:
        out.append(codes[start : start + len(column)])
        start += len(column)
    return Coded(out, [_plain(values[i]) for i in order])


def correct_counts(
    label: np.ndarray,
    answer: np.ndarray,
    masks: list[np.ndarray],
    *,
    answered_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows judged, rows answered right) per mask. A row is judged when it has a label; a
    missing answer is wrong (a model that gave nothing did not get it right), unless
    ``answered_only``: a baseline measured on a sample (HLP from 500 relabelled rows) is judged
    on the rows that have it."""
    judged = label != MISSING
    if answered_only:
        judged &= answer != MISSING
    right = judged & (label == answer)
    n = np.array([np.count_nonzero(judged & m) for m in masks], dtype=np.int64)
    hits = np.array([np.count_nonzero(right & m) for m in masks], dtype=np.int64)
    return n, hits


def confusion(label: np.ndarray, answer: np.ndarray, k: int, mask: np.ndarray | None = None):
    """K×K counts, rows = label, columns = answer; rows without a label or answer are left out."""
    keep = (label != MISSING) & (answer != MISSING)
    if mask is not None:
        keep &= mask
    flat = label[keep] * k + answer[keep]
    return np.bincount(flat, minlength=k * k).reshape(k, k)


def class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per class: support (labelled), predicted, precision, recall, f1 (NaN where undefined)."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
        f1 = np.where(
            (support + predicted) > 0, 2 * tp / (support + predicted).astype(np.float64), np.nan
        )
    return {
        "support": support,
        "predicted": predicted,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


CLASS_METRICS = ("precision", "recall", "f1")
METRIC_HELP = "accuracy, macro_f1, precision.CLASS, recall.CLASS or f1.CLASS"


def check_metric(name: str, classes: list[Any] | None = None) -> str:
    """Refuse a metric name this module cannot compute, or a class no column holds."""
    head, _, cls = name.partition(".")
    if name in ("accuracy", "macro_f1"):
        return name
    if head in CLASS_METRICS and cls:
        if classes is not None and cls not in {str(c) for c in classes}:
            shown = ", ".join(repr(str(c)) for c in classes[:12])
            raise InvalidInput(f"metric {name!r}: no class {cls!r} (classes: {shown})")
        return name
    raise InvalidInput(f"unknown metric {name!r}; use {METRIC_HELP}", field="metric")


def metric_value(
    name: str, label: np.ndarray, answer: np.ndarray, coded: Coded, mask: np.ndarray
) -> tuple[float | None, int]:
    """(value, rows it rests on) of a checked metric over the rows in ``mask``."""
    if name == "accuracy":
        n, hits = correct_counts(label, answer, [mask])
        return ratio(int(hits[0]), int(n[0])), int(n[0])
    scores = class_scores(confusion(label, answer, coded.k, mask))
    if name == "macro_f1":
        present = (scores["support"] + scores["predicted"]) > 0  # as scikit-learn's "macro"
        f1 = np.nan_to_num(scores["f1"][present])
        return (float(f1.mean()) if present.any() else None), int(scores["support"].sum())
    head, _, cls = name.partition(".")
    j = [str(c) for c in coded.classes].index(cls)
    rests_on = scores["predicted"][j] if head == "precision" else scores["support"][j]
    return number(scores[head][j]), int(rests_on)


def ratio(numerator: int | float, denominator: int | float) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)


def number(value: Any) -> float | None:
    """A float for JSON, None for NaN."""
    return None if value is None or value != value else float(value)


def _kind(column: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return "bool"
    if pd.api.types.is_numeric_dtype(column):
        return "number"
    return "text"


def _as_text(column: pd.Series) -> pd.Series:
    """Values as text, whole floats without ".0", missing kept missing."""
    import pandas as pd

    if pd.api.types.is_float_dtype(column):
        array = column.to_numpy(dtype=np.float64, na_value=np.nan)
        whole = np.isfinite(array) & (array == np.round(array))
        if whole[~np.isnan(array)].all():
            column = pd.Series(array, index=column.index).astype("Int64")
    return column.astype("string").astype(object).where(column.notna(), None)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
