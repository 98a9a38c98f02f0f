"""Mergeable sketches of a stream of values: numbers (KLL quantiles), categories (frequent items).

The rest of monitoring talks to these two classes only, never to Apache DataSketches directly,
so the library stays a detail of this module.

Why sketches: a window profile must merge exactly across replicas and windows (1-minute windows
roll up to hours and days). Counts, sums, minimum and maximum merge exactly; quantiles come from
a KLL sketch whose answers are within :attr:`NumericSketch.rank_error` in rank (about 1.65% at
the default ``k=200``, with 99% confidence) however many sketches were merged; category counts
come from a frequent-items sketch, exact while the distinct items fit its map (0.75 × 2^lg, 768
at the default) and otherwise bounded by the ``lower``/``upper`` it reports.

Determinism: everything here depends only on the values and their order, except which items
KLL keeps when it compacts: the library draws those coin flips from a generator seeded from the
clock and offers no way to seed it, so two runs agree on quantiles within the rank error, not bit
for bit. A sketch that never compacted (at most ``k`` values, no merges beyond that) is exact.

Bad values never raise: ``None`` and NaN count as ``missing``; ±inf (and integers too large for a
double) as ``nonfinite``; anything else that is not a number (numeric sketch) or a string
(category sketch) as ``out_of_schema``.
"""

from __future__ import annotations

import itertools
import math
import numbers
import struct
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from datasketches import (
    frequent_items_error_type,
    frequent_strings_sketch,
    kll_doubles_sketch,
)

from ..errors import InvalidInput

DEFAULT_K = 200
DEFAULT_LG_MAX_MAP_SIZE = 10

# header before the library's own bytes: magic, format version, then our counters
_NUMERIC_HEADER = struct.Struct("<4sBqqqdddd")
_CATEGORY_HEADER = struct.Struct("<4sBqq")
_NUMERIC_MAGIC = b"iNSk"
_CATEGORY_MAGIC = b"iCSk"
_FORMAT = 1
_NUMERIC_KINDS = frozenset("fiub")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real | np.bool_) and not isinstance(value, np.datetime64)


