"""Metrics that need the truth: the span's logged answers joined with their feedback.

Ground truth arrives late and for few answers, so these read the log (bounded by the span, one
endpoint and role) rather than window profiles. The latest label of an answer counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from ..rollout.gates import MetricValue
from ..store import Store
from ..store.tables import Feedback, Prediction
from .metrics import CALIBRATION_BINS, MetricSpec, Span


def _where(span: Span) -> Any:
    clauses = [
        Prediction.endpoint == span.endpoint,
        Prediction.role == span.role,
        Prediction.time >= span.since,
        Prediction.time < span.until,
    ]
    if span.model_name is not None:
        clauses.append(Prediction.model_name == span.model_name)
    if span.version is not None:
        clauses.append(Prediction.model_version == span.version)
    return and_(*clauses)


def output_label(outputs: Any) -> Any:
    """The answer a logged output row gives (its ``output``), or the row itself."""
    return outputs.get("output") if isinstance(outputs, dict) else outputs


def same_label(outputs: Any, label: Any) -> bool:
    """Whether a logged output row says ``label``; compared as text so 1 and "1" agree."""
    answer = output_label(outputs)
    return answer is not None and str(answer) == str(label)


def labelled(
    span: Span, store: Store, slice_: tuple[str, str] | None = None
) -> list[tuple[Any, Any, float | None]]:
    """(outputs, latest label, confidence) for every labelled answer in the span (of one slice:
    answers whose logged input has that feature value; unsampled inputs are left out)."""
    columns = [Prediction.id, Prediction.outputs, Prediction.confidence, Feedback.label]
    if slice_ is not None:
        columns.append(Prediction.inputs)
    with store.session(write=False) as s:
        rows = s.execute(
            select(*columns)
            .join(Feedback, Feedback.prediction_id == Prediction.id)
            .where(_where(span), Feedback.label.is_not(None))
            .order_by(Feedback.id)
        ).all()
    latest: dict[str, tuple[Any, Any, float | None]] = {}
    for row in rows:
        if slice_ is not None and not in_slice(row[4], *slice_):
            continue
        latest[row[0]] = (row[1], row[3], row[2])
    return list(latest.values())


def in_slice(inputs: Any, feature: str, value: str) -> bool:
    """Whether a logged instance has ``feature`` equal to ``value`` (as text); positional
    instances name their features x0, x1, … as the profiles do."""
    if isinstance(inputs, dict):
        return feature in inputs and str(inputs[feature]) == value
    if isinstance(inputs, list) and feature.startswith("x") and feature[1:].isdigit():
        index = int(feature[1:])
        return index < len(inputs) and str(inputs[index]) == value
    return False


def feedback_metric(spec: MetricSpec, span: Span, store: Store) -> MetricValue:
    if spec.stat == "event":
        return _event_rate(spec.value or "", span, store)
    pairs = labelled(span, store, spec.slice)
    if spec.stat == "labels":
        return MetricValue(float(len(pairs)), len(pairs))
    if not pairs:
        return MetricValue(None, 0)
    if spec.stat == "accuracy":
        right = sum(same_label(outputs, label) for outputs, label, _ in pairs)
        return MetricValue(right / len(pairs), len(pairs))
    if spec.stat == "calibration":
        return _calibration(pairs)
    cls = spec.value or ""
    if spec.stat == "precision":
        chosen = [(o, lab) for o, lab, _ in pairs if str(output_label(o)) == cls]
    else:  # recall
        chosen = [(o, lab) for o, lab, _ in pairs if str(lab) == cls]
    if not chosen:
        return MetricValue(None, 0)
    right = sum(same_label(o, lab) for o, lab in chosen)
    return MetricValue(right / len(chosen), len(chosen))


def _calibration(pairs: list[tuple[Any, Any, float | None]]) -> MetricValue:
    """Expected calibration error: Σ_bins share × |accuracy − mean confidence| over ten
    equal-width confidence bins; 0 for a model whose confidence means what it says."""
    scored = [(c, same_label(o, lab)) for o, lab, c in pairs if c is not None]
    if not scored:
        return MetricValue(None, 0)
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(CALIBRATION_BINS)]
    for confidence, right in scored:
        index = min(int(max(confidence, 0.0) * CALIBRATION_BINS), CALIBRATION_BINS - 1)
        bins[index].append((confidence, right))
    error = 0.0
    for members in bins:
        if members:
            accuracy = sum(r for _, r in members) / len(members)
            mean_conf = sum(c for c, _ in members) / len(members)
            error += len(members) / len(scored) * abs(accuracy - mean_conf)
    return MetricValue(error, len(scored))


def _event_rate(event: str, span: Span, store: Store) -> MetricValue:
    with store.session(write=False) as s:
        answered = s.scalar(select(func.count()).select_from(Prediction).where(_where(span))) or 0
        events = (
            s.scalar(
                select(func.count(func.distinct(Feedback.prediction_id)))
                .select_from(Feedback)
                .join(Prediction, Feedback.prediction_id == Prediction.id)
                .where(_where(span), Feedback.event == event)
            )
            or 0
        )
    return MetricValue(events / answered if answered else None, answered)
