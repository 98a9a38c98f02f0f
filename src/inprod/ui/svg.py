"""Reference-vs-current plots of one feature, drawn on the server as inline SVG from two window
profiles' sketches.

A profile keeps sketches, not values, so a plot shows the sketches' shapes: a number as the
histogram of evenly spaced quantiles of each side (what the HTML report draws), a category as
each side's shares of its most frequent items. The drawing itself is the report's
(:mod:`inprod.monitoring.html`), so the dashboard and the report show a feature alike; its text
is escaped there.
"""

from __future__ import annotations

from ..monitoring import html
from ..monitoring.profile import FeatureSketch, WindowProfile
from ..monitoring.report import sketch_quantiles
from ..monitoring.sketch_drift import OUTPUT_CLASS, OUTPUT_CONFIDENCE, OUTPUT_VALUE, TOP_CATEGORIES
from ..monitoring.sketches import CategorySketch, NumericSketch

OTHER = "(other)"


def feature_sketch(profile: WindowProfile, name: str) -> FeatureSketch | None:
    """The sketch a drift report's column ``name`` was tested on: an input feature, or one of
    the model's outputs (``output.class``, ``output.value``, ``output.confidence``)."""
    outputs: dict[str, FeatureSketch] = {
        OUTPUT_CLASS: profile.output_classes,
        OUTPUT_VALUE: profile.output_values,
        OUTPUT_CONFIDENCE: profile.confidence,
    }
    return outputs[name] if name in outputs else profile.features.get(name)


def distribution_svg(reference: FeatureSketch | None, current: FeatureSketch | None) -> str:
    """Both sides of one feature in one small plot; "" when the sides are not of one kind (the
    drift report lists that as a schema difference instead)."""
    if isinstance(reference, NumericSketch) and isinstance(current, NumericSketch):
        return html.histogram_svg(sketch_quantiles(reference), sketch_quantiles(current))
    if isinstance(reference, CategorySketch) and isinstance(current, CategorySketch):
        return _category_bars(reference, current)
    return ""


def _category_bars(reference: CategorySketch, current: CategorySketch) -> str:
    """The most frequent items of both sides (at most ``html.MAX_CATEGORIES``), then the rest
    of each side pooled as ``(other)``."""
    ref, cur = _shares(reference), _shares(current)
    ranked = sorted(
        ref.keys() | cur.keys(), key=lambda c: (-(ref.get(c, 0.0) + cur.get(c, 0.0)), c)
    )
    shown = ranked[: html.MAX_CATEGORIES]
    ref_shares = [ref.get(c, 0.0) for c in shown]
    cur_shares = [cur.get(c, 0.0) for c in shown]
    rest = [
        1.0 - sum(shares) if side.count else 0.0
        for side, shares in ((reference, ref_shares), (current, cur_shares))
    ]
    if max(rest) > 0.005:  # more than rounding: items beyond the shown ones
        shown.append(OTHER)
        ref_shares.append(max(rest[0], 0.0))
        cur_shares.append(max(rest[1], 0.0))
    return html.bars_svg(shown, ref_shares, cur_shares)


def _shares(sketch: CategorySketch) -> dict[str, float]:
    total = sketch.count
    if not total:
        return {}
    return {item: estimate / total for item, estimate, _, _ in sketch.top(TOP_CATEGORIES)}
