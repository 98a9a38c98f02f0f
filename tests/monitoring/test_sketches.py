"""Numeric (KLL) and category (frequent items) sketches against exact numpy answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inprod.errors import InvalidInput
from inprod.monitoring.sketches import CategorySketch, NumericSketch

QS = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]


def _exact_rank(data: np.ndarray, value: float) -> float:
    return float(np.searchsorted(np.sort(data), value, side="right")) / data.size


def _assert_quantiles_within_bound(sketch: NumericSketch, data: np.ndarray) -> None:
    # a quantile answer is right when its true rank is within the rank error of the asked rank
    eps = sketch.rank_error
    for q, value in zip(QS, sketch.quantiles(QS), strict=True):
        assert abs(_exact_rank(data, value) - q) <= eps, (q, value)


def test_quantiles_are_within_the_rank_error_of_numpy_exact_ranks() -> None:
    data = np.random.default_rng(1).lognormal(size=50_000)
    sketch = NumericSketch()
    sketch.update_many(data)
    assert sketch.count == data.size
    assert 0.005 < sketch.rank_error < 0.03
    _assert_quantiles_within_bound(sketch, data)
    for x in np.quantile(data, QS):
        assert abs(sketch.rank(float(x)) - _exact_rank(data, float(x))) <= sketch.rank_error
    points = [0.5, 1.0, 2.0]
    for got, x in zip(sketch.cdf(points), points, strict=True):
        assert abs(got - _exact_rank(data, x)) <= sketch.rank_error
    assert sketch.mean == pytest.approx(data.mean(), rel=1e-12)
    assert sketch.std == pytest.approx(data.std(), rel=1e-9)
    assert (sketch.min, sketch.max) == (data.min(), data.max())


def test_small_sketches_are_exact() -> None:
    sketch = NumericSketch()
    sketch.update_many([3.0, 1.0, 2.0, 4.0])
    assert sketch.quantiles([0.25, 0.5, 1.0]) == [1.0, 2.0, 4.0]
    assert sketch.rank(2.0) == 0.5


def test_merge_of_halves_matches_the_whole_within_the_bound() -> None:
    data = np.random.default_rng(2).normal(10, 3, size=40_000)
    left, right, whole = NumericSketch(), NumericSketch(), NumericSketch()
    left.update_many(data[:20_000])
    right.update_many(data[20_000:])
    whole.update_many(data)
    left.merge(right)
    assert left.count == whole.count == data.size
    assert left.sum == pytest.approx(whole.sum, rel=1e-12)
    assert (left.min, left.max) == (whole.min, whole.max)
    _assert_quantiles_within_bound(left, data)
    assert right.count == 20_000  # the merged-in sketch is unchanged


def test_bad_values_are_counted_never_raised() -> None:
    sketch = NumericSketch()
    sketch.update_many(
        [1, 2.5, None, math.nan, math.inf, -math.inf, "3", [1], {"a": 1}, 10**400, True]
    )
    sketch.update(object())
    assert sketch.count == 3  # 1, 2.5, True
    assert (sketch.missing, sketch.nonfinite, sketch.out_of_schema) == (2, 3, 4)
    assert sketch.seen == 12
    assert sketch.sum == 4.5
    numbers = NumericSketch()
    numbers.update_many(np.array([[1.0, np.nan], [np.inf, 2.0]]))
    assert (numbers.count, numbers.missing, numbers.nonfinite) == (2, 1, 1)


def test_empty_sketch_answers_none_and_round_trips() -> None:
    sketch = NumericSketch()
    assert sketch.quantile(0.5) is None
    assert sketch.quantiles([0.1, 0.9]) == [None, None]
    assert sketch.mean is None and sketch.cdf([1.0]) == []
    assert NumericSketch.from_bytes(sketch.to_bytes()) == sketch


def test_serialization_round_trip_keeps_every_answer() -> None:
    sketch = NumericSketch(k=100)
    sketch.update_many(np.random.default_rng(3).exponential(size=5_000))
    sketch.update_many([None, math.inf, "x"])
    again = NumericSketch.from_bytes(sketch.to_bytes())
    assert again == sketch
    assert again.k == 100
    assert again.quantiles(QS) == sketch.quantiles(QS)
    assert (again.missing, again.nonfinite, again.out_of_schema) == (1, 1, 1)
    assert (again.sum, again.min, again.max) == (sketch.sum, sketch.min, sketch.max)


@pytest.mark.parametrize("data", [b"", b"garbage", b"iNSk" + b"\x01" * 80])
def test_damaged_bytes_are_refused_with_a_message(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a serialized NumericSketch"):
        NumericSketch.from_bytes(data)
    with pytest.raises(InvalidInput, match="not a serialized CategorySketch"):
        CategorySketch.from_bytes(data)


def test_out_of_range_arguments_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"\[0, 1\], got 1.5"):
        NumericSketch().quantile(1.5)
    with pytest.raises(InvalidInput, match="k must be"):
        NumericSketch(k=2)
    with pytest.raises(InvalidInput, match="lg_max_map_size"):
        CategorySketch(lg_max_map_size=40)


def test_frequent_items_are_exact_for_small_cardinality() -> None:
    rng = np.random.default_rng(4)
    values = [f"c{v}" for v in rng.zipf(1.5, size=20_000) % 50]
    sketch = CategorySketch()
    sketch.update_many(values)
    exact = {item: values.count(item) for item in set(values)}
    top = sketch.top(100)
    assert {item: est for item, est, _, _ in top} == exact
    assert all(lo == est == hi for _, est, lo, hi in top)
    assert [est for _, est, _, _ in top] == sorted(exact.values(), reverse=True)
    assert sketch.count == 20_000
    assert sketch.estimate("c1") == exact["c1"]


def test_frequent_items_bound_the_truth_beyond_the_map() -> None:
    rng = np.random.default_rng(5)
    values = [f"u{v}" for v in rng.integers(0, 5_000, size=30_000)] + ["hot"] * 3_000
    sketch = CategorySketch(lg_max_map_size=6)
    sketch.update_many(values)
    item, estimate, lower, upper = sketch.top(1)[0]
    assert lower <= estimate <= upper
    assert item == "hot"
    assert lower <= 3_000 <= upper


def test_category_merge_and_bad_values() -> None:
    a, b = CategorySketch(), CategorySketch()
    a.update_many(["x", "y", None, 3, math.nan])
    b.update_many(["x", {"k": 1}, "z"])
    a.merge(b)
    assert a.top(3) == [("x", 2, 2, 2), ("y", 1, 1, 1), ("z", 1, 1, 1)]
    assert (a.count, a.missing, a.out_of_schema, a.seen) == (4, 2, 2, 8)
    again = CategorySketch.from_bytes(a.to_bytes())
    assert again == a and again.top(3) == a.top(3)
    with pytest.raises(InvalidInput, match="cannot merge a NumericSketch"):
        a.merge(NumericSketch())  # type: ignore[arg-type]


def test_read_only_arrays_are_sketched() -> None:
    values = np.arange(10, dtype=np.float64)
    values.flags.writeable = False  # what pandas 3's Series.to_numpy() hands out
    sketch = NumericSketch()
    sketch.update_many(values)
    assert sketch.count == 10 and sketch.max == 9.0
