"""Python-callable models for the server tests (imported by the server subprocess)."""

from __future__ import annotations

import time

import numpy as np


def explode(batch):
    raise RuntimeError("this model always fails")


def slow(batch):
    time.sleep(1.0)
    return np.zeros(len(batch))


def row_sum(batch):
    """Exact, order-revealing outputs: each row's sum (batching must keep rows in order)."""
    return np.asarray(batch, dtype=np.float64).sum(axis=1)


def flaky(batch):
    """Fails the whole call when any row's first feature is above 0.84 (~20% of N(0, 1) rows,
    so ~20% of single-row requests)."""
    batch = np.asarray(batch, dtype=np.float64)
    if (batch[:, 0] > 0.84).any():
        raise RuntimeError("flaky model failed on a bright input")
    return (batch[:, 0] + batch[:, 1] > 0).astype(np.int64)
