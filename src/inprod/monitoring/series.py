"""Metrics as time series: a span's window profiles bucketed into steps, one value per step.

One read of the span's rows (rollups where they fit), then Python: what the report and the
``/api/endpoints/{name}/metrics/{metric}`` route draw, and what the dashboard will.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..errors import InvalidInput
from ..store import Store
from .metrics import MetricSpec, Span, compute, merge_versions, profile_metric
from .profile import WindowProfile
from .windows import covering_profiles

Bucket = tuple[datetime, WindowProfile | None]


def bucket_profiles(
    profiles: list[WindowProfile], start: datetime, end: datetime, step: float
) -> list[Bucket]:
    """``ceil((end - start) / step)`` buckets; a profile counts in the bucket where it starts."""
    count = max(1, math.ceil((end - start).total_seconds() / step))
    grouped: dict[int, list[WindowProfile]] = {}
    for p in profiles:
        index = int((p.key.start - start).total_seconds() // step)
        grouped.setdefault(min(index, count - 1), []).append(p)
    return [
        (start + timedelta(seconds=i * step), merge_versions(grouped[i]) if i in grouped else None)
        for i in range(count)
    ]


def series_of(spec: MetricSpec, buckets: list[Bucket]) -> list[tuple[str, float | None]]:
    """(ISO start, value) per bucket; None where a bucket has no data or the metric does not
    apply to it (a numeric statistic of a feature that was categorical then)."""
    points = []
    for when, profile in buckets:
        value = None
        if profile is not None:
            try:
                value = profile_metric(spec, profile).value
            except InvalidInput:
                value = None
        points.append((when.isoformat(), value))
    return points


def metric_series(
    endpoint: str,
    spec: MetricSpec,
    start: datetime,
    end: datetime,
    step: float,
    *,
    role: str = "primary",
    store: Store,
) -> list[tuple[str, float | None]]:
    """One metric over [start, end) in steps: profile metrics from one read of the profiles;
    feedback (and custom) metrics step by step, as they read the log."""
    if spec.family in ("software", "input", "output"):
        profiles = [
            p
            for p in covering_profiles(endpoint, start, end, max_seconds=int(step), store=store)
            if p.key.role == role
        ]
        return series_of(spec, bucket_profiles(profiles, start, end, step))
    if spec.family == "drift":
        raise InvalidInput(
            f"{spec.name} needs a reference; see drift per window with 'inprod monitor "
            "drift-windows' or the report",
            field="metric",
        )
    points = []
    t = start
    while t < end:
        nxt = min(t + timedelta(seconds=step), end)
        value = compute(spec, Span(endpoint, t, nxt, role), store=store)
        points.append((t.isoformat(), value.value))
        t = nxt
    return points
