"""examples/ci/github-actions.yml works: its steps (all but installing) run against a temporary
store holding a champion and its endpoint, and ship a candidate as a canary only after the
evaluation gate passed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from inprod import deploy
from inprod.store import Store

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
BIN = Path(sys.executable).parent
SKIP = {"install"}  # the runner's own setup: pip install inprod


def run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_workflow_trains_gates_and_canaries(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        INPROD_HOME=str(tmp_path / "home"),
        INPROD_STORE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        INPROD_ARTIFACTS=str(tmp_path / "artifacts"),
    )
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    setup = run(
        "inprod quickstart --images 200 --requests 0 --data-dir data && "
        "inprod endpoints create phone-inspector --model phone-inspector@champion",
        tmp_path, env,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["ship"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s and s.get("name") not in SKIP]
    assert len(scripts) == 3, "train, evaluate, canary"
    for script in scripts:
        done = run(script, tmp_path, env)
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    candidate = dict(
        line.split("=", 1) for line in (tmp_path / "candidate.env").read_text().split()
    )
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["passed"] is True and evaluation["candidate"] == candidate["CANDIDATE"]
    store = Store(env["INPROD_STORE_URL"], env["INPROD_ARTIFACTS"])
    try:
        status = deploy.status("phone-inspector", store=store)
        assert status["candidate"]["ref"] == candidate["CANDIDATE"]
        assert status["candidate"]["role"] == "canary" and status["state"] == "ramping"
    finally:
        store.close()
