"""How busy the machine is apart from the benchmark: other work skews every figure on 2 cores."""

from __future__ import annotations

import os
import time
from pathlib import Path

QUIET_BUSY_PCT = 15.0


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_pct(seconds: float = 1.0) -> float:
    """Share of all cores busy over ``seconds`` (0-100), whoever used them."""
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    return 100.0 * (busy1 - busy0) / max(1, total1 - total0)


def wait_quiet(limit_s: float, *, threshold: float = QUIET_BUSY_PCT) -> float:
    """Wait up to ``limit_s`` for the machine (benchmark server idle) to be under ``threshold``%
    busy; returns the last reading."""
    deadline = time.monotonic() + limit_s
    busy = busy_pct()
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_pct(2.0)
    return busy


def load1() -> float:
    return os.getloadavg()[0]
