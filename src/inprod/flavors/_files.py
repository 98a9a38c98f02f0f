"""The files of a model, wherever they are: a folder being registered, or a stored artifact tree.

Loaders read bytes through this seam, so the same code checks a model before it is stored and
loads it afterwards; reads from the store are verified against their sha256 by the artifact store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from ..artifacts import ArtifactStore
from ..errors import InvalidInput, NotFound


class ModelFiles(Protocol):
    where: str  # for messages: a path, or "artifact 1a2b3c4d5e6f"

    def names(self) -> list[str]: ...

    def read(self, name: str) -> bytes: ...


class FolderFiles:
    """Local files by relative name; ``of_folder`` lists a whole folder (links refused)."""

    def __init__(self, files: Mapping[str, Path], *, where: str) -> None:
        self.files = dict(files)
        self.where = where

    @classmethod
    def of_folder(cls, folder: Path) -> FolderFiles:
        if not folder.is_dir():
            raise NotFound(f"folder not found: {folder}")
        files: dict[str, Path] = {}
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            for name in dirnames + filenames:
                if (Path(dirpath) / name).is_symlink():
                    raise InvalidInput(
                        f"{Path(dirpath) / name} is a symbolic link; a model folder may hold "
                        "only real files"
                    )
            for name in filenames:
                full = Path(dirpath) / name
                files[full.relative_to(folder).as_posix()] = full
        return cls(files, where=str(folder))

    def names(self) -> list[str]:
        return sorted(self.files)

    def read(self, name: str) -> bytes:
        path = self.files.get(name)
        if path is None:
            raise InvalidInput(f"{self.where} has no file {name!r}")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"file not found: {path}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc


class StoredFiles:
    """The files of a stored tree; every read checks the bytes still hash to their name."""

    def __init__(self, artifacts: ArtifactStore, tree_sha: str, *, where: str) -> None:
        self.artifacts = artifacts
        self.where = where
        self._files = artifacts.tree_files(tree_sha)

    def names(self) -> list[str]:
        return sorted(self._files)

    def read(self, name: str) -> bytes:
        entry = self._files.get(name)
        if entry is None:
            raise InvalidInput(f"{self.where} has no file {name!r}")
        return self.artifacts.read_bytes(entry["sha256"])
