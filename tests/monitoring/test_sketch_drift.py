"""Drift from window profiles: sketch statistics against scipy's exact ones on the same values.

KLL sketches pick which items to keep with unseeded coin flips (monitoring/sketches.py), so the
tolerances below are the documented error bounds with room, not the errors of one lucky run:
over 1,000 runs on 5k–50k values the largest errors seen were KS 0.015, Wasserstein 0.054 σ and
PSI 0.053 + 0.2 · PSI.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from inprod.monitoring import NumericSketch, ProfileBuilder, ProfileKey, WindowProfile
from inprod.monitoring.drift import column_drift, population_stability_index
from inprod.monitoring.sketch_drift import (
    OUTPUT_CLASS,
    OUTPUT_CONFIDENCE,
    OUTPUT_VALUE,
    effective_n,
    profile_drift,
)

KEY = ProfileKey("phone-inspector", "tiny", 1, "primary", datetime(2026, 11, 2, tzinfo=UTC), 60.0)


def _profile(**columns: object) -> WindowProfile:
    """A profile of dict rows with these columns (arrays of equal length)."""
    frame = pd.DataFrame(columns)
    builder = ProfileBuilder(KEY)
    builder.add(frame.to_dict("records"), None, 1.0)
    return builder.build()


def _numeric(values: np.ndarray) -> WindowProfile:
    sketch = NumericSketch()
    sketch.update_many(values)
    return WindowProfile(KEY, instances=len(values), features={"f": sketch})


@pytest.mark.parametrize("n", [5_000, 50_000])
@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_numeric_statistics_match_scipy_within_the_sketch_error(n: int, shift: float) -> None:
    rng = np.random.default_rng(int(n + 10 * shift))
    ref = rng.normal(size=n)
    cur = rng.normal(size=n // 2) * (1 + shift / 4) + shift
    [got] = profile_drift(_numeric(ref), _numeric(cur)).columns
    sigma = ref.std(ddof=1)
    ks = stats.ks_2samp(ref, cur).statistic
    wasserstein = stats.wasserstein_distance(ref, cur)
    psi = population_stability_index(ref, cur)
    eps = NumericSketch().rank_error
    assert abs(got.statistic - ks) <= 2 * eps  # each CDF within ε: about 0.027
    assert abs(got.wasserstein - wasserstein) <= 0.1 * sigma
    assert got.wasserstein_normalized == pytest.approx(got.wasserstein / sigma, rel=1e-6)
    assert abs(got.psi - psi) <= 0.05 + 0.3 * psi
    assert (got.n_reference, got.n_current) == (n, n // 2)


def test_small_windows_are_exact_and_the_p_value_is_scipys_asymptotic_one() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=200), rng.normal(0.3, 1.0, size=120)  # at most k: never compacted
    [got] = profile_drift(_numeric(ref), _numeric(cur)).columns
    exact = stats.ks_2samp(ref, cur, method="asymp")
    assert got.statistic == pytest.approx(exact.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(exact.pvalue, rel=1e-9)
    assert got.wasserstein == pytest.approx(stats.wasserstein_distance(ref, cur), rel=0.01)
    assert got.note == ""


def test_the_p_value_credits_a_large_sketch_only_what_its_rank_error_justifies() -> None:
    rng = np.random.default_rng(4)
    big = _numeric(rng.normal(size=300_000))
    sketch = big.features["f"]
    assert isinstance(sketch, NumericSketch)
    assert effective_n(sketch) == int(1 / sketch.rank_error**2) < 300_000
    # the same distribution: what separates the sketched CDFs is sketch error, not drift; with
    # the full counts that gap alone would give p far below 0.05
    [same] = profile_drift(big, _numeric(rng.normal(size=300_000))).columns
    assert same.p_value > 0.05 and not same.drifted
    assert "per side" in same.note
    [moved] = profile_drift(big, _numeric(rng.normal(0.5, 1.0, size=300_000))).columns
    assert moved.p_value < 1e-6 and moved.drifted


@pytest.mark.parametrize(
    ("shift", "drifted"), [(0.0, False), (0.05, False), (1.0, True), (-2.0, True)]
)
def test_verdicts_agree_with_the_exact_tests_on_clear_cases(shift: float, drifted: bool) -> None:
    rng = np.random.default_rng(11)
    ref = {"brightness": rng.normal(0.5, 0.1, 20_000), "factory": rng.choice(["A", "B"], 20_000)}
    p = [0.1, 0.9] if drifted else [0.5, 0.5]
    cur = {
        "brightness": rng.normal(0.5 + 0.1 * shift, 0.1, 5_000),
        "factory": rng.choice(["A", "B"], 5_000, p=p),
    }
    report = profile_drift(_profile(**ref), _profile(**cur))
    for column in report.columns:
        exact = column_drift(ref[column.column], cur[column.column], name=column.column)
        assert column.drifted == exact.drifted == drifted, column
    assert report.drifted == (["brightness", "factory"] if drifted else [])


def test_categories_give_the_exact_chi2_and_js_while_they_fit_the_top_items() -> None:
    rng = np.random.default_rng(5)
    ref = rng.choice(list("ABCDE"), 3_000, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    cur = rng.choice(list("ABCDF"), 1_000, p=[0.3, 0.3, 0.2, 0.1, 0.1])  # F is new, E is gone
    [got] = profile_drift(_profile(code=ref), _profile(code=cur)).columns
    exact = column_drift(pd.Series(ref), pd.Series(cur), name="code")
    assert (got.kind, got.test, got.effect) == ("categorical", "chi2", "js")
    assert got.statistic == pytest.approx(exact.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(exact.p_value, rel=1e-9)
    assert got.js == pytest.approx(exact.js, rel=1e-9)


def test_rare_categories_pool_into_one_column_which_can_only_lower_js() -> None:
    rng = np.random.default_rng(6)
    ref = rng.integers(0, 100, 20_000).astype(str)
    cur = rng.integers(30, 130, 20_000).astype(str)  # 100 codes each, 70 shared
    [got] = profile_drift(_profile(code=ref), _profile(code=cur)).columns
    exact = column_drift(pd.Series(ref), pd.Series(cur), name="code")
    assert got.js <= exact.js + 1e-12
    assert got.drifted and exact.drifted  # a shift this large still shows in the pooled table


def test_outputs_are_features_so_the_report_covers_prediction_drift() -> None:
    def answers(share_one: float, confidence: float, seed: int) -> WindowProfile:
        rng = np.random.default_rng(seed)
        builder = ProfileBuilder(KEY)
        labels = (rng.random(4_000) < share_one).astype(int)
        for label, p in zip(labels, rng.normal(confidence, 0.05, 4_000), strict=True):
            builder.add([{"x": 1.0}], [{"output": int(label), "confidence": float(p)}], 1.0)
        return builder.build()

    report = profile_drift(answers(0.2, 0.9, 1), answers(0.6, 0.7, 2))
    by_name = {c.column: c for c in report.columns}
    assert set(by_name) == {"x", OUTPUT_CLASS, OUTPUT_VALUE, OUTPUT_CONFIDENCE}
    assert by_name[OUTPUT_CLASS].kind == "categorical" and by_name[OUTPUT_CLASS].drifted
    assert by_name[OUTPUT_CONFIDENCE].kind == "numeric" and by_name[OUTPUT_CONFIDENCE].drifted
    assert not by_name["x"].drifted
    steady = profile_drift(answers(0.2, 0.9, 1), answers(0.2, 0.9, 3), features=[OUTPUT_CLASS])
    assert [c.column for c in steady.columns] == [OUTPUT_CLASS] and steady.drifted == []


def test_features_on_one_side_or_of_another_kind_are_schema_differences() -> None:
    ref = _profile(a=np.arange(50.0), b=np.arange(50.0), c=np.arange(50.0))
    cur = _profile(a=np.arange(50.0), c=np.array(["x", "y"] * 25), d=np.arange(50.0))
    report = profile_drift(ref, cur)
    assert [c.column for c in report.columns] == ["a"]
    problems = {(d.column, d.problem, d.reference, d.current) for d in report.schema_differences}
    assert problems == {
        ("b", "only_in_reference", "numeric", None),
        ("c", "kind_mismatch", "numeric", "categorical"),
        ("d", "only_in_current", None, "numeric"),
    }
    only_a = profile_drift(ref, cur, features=["a", "d", "nowhere"])
    assert [c.column for c in only_a.columns] == ["a"]
    assert [d.column for d in only_a.schema_differences] == ["d"]


def test_a_constant_reference_has_no_normalized_distance() -> None:
    [column] = profile_drift(_numeric(np.full(1_000, 0.9)), _numeric(np.full(500, 0.7))).columns
    assert column.wasserstein == pytest.approx(0.2)
    assert column.wasserstein_normalized is None and "constant" in column.note
    exact = column_drift(np.full(1_000, 0.9), np.full(500, 0.7))
    assert (column.psi, column.statistic) == (exact.psi, exact.statistic)


def test_a_feature_gone_missing_is_drifted_and_says_so() -> None:
    ref = _profile(a=np.arange(100.0), b=np.arange(100.0))
    cur = _profile(a=np.full(100, np.nan), b=np.arange(100.0))
    report = profile_drift(ref, cur)
    gone = report.columns[0]
    assert (gone.column, gone.drifted, gone.statistic) == ("a", True, None)
    assert gone.note == "all values missing on the current side"
    assert (gone.missing_reference, gone.missing_current) == (0.0, 1.0)
    assert report.drifted == ["a"]


def test_missing_shares_count_values_never_sent() -> None:
    builder = ProfileBuilder(KEY)
    for i in range(10):
        row = {"a": float(i)} if i < 6 else {"a": None} if i < 8 else {}
        builder.add([row], None, 1.0)
    full = _profile(a=np.arange(10.0))
    [column] = profile_drift(full, builder.build()).columns
    assert column.missing_current == pytest.approx(0.4) and column.n_current == 6


def test_jensen_shannon_is_base_two_and_bounded() -> None:
    ref, cur = np.array(["A"] * 500), np.array(["B"] * 500)
    [column] = profile_drift(_profile(c=ref), _profile(c=cur)).columns
    assert column.js == pytest.approx(jensenshannon([1, 0], [0, 1], base=2)) == pytest.approx(1.0)