class NumericSketch:
    """Count, sum, min, max and quantiles of a stream of numbers; merges exactly (see module)."""

    __slots__ = (
        "_kll",
        "max",
        "min",
        "missing",
        "nonfinite",
        "out_of_schema",
        "sum",
        "sum_squares",
    )

    def __init__(self, k: int = DEFAULT_K) -> None:
        if not isinstance(k, int) or not 8 <= k <= 65535:
            raise InvalidInput(f"KLL k must be an integer from 8 to 65535, got {k!r}", field="k")
        self._kll = kll_doubles_sketch(k)
        self.missing = 0
        self.nonfinite = 0
        self.out_of_schema = 0
        self.sum = 0.0
        self.sum_squares = 0.0
        self.min: float | None = None
        self.max: float | None = None

    # -- feeding ---------------------------------------------------------------------------
    def update(self, value: object) -> None:
        """Add one value (see :meth:`update_many` for what counts as what)."""
        self.update_many((value,))

    def update_many(self, values: Iterable[object]) -> None:
        """Add values in order; never raises on bad values, it counts them (module docstring)."""
        if isinstance(values, np.ndarray):
            if values.dtype.kind in _NUMERIC_KINDS:
                self._add_array(values.ravel().astype(np.float64, copy=False))
                return
            values = values.ravel().tolist()
        elif not isinstance(values, list | tuple):
            values = list(values)
        try:
            array = np.asarray(values)
        except (ValueError, TypeError, OverflowError):  # ragged nesting
            array = None
        if array is None or array.ndim != 1 or array.dtype.kind not in _NUMERIC_KINDS:
            array = self._screen(values)
        self._add_array(array.astype(np.float64, copy=False))

    def _screen(self, values: Iterable[object]) -> np.ndarray:
        """The slow path for mixed lists: keep numbers, count everything else."""
        kept: list[float] = []
        for value in values:
            if value is None:
                self.missing += 1
            elif _is_number(value):
                try:
                    kept.append(float(value))  # type: ignore[arg-type]
                except OverflowError:
                    self.nonfinite += 1
            else:
                self.out_of_schema += 1
        return np.asarray(kept, dtype=np.float64)

    def _add_array(self, array: np.ndarray) -> None:
        if array.size == 0:
            return
        finite = np.isfinite(array)
        if not finite.all():
            nan = int(np.isnan(array).sum())
            self.missing += nan
            self.nonfinite += int(array.size - finite.sum()) - nan
            array = array[finite]
            if array.size == 0:
                return
        if not array.flags.writeable:  # the KLL binding refuses read-only arrays (pandas 3's)
            array = array.copy()
        self._kll.update(array)
        self.sum += float(array.sum())
        self.sum_squares += float(np.dot(array, array))
        low, high = float(array.min()), float(array.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)

    # -- reading ---------------------------------------------------------------------------
    @property
    def k(self) -> int:
        return int(self._kll.k)

    @property
    def count(self) -> int:
        """Finite numbers seen (the sketch's n)."""
        return int(self._kll.n)

    @property
    def seen(self) -> int:
        """Every value passed in, good or bad."""
        return self.count + self.missing + self.nonfinite + self.out_of_schema

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    @property
    def std(self) -> float | None:
        """Population standard deviation from the exact sums (None when empty)."""
        if not self.count:
            return None
        mean = self.sum / self.count
        return math.sqrt(max(self.sum_squares / self.count - mean * mean, 0.0))

    @property
    def rank_error(self) -> float:
        """Single-sided normalized rank error of quantile/rank answers (99% confidence)."""
        return float(self._kll.normalized_rank_error(False))

    def quantile(self, q: float) -> float | None:
        """The value at normalized rank ``q`` in [0, 1]; None when no number was seen."""
        _check_rank(q)
        return None if not self.count else float(self._kll.get_quantile(q, True))

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        for q in qs:
            _check_rank(q)
        if not self.count:
            return [None] * len(qs)
        return [float(v) for v in self._kll.get_quantiles(list(qs), True)]

    def rank(self, x: float) -> float | None:
        """Estimated fraction of the numbers that are ≤ ``x``; None when empty."""
        return None if not self.count else float(self._kll.get_rank(float(x), True))

    def cdf(self, points: Sequence[float]) -> list[float]:
        """Estimated fraction ≤ each point (any order); empty list when the sketch is empty."""
        if not self.count:
            return []
        pts = [float(p) for p in points]
        if any(not math.isfinite(p) for p in pts):
            raise InvalidInput(f"cdf points must be finite numbers, got {points!r}", field="points")
        if all(a < b for a, b in itertools.pairwise(pts)):
            return [float(v) for v in self._kll.get_cdf(pts, True)[:-1]]
        return [float(self._kll.get_rank(p, True)) for p in pts]

    # -- combining and storing ---------------------------------------------------------------
    def merge(self, other: NumericSketch) -> None:
        """Fold ``other`` into this sketch (``other`` is unchanged)."""
        if not isinstance(other, NumericSketch):
            raise InvalidInput(f"cannot merge a {type(other).__name__} into a NumericSketch")
        self.missing += other.missing
        self.nonfinite += other.nonfinite
        self.out_of_schema += other.out_of_schema
        if not other.count:
            return
        if not self.count and self.k == other.k:
            self._kll = kll_doubles_sketch.deserialize(other._kll.serialize())
        else:
            self._kll.merge(other._kll)
        self.sum += other.sum
        self.sum_squares += other.sum_squares
        self.min = other.min if self.min is None else min(self.min, other.min)  # type: ignore[type-var]
        self.max = other.max if self.max is None else max(self.max, other.max)  # type: ignore[type-var]

    def copy(self) -> NumericSketch:
        return NumericSketch.from_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        nan = float("nan")
        header = _NUMERIC_HEADER.pack(
            _NUMERIC_MAGIC,
            _FORMAT,
            self.missing,
            self.nonfinite,
            self.out_of_schema,
            self.sum,
            self.sum_squares,
            nan if self.min is None else self.min,
            nan if self.max is None else self.max,
        )
        return header + self._kll.serialize()

    @classmethod
    def from_bytes(cls, data: bytes) -> NumericSketch:
        """Rebuild a sketch from :meth:`to_bytes`; :class:`InvalidInput` for any other bytes."""
        try:
            magic, fmt, missing, nonfinite, oos, total, squares, low, high = (
                _NUMERIC_HEADER.unpack_from(data)
            )
            if magic != _NUMERIC_MAGIC or fmt != _FORMAT:
                raise ValueError("header")
            kll = kll_doubles_sketch.deserialize(bytes(data[_NUMERIC_HEADER.size :]))
        except (struct.error, ValueError, RuntimeError, TypeError) as exc:
            raise InvalidInput(
                f"not a serialized NumericSketch ({len(data)} bytes: {exc}); pass the bytes "
                "that NumericSketch.to_bytes() produced"
            ) from None
        sketch = cls.__new__(cls)
        sketch._kll = kll
        sketch.missing, sketch.nonfinite, sketch.out_of_schema = missing, nonfinite, oos
        sketch.sum, sketch.sum_squares = total, squares
        sketch.min = None if math.isnan(low) else low
        sketch.max = None if math.isnan(high) else high
        return sketch

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumericSketch) and self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        return (
            f"NumericSketch(count={self.count}, missing={self.missing}, nonfinite={self.nonfinite}"
            f", out_of_schema={self.out_of_schema}, min={self.min}, max={self.max})"
        )


