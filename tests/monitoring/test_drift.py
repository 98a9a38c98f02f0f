"""Offline drift statistics, each checked against scipy (or a hand computation) on small data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from inprod.errors import InvalidInput
from inprod.monitoring import drift
from inprod.monitoring.drift import (
    column_drift,
    population_stability_index,
    table_drift,
    wasserstein_distance,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


def test_numeric_statistics_equal_scipy(rng: np.random.Generator) -> None:
    ref = rng.normal(0.0, 2.0, size=300)
    cur = rng.normal(0.4, 2.5, size=250)
    result = column_drift(ref, cur, name="x")
    ks = stats.ks_2samp(ref, cur)
    assert result.kind == "numeric" and result.test == "ks"
    assert result.statistic == pytest.approx(ks.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(ks.pvalue, rel=1e-9)
    expected_w = stats.wasserstein_distance(ref, cur)
    assert result.wasserstein == pytest.approx(expected_w, rel=1e-12)
    assert result.wasserstein_normalized == pytest.approx(expected_w / np.std(ref, ddof=1))


def test_wasserstein_equals_scipy_with_ties_and_unequal_sizes(rng: np.random.Generator) -> None:
    ref = rng.integers(0, 5, size=1000).astype(float)
    cur = rng.integers(1, 7, size=777).astype(float)
    got = wasserstein_distance(np.sort(ref), np.sort(cur))
    assert got == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-12)


def test_categorical_statistics_equal_scipy_including_new_categories(
    rng: np.random.Generator,
) -> None:
    ref = rng.choice(["a", "b", "c"], size=400, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c", "new"], size=300, p=[0.3, 0.3, 0.2, 0.2])
    result = column_drift(ref, cur, name="c")
    categories = ["a", "b", "c", "new"]
    counts = np.array(
        [[np.sum(ref == k) for k in categories], [np.sum(cur == k) for k in categories]]
    )
    chi2 = stats.chi2_contingency(counts)
    assert result.kind == "categorical" and result.test == "chi2"
    assert result.statistic == pytest.approx(chi2.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(chi2.pvalue, rel=1e-9)
    js = jensenshannon(counts[0] / counts[0].sum(), counts[1] / counts[1].sum(), base=2)
    assert result.js == pytest.approx(js, rel=1e-12)
    assert result.drifted  # a fifth of the rows in a new category


def test_psi_equals_hand_computation() -> None:
    # Reference 1..100: decile edges 10.9, 20.8, ..., 90.1, ten values per bin.
    ref = np.arange(1, 101, dtype=float)
    # Current: half in the first bin, half in the last, the eight middle bins empty.
    cur = np.concatenate([np.arange(1, 11), np.arange(91, 101)]).astype(float)
    eps = 1e-4
    outer = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1)
    middle = 8 * (eps - 0.1) * math.log(eps / 0.1)
    assert population_stability_index(ref, cur) == pytest.approx(outer + middle, rel=1e-12)
    assert population_stability_index(ref, ref) == 0.0


def test_exactly_the_shifted_columns_drift_in_a_large_table(rng: np.random.Generator) -> None:
    n = 20_000
    cats = ["ok", "scratch", "dent", "unknown"]

    def frame(shifted: bool) -> pd.DataFrame:
        data = {f"num{i}": rng.normal(10.0 * i, 1.0 + i, size=n) for i in range(7)}
        data["cat0"] = rng.choice(cats, size=n, p=[0.7, 0.1, 0.1, 0.1])
        data["cat1"] = rng.choice(["A", "B"], size=n)
        data["flag"] = rng.random(n) < 0.3
        if shifted:
            data["num1"] = data["num1"] + 0.6 * 2.0  # mean moved 0.6 std
            data["num4"] = rng.normal(40.0, 5.0 * 2.0, size=n)  # spread doubled
            data["cat0"] = rng.choice(cats, size=n, p=[0.4, 0.1, 0.1, 0.4])
        return pd.DataFrame(data)

    report = table_drift(frame(False), frame(True))
    assert len(report.columns) == 10
    assert sorted(report.drifted) == ["cat0", "num1", "num4"]
    assert {c.column: c.kind for c in report.columns}["flag"] == "categorical"


# The fast path's p-value is Smirnov's asymptotic one; on a few thousand values a side it lies
# within this much of scipy's exact p-value (measured worst: 0.006 absolute, 6% relative).
ASYMPTOTIC_P_ABS, ASYMPTOTIC_P_REL = 0.01, 0.10


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.1, 0.3])
def test_fast_path_equals_scipy_exact_on_a_few_thousand_rows(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, shift: float
) -> None:
    monkeypatch.setattr(drift, "KS_EXACT_MAX_N", 0)  # the path taken above 10,000 values
    ref = np.round(rng.normal(0.0, 1.0, size=3000), 2)  # rounded: ties within and across sides
    cur = np.round(rng.normal(shift, 1.0, size=2400), 2)
    result = column_drift(ref, cur, name="x")
    exact = stats.ks_2samp(ref, cur, method="exact")
    assert result.statistic == pytest.approx(exact.statistic, rel=1e-12)
    assert result.p_value is not None
    assert abs(result.p_value - exact.pvalue) < ASYMPTOTIC_P_ABS
    assert result.p_value == pytest.approx(exact.pvalue, rel=ASYMPTOTIC_P_REL)
    assert result.wasserstein == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-12)
    assert result.psi == pytest.approx(population_stability_index(ref, cur), rel=1e-12)
    assert result.drifted == (exact.pvalue < 0.05 and population_stability_index(ref, cur) >= 0.1)


def test_large_samples_get_scipys_default_p_value(rng: np.random.Generator) -> None:
    ref = np.round(rng.normal(0.0, 1.0, size=30_000), 1)
    cur = np.round(rng.normal(0.02, 1.0, size=20_000), 1)
    result = column_drift(ref, cur)
    ks = stats.ks_2samp(ref, cur)  # 'auto' is asymptotic at this size
    assert result.statistic == pytest.approx(ks.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(ks.pvalue, rel=1e-9)
    assert result.wasserstein == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-12)


def test_ks_ignores_the_inside_of_a_run_of_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    # Merged: 1(r) 1(r) 1(c) 1(c) 2(r) 2(c). Halfway through the run of 1s the running counts
    # differ by 1 (all reference 1s seen, no current one yet), but the CDFs never differ.
    monkeypatch.setattr(drift, "KS_EXACT_MAX_N", 0)
    ref, cur = np.array([1.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0])
    result = column_drift(ref, cur)
    assert result.statistic == stats.ks_2samp(ref, cur).statistic == 0.0
    assert result.p_value == 1.0 and result.wasserstein == 0.0


def test_seeded_set_with_five_shifted_columns_flags_exactly_those(
    rng: np.random.Generator,
) -> None:
    """The benchmark's design on 40,000 rows: four columns moved by 0.5 std, one spread ×1.5."""
    n, shifted = 40_000, {"f00", "f06", "f12", "f18", "f24"}

    def side(moved: bool) -> pd.DataFrame:
        data = {}
        for i in range(25):
            family, name = i % 5, f"f{i:02d}"
            if family == 0:
                values, std = rng.normal(i, 1.0, n), 1.0
            elif family == 1:
                values, std = rng.lognormal(0.0, 0.5, n), 0.53
            elif family == 2:
                values, std = rng.uniform(i, i + 3.0, n), 0.87
            elif family == 3:
                values, std = rng.exponential(2.0, n), 2.0
            else:
                spread = 1.5 if moved and name == "f24" else 1.0
                values, std = np.round(rng.normal(i, 2.0 * spread, n), 2), 2.0
            if moved and name in shifted and family != 4:
                values = values + 0.5 * std
            data[name] = values
        return pd.DataFrame(data)

    report = table_drift(side(False), side(True))
    assert set(report.drifted) == shifted
    by_name = {c.column: c for c in report.columns}
    for name in shifted:
        assert by_name[name].p_value < 1e-12 and by_name[name].psi > 0.1
    for name in set(by_name) - shifted:
        assert by_name[name].psi < 0.01 and by_name[name].wasserstein_normalized < 0.05


