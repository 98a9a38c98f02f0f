"""Multivariate drift: can a classifier tell the reference's rows from the current ones?

Per-column tests (:mod:`.drift`) look at one feature at a time, so they miss a change in how
features go together: each marginal the same, their correlation flipped. A *domain classifier*
sees whole rows: it is trained to say "reference" or "current", and its cross-validated ROC AUC
measures how far apart the two tables are: 0.5 means they cannot be told apart, 1.0 means every
row gives its side away. The drop in AUC when one feature's values are shuffled (permutation
importance on held-out rows) says which features carry the difference.

Encoding: numbers as they are (datetimes as seconds, booleans 0/1), missing values replaced by
the pooled median plus a "missing" indicator; everything else one-hot over the
:data:`MAX_CATEGORIES` most common values plus "other" and "missing" columns. The classifier is
scikit-learn's histogram gradient boosting, fast on ten thousand rows and indifferent to units.

An endpoint's current rows are its sampled logged inputs (``predictions.inputs``); its reference
is one of the forms :mod:`.reference` resolves (the served model's training dataset, a dataset
version, a window of its own traffic), read as raw rows with features named as the endpoint names
them: dict instances by key, positional rows as ``x0 .. xN``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInput
from .drift import NUMERIC, infer_kind
from .profile import MAX_POSITIONAL_FEATURES

# The store and SQLAlchemy are imported where used: `inprod monitor drift` on files skips them.
if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import ColumnElement

    from ..registry._lookup import ModelVersionInfo
    from ..store import Store

DEFAULT_MAX_ROWS = 5000
DEFAULT_FOLDS = 5
DEFAULT_THRESHOLD = 0.6
MIN_ROWS_PER_FOLD = 10  # rows a side per fold; fewer make the AUC mostly noise
MAX_CATEGORIES = 20  # one-hot columns per categorical feature, besides "other" and "missing"
BOOSTING_ROUNDS = 30  # few, large steps: the same verdicts as 100 steps of 0.1 in a third
LEARNING_RATE = 0.3  # of the time on our checks (a flipped correlation, a 0.8 → 0.6 change)
LEAVES = 15
CACHE_SIZE = 8  # sampled dataset references kept per process
_SCALARS = (str, int, float, bool)

_cache: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
_cache_lock = threading.Lock()

__all__ = [
    "MultivariateDrift",
    "domain_classifier_drift",
    "endpoint_multivariate_drift",
    "logged_inputs",
]


@dataclass(frozen=True)
class MultivariateDrift:
    """A domain classifier's verdict: ``auc`` is the mean over folds, ``auc_std`` their spread.

    ``features`` pairs each compared feature with its permutation importance (mean drop in AUC
    when its values are shuffled), largest first; ``n_reference`` / ``n_current`` count the rows
    used, after sampling. ``note`` says what was sampled or left out."""

    auc: float
    auc_std: float
    drifted: bool
    threshold: float
    n_reference: int
    n_current: int
    features: list[tuple[str, float]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "auc_std": self.auc_std,
            "drifted": self.drifted,
            "threshold": self.threshold,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "features": [{"name": n, "importance": i} for n, i in self.features],
            "note": self.note,
        }


def domain_classifier_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    categorical: list[str] | tuple[str, ...] = (),
) -> MultivariateDrift:
    """Train a classifier to tell ``reference`` rows from ``current`` rows on their shared
    columns and report its ``folds``-fold ROC AUC; drifted when the AUC ≥ ``threshold``.

    At most ``max_rows`` rows a side are used (a seeded random sample). ``categorical`` names
    columns of codes to one-hot rather than treat as numbers. Takes about half a second for 5,000
    rows a side and a dozen columns (3 s for 64), on one thread. Raises InvalidInput when the
    tables share no columns, a side has fewer than ``folds`` × 10 rows, or an option is out of
    range.
    """
    _check_options(max_rows, folds, threshold)
    current_columns = set(current.columns)
    shared = [c for c in reference.columns if c in current_columns]
    if not shared:
        raise InvalidInput(
            f"the tables share no columns (reference: {_names(reference.columns)}; current: "
            f"{_names(current.columns)}); compare tables with the same column names",
            field="columns",
        )
    unknown = [c for c in categorical if c not in shared]
    if unknown:
        raise InvalidInput(
            f"categorical column(s) {_names(unknown)} are not shared by both tables "
            f"(shared: {_names(shared)})",
            field="categorical",
        )
    need = folds * MIN_ROWS_PER_FOLD
    for side, frame in (("reference", reference), ("current", current)):
        if len(frame) < need:
            raise InvalidInput(
                f"the {side} table has {len(frame)} rows; a domain classifier with {folds} folds "
                f"needs at least {need} a side ({MIN_ROWS_PER_FOLD} per fold); give more rows "
                "or fewer folds",
                field=side,
            )
    rng = np.random.default_rng(seed)
    ref = _sample(reference, max_rows, rng)
    cur = _sample(current, max_rows, rng)
    x, groups, mixed = _design(ref[shared], cur[shared], set(categorical))
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    aucs, importances = _cross_validate(x, y, groups, folds, seed)
    auc = float(np.mean(aucs))
    scored = zip(shared, importances, strict=True)
    ranked = sorted(((str(name), float(v)) for name, v in scored), key=lambda p: -p[1])
    notes = [
        f"sampled {len(t)} of {len(f)} {side} rows"
        for side, t, f in (("reference", ref, reference), ("current", cur, current))
        if len(t) < len(f)
    ]
    one_sided = [c for c in (*reference.columns, *current.columns) if c not in shared]
    if one_sided:
        notes.append(f"not compared (on one side only): {_names(one_sided)}")
    if mixed:
        notes.append(f"numbers on one side, text on the other, compared as text: {_names(mixed)}")
    return MultivariateDrift(
        auc=auc,
        auc_std=float(np.std(aucs)),
        drifted=auc >= threshold,
        threshold=threshold,
        n_reference=len(ref),
        n_current=len(cur),
        features=ranked,
        note="; ".join(notes),
    )


def _check_options(max_rows: int, folds: int, threshold: float) -> None:
    if folds < 2:
        raise InvalidInput(f"folds must be at least 2, got {folds}", field="folds")
    if max_rows < folds * MIN_ROWS_PER_FOLD:
        raise InvalidInput(
            f"max_rows={max_rows} is too few for {folds} folds; use at least "
            f"{folds * MIN_ROWS_PER_FOLD}",
            field="max_rows",
        )
    if not 0.5 < threshold <= 1.0:
        raise InvalidInput(
            f"threshold must be an AUC above 0.5 and at most 1, got {threshold}",
            field="threshold",
        )


def _sample(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]


# -- encoding -----------------------------------------------------------------------------


def _design(
    ref: pd.DataFrame, cur: pd.DataFrame, categorical: set[str]
) -> tuple[np.ndarray, list[slice], list[str]]:
    """The pooled matrix (reference rows first), each feature's block of columns, and the
    features that are numbers on one side and text on the other."""
    blocks: list[np.ndarray] = []
    groups: list[slice] = []
    mixed: list[str] = []
    start = 0
    for name in ref.columns:
        kinds = {infer_kind(ref[name]), infer_kind(cur[name])}
        if kinds == {NUMERIC} and name not in categorical:
            block = _numeric_block(np.r_[_floats(ref[name]), _floats(cur[name])])
        else:
            if len(kinds) > 1:
                mixed.append(name)
            block = _category_block(_category_keys(ref[name], cur[name], kinds == {NUMERIC}))
        blocks.append(block)
        groups.append(slice(start, start + block.shape[1]))
        start += block.shape[1]
    return np.hstack(blocks), groups, mixed


def _floats(values: pd.Series) -> np.ndarray:
    """Numbers as float64, datetimes as seconds since the epoch, missing and ±inf as NaN."""
    import pandas as pd
    from pandas.api import types

    if types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
        values = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(array), array, np.nan)  # a copy: never write into the caller's


def _numeric_block(values: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    if not missing.any():
        return values[:, None]
    fill = float(np.median(values[~missing])) if not missing.all() else 0.0
    return np.column_stack((np.where(missing, fill, values), missing))


def _category_keys(ref: pd.Series, cur: pd.Series, numeric: bool) -> pd.Series:
    """Both sides' values as comparable keys: numbers as floats (so code 3 and 3.0 agree),
    anything else as text; missing stays missing."""
    import pandas as pd

    if numeric:
        return pd.Series(np.r_[_floats(ref), _floats(cur)])
    pooled = pd.concat([ref.astype(object), cur.astype(object)], ignore_index=True)
    return pooled.astype(str).where(pooled.notna())


def _category_block(keys: pd.Series) -> np.ndarray:
    import pandas as pd

    missing = keys.isna().to_numpy()
    top = keys.value_counts().index[:MAX_CATEGORIES]
    codes = pd.Categorical(keys, categories=top).codes
    columns = [codes == i for i in range(len(top))]
    other = (codes == -1) & ~missing
    columns += [c for c in (other, missing) if c.any()]
    return np.column_stack(columns).astype(np.float64)


# -- the classifier -----------------------------------------------------------------------


def _cross_validate(
    x: np.ndarray, y: np.ndarray, groups: list[slice], folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each fold's held-out AUC, and each feature's mean drop in AUC when its block is shuffled
    in the held-out rows (one-hot columns move together, so a feature is scored as a whole).

    On one OpenMP thread: at ten thousand rows the boosting's parallel loops cost more in
    synchronisation than they save (5× slower with two threads on a busy two-core machine), and
    this runs beside a server whose requests need the other cores."""
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y)
    results = []
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in splits:
            results.append(_fold(x, y, train, test, groups, seed, rng))
    aucs = np.array([auc for auc, _ in results])
    return aucs, np.mean([drops for _, drops in results], axis=0)


