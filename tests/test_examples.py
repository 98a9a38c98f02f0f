"""The examples in docs/ and examples/ run: the Python tour end to end, every command that
docs/cli.md names exists with the options it shows, and docs/python-api.md quotes the tour."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from inprod.cli import app

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "examples" / "python_api_tour.py"
CLI_DOC = ROOT / "docs" / "cli.md"
API_DOC = ROOT / "docs" / "python-api.md"
TOUR_TIMEOUT_S = 120

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_OPTION = re.compile(r"(?:^|[\s\[|])(--?[A-Za-z][\w-]*)")


def code_blocks(doc: Path, language: str | None = None) -> list[str]:
    text = doc.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        info = text[match.start() : text.index("\n", match.start())].strip("`").strip()
        if language is None or info == language:
            blocks.append(match.group(1))
    return blocks


def documented_commands(doc: Path = CLI_DOC) -> list[str]:
    """Every ``inprod ...`` line in the code blocks of ``doc``, continuations joined."""
    lines: list[str] = []
    for block in code_blocks(doc):
        pending = ""
        for raw in block.splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if line.startswith("$ "):
                line = line[2:]
            words = line.split()
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value inprod ...
                words.pop(0)
            if words and words[0] == "inprod":
                lines.append(" ".join(words))
    return lines


def command_part(line: str) -> str:
    """``line`` up to a pipe, ``&&``, ``;`` or a ``#`` comment."""
    return re.split(r"\s(?:\||&&|;|#)(?:\s|$)", line)[0]


def resolve(line: str, doc: str = "docs/cli.md") -> tuple[list[str], Any]:
    """The command words of ``line`` and the click command they name."""
    command = typer.main.get_command(app)  # a click group (Typer vendors its own click)
    words: list[str] = []
    for word in shlex.split(command_part(line))[1:]:
        if not hasattr(command, "commands") or word.startswith("-"):
            break
        sub = command.commands.get(word)
        default = command.commands.get("start")
        if sub is None and default is not None and default.hidden:
            return [*words, "start"], default  # `inprod deploy ENDPOINT --canary ...`
        assert sub is not None, f"{doc}: {line!r}: {word!r} is not a command"
        command, words = sub, [*words, word]
    return words, command


def test_python_api_tour_runs_and_prints_the_story(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    result = subprocess.run(
        [sys.executable, str(TOUR)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOUR_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in (
        "project phone-inspection: accuracy>=0.95, latency_p99_ms<=300, qps>=1000",
        "added phone-images@1: 200 rows",
        "added phone-labels@1 from phone-images@1",
        "phone-images@1 -> phone-images@2: mean brightness",
        "champion: phone-inspector@champion -> version ",
        "prediction: [",
        "(onnx) from phone-inspector@",
        "same predictions True",
        "model_version   phone-inspector@",
        "dataset_version phone-labels@1 (labels)",
        "plan ramping: phone-inspector@",
        "controller: wait (step 1 (10%) has 0 of 200 canary requests",
        "  rollback: ramping -> rolled_back (not today)",
        "error (NotFound, HTTP 404): model 'phone-inspector' has no version 7",
    ):
        assert expected in out, f"{expected!r} not in the tour's output:\n{out}"
    assert "Traceback" not in result.stderr
    # everything went through store=...: no default store appeared in the working folder
    assert not (tmp_path / ".inprod").exists()


def test_cli_docs_show_every_command() -> None:
    assert len(documented_commands()) > 30, "docs/cli.md should show every command"


@pytest.mark.parametrize(
    "doc", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_every_command_in_the_docs_exists_with_its_options(doc: Path) -> None:
    """A command or option a page shows that the CLI lacks is a broken promise to a reader."""
    name = str(doc.relative_to(ROOT))
    runner = CliRunner()
    checked: set[tuple[str, ...]] = set()
    for line in documented_commands(doc):
        words, command = resolve(line, name)
        assert words, f"{name}: {line!r} names no command"
        known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        known.add("--help")
        for option in _OPTION.findall(command_part(line)):
            assert option in known, f"{name}: {line!r}: 'inprod {' '.join(words)}' has no {option}"
        if tuple(words) not in checked:
            checked.add(tuple(words))
            result = runner.invoke(app, [*words, "--help"], prog_name="inprod")
            assert result.exit_code == 0, f"inprod {' '.join(words)} --help: {result.output}"


def test_python_api_doc_quotes_the_tour() -> None:
    """Each python block of docs/python-api.md is a run of consecutive lines of the tour
    (compared without indentation; a line '...' in a block skips tour lines)."""
    tour = [line.strip() for line in TOUR.read_text().splitlines() if line.strip()]
    blocks = code_blocks(API_DOC, "python")
    assert blocks, "docs/python-api.md has no python blocks"
    for block in blocks:
        start = 0
        for chunk in re.split(r"^\s*\.\.\.\s*$", block, flags=re.MULTILINE):
            lines = [line.strip() for line in chunk.splitlines() if line.strip()]
            if not lines:
                continue
            found = next(
                (
                    i
                    for i in range(start, len(tour) - len(lines) + 1)
                    if tour[i : i + len(lines)] == lines
                ),
                None,
            )
            assert found is not None, (
                f"docs/python-api.md quotes lines that are not in {TOUR.name}:\n{chunk}"
            )
            start = found + len(lines)
