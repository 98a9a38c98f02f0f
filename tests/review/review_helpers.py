"""Helpers for the review queue tests: a classifier with integer classes behind an endpoint, and
review tasks written straight into the store the way the server's log writer writes them.

A module with its own name (not ``conftest``) so that tests can import it unambiguously."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from inprod import endpoints, models
from inprod.store import Store
from inprod.store.tables import Annotation, Feedback, ReviewTask

ENDPOINT = "phone-inspector"
MODEL = "inspector"


def classifier(store: Store) -> None:
    """``inspector@1`` (classes 0 and 1, on 4 float features) serving ``phone-inspector``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    models.register(MODEL, LogisticRegression().fit(X, y), sample=X[:3], store=store)
    endpoints.create(ENDPOINT, f"{MODEL}@1", store=store)


def put_task(
    store: Store,
    *,
    age_s: float = 60.0,
    endpoint: str = ENDPOINT,
    reason: str = "low_confidence",
    outputs: Any = "default",
    status: str = "open",
    claimed_by: str | None = None,
    lease_in_s: float | None = None,
    decision: Any = None,
    decided_by: str | None = None,
) -> str:
    """One task created ``age_s`` seconds ago; ``lease_in_s`` < 0 makes an expired lease."""
    now = datetime.now(UTC)
    task_id = uuid.uuid4().hex
    with store.session() as s:
        s.add(
            ReviewTask(
                id=task_id,
                prediction_id=uuid.uuid4().hex,
                endpoint=endpoint,
                model_name=MODEL,
                model_version=1,
                reason=reason,
                status=status,
                inputs={"f0": 0.25, "f1": -1.5, "f2": 0.0, "f3": 2.0},
                outputs={"output": 1, "confidence": 0.55} if outputs == "default" else outputs,
                confidence=0.55,
                created_at=now - timedelta(seconds=age_s),
                claimed_by=claimed_by,
                lease_until=None if lease_in_s is None else now + timedelta(seconds=lease_in_s),
                decision=decision,
                decided_by=decided_by,
                decided_at=now if status == "decided" else None,
            )
        )
    return task_id


def expire_lease(store: Store, task_id: str) -> None:
    """Make a task's lease end a second ago, as if its reviewer walked away."""
    with store.session() as s:
        row = s.get(ReviewTask, task_id)
        row.lease_until = datetime.now(UTC) - timedelta(seconds=1)


def snapshot(store: Store) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Every task, feedback and annotation row, to assert that a refusal changed nothing."""
    with store.session(write=False) as s:
        tasks = [
            (t.id, t.status, t.claimed_by, t.lease_until, t.decision, t.decided_by)
            for t in s.scalars(select(ReviewTask).order_by(ReviewTask.id))
        ]
        feedback = [(f.prediction_id, f.label) for f in s.scalars(select(Feedback))]
        annotations = [(a.example_id, a.label) for a in s.scalars(select(Annotation))]
    return tasks, feedback, annotations
