"""Window profiles written straight into the store, minute by minute, to drive monitors in
simulated time (the same rows the server's log writer stores)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from inprod.monitoring.profile import ProfileBuilder, ProfileKey
from inprod.monitoring.windows import _upsert
from inprod.store import Store

# the rollout tests' helpers register the endpoint and log answers with labels; reuse them
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
from rollout_helpers import give_labels, log_predictions, two_versions

__all__ = ["give_labels", "log_predictions", "two_versions"]

ENDPOINT = "phone-inspector"
MODEL = "inspector"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # a minute boundary


def write_minute(
    store: Store,
    start: datetime,
    *,
    brightness: float = 0.5,
    n: int = 40,
    errors: int = 0,
    latency_ms: float = 5.0,
    classes: tuple[str, ...] = ("ok", "scratch"),
    confidence: float = 0.9,
    role: str = "primary",
    version: int = 1,
    seed: int = 0,
    replica: str = "test",
) -> None:
    """One minute of ``n`` calls: a ``brightness`` feature around the given mean, a
    ``factory`` category, answers cycling through ``classes``; the first ``errors`` fail."""
    rng = np.random.default_rng(seed + int(start.timestamp()))
    key = ProfileKey(ENDPOINT, MODEL, version, role, start, 60)
    builder = ProfileBuilder(key)
    for i in range(n):
        row = {"brightness": float(rng.normal(brightness, 0.05)), "factory": "AB"[i % 2]}
        if i < errors:
            builder.add([row], None, latency_ms, "error")
        else:
            answer = {"output": classes[i % len(classes)], "confidence": confidence}
            builder.add([row], [answer], latency_ms)
    with store.session() as s:
        _upsert(s, builder.build(), replica)


def write_minutes(store: Store, start: datetime, minutes: int, **kwargs) -> datetime:
    """``minutes`` consecutive minutes from ``start``; returns the end."""
    for m in range(minutes):
        write_minute(store, start + timedelta(minutes=m), **kwargs)
    return start + timedelta(minutes=minutes)


def minute(m: float) -> datetime:
    return T0 + timedelta(minutes=m)