def test_nullable_integer_and_float_columns_drop_pd_na() -> None:
    ref = pd.Series([1, 2, None, 4, 5, 6], dtype="Int64")
    cur = pd.Series([1.5, None, None, 4.0, float("nan")], dtype="Float64")
    result = column_drift(ref, cur, name="x")
    assert (result.n_reference, result.n_current) == (5, 2)
    assert result.missing_current == pytest.approx(3 / 5)
    expected = stats.ks_2samp([1.0, 2, 4, 5, 6], [1.5, 4.0])
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_report_orders_drifted_columns_first_then_by_effect(rng: np.random.Generator) -> None:
    ref = pd.DataFrame({k: rng.normal(size=2000) for k in ("calm", "small", "big", "mid")})
    cur = pd.DataFrame({
        "calm": rng.normal(size=2000),
        "small": rng.normal(0.2, 1.0, size=2000),
        "big": rng.normal(2.0, 1.0, size=2000),
        "mid": rng.normal(0.8, 1.0, size=2000),
    })  # fmt: skip
    report = table_drift(ref, cur)
    ordered = [c.column for c in report.most_drifted_first()]
    assert ordered[:2] == ["big", "mid"] and set(report.drifted) == {"big", "mid"}
    psi = [c.psi for c in report.most_drifted_first()[2:]]
    assert psi == sorted(psi, reverse=True)


def test_tiny_shift_in_huge_sample_is_significant_but_not_drifted(
    rng: np.random.Generator,
) -> None:
    ref = rng.normal(size=200_000)
    cur = rng.normal(0.05, 1.0, size=200_000)
    result = column_drift(ref, cur)
    assert result.p_value is not None and result.p_value < 1e-6
    assert result.psi is not None and result.psi < 0.1
    assert not result.drifted


