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