def _fold(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    groups: list[slice],
    seed: int,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    model = HistGradientBoostingClassifier(
        max_iter=BOOSTING_ROUNDS,
        learning_rate=LEARNING_RATE,
        max_leaf_nodes=LEAVES,
        early_stopping=False,
        random_state=seed,
    )
    model.fit(x[train], y[train])
    held_out, truth = x[test], y[test]
    auc = float(roc_auc_score(truth, model.predict_proba(held_out)[:, 1]))
    drops = np.empty(len(groups))
    for g, block in enumerate(groups):
        kept = held_out[:, block].copy()
        held_out[:, block] = kept[rng.permutation(len(kept))]
        drops[g] = auc - roc_auc_score(truth, model.predict_proba(held_out)[:, 1])
        held_out[:, block] = kept
    return auc, drops


# -- logged inputs ------------------------------------------------------------------------


def logged_inputs(
    endpoint: str,
    *,
    since: datetime,
    until: datetime,
    role: str = "primary",
    limit: int = DEFAULT_MAX_ROWS,
    store: Store | None = None,
) -> pd.DataFrame:
    """The inputs ``endpoint`` logged in [since, until) in ``role``, one row per instance.

    Dict instances give a column per key; lists of at most 64 scalars (and lone scalars) give
    ``x0 .. xN``, as window profiles name them. Other shapes (images, embeddings, wider rows)
    are skipped and counted in ``frame.attrs["skipped"]``. Only instances whose inputs were
    logged count (``sample_rate``). Over ``limit`` of them, a uniform sample of ``limit`` is
    read (those with the smallest ids, which are random) and ``frame.attrs["sampled"]`` is True.
    Naive times are taken as UTC.
    """
    from ..store import get_store
    from ..store.tables import Prediction

    start, end = _span(since, until)
    return _read_inputs(endpoint, start, end, Prediction.role == role, limit, get_store(store))


def _span(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    from .reference import _utc

    start, end = _utc(since), _utc(until)
    if start >= end:
        raise InvalidInput(
            f"the span ends ({end.isoformat()}) before it starts ({start.isoformat()}); "
            "give since before until",
            field="since",
        )
    return start, end


def _read_inputs(
    endpoint: str,
    since: datetime,
    until: datetime,
    role: ColumnElement[bool],
    limit: int,
    store: Store,
) -> pd.DataFrame:
    import pandas as pd
    from sqlalchemy import select

    from ..store.tables import Prediction

    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}", field="limit")
    query = (
        select(Prediction.inputs)
        .where(
            Prediction.endpoint == endpoint,
            Prediction.time >= since,
            Prediction.time < until,
            Prediction.inputs.is_not(None),
            role,
        )
        .order_by(Prediction.id)
        .limit(limit + 1)
    )
    with store.session(write=False) as s:
        instances = s.scalars(query).all()
    records = [r for r in map(_record, instances[:limit]) if r is not None]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.attrs["skipped"] = min(len(instances), limit) - len(records)
    frame.attrs["sampled"] = len(instances) > limit
    return frame


def _record(instance: Any) -> dict[str, Any] | None:
    """One logged instance as a row of named features, or None for a shape that is not one."""
    if isinstance(instance, dict):
        return {str(k): v for k, v in instance.items()}
    if isinstance(instance, list) and 0 < len(instance) <= MAX_POSITIONAL_FEATURES:
        if all(v is None or isinstance(v, _SCALARS) for v in instance):
            return {f"x{i}": v for i, v in enumerate(instance)}
        return None
    return {"x0": instance} if isinstance(instance, _SCALARS) else None


# -- an endpoint against its reference ----------------------------------------------------


def endpoint_multivariate_drift(
    endpoint: str,
    *,
    since: datetime,
    until: datetime,
    reference: str | None = None,
    role: str = "primary",
    max_rows: int = DEFAULT_MAX_ROWS,
    store: Store | None = None,
) -> MultivariateDrift:
    """The domain classifier on ``endpoint``'s logged inputs in [since, until) (``role``)
    against ``reference``: ``dataset:NAME@VERSION``, ``window:START/END`` (its own traffic,
    every role but shadow) or, by default, the served model's training dataset; at most
    ``max_rows`` a side. Fields the endpoint redacts in its log are left out. Raises NotFound
    for an unknown endpoint or dataset, InvalidInput for a span without logged tabular inputs
    or a reference that cannot be used.
    """
    from .. import endpoints
    from ..store import get_store
    from ..store.tables import Prediction

    store = get_store(store)
    start, end = _span(since, until)
    endpoints.get(endpoint, store=store)  # NotFound before "nothing logged"
    current = _read_inputs(endpoint, start, end, Prediction.role == role, max_rows, store)
    where = f"from {start.isoformat()} to {end.isoformat()}"
    check_logged(current, f"endpoint {endpoint!r} in role {role!r} {where}", "since")
    description, table = reference_rows(endpoint, reference, max_rows, store)
    redacted = [c for c in current.columns if holds_value(current[c], endpoints.REDACTED)]
    redacted += [
        c for c in table.columns if c not in redacted and holds_value(table[c], endpoints.REDACTED)
    ]
    result = domain_classifier_drift(
        table.drop(columns=redacted, errors="ignore"),
        current.drop(columns=redacted),
        max_rows=max_rows,
    )
    notes = [f"reference {description}"]
    for side, frame in (("reference", table), ("current", current)):
        if frame.attrs.get("sampled"):
            notes.append(f"a random {len(frame)} of the {side} rows")
        if frame.attrs.get("skipped"):
            notes.append(f"{frame.attrs['skipped']} {side} instance(s) not tabular, skipped")
    if redacted:
        notes.append(f"redacted in the log, left out: {_names(redacted)}")
    return replace(result, note="; ".join([*notes, result.note] if result.note else notes))


def check_logged(frame: pd.DataFrame, what: str, field: str) -> None:
    if len(frame):
        return
    if frame.attrs["skipped"]:
        raise InvalidInput(
            f"none of the {frame.attrs['skipped']} inputs logged by {what} is tabular (a dict "
            "of features or a list of at most 64 numbers); a domain classifier compares "
            "tables, so use the per-feature drift metrics (drift.FEATURE.psi) for images and "
            "embeddings",
            field=field,
        )
    raise InvalidInput(
        f"no inputs were logged by {what}; pick a span with traffic, and check the endpoint's "
        "sample_rate (inputs are logged for that share of requests)",
        field=field,
    )


def holds_value(values: pd.Series, marker: str) -> bool:
    from pandas.api import types

    text = types.is_object_dtype(values.dtype) or types.is_string_dtype(values.dtype)
    return text and bool((values == marker).any())


def reference_rows(
    endpoint: str, reference: str | None, max_rows: int, store: Store
) -> tuple[str, pd.DataFrame]:
    """``(description, rows)`` of a reference in :func:`.reference.reference_profile`'s forms."""
    from ..store.tables import Prediction
    from . import reference as ref

    if reference is None:
        served = ref._served_version(endpoint, store)
        return _dataset_rows(served, ref._training_dataset(served, store), max_rows, store)
    text = reference.strip()
    if text.startswith(ref.DATASET_PREFIX):
        served = ref._served_version(endpoint, store)
        return _dataset_rows(served, text[len(ref.DATASET_PREFIX) :], max_rows, store)
    if text.startswith(ref.WINDOW_PREFIX):
        start, end = ref._parse_span(text[len(ref.WINDOW_PREFIX) :])
        rows = _read_inputs(endpoint, start, end, Prediction.role != "shadow", max_rows, store)
        description = f"{ref.WINDOW_PREFIX}{start.isoformat()}/{end.isoformat()}"
        check_logged(rows, f"endpoint {endpoint!r} in the reference {description}", "reference")
        return description, rows
    raise InvalidInput(
        f"reference {reference!r} is not {ref._EXAMPLES}; leave it out to compare with the "
        "training data of the served model",
        field="reference",
    )


def _dataset_rows(
    served: ModelVersionInfo, name: str, max_rows: int, store: Store
) -> tuple[str, pd.DataFrame]:
    """A table dataset's model inputs, named as the endpoint names them (the signature's rules
    in :mod:`.reference`), sampled to ``max_rows``; cached, as dataset versions never change."""
    import pandas as pd

    from ..data import datasets
    from ..flavors.signature import Signature
    from . import reference as ref

    info = datasets.get(name, store=store)
    description = ref.DATASET_PREFIX + info.ref
    if info.kind != "table":
        raise InvalidInput(
            f"{info.ref} is an image dataset; a domain classifier compares tables of model "
            "inputs: use reference='window:START/END' (traffic you trust) or a table dataset",
            field="reference",
        )
    signature = Signature.from_dict(served.signature)
    identity = (info.id, info.content_hash, json.dumps(signature.to_dict(), default=str), max_rows)
    with _cache_lock:
        cached = _cache.get(identity)
        if cached is not None:
            _cache.move_to_end(identity)
            return description, cached
    frame = datasets.load(info.ref, store=store)
    if len(frame) == 0:
        raise InvalidInput(
            f"dataset {info.ref} has no rows; a reference needs data", field="reference"
        )
    inputs = set(signature.inputs.names) if signature.inputs is not None else set()
    ignored = [
        c
        for c in (*info.label_columns, *info.metadata_columns)
        if c not in inputs and c in frame.columns
    ]
    sampled = len(frame) > max_rows
    frame = _sample(frame.drop(columns=ignored), max_rows, np.random.default_rng(0))
    frame = frame.reset_index(drop=True)
    columns = {str(c): frame[c] for c in frame.columns}
    features = ref._feature_columns(columns, list(columns), signature, f"dataset {info.ref}")
    table = pd.DataFrame(features)
    table.attrs["sampled"] = sampled
    with _cache_lock:
        _cache[identity] = table
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return description, table


def _names(names: Any) -> str:
    shown = [repr(str(n)) for n in list(names)[:10]]
    extra = len(list(names)) - len(shown)
    return (", ".join(shown) + (f" and {extra} more" if extra > 0 else "")) or "none"
