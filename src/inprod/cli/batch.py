"""``inprod batch``."""

from __future__ import annotations


def batch() -> None:
    """Score a file with a registered model version."""
    raise NotImplementedError
