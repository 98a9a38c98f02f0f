"""Monitoring: window profiles of what each endpoint sees and answers, metrics over them,
monitors and alerts with actions, drift against a reference, reports and pipelines.

Names are loaded on first use, so ``import inprod.monitoring.drift`` (the offline drift command)
does not pay for the sketches and the store.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CategorySketch": ".sketches",
    "NumericSketch": ".sketches",
    "ProfileBuilder": ".profile",
    "ProfileKey": ".profile",
    "WindowProfile": ".profile",
    "merge_all": ".profile",
    "register_metric": ".metrics",
    "profile_drift": ".sketch_drift",
    "reference_profile": ".reference",
    "read_profiles": ".windows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inprod.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
