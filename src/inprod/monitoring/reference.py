"""What an endpoint's windows are compared with: a reference profile.

A reference is one of

- the training data of the model version the endpoint serves (the default), found through
  lineage: model version → its run → the dataset version the run used with role ``train``;
- ``dataset:NAME@VERSION``: any table dataset version, e.g. a later, cleaner sample;
- ``window:START/END`` (ISO times, UTC when no offset is given): the endpoint's own traffic in
  that span, e.g. a first week everyone trusted. Every role but ``shadow`` counts (a shadow sees
  copies of the primary's inputs, which would count them twice).

A table becomes a profile with the features named as the endpoint names what it is sent
(:mod:`.profile`), following the model's signature: named columns by name; a tensor of at most
:data:`~.profile.MAX_POSITIONAL_FEATURES` values per row as ``x0 .. xN`` in column order; a wider
one as the row summaries ``mean``, ``std``, ``min``, ``max``. The first label column stands in
for the model's answers (``output.class`` / ``output.value``) when its values are among the
model's classes, so the same report covers prediction drift against the training labels.

Dataset versions never change, so their profiles are built once per process and cached; so are
window references that ended more than ten minutes ago.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from ..errors import InvalidInput
from ..flavors.signature import Signature
from ..store import Store, get_store
from ..store.tables import Dataset, DatasetVersion, RunDataset
from .profile import (
    MAX_POSITIONAL_FEATURES,
    ROW_SUMMARY_FEATURES,
    FeatureSketch,
    ProfileBuilder,
    ProfileKey,
    WindowProfile,
    merge_all,
    sketch_of,
)
from .sketches import CategorySketch
from .windows import read_profiles

if TYPE_CHECKING:
    import pandas as pd

    from ..registry._lookup import ModelVersionInfo

logger = logging.getLogger(__name__)

DATASET_PREFIX = "dataset:"
WINDOW_PREFIX = "window:"
REFERENCE_ROLE = "reference"
CACHE_SIZE = 16  # dataset and settled window profiles kept per process
SETTLED_S = 600.0  # a window reference that ended this long ago is complete (and cached)
_EXAMPLES = "'dataset:NAME@VERSION' or 'window:2026-11-01T00:00Z/2026-11-08T00:00Z'"

_cache: OrderedDict[tuple[Any, ...], WindowProfile] = OrderedDict()
_cache_lock = threading.Lock()

__all__ = ["profile_of_table", "reference_profile"]


def profile_of_table(
    frame: pd.DataFrame,
    key: ProfileKey,
    *,
    signature: Signature | None = None,
    label_column: str | None = None,
) -> WindowProfile:
    """A profile of a table of model inputs, features named as the endpoint will name them.

    ``signature`` (the model's) maps columns to features (module docstring); without one every
    column but the label is a named feature. ``label_column`` becomes the outputs. Raises
    InvalidInput when the table has no rows or does not hold the signature's inputs.
    """
    return _profile_of_table(frame, key, signature, label_column, source="the table")


def reference_profile(
    endpoint: str, *, reference: str | None = None, store: Store | None = None
) -> tuple[str, WindowProfile]:
    """``(description, profile)`` of a reference (module docstring); ``description`` is the
    reference in the ``dataset:NAME@VERSION`` / ``window:START/END`` spelling, so it can be
    given again. Raises NotFound for an unknown endpoint or dataset, InvalidInput for a
    reference that cannot be used (with what to do instead). A cached profile is shared:
    treat it as read-only."""
    store = get_store(store)
    if reference is None:
        served = _served_version(endpoint, store)
        return _dataset_reference(endpoint, served, _training_dataset(served, store), store)
    text = reference.strip()
    if text.startswith(DATASET_PREFIX):
        served = _served_version(endpoint, store)
        return _dataset_reference(endpoint, served, text[len(DATASET_PREFIX) :], store)
    if text.startswith(WINDOW_PREFIX):
        return _window_reference(endpoint, text[len(WINDOW_PREFIX) :], store)
    raise InvalidInput(
        f"reference {reference!r} is not {_EXAMPLES}; leave it out to compare with the training "
        "data of the served model",
        field="reference",
    )


# -- references ---------------------------------------------------------------------------


def _served_version(endpoint: str, store: Store) -> ModelVersionInfo:
    from .. import endpoints
    from ..registry import models

    return models.get(endpoints.get(endpoint, store=store).model_ref, store=store)


def _training_dataset(served: ModelVersionInfo, store: Store) -> str:
    """``NAME@VERSION`` of the one dataset the served version's run trained on."""
    fix = f"or pass reference={_EXAMPLES}"
    if served.run_id is None:
        raise InvalidInput(
            f"{served.ref} was registered without a run, so its training data is unknown; "
            f"register it from a tracked run that records its data (run.use_dataset(...)), {fix}",
            field="reference",
        )
    with store.session(write=False) as s:
        rows = s.execute(
            select(Dataset.name, DatasetVersion.version)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .join(RunDataset, RunDataset.dataset_version_id == DatasetVersion.id)
            .where(RunDataset.run_id == served.run_id, RunDataset.role == "train")
            .order_by(Dataset.name, DatasetVersion.version)
        ).all()
    refs = [f"{name}@{version}" for name, version in rows]
    if not refs:
        raise InvalidInput(
            f"run {served.run_id} of {served.ref} recorded no dataset with role 'train'; record "
            f"it in the training code with run.use_dataset(version, role='train'), {fix}",
            field="reference",
        )
    if len(refs) > 1:
        raise InvalidInput(
            f"run {served.run_id} of {served.ref} trained on {len(refs)} datasets "
            f"({', '.join(refs)}); pick one with reference='dataset:NAME@VERSION'",
            field="reference",
        )
    return refs[0]


def _dataset_reference(
    endpoint: str, served: ModelVersionInfo, ref: str, store: Store
) -> tuple[str, WindowProfile]:
    from ..data import datasets

    info = datasets.get(ref, store=store)
    description = DATASET_PREFIX + info.ref
    if info.kind != "table":
        raise InvalidInput(
            f"{info.ref} is an image dataset; an endpoint profiles images by summaries of what "
            "the model is sent (after the client's preprocessing), which inprod cannot redo "
            f"from the stored files; use reference='window:START/END' (traffic you trust) or a "
            "table dataset of model inputs ('dataset:NAME@VERSION')",
            field="reference",
        )
    signature = Signature.from_dict(served.signature)
    key = ProfileKey(
        endpoint, served.name, served.version, REFERENCE_ROLE, info.created_at.astimezone(UTC), 0.0
    )
    identity = (info.id, info.content_hash, json.dumps(signature.to_dict(), default=str))
    with _cache_lock:
        cached = _cache.get(identity)
        if cached is not None:
            _cache.move_to_end(identity)
            return description, replace(cached, key=key)
    frame = datasets.load(info.ref, store=store)
    label = _label_column(frame, info.label_columns, signature, info.ref)
    inputs = set(signature.inputs.names) if signature.inputs is not None else set()
    ignored = [
        c
        for c in (*info.label_columns, *info.metadata_columns)
        if c != label and c not in inputs and c in frame.columns
    ]
    profile = _profile_of_table(
        frame.drop(columns=ignored), key, signature, label, source=f"dataset {info.ref}"
    )
    with _cache_lock:
        _cache[identity] = profile
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return description, profile


def _label_column(
    frame: pd.DataFrame, labels: list[str], signature: Signature, source: str
) -> str | None:
    """The first label column, when its values can be compared with the model's answers."""
    if not labels or labels[0] not in frame.columns:
        return None
    if signature.classes is None:
        return labels[0]
    classes = {str(c) for c in signature.classes}
    seen = {str(v) for v in frame[labels[0]].dropna().unique()}
    if seen <= classes:
        return labels[0]
    logger.info(
        "%s: label %r holds values the model does not answer (%s); no prediction drift vs labels",
        source,
        labels[0],
        ", ".join(sorted(seen - classes)[:5]),
    )
    return None


def _window_reference(endpoint: str, span: str, store: Store) -> tuple[str, WindowProfile]:
    """A window long past (``SETTLED_S``) no longer changes: its profile is cached, so an
    evaluator judging a drift monitor every few seconds reads it once."""
    start, end = _parse_span(span)
    identity = ("window", store.url, endpoint, start, end)
    settled = end < datetime.now(UTC) - timedelta(seconds=SETTLED_S)
    if settled:
        with _cache_lock:
            cached = _cache.get(identity)
            if cached is not None:
                _cache.move_to_end(identity)
                return f"{WINDOW_PREFIX}{start.isoformat()}/{end.isoformat()}", cached
    streams = read_profiles(endpoint, since=start, until=end, store=store)
    served = [p for (_, _, role), p in sorted(streams.items()) if role != "shadow"]
    if not served:
        raise InvalidInput(
            f"endpoint {endpoint!r} has no traffic profiles from {start.isoformat()} to "
            f"{end.isoformat()}; pick a span in which it served requests",
            field="reference",
        )
    main = max(served, key=lambda p: p.instances).key
    common = replace(main, role=REFERENCE_ROLE)
    profile = merge_all(
        replace(p, key=replace(common, start=p.key.start, seconds=p.key.seconds)) for p in served
    )
    if settled:
        with _cache_lock:
            _cache[identity] = profile
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return f"{WINDOW_PREFIX}{start.isoformat()}/{end.isoformat()}", profile


def _parse_span(span: str) -> tuple[datetime, datetime]:
    parts = span.split("/")
    try:
        if len(parts) != 2:
            raise ValueError("expected START/END")
        start, end = (_utc(datetime.fromisoformat(p.strip())) for p in parts)
    except ValueError as exc:
        raise InvalidInput(
            f"window reference {span!r} is not START/END in ISO time ({exc}); e.g. {_EXAMPLES}",
            field="reference",
        ) from None
    if start >= end:
        raise InvalidInput(
            f"window reference {span!r} ends before it starts; give START/END with START first",
            field="reference",
        )
    return start, end


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# -- tables -------------------------------------------------------------------------------


def _profile_of_table(
    frame: pd.DataFrame,
    key: ProfileKey,
    signature: Signature | None,
    label_column: str | None,
    *,
    source: str,
) -> WindowProfile:
    if len(frame) == 0:
        raise InvalidInput(f"{source} has no rows; a reference needs data", field="reference")
    names = [str(c) for c in frame.columns]
    if label_column is not None and label_column not in names:
        raise InvalidInput(
            f"label column {label_column!r} is not in {source} (columns: {', '.join(names)})",
            field="label_column",
        )
    columns = {name: frame[col] for name, col in zip(names, frame.columns, strict=True)}
    inputs = [n for n in names if n != label_column]
    features = {
        name: _column_sketch(values)
        for name, values in _feature_columns(columns, inputs, signature, source).items()
    }
    profile = WindowProfile(key, instances=len(frame), features=features)
    if label_column is not None:
        _add_labels(profile, columns[label_column])
    return profile


def _feature_columns(
    columns: dict[str, pd.Series], inputs: list[str], signature: Signature | None, source: str
) -> dict[str, Any]:
    """Feature name -> its values, following the signature (module docstring)."""
    schema = signature.inputs if signature is not None else None
    if schema is None:
        return {name: columns[name] for name in inputs}
    if schema.kind == "columns":
        missing = [n for n in schema.names if n not in columns]
        if missing:
            extra = [n for n in inputs if n not in set(schema.names)]
            raise InvalidInput(
                f"{source} does not hold the model's inputs: missing {_names(missing)}; "
                f"not inputs: {_names(extra)}; the model takes {schema.describe()}",
                field="reference",
            )
        return {name: columns[name] for name in schema.names}
    if len(schema.shape) > 2:
        raise InvalidInput(
            f"the model takes {schema.describe()}, which a table's rows cannot hold; use "
            "reference='window:START/END'",
            field="reference",
        )
    width = 1 if len(schema.shape) == 1 else schema.width
    if width is not None and width != len(inputs):
        raise InvalidInput(
            f"{source} has {len(inputs)} input column(s) ({_names(inputs)}), the model takes "
            f"{width} value(s) per row ({schema.describe()}); give a table of exactly its inputs "
            "(labels and metadata columns declared as such are left out)",
            field="reference",
        )
    if len(inputs) <= MAX_POSITIONAL_FEATURES:
        return {f"x{i}": columns[name] for i, name in enumerate(inputs)}
    return _row_summaries(columns, inputs, source)


def _row_summaries(
    columns: dict[str, pd.Series], inputs: list[str], source: str
) -> dict[str, np.ndarray]:
    """mean, std, min and max of each row's finite numbers, as the endpoint summarizes wide rows
    (NaN where a row has none, which the sketch counts as missing)."""
    try:
        values = np.column_stack([columns[n].to_numpy(dtype=np.float64) for n in inputs])
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{source} has non-numeric input columns, but the model takes a numeric tensor",
            field="reference",
        ) from None
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    clean = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = clean.sum(axis=1) / count
        var = np.where(finite, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
    low = np.where(finite, values, np.inf).min(axis=1)
    high = np.where(finite, values, -np.inf).max(axis=1)
    empty = count == 0
    stats = (mean, np.sqrt(var), low, high)
    return {
        name: np.where(empty, np.nan, column)
        for name, column in zip(ROW_SUMMARY_FEATURES, stats, strict=True)
    }


def _column_sketch(values: pd.Series | np.ndarray) -> FeatureSketch:
    """The sketch the endpoint would build from these values (numbers, or else strings)."""
    from pandas.api import types

    if isinstance(values, np.ndarray):
        return sketch_of(values)
    if types.is_numeric_dtype(values.dtype) or types.is_bool_dtype(values.dtype):
        return sketch_of(_floats(values))
    plain = values.astype(object).where(values.notna(), None).tolist()
    if types.is_string_dtype(values):  # only text: skip trying it as numbers first
        categories = CategorySketch()
        categories.update_many(plain)
        return categories
    return sketch_of(plain)


def _add_labels(profile: WindowProfile, labels: pd.Series) -> None:
    """Labels as the model's answers, split into classes and values as the endpoint splits
    answers: integers are both, other numbers values, booleans classes."""
    present = labels[labels.notna()]
    kind = present.dtype.kind
    if kind not in "iubf":  # text or mixed: the endpoint's own rules, row by row
        builder = ProfileBuilder(profile.key)
        answers = labels.astype(object).where(labels.notna(), None).tolist()
        builder.add([], [{"output": v} for v in answers], 0.0)
        built = builder.build()
        profile.null_outputs, profile.needs_review = built.null_outputs, built.needs_review
        profile.output_classes, profile.output_values = built.output_classes, built.output_values
        return
    profile.null_outputs = len(labels) - len(present)
    if kind in "iub":
        profile.output_classes.update_many(present.astype(str).tolist())
    if kind != "b":
        profile.output_values.update_many(_floats(present))


def _floats(values: pd.Series) -> np.ndarray:
    # a copy: pandas hands out read-only views, which the KLL binding refuses
    return values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return (shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")) or "none"
