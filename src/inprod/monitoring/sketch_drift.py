"""Drift between two window profiles: the tests of :mod:`.drift`, computed from their sketches.

A window profile keeps sketches, not values, so the statistics here are estimates whose error is
bounded by the sketches' (see :mod:`.sketches`). For numeric features (KLL, normalized rank
error ε ≈ 1.33% at ``k=200``; a sketch of at most ``k`` values is exact, ε = 0):

- **KS** is max |F_ref(x) − F_cur(x)| over every point of both sketches' quantile grids
  (:data:`QUANTILE_GRID` ranks each, plus the minima and maxima). Each CDF is within ε of the
  truth, so the statistic is within ε_ref + ε_cur (≈ 0.027) of the exact one.
- **p-value**: Smirnov's asymptotic formula, as ``scipy.stats.ks_2samp(method="asymp")``, with
  effective sample sizes. A sample of n values knows its CDF to about 1/√n; a sketch knows it
  to ε, so a sketch is worth at most n = 1/ε² values (≈ 5,660). Each side's count is capped
  there: with the full counts, a KS statistic made of sketch error alone would get p ≈ 0 once
  windows hold a few hundred thousand values. With the cap, a statistic equal to the combined
  worst-case error gives p ≈ 0.04. The p-value therefore answers "is this difference larger
  than what sampling *and the sketch* could produce", which is weaker (more conservative) than
  the exact test on large samples; it is exact-test quality for small windows.
- **Wasserstein** is ∫₀¹ |Q_ref(u) − Q_cur(u)| du by the midpoint rule on :data:`QUANTILE_GRID`
  ranks: the rank error moves each quantile by at most the values within ε of it, so the
  estimate is close where the distributions are dense and loses accuracy in long tails.
- **PSI** uses ten bins cut at the reference sketch's deciles; the shares per bin come from
  both CDFs, each within ε per edge.

Categorical features (frequent items: exact counts while distinct items fit the sketch's map)
get chi² on the 2 × k table of the :data:`TOP_CATEGORIES` most frequent items of either side
plus one "other" column, and the Jensen–Shannon distance (base 2) on the same table. With at
most that many categories the numbers equal :func:`.drift.column_drift`'s; beyond it, pooling
the rare items into "other" can only lower JS (merging bins never increases a divergence).

Outputs are features too, so one report covers prediction drift: ``output.class`` (the class
answers, categorical), ``output.value`` (numeric answers) and ``output.confidence``.

The verdict is the same as :mod:`.drift`'s: drifted when p < ``alpha`` **and** the effect
(PSI numeric, JS categorical) is at least its threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .drift import (
    CATEGORICAL,
    DEFAULT_ALPHA,
    DEFAULT_JS_THRESHOLD,
    DEFAULT_PSI_THRESHOLD,
    NUMERIC,
    PSI_BINS,
    PSI_EPSILON,
    ColumnDrift,
    DriftReport,
    SchemaDifference,
)
from .profile import FeatureSketch, WindowProfile
from .sketches import CategorySketch, NumericSketch

QUANTILE_GRID = 1000  # ranks (i + 0.5) / 1000 at which both quantile functions are read
TOP_CATEGORIES = 20  # per side; the rest is pooled as "other"
OUTPUT_CLASS = "output.class"
OUTPUT_VALUE = "output.value"
OUTPUT_CONFIDENCE = "output.confidence"

__all__ = ["OUTPUT_CLASS", "OUTPUT_CONFIDENCE", "OUTPUT_VALUE", "effective_n", "profile_drift"]


@dataclass(frozen=True)
class _Side:
    sketch: FeatureSketch
    missing: float  # share of instances without a usable value, 0..1


def profile_drift(
    reference: WindowProfile,
    current: WindowProfile,
    *,
    alpha: float = DEFAULT_ALPHA,
    psi_threshold: float = DEFAULT_PSI_THRESHOLD,
    js_threshold: float = DEFAULT_JS_THRESHOLD,
    features: list[str] | None = None,
) -> DriftReport:
    """Test every feature (inputs and ``output.*``) both profiles have, in the reference's order.

    ``features`` limits the report to those names; a name neither profile has is left out
    silently (a window may simply not have seen it). Features on one side only, or numeric on
    one side and categorical on the other, are reported as schema differences.
    """
    ref_sides, cur_sides = _sides(reference), _sides(current)
    wanted = None if features is None else set(features)
    columns: list[ColumnDrift] = []
    differences: list[SchemaDifference] = []
    for name, ref in ref_sides.items():
        if wanted is not None and name not in wanted:
            continue
        cur = cur_sides.get(name)
        if cur is None:
            differences.append(SchemaDifference(name, "only_in_reference", _kind(ref), None))
        elif _kind(ref) != _kind(cur):
            differences.append(SchemaDifference(name, "kind_mismatch", _kind(ref), _kind(cur)))
        else:
            columns.append(_feature_drift(name, ref, cur, alpha, psi_threshold, js_threshold))
    differences += [
        SchemaDifference(name, "only_in_current", None, _kind(cur))
        for name, cur in cur_sides.items()
        if name not in ref_sides and (wanted is None or name in wanted)
    ]
    return DriftReport(
        columns=columns,
        schema_differences=differences,
        n_reference=reference.instances,
        n_current=current.instances,
        alpha=alpha,
        psi_threshold=psi_threshold,
        js_threshold=js_threshold,
    )


def effective_n(sketch: NumericSketch) -> int:
    """The sample size a KS p-value may credit this sketch with: its count, at most 1/ε²
    (module docstring). A sketch of at most ``k`` values never compacted, so it is exact."""
    if sketch.count <= sketch.k:
        return sketch.count
    return min(sketch.count, int(1.0 / sketch.rank_error**2))


def _sides(profile: WindowProfile) -> dict[str, _Side]:
    """Input features, then the outputs that have values, each with its missing share."""
    n = profile.instances
    sides = {
        name: _Side(sketch, _share(_unusable(sketch) + max(n - sketch.seen, 0), n))
        for name, sketch in profile.features.items()
    }
    nulls = _share(profile.null_outputs, n)
    if profile.output_classes.count:
        sides[OUTPUT_CLASS] = _Side(profile.output_classes, nulls)
    if profile.output_values.count:
        sides[OUTPUT_VALUE] = _Side(profile.output_values, nulls)
    confidence = profile.confidence
    if confidence.count:
        absent = max(n - confidence.seen, 0)
        sides[OUTPUT_CONFIDENCE] = _Side(confidence, _share(_unusable(confidence) + absent, n))
    return sides


def _unusable(sketch: FeatureSketch) -> int:
    nonfinite = sketch.nonfinite if isinstance(sketch, NumericSketch) else 0
    return sketch.missing + nonfinite + sketch.out_of_schema


def _share(part: int, whole: int) -> float:
    return min(part / whole, 1.0) if whole else 0.0


def _kind(side: _Side) -> str:
    return NUMERIC if isinstance(side.sketch, NumericSketch) else CATEGORICAL


def _feature_drift(
    name: str, ref: _Side, cur: _Side, alpha: float, psi_threshold: float, js_threshold: float
) -> ColumnDrift:
    kind = _kind(ref)
    base: dict[str, Any] = dict(
        column=name,
        kind=kind,
        test="ks" if kind == NUMERIC else "chi2",
        effect="psi" if kind == NUMERIC else "js",
        n_reference=ref.sketch.count,
        n_current=cur.sketch.count,
        missing_reference=ref.missing,
        missing_current=cur.missing,
    )
    if not ref.sketch.count or not cur.sketch.count:
        empty = [side for side, s in (("reference", ref), ("current", cur)) if not s.sketch.count]
        both = len(empty) == 2
        note = "no values on either side" if both else f"all values missing on the {empty[0]} side"
        return ColumnDrift(
            **base, statistic=None, p_value=None, effect_size=None, drifted=not both, note=note
        )
    if kind == NUMERIC:
        return _numeric_drift(ref.sketch, cur.sketch, base, alpha, psi_threshold)  # type: ignore[arg-type]
    return _categorical_drift(ref.sketch, cur.sketch, base, alpha, js_threshold)  # type: ignore[arg-type]


def _numeric_drift(
    ref: NumericSketch,
    cur: NumericSketch,
    base: dict[str, Any],
    alpha: float,
    psi_threshold: float,
) -> ColumnDrift:
    from scipy import stats

    ranks = ((np.arange(QUANTILE_GRID) + 0.5) / QUANTILE_GRID).tolist()
    q_ref = np.asarray(ref.quantiles(ranks), dtype=np.float64)
    q_cur = np.asarray(cur.quantiles(ranks), dtype=np.float64)
    ends = [ref.min, ref.max, cur.min, cur.max]
    points = np.unique(np.concatenate((q_ref, q_cur, np.asarray(ends, dtype=np.float64))))
    gaps = np.abs(np.asarray(ref.cdf(points.tolist())) - np.asarray(cur.cdf(points.tolist())))
    ks = float(gaps.max())
    n_ref, n_cur = effective_n(ref), effective_n(cur)
    big, small = max(n_ref, n_cur), min(n_ref, n_cur)
    en = big * small / (big + small)
    p_value = float(np.clip(stats.kstwo.sf(ks, max(1, round(en))), 0.0, 1.0))
    wasserstein = float(np.mean(np.abs(q_ref - q_cur)))
    std = _sample_std(ref)
    if std > 0:
        normalized: float | None = wasserstein / std
    else:  # a constant reference: any movement is infinitely many of its (zero) stds
        normalized = 0.0 if wasserstein == 0 else None
    psi = _psi(ref, cur)
    notes = []
    if (n_ref, n_cur) != (ref.count, cur.count):
        notes.append(f"KS p-value credits at most {max(n_ref, n_cur)} values per side (sketch)")
    if normalized is None:
        notes.append("reference is constant; normalized distance undefined")
    return ColumnDrift(
        **base,
        statistic=ks,
        p_value=p_value,
        effect_size=psi,
        drifted=bool(p_value < alpha and psi >= psi_threshold),
        psi=psi,
        wasserstein=wasserstein,
        wasserstein_normalized=normalized,
        note="; ".join(notes),
    )


def _sample_std(sketch: NumericSketch) -> float:
    """The reference's standard deviation with ddof=1, as :mod:`.drift` divides by."""
    n = sketch.count
    if n < 2 or sketch.min == sketch.max:  # the sums' rounding would give a tiny, false spread
        return 0.0
    return (sketch.std or 0.0) * math.sqrt(n / (n - 1))


