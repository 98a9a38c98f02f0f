"""Where a thing came from: the code version (git sha + dirty flag), who made it, the environment.

Datasets and runs record this automatically so a result can be traced to the code that made it.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

KEY_PACKAGES = (
    "inprod",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "skops",
    "onnxruntime",
    "torch",
    "xgboost",
    "lightgbm",
)


@dataclass(frozen=True)
class CodeVersion:
    sha: str | None
    dirty: bool | None

    def describe(self) -> str:
        if self.sha is None:
            return "not in a git repository"
        return self.sha[:12] + (" (dirty)" if self.dirty else "")


def code_version(cwd: Path | None = None) -> CodeVersion:
    """The git commit of the working folder and whether it has uncommitted changes.

    Outside a git repository (or without git) both are None: unknown, not "clean".
    """
    cwd = cwd or Path.cwd()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return CodeVersion(None, None)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return CodeVersion(None, None)
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return CodeVersion(sha.stdout.strip(), dirty)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def environment() -> dict[str, object]:
    """Python, platform, host and the versions of the packages that change results."""
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "packages": packages,
    }
