"""Proposing the confidence threshold for partial automation from labelled predictions.

With ``partial --threshold t`` answers with confidence >= t are decisions and the rest go to a
person. Raising t trades coverage (the share the model decides alone) for precision (how often
those decisions are right). Given a target precision, the lowest threshold that reaches it keeps
the most work automated. The estimate comes from the primary version's logged answers that
received a feedback label (from clients or from review decisions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, select

from ..errors import InvalidInput
from ..monitoring.feedback_metrics import same_label
from ..store import Store, get_store
from ..store.tables import Feedback, Prediction
from .actions import get_plan
from .gate_metrics import MIN_LABELS

TABLE_GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99)


@dataclass(frozen=True)
class ThresholdRow:
    """At ``threshold``: ``covered`` labelled answers have confidence >= it (``coverage`` of
    all labelled ones); ``precision`` is the share of those that match their label."""

    threshold: float
    covered: int
    coverage: float
    precision: float | None
    suggested: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ThresholdSuggestion:
    """``threshold`` is None when no threshold reaches ``target_precision``; ``note`` says so
    (and warns when few labels back the estimate)."""

    endpoint: str
    model: str
    target_precision: float
    labelled: int
    threshold: float | None
    coverage: float | None
    precision: float | None
    table: list[ThresholdRow] = field(default_factory=list)
    note: str = ""

    @property
    def command(self) -> str | None:
        """The command that applies the suggestion."""
        if self.threshold is None:
            return None
        return f"inprod automation set {self.endpoint} partial --threshold {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "target_precision": self.target_precision,
            "labelled": self.labelled,
            "threshold": self.threshold,
            "coverage": self.coverage,
            "precision": self.precision,
            "command": self.command,
            "note": self.note,
            "table": [r.to_dict() for r in self.table],
        }


def check_target_precision(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or not 0 < value <= 1
    ):
        raise InvalidInput(
            f"target precision {value!r} must be a number in (0, 1], e.g. 0.99",
            field="target_precision",
        )
    return float(value)


def suggest_threshold(
    endpoint: str,
    *,
    target_precision: float,
    model: str | None = None,
    store: Store | None = None,
) -> ThresholdSuggestion:
    """The lowest confidence threshold whose precision on labelled answers of ``model`` (default:
    the version serving as primary now) reaches ``target_precision``.

    Raises InvalidInput for a target outside (0, 1] or when no answer has a label yet.
    """
    target = check_target_precision(target_precision)
    store = get_store(store)
    from ..registry import models

    version = models.get(model or get_plan(endpoint, store=store).primary_ref, store=store)
    where = and_(
        Prediction.endpoint == endpoint,
        Prediction.model_name == version.name,
        Prediction.model_version == version.version,
        Prediction.role == "primary",
        Prediction.status == "ok",
        Prediction.confidence.is_not(None),
    )
    with store.session(write=False) as s:
        rows = s.execute(
            select(Prediction.id, Prediction.confidence, Prediction.outputs, Feedback.label)
            .join(Feedback, Feedback.prediction_id == Prediction.id)
            .where(where)
            .order_by(Feedback.id)
        ).all()
    latest: dict[str, tuple[float, bool]] = {}
    for pid, confidence, outputs, label in rows:
        if label is not None:  # feedback that is only an event carries no label
            latest[pid] = (float(confidence), same_label(outputs, label))
    if not latest:
        raise InvalidInput(
            f"no answers of {version.ref} on {endpoint!r} with a confidence have a feedback "
            "label yet; send labels with 'POST /v1/predictions/{id}/feedback' "
            '({"label": ...}) or decide review tasks, then ask again',
            field="endpoint",
        )
    conf = np.asarray([c for c, _ in latest.values()], dtype=float)
    right = np.asarray([r for _, r in latest.values()], dtype=bool)
    curve = _Curve(conf, right)
    suggested = next(
        (
            float(t)
            for t in np.unique(conf)
            if (p := curve.precision(t)) is not None and p >= target
        ),
        None,
    )
    n = len(conf)
    notes = []
    if suggested is None:
        best = max(curve.precision(t) or 0.0 for t in np.unique(conf))
        notes.append(
            f"no threshold reaches a precision of {target:g}: the best is {best:.4g}; "
            "lower the target or improve the model"
        )
    if n < MIN_LABELS:
        notes.append(f"only {n} labelled answer(s); the estimate is rough below {MIN_LABELS}")
    # the grid, everything (the lowest confidence) and the suggestion: at most 12 rows
    table_at = {*TABLE_GRID, float(conf.min())}
    if suggested is not None:
        table_at.add(suggested)
    table = [curve.row(t, suggested=t == suggested) for t in sorted(table_at)]
    return ThresholdSuggestion(
        endpoint=endpoint,
        model=version.ref,
        target_precision=target,
        labelled=n,
        threshold=suggested,
        coverage=None if suggested is None else curve.covered(suggested) / n,
        precision=None if suggested is None else curve.precision(suggested),
        table=table,
        note="; ".join(notes),
    )


class _Curve:
    """Coverage and precision at any threshold, from answers sorted by confidence."""

    def __init__(self, conf: np.ndarray, right: np.ndarray) -> None:
        order = np.argsort(conf, kind="stable")
        self.conf = conf[order]
        # right_from[i]: correct answers among the i-th lowest confidence and above
        self.right_from = np.concatenate([np.cumsum(right[order][::-1])[::-1], [0]])

    def covered(self, t: float) -> int:
        return int(len(self.conf) - np.searchsorted(self.conf, t, side="left"))

    def precision(self, t: float) -> float | None:
        i = int(np.searchsorted(self.conf, t, side="left"))
        covered = len(self.conf) - i
        return None if not covered else int(self.right_from[i]) / covered

    def row(self, t: float, *, suggested: bool) -> ThresholdRow:
        covered = self.covered(t)
        return ThresholdRow(
            threshold=float(t),
            covered=covered,
            coverage=covered / len(self.conf),
            precision=self.precision(t),
            suggested=suggested,
        )
