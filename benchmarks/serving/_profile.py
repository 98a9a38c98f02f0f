"""Where the server's time goes under load: py-spy samples, summed per function.

py-spy's ``raw`` format is one collapsed stack per line (``thread;outer (file:line);...;inner
(file:line) COUNT``). Self time is the innermost frame; inclusive time counts a function once per
stack it appears in. py-spy runs with ``--gil``: it samples only the thread holding the GIL, so
on a server pinned to one core the percentages are shares of the Python work that limits its
throughput (waiting in epoll or on a queue does not count; native code that releases the GIL,
such as a BLAS call, does not either). Frames every request passes through only on the way in
(the CLI, uvicorn's startup, threading's bootstrap) are left out of the inclusive list.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROFILER_CPU = "1"
_LINE = re.compile(r":\d+\)$")
_SCAFFOLD = (
    "typer/", "click/", "inprod/cli/", "asyncio/runners.py", "uvicorn/main.py",
    "uvicorn/server.py", "uvicorn/_compat.py", "threading.py", "(inprod)",
    "inprod/serving/server.py",
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    samples: int
    by_thread: list[tuple[str, float]]
    self_pct: list[tuple[str, float]]
    inclusive_pct: list[tuple[str, float]]


def py_spy() -> str | None:
    """py-spy beside the running python (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, out: Path, fmt: str, rate: int = 200) -> subprocess.Popen:
    """Start py-spy on ``pid`` (pinned to the load generator's core); wait on the result."""
    command = [
        "taskset", "-c", PROFILER_CPU, str(py_spy()), "record", "--pid", str(pid),
        "--duration", str(seconds), "--rate", str(rate), "--format", fmt, "--threads",
        "--gil", "-o", str(out),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _frame(text: str) -> str:
    return _LINE.sub(")", text.strip())


def summarize(raw: Path, top: int = 25) -> Profile:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread, frames = frames[0], [_frame(f) for f in frames[1:]]
        total += n
        threads[re.sub(r"\s*\(?0x[0-9a-f]+\)?", "", thread).strip()] += n
        if frames:
            self_counts[frames[-1]] += n
        for f in set(frames):
            if not any(part in f for part in _SCAFFOLD):
                inclusive[f] += n

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in counter.most_common(top)] if total else []

    return Profile(total, pct(threads), pct(self_counts), pct(inclusive))


def render(profile: Profile) -> str:
    lines = [f"{profile.samples} samples", "", "by thread:"]
    lines += [f"  {p:5.1f}%  {k}" for k, p in profile.by_thread]
    lines += ["", "inclusive (the function and what it calls):"]
    lines += [f"  {p:5.1f}%  {k}" for k, p in profile.inclusive_pct]
    lines += ["", "self (the innermost frame):"]
    lines += [f"  {p:5.1f}%  {k}" for k, p in profile.self_pct]
    return "\n".join(lines)