class CategorySketch:
    """Counts of string items (frequent items); exact while distinct items fit the map."""

    __slots__ = ("_items", "missing", "out_of_schema")

    def __init__(self, lg_max_map_size: int = DEFAULT_LG_MAX_MAP_SIZE) -> None:
        if not isinstance(lg_max_map_size, int) or not 3 <= lg_max_map_size <= 26:
            raise InvalidInput(
                f"lg_max_map_size must be an integer from 3 to 26, got {lg_max_map_size!r}",
                field="lg_max_map_size",
            )
        self._items = frequent_strings_sketch(lg_max_map_size)
        self.missing = 0
        self.out_of_schema = 0

    def update(self, value: object) -> None:
        self.update_many((value,))

    def update_many(self, values: Iterable[object]) -> None:
        """Count strings; ``None``/NaN are ``missing``; any other value is ``out_of_schema``."""
        counts: Counter[str] = Counter()
        for value in values:
            if type(value) is str or isinstance(value, str):
                counts[value] += 1
            elif value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
                self.missing += 1
            else:
                self.out_of_schema += 1
        for item, weight in counts.items():
            self._items.update(item, weight)

    @property
    def count(self) -> int:
        """Strings counted (total weight)."""
        return int(self._items.total_weight)

    @property
    def seen(self) -> int:
        return self.count + self.missing + self.out_of_schema

    def estimate(self, item: str) -> int:
        return int(self._items.get_estimate(item))

    def top(self, n: int = 10) -> list[tuple[str, int, int, int]]:
        """Up to ``n`` most frequent items as (item, estimate, lower, upper), largest first.

        Ties break by item so the order is stable; the true count lies in [lower, upper]."""
        if n < 0:
            raise InvalidInput(f"top needs n >= 0, got {n}", field="n")
        rows = self._items.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
        rows = sorted(
            ((str(i), int(e), int(lo), int(hi)) for i, e, lo, hi in rows),
            key=lambda r: (-r[1], r[0]),
        )
        return rows[:n]

    def merge(self, other: CategorySketch) -> None:
        if not isinstance(other, CategorySketch):
            raise InvalidInput(f"cannot merge a {type(other).__name__} into a CategorySketch")
        self.missing += other.missing
        self.out_of_schema += other.out_of_schema
        if other.count:
            self._items.merge(other._items)

    def copy(self) -> CategorySketch:
        return CategorySketch.from_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        header = _CATEGORY_HEADER.pack(_CATEGORY_MAGIC, _FORMAT, self.missing, self.out_of_schema)
        return header + self._items.serialize()

    @classmethod
    def from_bytes(cls, data: bytes) -> CategorySketch:
        try:
            magic, fmt, missing, oos = _CATEGORY_HEADER.unpack_from(data)
            if magic != _CATEGORY_MAGIC or fmt != _FORMAT:
                raise ValueError("header")
            items = frequent_strings_sketch.deserialize(bytes(data[_CATEGORY_HEADER.size :]))
        except (struct.error, ValueError, RuntimeError, TypeError) as exc:
            raise InvalidInput(
                f"not a serialized CategorySketch ({len(data)} bytes: {exc}); pass the bytes "
                "that CategorySketch.to_bytes() produced"
            ) from None
        sketch = cls.__new__(cls)
        sketch._items = items
        sketch.missing, sketch.out_of_schema = missing, oos
        return sketch

    def __eq__(self, other: object) -> bool:
        # the library's bytes follow its hash map's layout, so compare what the sketch answers
        return isinstance(other, CategorySketch) and self._state() == other._state()

    def _state(self) -> tuple[int, int, int, list[tuple[str, int, int, int]]]:
        return (self.count, self.missing, self.out_of_schema, self.top(1 << 30))

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        return (
            f"CategorySketch(count={self.count}, missing={self.missing}, "
            f"out_of_schema={self.out_of_schema}, top={self.top(3)})"
        )


def _check_rank(q: float) -> None:
    if not isinstance(q, numbers.Real) or not 0.0 <= float(q) <= 1.0:
        raise InvalidInput(f"a quantile rank must be a number in [0, 1], got {q!r}", field="q")
