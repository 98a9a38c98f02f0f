"""Warming a version before it takes traffic: load it and ask it to predict on real inputs.

Used before a blue-green switch (by whoever asks for it) and by every server before it routes a
request to a newly loaded version, so a version that cannot answer never takes traffic.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy import select

from ..endpoints import REDACTED
from ..errors import InvalidInput
from ..flavors import Predictor
from ..store import Store, get_store
from ..store.tables import Prediction

log = logging.getLogger(__name__)

SAMPLE_ROWS = 8


def sample_inputs(endpoint: str, *, rows: int = SAMPLE_ROWS, store: Store | None = None) -> list:
    """The endpoint's latest logged inputs that the model answered (empty when none are logged)."""
    store = get_store(store)
    with store.session(write=False) as s:
        return list(
            s.scalars(
                select(Prediction.inputs)
                .where(
                    Prediction.endpoint == endpoint,
                    Prediction.status == "ok",
                    Prediction.role == "primary",
                    Prediction.inputs.is_not(None),
                )
                .order_by(Prediction.time.desc())
                .limit(rows)
            ).all()
        )


def as_batch(instances: list[Any], predictor: Predictor) -> Any:
    """Logged instances (objects or arrays) as the model's input; redacted fields are not sent."""
    if isinstance(instances[0], dict):
        import pandas as pd

        batch: Any = pd.DataFrame(instances)
    else:
        batch = np.asarray(instances)
    return predictor.signature.validate(batch)


def health_check(predictor: Predictor, instances: list[Any], *, ref: str) -> None:
    """Predict on ``instances``; raises InvalidInput naming ``ref`` when it fails or answers
    the wrong number of rows."""
    if not instances:
        return
    try:
        result = predictor.predict(as_batch(instances, predictor))
    except Exception as exc:
        raise InvalidInput(
            f"{ref} failed its health check on {len(instances)} logged input(s): "
            f"{type(exc).__name__}: {exc}",
            field="model",
        ) from exc
    if len(result.outputs) != len(instances):
        raise InvalidInput(
            f"{ref} answered {len(result.outputs)} row(s) for {len(instances)} input(s) in its "
            "health check",
            field="model",
        )


def replayable(instances: list[Any]) -> bool:
    """False when the log redacted a field: such inputs cannot be sent to a model again."""
    return not any(isinstance(i, dict) and REDACTED in i.values() for i in instances)


def warm_check(endpoint: str, model: str, *, store: Store | None = None) -> str:
    """Load ``model`` and health-check it on ``endpoint``'s latest inputs; says what was checked."""
    from ..registry import models

    store = get_store(store)
    predictor = models.load(model, store=store)
    instances = sample_inputs(endpoint, store=store)
    if replayable(instances):
        health_check(predictor, instances, ref=model)
    else:
        instances = []
    if not instances:
        log.info("%s: loaded; no logged inputs of %s to check it with", model, endpoint)
        return "loaded (no logged inputs to check with)"
    return f"loaded and answered {len(instances)} logged input(s)"
