"""Run ``wrk`` pinned to core 1 with post.lua and read its JSON summary line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("post.lua")
WRK_CPU = "1"
WRK_TIMEOUT_S = 10


@dataclass(frozen=True)
class Load:
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors + timeouts + non-2xx/3xx answers

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def check_wrk() -> str | None:
    """Why wrk/taskset cannot run here, or None."""
    for tool, hint in (
        ("wrk", "apt-get install -y wrk"),
        ("taskset", "apt-get install util-linux"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed ({hint})"
    return None


def run_wrk(url: str, body_path: Path, *, connections: int, seconds: float) -> Load:
    command = [
        "taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
        "--latency", f"--timeout={WRK_TIMEOUT_S}s", "-s", str(LUA), url,
    ]  # fmt: skip
    env = {**os.environ, "WRK_BODY": str(body_path)}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    s = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(
        s[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return Load(
        connections=connections,
        requests=s["requests"],
        seconds=s["duration_us"] / 1e6,
        p50_ms=s["p50_us"] / 1000,
        p99_ms=s["p99_us"] / 1000,
        max_ms=s["max_us"] / 1000,
        errors=errors,
    )