def test_missing_values_are_dropped_and_reported_per_side(rng: np.random.Generator) -> None:
    ref = pd.Series(rng.normal(size=100))
    cur = pd.Series(rng.normal(size=100))
    ref[:10] = np.nan
    cur[:25] = np.nan
    cur[25] = np.inf
    result = column_drift(ref, cur, name="x")
    assert (result.missing_reference, result.missing_current) == (0.10, 0.26)
    assert (result.n_reference, result.n_current) == (90, 74)
    expected = stats.ks_2samp(ref[10:].to_numpy(), cur[26:].to_numpy())
    assert result.statistic == pytest.approx(expected.statistic)

    labels = pd.Series(["a", None, "b", "a"])
    cat = column_drift(labels, pd.Series(["a", "b", None, None]), name="y")
    assert (cat.missing_reference, cat.missing_current) == (0.25, 0.5)
    assert (cat.n_reference, cat.n_current) == (3, 2)


def test_column_that_became_all_missing_is_drifted_with_a_note() -> None:
    result = column_drift([1.0, 2.0, 3.0], [np.nan, np.nan], name="x")
    assert result.drifted and result.statistic is None
    assert result.missing_current == 1.0
    assert "missing on the current side" in result.note
    both = column_drift([None, None], [None], name="y", kind="categorical")
    assert not both.drifted and "either side" in both.note


def test_one_sided_and_mismatched_columns_are_schema_differences() -> None:
    ref = pd.DataFrame({"a": [1.0, 2.0, 3.0], "old": [1, 2, 3], "code": [1, 2, 3]})
    cur = pd.DataFrame({"a": [1.0, 2.5, 3.0], "new": ["x", "y", "z"], "code": ["1", "2", "n/a"]})
    report = table_drift(ref, cur)
    assert [c.column for c in report.columns] == ["a"]
    problems = {(d.column, d.problem, d.reference, d.current) for d in report.schema_differences}
    assert problems == {
        ("old", "only_in_reference", "numeric", None),
        ("new", "only_in_current", None, "categorical"),
        ("code", "kind_mismatch", "numeric", "categorical"),
    }


def test_report_dict_is_strict_json_with_per_column_fields(rng: np.random.Generator) -> None:
    ref = pd.DataFrame({"x": rng.normal(size=50), "c": rng.choice(["p", "q"], size=50)})
    cur = pd.DataFrame({"x": np.full(50, 3.0), "c": ["p"] * 50, "extra": 1})
    out = table_drift(ref, cur, columns=["x", "c"]).to_dict()
    json.dumps(out, allow_nan=False)
    assert out["summary"]["columns_tested"] == 2
    assert out["summary"]["columns_drifted"] == len(out["summary"]["drifted"])
    assert out["schema_differences"] == []  # 'extra' was not asked for
    x = out["columns"][0]
    for key in ("kind", "test", "statistic", "p_value", "psi", "wasserstein",
                "wasserstein_normalized", "drifted", "n_reference", "n_current",
                "missing_reference", "missing_current"):  # fmt: skip
        assert key in x
    assert out["columns"][1]["js"] is not None


def test_constant_reference_has_no_normalized_distance_when_current_moves() -> None:
    result = column_drift(np.ones(100), np.full(100, 2.0))
    assert result.wasserstein == pytest.approx(1.0)
    assert result.wasserstein_normalized is None
    assert result.drifted


def test_integer_codes_can_be_tested_as_categories() -> None:
    ref = pd.DataFrame({"code": [1, 2, 3, 1] * 50})
    cur = pd.DataFrame({"code": [1, 1, 1, 4] * 50})
    result = table_drift(ref, cur, kinds={"code": "categorical"}).columns[0]
    assert result.kind == "categorical" and result.test == "chi2" and result.drifted


@pytest.mark.parametrize(
    ("ref", "cur", "kwargs", "match"),
    [
        (pd.DataFrame({"a": []}), pd.DataFrame({"a": [1]}), {}, "reference table has no rows"),
        (pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}), {}, "share no columns"),
        (
            pd.DataFrame({"alpha": [1]}),
            pd.DataFrame({"alpha": [1]}),
            {"columns": ["alpah"]},
            "did you mean 'alpha'",
        ),
        (
            pd.DataFrame({"a": [1]}),
            pd.DataFrame({"a": [1]}),
            {"kinds": {"a": "ordinal"}},
            "ordinal",
        ),
        (
            pd.DataFrame({"a": ["1", "2"]}),
            pd.DataFrame({"a": ["1", "oops"]}),
            {"kinds": {"a": "numeric"}},
            "non-numeric value 'oops' on the current side",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    ref: pd.DataFrame, cur: pd.DataFrame, kwargs: dict, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        table_drift(ref, cur, **kwargs)
