"""How long ``inprod quickstart`` takes to tell the whole story on this machine.

Run: .venv/bin/python benchmarks/quickstart_time.py [--repeat 1]

Runs the command as a new user would (``inprod quickstart``, defaults: 1,200 images, 300
requests, every part) in a fresh temp folder with its own store, timing each part from the
moment its first line appears, and the whole. Goal (issue 9): the whole story in under 5
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 300.0
# the first line each part prints, and its name
PARTS = (
    ("scoping the project", "1. scope, data, agreement, training"),
    ("serving phone-inspector", "2. serve and send requests"),
    ("degree of automation: shadow", "3. shadow, partial automation, canary, rollback"),
    ("the camera station sends phones in normal light", "4. lighting drift and alerts"),
    ("the drift alert queued", "5. labels, retraining, canary of v2, blue-green"),
)


def run_once() -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="inprod-quickstart-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
        env |= {"INPROD_HOME": str(Path(tmp) / "home"), "COLUMNS": "200"}
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", "from inprod.cli import main; main()", "quickstart"],
            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        seen: dict[str, float] = {}
        assert child.stdout is not None
        for line in child.stdout:
            for marker, name in PARTS:
                if marker in line and name not in seen:
                    seen[name] = time.perf_counter() - started
        if child.wait() != 0:
            raise SystemExit(f"inprod quickstart exited with {child.returncode}")
        return time.perf_counter() - started, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        total, seen = run_once()
        marks = [*sorted(seen.items(), key=lambda kv: kv[1]), ("end", total)]
        for (name, at), (_, until) in itertools.pairwise(marks):
            print(f"  {name:<50} {until - at:6.1f} s")
        verdict = "✔" if total < GOAL_S else "✘"
        print(f"inprod quickstart: {total:.1f} s in all (goal < {GOAL_S:.0f} s) {verdict}")


if __name__ == "__main__":
    main()
