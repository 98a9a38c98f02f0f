"""examples/pipeline_speech.py runs (short mode, a real server) and tells its story: stage 1's
clips get shorter in the same rows where stage 2's confidence drops; docs/pipelines.md quotes it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pipeline_speech.py"
DOC = ROOT / "docs" / "pipelines.md"
TIMEOUT_S = 120
_SUMMARY = re.compile(
    r"mean clip: (?P<clip0>[\d.]+) s -> (?P<clip1>[\d.]+) s; .*mean confidence: "
    r"(?P<conf0>[\d.]+) -> (?P<conf1>[\d.]+); traces reaching intent: (?P<act0>\d+)% -> "
    r"(?P<act1>\d+)%"
)


def test_the_speech_example_shows_the_upstream_cause_next_to_the_downstream_drop(
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
    assert "Traceback" not in result.stderr
    assert "$ inprod pipeline view speech" in out
    assert "pipeline speech: vad → asr → intent" in out  # the CLI's table
    found = _SUMMARY.search(out)
    assert found is not None, out
    n = {k: float(v) for k, v in found.groupdict().items()}
    assert n["clip1"] < 0.75 * n["clip0"], out  # the quieter headset: shorter clips...
    assert n["conf1"] < n["conf0"] - 0.1, out  # ...a less sure recognizer...
    assert n["act1"] < n["act0"], out  # ...and fewer utterances acted on
    assert not (tmp_path / ".inprod").exists()  # everything went to the temporary store


def test_the_python_in_docs_pipelines_is_quoted_from_the_example() -> None:
    """Each paragraph of a python block in docs/pipelines.md is a run of consecutive lines of the
    example (compared stripped, without '# fmt: skip'), in the example's order."""

    def lines(text: str) -> list[str]:
        return [line.replace("# fmt: skip", "").strip() for line in text.splitlines()]

    example = [line for line in lines(EXAMPLE.read_text()) if line]
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.MULTILINE | re.DOTALL)
    assert blocks, "docs/pipelines.md lost its Python example"
    for block in blocks:
        start = 0
        for paragraph in re.split(r"\n\s*\n", block):
            quoted = [line for line in lines(paragraph) if line]
            found = next(
                (i for i in range(start, len(example)) if example[i : i + len(quoted)] == quoted),
                None,
            )
            assert found is not None, (
                f"docs/pipelines.md quotes lines not in the example:\n{paragraph}"
            )
            start = found + len(quoted)
