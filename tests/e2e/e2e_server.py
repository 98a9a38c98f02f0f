"""A real ``inprod serve`` subprocess on a free loopback port, bounded in time, always stopped.

A module with its own name (not ``conftest``) so that tests can import it unambiguously."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression

from inprod import endpoints, models
from inprod.store import Store

HERE = Path(__file__).parent
INPROD = Path(sys.executable).with_name("inprod")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def server_env(store: Store, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    env.update(
        INPROD_HOME=str(home),
        INPROD_STORE_URL=store.url,
        INPROD_ARTIFACTS=store.artifacts.root,
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        **extra,
    )
    return env


@contextlib.contextmanager
def run_server(store: Store, home: Path, *args: str, **env: str) -> Iterator[Server]:
    port = free_port()
    log_path = home / f"server-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(INPROD), "serve", "--port", str(port), "--log-level", "warning", *args],
            env=server_env(store, home, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited {process.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start in {START_TIMEOUT_S}s:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


def register_models(store: Store) -> dict[str, np.ndarray]:
    """A 20-feature logistic regression (tensor input) and python-callable test models."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 20)).astype(np.float64)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    models.register("tiny", model, sample=X[:5], alias="champion", store=store)
    signature = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 20]}}
    for name in ("explode", "slow", "row_sum"):
        models.register(
            name,
            flavor="python",
            callable_ref=f"e2e_models:{name}",
            signature=signature,
            store=store,
        )
    endpoints.create("tiny", "tiny@champion", store=store)
    endpoints.create("explode", "explode@1", store=store)
    endpoints.create("slow", "slow@1", settings={"timeout_ms": 200}, store=store)
    endpoints.create("row-sum", "row_sum@1", settings={"max_batch_size": 8}, store=store)
    return {"X": X, "proba": model.predict_proba(X)}
