"""Window profiles: what one endpoint × model version × role saw during one time window.

A profile holds counts (requests, instances, errors, null and ``needs_review`` outputs) and
sketches (latency, each input feature, output classes and values, confidence), so profiles from
several replicas and from consecutive windows merge exactly: counts add, and quantiles stay
within the KLL rank error (see :mod:`inprod.monitoring.sketches`). The server's tap feeds a
:class:`ProfileBuilder` per window; the store keeps :meth:`WindowProfile.to_dict` in a JSON column.

Inputs become features so:
- dict rows: one feature per key;
- list / array rows of at most :data:`MAX_POSITIONAL_FEATURES` scalars: ``x0 .. xN``;
- wider or nested rows (images, embeddings, audio): only ``mean``, ``std``, ``min`` and ``max``
  of the row's finite numbers. One sketch per pixel would cost a sketch each for thousands of
  positions (merge time and storage grow with the feature count) while saying little: what moves
  when the world changes is brightness and contrast, which these summaries carry. Endpoints that
  need better derived features get a per-endpoint feature function later.

A feature's kind follows the values seen: numbers give a numeric sketch, strings a category
sketch; a feature that saw both stays numeric and counts the strings as out-of-schema. The rule
depends only on what was seen, never on the order, so merging replicas agrees with one process.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .sketches import CategorySketch, NumericSketch

MAX_POSITIONAL_FEATURES = 64
_POSITIONAL_NAMES = tuple(f"x{i}" for i in range(MAX_POSITIONAL_FEATURES))
ROW_SUMMARY_FEATURES = ("mean", "std", "min", "max")
NEEDS_REVIEW = "needs_review"
_FLUSH_VALUES = 4096  # buffered feature values before they go into the sketches
_PROFILE_FORMAT = 1
_MAX_CLASS_CHARS = 200  # a class label longer than this is cut (it is not a class)

FeatureSketch = NumericSketch | CategorySketch


@dataclass(frozen=True)
class ProfileKey:
    """Which stream a profile describes; ``start`` is aware UTC, ``seconds`` the window length."""

    endpoint: str
    model_name: str
    model_version: int
    role: str
    start: datetime
    seconds: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def stream(self) -> tuple[str, str, int, str]:
        return (self.endpoint, self.model_name, self.model_version, self.role)


@dataclass
class WindowProfile:
    """Counts and sketches of one window; merge with :meth:`merge` or :func:`merge_all`."""

    key: ProfileKey
    requests: int = 0
    instances: int = 0
    errors: int = 0
    null_outputs: int = 0
    needs_review: int = 0
    dropped: int = 0  # log records of this window the server's buffer had no room for
    latency_ms: NumericSketch = field(default_factory=NumericSketch)
    features: dict[str, FeatureSketch] = field(default_factory=dict)
    output_classes: CategorySketch = field(default_factory=CategorySketch)
    output_values: NumericSketch = field(default_factory=NumericSketch)
    confidence: NumericSketch = field(default_factory=NumericSketch)

    def merge(self, other: WindowProfile) -> WindowProfile:
        """A new profile covering both (same stream; the window spans both windows)."""
        return merge_all([self, other])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (sketches as base64) for a JSON column; :meth:`from_dict` undoes it."""
        k = self.key
        return {
            "format": _PROFILE_FORMAT,
            "endpoint": k.endpoint,
            "model_name": k.model_name,
            "model_version": k.model_version,
            "role": k.role,
            "start": k.start.isoformat(),
            "seconds": k.seconds,
            "requests": self.requests,
            "instances": self.instances,
            "errors": self.errors,
            "null_outputs": self.null_outputs,
            "needs_review": self.needs_review,
            "dropped": self.dropped,
            "latency_ms": _b64(self.latency_ms),
            "features": {
                name: {"kind": _kind(sk), "sketch": _b64(sk)}
                for name, sk in sorted(self.features.items())
            },
            "output_classes": _b64(self.output_classes),
            "output_values": _b64(self.output_values),
            "confidence": _b64(self.confidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowProfile:
        """Rebuild from :meth:`to_dict`; :class:`InvalidInput` names what is wrong."""
        if not isinstance(data, dict) or data.get("format") != _PROFILE_FORMAT:
            raise InvalidInput(
                f"not a window profile of format {_PROFILE_FORMAT} (got "
                f"{type(data).__name__} with format {_get(data, 'format')!r}); pass what "
                "WindowProfile.to_dict() produced",
                field="format",
            )
        try:
            start = datetime.fromisoformat(data["start"])
            if start.tzinfo is None:
                raise ValueError("start has no time zone")
            key = ProfileKey(
                str(data["endpoint"]),
                str(data["model_name"]),
                int(data["model_version"]),
                str(data["role"]),
                start.astimezone(UTC),
                float(data["seconds"]),
            )
            features: dict[str, FeatureSketch] = {}
            for name, entry in data["features"].items():
                kind = CategorySketch if entry["kind"] == "categorical" else NumericSketch
                features[name] = kind.from_bytes(base64.b64decode(entry["sketch"]))
            return cls(
                key=key,
                requests=int(data["requests"]),
                instances=int(data["instances"]),
                errors=int(data["errors"]),
                null_outputs=int(data["null_outputs"]),
                needs_review=int(data["needs_review"]),
                dropped=int(data.get("dropped", 0)),
                latency_ms=NumericSketch.from_bytes(base64.b64decode(data["latency_ms"])),
                features=features,
                output_classes=CategorySketch.from_bytes(base64.b64decode(data["output_classes"])),
                output_values=NumericSketch.from_bytes(base64.b64decode(data["output_values"])),
                confidence=NumericSketch.from_bytes(base64.b64decode(data["confidence"])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(
                f"window profile is damaged ({type(exc).__name__}: {exc}); pass what "
                "WindowProfile.to_dict() produced"
            ) from None

    def summary(self) -> dict[str, Any]:
        """Plain numbers: the software, input and output metrics of this window."""
        k = self.key
        lat = self.latency_ms
        p50, p95, p99 = lat.quantiles([0.5, 0.95, 0.99])
        classes = self.output_classes
        return {
            "endpoint": k.endpoint,
            "model_name": k.model_name,
            "model_version": k.model_version,
            "role": k.role,
            "start": k.start.isoformat(),
            "seconds": k.seconds,
            "requests": self.requests,
            "instances": self.instances,
            "errors": self.errors,
            "dropped": self.dropped,
            "qps": self.requests / k.seconds if k.seconds > 0 else None,
            "error_rate": _ratio(self.errors, self.requests),
            "latency_ms": {"p50": p50, "p95": p95, "p99": p99, "mean": lat.mean, "max": lat.max},
            "features": {
                name: _feature_summary(sk, self.instances)
                for name, sk in sorted(self.features.items())
            },
            "outputs": {
                "classes": {
                    item: _ratio(estimate, classes.count)
                    for item, estimate, _, _ in classes.top(20)
                },
                "mean_value": self.output_values.mean,
                "mean_confidence": self.confidence.mean,
                "null_fraction": _ratio(self.null_outputs, self.instances),
                "needs_review_fraction": _ratio(self.needs_review, self.instances),
            },
        }


def merge_all(profiles: Iterable[WindowProfile]) -> WindowProfile:
    """One profile for the same stream covering every window given; inputs stay unchanged.

    :class:`InvalidInput` when the list is empty or mixes endpoints, models, versions or roles."""
    profiles = list(profiles)
    if not profiles:
        raise InvalidInput("merge_all needs at least one window profile, got none")
    first = profiles[0].key
    start, end = first.start, first.end
    for p in profiles[1:]:
        if p.key.stream() != first.stream():
            raise InvalidInput(
                f"cannot merge profiles of different streams: {_describe(first)} and "
                f"{_describe(p.key)}; merge per endpoint, model version and role"
            )
        start, end = min(start, p.key.start), max(end, p.key.end)
    merged = WindowProfile(replace(first, start=start, seconds=(end - start).total_seconds()))
    for p in profiles:
        merged.requests += p.requests
        merged.instances += p.instances
        merged.errors += p.errors
        merged.null_outputs += p.null_outputs
        merged.needs_review += p.needs_review
        merged.dropped += p.dropped
        merged.latency_ms.merge(p.latency_ms)
        merged.output_classes.merge(p.output_classes)
        merged.output_values.merge(p.output_values)
        merged.confidence.merge(p.confidence)
        for name, sketch in p.features.items():
            merged.features[name] = _combine(merged.features.get(name), sketch)
    return merged


class ProfileBuilder:
    """Accumulates one window's calls; cheap per call (values are buffered and sketched in bulk).

    Not thread-safe: one builder per window and per writer (the tap's single consumer)."""

    def __init__(self, key: ProfileKey) -> None:
        if key.start.tzinfo is None:
            raise InvalidInput(f"window start must be timezone-aware UTC, got {key.start!r}")
        self._profile = WindowProfile(key)
        self._columns: dict[str, list[object]] = {}
        # per-call values, sketched in bulk at flush (one numpy pass instead of one per call)
        self._latency: list[object] = []
        self._confidence: list[object] = []
        self._values: list[object] = []
        self._classes: list[object] = []
        self._rows: list[list] = []  # positional rows, stacked into columns with numpy at flush
        self._buffered = 0

    def add(
        self,
        instances: Sequence[Any],
        outputs_rows: Sequence[Any] | None,
        latency_ms: float,
        status: str = "ok",
    ) -> None:
        """One call: its logged instances, the model's rows (None for a failed call), its latency.

        Never raises on odd values; they are counted as missing or out-of-schema."""
        p = self._profile
        p.requests += 1
        ok = status == "ok"
        if not ok:
            p.errors += 1
        self._latency.append(latency_ms)
        instances = instances if isinstance(instances, list | tuple) else _as_list(instances)
        p.instances += len(instances)
        self._buffered += 1
        for row in instances:
            self._add_instance(row)
        if ok:
            self._add_outputs(outputs_rows, len(instances))
        if self._buffered >= _FLUSH_VALUES:
            self._flush()

    def drop(self) -> None:
        """One log record of this window that was dropped before it could be profiled."""
        self._profile.dropped += 1

    def build(self) -> WindowProfile:
        """The profile so far (the builder can go on; later calls change later builds only)."""
        self._flush()
        return merge_all([self._profile])

    # -- internals ---------------------------------------------------------------------------
    def _add_instance(self, row: Any) -> None:
        if type(row) is list and 0 < len(row) <= MAX_POSITIONAL_FEATURES:
            self._rows.append(row)  # the common case: checked and split per column in bulk
            self._buffered += len(row)
            return
        self._add_instance_slowly(row)

    def _add_instance_slowly(self, row: Any) -> None:
        if isinstance(row, dict):
            for name, value in row.items():
                self._push(str(name), value)
            return
        if isinstance(row, list | tuple | np.ndarray):
            try:
                array = np.asarray(row)
            except (ValueError, TypeError):
                array = None
            if array is not None and array.ndim == 1 and array.size <= MAX_POSITIONAL_FEATURES:
                for i, value in enumerate(row):
                    self._push(f"x{i}", value)
                return
            for name, value in zip(ROW_SUMMARY_FEATURES, _row_summary(array), strict=True):
                self._push(name, value)
            return
        self._push("x0", row)

    def _push(self, name: str, value: object) -> None:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = []
        column.append(value)
        self._buffered += 1

    def _add_outputs(self, rows: Sequence[Any] | None, expected: int) -> None:
        p = self._profile
        if rows is None:
            p.null_outputs += expected
            return
        for row in rows:
            if not isinstance(row, dict):
                p.null_outputs += row is None
                continue
            if "confidence" in row:
                self._confidence.append(row["confidence"])
            output = row.get("output")
            if row.get("decision") == NEEDS_REVIEW or output == NEEDS_REVIEW:
                p.needs_review += 1
            if output is None:
                p.null_outputs += 1
                continue
            if output == NEEDS_REVIEW:  # a decision, not one of the model's classes
                continue
            if not isinstance(output, float | np.floating):  # floats are values, not classes
                self._classes.append(str(output)[:_MAX_CLASS_CHARS])
            if isinstance(output, int | float | np.integer | np.floating) and not isinstance(
                output, bool
            ):
                self._values.append(output)

    def _stack_rows(self) -> None:
        """Positional rows to columns: one numpy array per feature when they stack as numbers
        (None becomes NaN, a missing value), else row by row (mixed types, ragged widths)."""
        rows, self._rows = self._rows, []
        try:
            array = np.array(rows, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            array = None
        if array is None or array.ndim != 2:
            for row in rows:
                self._add_instance_slowly(row)
            return
        for i in range(array.shape[1]):
            name = _POSITIONAL_NAMES[i]
            column = self._columns.get(name)
            if column is None:
                column = self._columns[name] = []
            column.append(array[:, i])

    def _flush(self) -> None:
        p = self._profile
        if self._rows:
            self._stack_rows()
        for sketch, values in (
            (p.latency_ms, self._latency),
            (p.confidence, self._confidence),
            (p.output_values, self._values),
            (p.output_classes, self._classes),
        ):
            if values:
                sketch.update_many(values)
                values.clear()
        features = p.features
        for name, values in self._columns.items():
            if values:
                if all(isinstance(v, np.ndarray) for v in values):
                    batch: Any = np.concatenate(values)  # stacked columns: one bulk update
                else:
                    batch = [
                        x
                        for v in values
                        for x in (v.tolist() if isinstance(v, np.ndarray) else [v])
                    ]
                features[name] = _combine(features.get(name), sketch_of(batch))
                values.clear()
        self._buffered = 0


def sketch_of(values: Any) -> FeatureSketch:
    """A sketch of one batch of a feature's values, of the kind those values call for."""
    numeric = NumericSketch()
    numeric.update_many(values)
    if numeric.count or numeric.nonfinite or not numeric.out_of_schema:
        return numeric
    categories = CategorySketch()
    categories.update_many(values)
    return categories if categories.count else numeric


def _combine(into: FeatureSketch | None, other: FeatureSketch) -> FeatureSketch:
    """``into`` merged with ``other`` (``into`` may be reused); numbers win over strings."""
    if into is None:
        return other.copy()
    if type(into) is type(other):
        into.merge(other)  # type: ignore[arg-type]
        return into
    numeric, categories = (into, other) if isinstance(into, NumericSketch) else (other, into)
    if numeric.count or numeric.nonfinite:  # saw numbers: strings become out-of-schema
        result = numeric if numeric is into else numeric.copy()
        result.missing += categories.missing
        result.out_of_schema += categories.count + categories.out_of_schema
        return result
    result = categories if categories is into else categories.copy()
    result.missing += numeric.missing
    result.out_of_schema += numeric.out_of_schema
    return result


def _row_summary(array: np.ndarray | None) -> tuple[float | None, ...]:
    if array is None or array.dtype.kind not in "fiub":
        return (None, None, None, None)
    values = array.astype(np.float64, copy=False).ravel()
    values = values[np.isfinite(values)]
    if not values.size:
        return (None, None, None, None)
    return (float(values.mean()), float(values.std()), float(values.min()), float(values.max()))


def _feature_summary(sketch: FeatureSketch, instances: int) -> dict[str, Any]:
    absent = max(instances - sketch.seen, 0)
    out = {
        "kind": _kind(sketch),
        "missing_fraction": _ratio(absent + sketch.missing, instances),
        "out_of_schema_fraction": _ratio(sketch.out_of_schema, instances),
    }
    if isinstance(sketch, NumericSketch):
        out.update(
            mean=sketch.mean,
            std=sketch.std,
            p50=sketch.quantile(0.5),
            min=sketch.min,
            max=sketch.max,
            nonfinite_fraction=_ratio(sketch.nonfinite, instances),
        )
    else:
        out["top"] = {
            item: _ratio(estimate, sketch.count) for item, estimate, _, _ in sketch.top(10)
        }
    return out


def _kind(sketch: FeatureSketch) -> str:
    return "numeric" if isinstance(sketch, NumericSketch) else "categorical"


def _b64(sketch: FeatureSketch) -> str:
    return base64.b64encode(sketch.to_bytes()).decode("ascii")


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _as_list(instances: Any) -> list[Any]:
    try:
        return list(instances)
    except TypeError:
        return [instances]


def _get(data: object, name: str) -> object:
    return data.get(name) if isinstance(data, dict) else None


def _describe(key: ProfileKey) -> str:
    return f"{key.endpoint}/{key.model_name}@{key.model_version} ({key.role})"
