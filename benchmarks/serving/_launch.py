"""Starting each server of the comparison, ready to predict the benchmark body.

The ceiling runs on inprod's own virtualenv (it needs only Starlette, uvicorn and orjson); MLflow
and BentoML run from the virtualenvs benchmarks/peers/setup.sh builds under benchmarks/.peers/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import _inprod
from _servers import Running, free_port, start

HERE = Path(__file__).parent
PEERS = HERE.parent / ".peers"


class Skip(Exception):
    """A server that cannot run here; the message says why."""


def peer_python(peer: str) -> Path:
    venv = PEERS / peer
    failed = venv / "FAILED"
    if failed.exists():
        raise Skip(f"its install failed: {failed.read_text().strip().splitlines()[-1]}")
    python = venv / "bin" / "python"
    if not python.exists():
        raise Skip(f"no virtualenv at {venv}; run 'bash benchmarks/peers/setup.sh {peer}'")
    return python


def peer_env(python: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment without inprod's settings; ``python``'s bin first on PATH (MLflow starts
    ``uvicorn`` by name)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPROD_", "VIRTUAL_ENV"))}
    if python is not None:
        env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    env.update(DO_NOT_TRACK="1", PYTHONPATH=str(HERE), **extra)
    return env


def _check_call(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Skip(f"{Path(command[1]).name} failed: {last}")


def launch(name: str, tmp: Path, body: bytes) -> Running:
    """Start ``ceiling``, ``mlflow`` or ``bentoml`` on a free port; Skip when it cannot run."""
    port = free_port()
    log_path = tmp / f"{name}.log"
    if name == "ceiling":
        command = [sys.executable, str(HERE / "ceiling_app.py"), str(port)]
        url = f"http://127.0.0.1:{port}/predict"
        return start(name, command, url, body, log_path=log_path, env=peer_env())
    if name == "mlflow":
        python = peer_python("mlflow")
        model_dir = tmp / "mlflow-model"
        env = peer_env(python, MLFLOW_TRACKING_URI=(tmp / "mlruns").as_uri())
        _check_call([str(python), str(HERE / "peer_mlflow.py"), str(model_dir)], env)
        command = [
            str(python.with_name("mlflow")), "models", "serve", "-m", str(model_dir),
            "--env-manager", "local", "-w", "1", "-h", "127.0.0.1", "-p", str(port),
        ]  # fmt: skip
        url = f"http://127.0.0.1:{port}/invocations"
        return start(name, command, url, body, log_path=log_path, env=env, cwd=tmp)
    if name == "bentoml":
        python = peer_python("bentoml")
        home = str(tmp / "bentoml-home")
        env = peer_env(python, BENTOML_HOME=home, BENTOML_DO_NOT_TRACK="true")
        _check_call([str(python), str(HERE / "peer_bentoml.py")], env)
        command = [
            str(python.with_name("bentoml")), "serve", "peer_bentoml:Classifier",
            "--working-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        url = f"http://127.0.0.1:{port}/predict"
        return start(name, command, url, body, log_path=log_path, env=env, cwd=tmp)
    raise ValueError(f"unknown server {name!r}")


def launch_inprod(
    tmp: Path, label: str, body: bytes, *, batching: bool = False
) -> tuple[_inprod.InprodHome, int, Running]:
    """``inprod serve`` on a fresh store: the LR endpoint, or the batching test's endpoints."""
    where = _inprod.prepare(tmp / label, batching=batching)
    port = free_port()
    first = _inprod.batching_endpoint("fixed-cost", _inprod.BATCH_ON) if batching else "lr"
    running = start(
        label,
        where.command(port),
        _inprod.predict_url(port, first),
        body,
        log_path=tmp / f"{label}.log",
        env=where.env(),
        cwd=where.home,
    )
    return where, port, running