def _psi(ref: NumericSketch, cur: NumericSketch) -> float:
    """PSI on bins cut at the reference's deciles, shares read from both CDFs."""
    deciles = (np.arange(1, PSI_BINS) / PSI_BINS).tolist()
    edges = np.unique(np.asarray(ref.quantiles(deciles), dtype=np.float64)).tolist()
    r = np.maximum(np.diff([0.0, *ref.cdf(edges), 1.0]), PSI_EPSILON)
    c = np.maximum(np.diff([0.0, *cur.cdf(edges), 1.0]), PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _categorical_drift(
    ref: CategorySketch,
    cur: CategorySketch,
    base: dict[str, Any],
    alpha: float,
    js_threshold: float,
) -> ColumnDrift:
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    table = _category_table(ref, cur)
    if table.shape[1] < 2:  # one category on both sides: nothing can have moved
        statistic, p_value, js = 0.0, 1.0, 0.0
    else:
        result = stats.chi2_contingency(table)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        js = float(jensenshannon(table[0], table[1], base=2))
    return ColumnDrift(
        **base,
        statistic=statistic,
        p_value=p_value,
        effect_size=js,
        drifted=bool(p_value < alpha and js >= js_threshold),
        js=js,
    )


def _category_table(ref: CategorySketch, cur: CategorySketch) -> np.ndarray:
    """2 × k counts (reference row first): the :data:`TOP_CATEGORIES` most frequent items of
    either side, then one column pooling the rest; columns empty on both sides are dropped."""
    items = list(
        dict.fromkeys(item for side in (ref, cur) for item, *_ in side.top(TOP_CATEGORIES))
    )
    rows = []
    for side in (ref, cur):
        counts = [side.estimate(item) for item in items]
        rows.append([*counts, max(side.count - sum(counts), 0)])
    table = np.asarray(rows, dtype=np.float64)
    return table[:, table.sum(axis=0) > 0]
