"""Helpers for the rollout tests: two versions of one model behind an endpoint, and logged
predictions and feedback written straight into the store to drive the gates.

A module with its own name (not ``conftest``) so that tests can import it unambiguously."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from inprod import endpoints, models
from inprod.rollout import actions
from inprod.rollout.plan import DeploymentPlan
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction

ENDPOINT = "phone-inspector"
MODEL = "inspector"
FEATURES = 4


def fitted(features: int = FEATURES, seed: int = 0) -> tuple[LogisticRegression, np.ndarray]:
    """A tiny seeded classifier on ``features`` float columns and a sample of its inputs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, features))
    y = (X[:, 0] > 0).astype(int)
    return LogisticRegression().fit(X, y), X[:3]


def two_versions(store: Store, *, endpoint_ref: str = f"{MODEL}@champion") -> None:
    """``inspector@1`` (alias champion) serving ``phone-inspector``, and ``inspector@2`` ready."""
    model, sample = fitted()
    models.register(MODEL, model, sample=sample, alias="champion", store=store)
    models.register(MODEL, fitted(seed=1)[0], sample=sample, store=store)
    endpoints.create(ENDPOINT, endpoint_ref, store=store)


def start_canary(store: Store, **options: Any) -> DeploymentPlan:
    """A canary of ``inspector@2`` with small numbers, so tests need few rows."""
    options = {
        "steps": "10,50,100",
        "interval": "10m",
        "gates": ["error_rate<=0.01"],
        "min_requests": 20,
        **options,
    }
    return actions.canary(ENDPOINT, f"{MODEL}@2", store=store, **options)


def log_predictions(
    store: Store,
    *,
    n: int,
    version: int,
    role: str,
    errors: int = 0,
    latency_ms: float | list[float] = 5.0,
    outputs: list[Any] | None = None,
    at: datetime | None = None,
    endpoint: str = ENDPOINT,
) -> list[str]:
    """``n`` logged answers of ``inspector@version`` in ``role``; the first ``errors`` failed.

    ``outputs`` gives each row's answer (default "ok"); ``at`` their time (default now).
    Returns the prediction ids in order.
    """
    at = at or datetime.now(UTC)
    latencies = latency_ms if isinstance(latency_ms, list) else [latency_ms] * n
    answers = outputs if outputs is not None else ["ok"] * n
    ids = [uuid.uuid4().hex for _ in range(n)]
    with store.session() as s:
        for i, pid in enumerate(ids):
            failed = i < errors
            s.add(
                Prediction(
                    id=pid,
                    time=at + timedelta(microseconds=i),
                    endpoint=endpoint,
                    model_name=MODEL,
                    model_version=version,
                    role=role,
                    latency_ms=latencies[i],
                    status="error" if failed else "ok",
                    outputs=None if failed else {"output": answers[i], "confidence": 0.9},
                    confidence=None if failed else 0.9,
                )
            )
    return ids


def give_labels(store: Store, ids: list[str], labels: list[Any]) -> None:
    """One feedback label per prediction id."""
    with store.session() as s:
        for pid, label in zip(ids, labels, strict=True):
            s.add(Feedback(prediction_id=pid, label=label, source="test"))


def answers_right(n: int, right: int) -> tuple[list[str], list[str]]:
    """Outputs and labels for ``n`` predictions of which the first ``right`` are correct."""
    outputs = ["ok"] * n
    labels = ["ok"] * right + ["scratch"] * (n - right)
    return outputs, labels


def later(plan: DeploymentPlan, seconds: float) -> datetime:
    """``seconds`` after the plan's current step began."""
    assert plan.candidate is not None and plan.candidate.step_started_at is not None
    return datetime.fromisoformat(plan.candidate.step_started_at) + timedelta(seconds=seconds)
