"""examples/phone_story.py runs (short mode, a real ``inprod serve``) and its story happens:
every phone is decided by the model or an inspector, the challenger's canary ends as it says, the
fading lamps fire the drift alert, whose request passes the gate and ships by canary, and the
rollback after a blue-green switch serves the retrained model again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "phone_story.py"
TIMEOUT_S = 240


def _find(pattern: str, out: str) -> re.Match[str]:
    found = re.search(pattern, out, re.MULTILINE)
    assert found is not None, f"no line matches {pattern!r} in:\n{out}"
    return found


def test_the_phone_story_example_runs_the_whole_lifecycle_against_a_real_server(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--short"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    steps = [int(m) for m in re.findall(r"^(\d)\. ", out, re.MULTILINE)]
    assert steps == list(range(1, 10)), out

    assert "1. project phone-inspection: accuracy>=0.95, latency_p99_ms<=300" in out, out
    # the inspectors are less sure of faint scratches than of phones overall
    hlp = _find(r"human-level performance: all ([\d.]+)%.*scratch_contrast=0\.12 ([\d.]+)%", out)
    assert float(hlp[2]) < float(hlp[1]) - 10, out

    # shadow: an inspector decided every phone; partial: the model or an inspector did
    shadow = _find(r"^5\. shadow: inspectors decided (\d+) of (\d+) phones", out)
    assert shadow[1] == shadow[2], out
    partial = _find(
        r"partial, confidence >= [\d.]+: the model decided (\d+) of (\d+) phones, the inspectors "
        r"(\d+)$",
        out,
    )
    by_model, total, by_inspectors = (int(n) for n in partial.groups())
    assert by_model + by_inspectors == total and by_model > 0 and by_inspectors > 0, out

    challenger = _find(r"^6\. canary of (phone-inspector@\d+)", out)[1]
    # its accuracy gate judges a few dozen labels: a rollback is a rare but real outcome
    canary = _find(r"^   canary (promoted|rolled_back): (phone-inspector@\d+) serves", out)
    before = challenger if canary[1] == "promoted" else "phone-inspector@1"
    assert canary[2] == before, out

    # the drift alert fired and acted: a sample for review, a retraining request
    _find(r"ALERT \d+ \(critical\) phone-inspector: drift\.brightness\.psi", out)
    actions = _find(r"it sent (\d+) phones to review, opened retraining request (\d+)", out)
    assert int(actions[1]) > 0, out
    assert f"8. the inspectors decided the {actions[1]} phones" in out, out

    # the alert's request: every step done, the gate passed, approved, shipped by canary
    for step in ("dataset", "train", "check"):
        _find(rf"^   {step} \([\d.]+ s\): ", out)
    _find(r"^   evaluate \([\d.]+ s\): gate passed", out)
    approved = _find(r"approved: request (\d+) is deployed, a canary of (phone-inspector@\d+)", out)
    candidate = approved[2]
    assert approved[1] == actions[2] and candidate not in (challenger, before), out
    dark = _find(rf"new dark phones: {before} ([\d.]+)%, {candidate} ([\d.]+)%$", out)
    assert float(dark[2]) > float(dark[1]), out  # the labels taught it the new light
    assert f"canary promoted: {candidate} serves" in out, out

    # blue-green to the version that served before, then the rollback serves the new one again
    assert f"9. blue-green: {before} takes all traffic" in out, out
    _find(
        rf"rollback: {candidate} serves again in [\d.]+ s .*answered by {re.escape(candidate)}$",
        out,
    )
    assert not (tmp_path / ".inprod").exists()  # everything went to the temporary store
