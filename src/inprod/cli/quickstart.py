"""``inprod quickstart``."""

from __future__ import annotations


def quickstart() -> None:
    """Run the phone-inspection story end to end on the embedded store."""
    raise NotImplementedError
