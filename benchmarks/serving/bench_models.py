"""Python-callable models for inprod's batching benchmark (imported by the server process).

``fixed_cost`` stands for a model whose per-call cost dominates its per-row cost — a GPU kernel
launch and sync, a remote feature lookup, a framework with heavy per-call overhead: each call
waits ``CALL_MS`` whatever the batch size (the GIL is released meanwhile, as it is during a
real accelerator call), then answers each row's sum so outputs stay exact and order-revealing.
"""

from __future__ import annotations

import time

import numpy as np

CALL_MS = 5.0


def fixed_cost(batch):
    time.sleep(CALL_MS / 1000.0)
    return np.asarray(batch, dtype=np.float64).sum(axis=1)
