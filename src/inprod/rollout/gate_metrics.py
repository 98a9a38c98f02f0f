"""The software and feedback metrics every gate may name, computed from the prediction log.

Each reads one version's predictions in one role over the step's window. They scan the raw log,
which holds one row per instance; a step's window is minutes of one endpoint, so this stays
small. Monitoring's window profiles register cheaper and richer metrics under the same seam.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import and_, case, func, select

from ..store import Store
from ..store.tables import Prediction
from .gates import GateMetric, GateWindow, MetricValue, register_gate_metric

MIN_LABELS = 30  # accuracy on fewer labels than this is noise; the gate waits for more


def _where(w: GateWindow) -> Any:
    return and_(
        Prediction.endpoint == w.endpoint,
        Prediction.model_name == w.model_name,
        Prediction.model_version == w.version,
        Prediction.role == w.role,
        Prediction.time >= w.start,
        Prediction.time < w.end,
    )


def _requests(w: GateWindow, store: Store) -> MetricValue:
    with store.session(write=False) as s:
        n = s.scalar(select(func.count()).select_from(Prediction).where(_where(w))) or 0
    return MetricValue(float(n), n)


def _error_rate(w: GateWindow, store: Store) -> MetricValue:
    with store.session(write=False) as s:
        n, errors = s.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Prediction.status == "error", 1), else_=0)), 0),
            ).where(_where(w))
        ).one()
    return MetricValue(None if not n else errors / n, n)


def _latency(q: float) -> Any:
    def compute(w: GateWindow, store: Store) -> MetricValue:
        with store.session(write=False) as s:
            values = s.scalars(
                select(Prediction.latency_ms).where(_where(w), Prediction.status == "ok")
            ).all()
        if not values:
            return MetricValue(None, 0)
        return MetricValue(float(np.percentile(np.asarray(values, dtype=float), q)), len(values))

    return compute


def _mean_confidence(w: GateWindow, store: Store) -> MetricValue:
    with store.session(write=False) as s:
        n, mean = s.execute(
            select(func.count(Prediction.confidence), func.avg(Prediction.confidence)).where(
                _where(w)
            )
        ).one()
    return MetricValue(None if not n else float(mean), n)


def _accuracy(w: GateWindow, store: Store) -> MetricValue:
    """Share of labelled predictions whose output equals the label (the latest label counts)."""
    from ..monitoring.feedback_metrics import feedback_metric
    from ..monitoring.metrics import Span, parse_metric

    span = Span(w.endpoint, w.start, w.end, w.role, w.model_name, w.version)
    return feedback_metric(parse_metric("accuracy"), span, store)


for _metric in (
    GateMetric("requests", "instances answered in the window", _requests, 0),
    GateMetric("error_rate", "share of instances whose model call failed", _error_rate),
    GateMetric("latency_p50_ms", "median server time (ms)", _latency(50)),
    GateMetric("latency_p95_ms", "95th percentile server time (ms)", _latency(95)),
    GateMetric("latency_p99_ms", "99th percentile server time (ms)", _latency(99)),
    GateMetric("mean_confidence", "mean confidence of answers", _mean_confidence),
    GateMetric(
        "accuracy", "share of labelled answers that match the feedback label", _accuracy, MIN_LABELS
    ),
):
    register_gate_metric(_metric)
