"""CLI start-up: ``inprod --help`` must stay under 0.3 s (heavy libraries are imported lazily).

Run: .venv/bin/python benchmarks/cli_startup.py
Prints the best and median of 10 runs of ``inprod --help`` beside ``python -c pass`` (the floor).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10
INPROD = Path(sys.executable).with_name("inprod")


def timed(cmd: list[str]) -> list[float]:
    out = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    floor = timed([sys.executable, "-c", "pass"])
    help_ = timed([str(INPROD), "--help"])
    for name, xs in (("python -c pass", floor), ("inprod --help", help_)):
        print(f"{name:<16} best {min(xs):.3f} s  median {statistics.median(xs):.3f} s")
    verdict = "OK" if min(help_) < 0.3 else "OVER the 0.3 s goal"
    print(f"goal: inprod --help < 0.3 s -> {verdict}")


if __name__ == "__main__":
    main()
