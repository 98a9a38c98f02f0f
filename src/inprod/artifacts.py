"""Content-addressed artifact storage: a blob's name is the sha256 of its bytes.

Why content addressing: identical files are stored once, a dataset or model version can point at
its bytes by hash, and every read can prove the bytes are the ones that were registered.
Writes go to a temporary name and are renamed into place, so a crash never leaves half a blob
under a real name. Trees (a model folder, an image folder) are stored as a JSON manifest of
relative path -> blob hash; the manifest is a blob too.

The root is a local folder or any fsspec URL (``s3://bucket/inprod``, ``memory://x``).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import IntegrityFailure, InvalidInput, NotFound

CHUNK = 4 * 1024 * 1024
HASH_LEN = 64
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int


def check_name(name: str) -> str:
    """Refuse a relative artifact name that could leave its root; return it normalised."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InvalidInput(f"artifact name {name!r} is empty or contains NUL", field="name")
    if "\\" in name:
        raise InvalidInput(f"artifact name {name!r} contains '\\'; use '/' between folders")
    path = PurePosixPath(name)
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise InvalidInput(f"artifact name {name!r} is absolute; give a path relative to the root")
    if any(part == ".." for part in path.parts):
        raise InvalidInput(f"artifact name {name!r} contains '..'; names must stay inside the root")
    parts = [p for p in path.parts if p != "."]
    if not parts:
        raise InvalidInput(f"artifact name {name!r} names no file")
    return "/".join(parts)


def _check_sha(sha: str) -> str:
    if len(sha) != HASH_LEN or any(c not in "0123456789abcdef" for c in sha):
        raise InvalidInput(f"{sha!r} is not a sha256 hex digest")
    return sha


def hash_file(path: Path, progress: Progress | None = None) -> Blob:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
    return Blob(digest.hexdigest(), size)


class ArtifactStore:
    """Blobs and trees under one root; see the module docstring for the layout."""

    def __init__(self, root: str, *, cache_dir: Path | None = None) -> None:
        self.root = root
        self._local = "://" not in root or root.startswith("file://")
        if self._local:
            self._base = Path(root.removeprefix("file://"))
            self._fs: Any = None
        else:
            import fsspec

            self._fs, self._remote_base = fsspec.core.url_to_fs(root)
        self._cache_dir = cache_dir

    # -- paths ---------------------------------------------------------------
    def _rel(self, sha: str) -> str:
        return f"sha256/{sha[:2]}/{sha}"

    def _local_blob(self, sha: str) -> Path:
        return self._base / self._rel(sha)

    def exists(self, sha: str) -> bool:
        _check_sha(sha)
        if self._local:
            return self._local_blob(sha).is_file()
        return bool(self._fs.exists(f"{self._remote_base}/{self._rel(sha)}"))

    # -- writing -------------------------------------------------------------
    def put_file(self, path: Path | str, *, progress: Progress | None = None) -> Blob:
        """Copy a file in, hashing while copying (one read of the source)."""
        src = Path(path)
        if src.is_symlink():
            raise InvalidInput(f"{src} is a symbolic link; give the file it points to")
        try:
            fh = open(src, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"file not found: {src}") from exc
        except OSError as exc:
            raise InvalidInput(f"cannot read {src}: {exc.strerror}") from exc
        with fh:
            return self._write_stream(iter(lambda: fh.read(CHUNK), b""), progress)

    def put_bytes(self, data: bytes) -> Blob:
        return self._write_stream(iter([data]), None)

    def put_json(self, value: Any) -> Blob:
        return self.put_bytes(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())

    def _write_stream(self, chunks: Iterator[bytes], progress: Progress | None) -> Blob:
        digest = hashlib.sha256()
        size = 0
        tmp_name = f"tmp/{uuid.uuid4().hex}"
        if self._local:
            tmp = self._base / tmp_name
            tmp.parent.mkdir(parents=True, exist_ok=True)
            out: Any = open(tmp, "wb")
        else:
            tmp_remote = f"{self._remote_base}/{tmp_name}"
            out = self._fs.open(tmp_remote, "wb")
        try:
            with out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if progress:
                        progress(len(chunk))
                if self._local:
                    out.flush()
                    os.fsync(out.fileno())
            sha = digest.hexdigest()
            if self._local:
                final = self._local_blob(sha)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
            else:
                final_remote = f"{self._remote_base}/{self._rel(sha)}"
                if self._fs.exists(final_remote):
                    self._fs.rm(tmp_remote)
                else:
                    self._fs.mv(tmp_remote, final_remote)
        except BaseException:
            if self._local:
                tmp.unlink(missing_ok=True)
            raise
        return Blob(sha, size)

    def put_tree(self, folder: Path | str, *, progress: Progress | None = None) -> Blob:
        """Store every file under ``folder``; symbolic links are refused, not followed."""
        base = Path(folder)
        if not base.is_dir():
            raise NotFound(f"folder not found: {base}")
        manifest: dict[str, dict[str, Any]] = {}
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            for name in sorted(dirnames + filenames):
                full = Path(dirpath) / name
                if full.is_symlink():
                    raise InvalidInput(
                        f"{full} is a symbolic link; artifact folders may hold only real files"
                    )
            for name in sorted(filenames):
                full = Path(dirpath) / name
                rel = check_name(full.relative_to(base).as_posix())
                blob = self.put_file(full, progress=progress)
                manifest[rel] = {"sha256": blob.sha256, "size": blob.size}
        return self.put_json({"kind": "tree", "files": manifest})

    # -- reading -------------------------------------------------------------
    def read_bytes(self, sha: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``sha``."""
        _check_sha(sha)
        try:
            if self._local:
                data = self._local_blob(sha).read_bytes()
            else:
                data = self._fs.cat_file(f"{self._remote_base}/{self._rel(sha)}")
        except FileNotFoundError as exc:
            raise NotFound(
                f"artifact {sha[:12]} is missing from {self.root}; "
                "the artifact folder was moved or cleaned — point INPROD_ARTIFACTS at it"
            ) from exc
        if hashlib.sha256(data).hexdigest() != sha:
            raise self._corrupt(sha)
        return data

    def read_json(self, sha: str) -> Any:
        return json.loads(self.read_bytes(sha))

    def local_path(self, sha: str) -> Path:
        """A local file with the blob's verified bytes (the blob itself when the root is local)."""
        _check_sha(sha)
        if self._local:
            path = self._local_blob(sha)
            if not path.is_file():
                raise NotFound(
                    f"artifact {sha[:12]} is missing from {self.root}; "
                    "the artifact folder was moved or cleaned — point INPROD_ARTIFACTS at it"
                )
            if hash_file(path).sha256 != sha:
                raise self._corrupt(sha)
            return path
        cache = (self._cache_dir or Path.home() / ".cache" / "inprod") / "blobs" / sha
        if not cache.is_file() or hash_file(cache).sha256 != sha:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(self.read_bytes(sha))
            os.replace(tmp, cache)
        return cache

    def tree_files(self, sha: str) -> dict[str, dict[str, Any]]:
        manifest = self.read_json(sha)
        if not isinstance(manifest, dict) or manifest.get("kind") != "tree":
            raise IntegrityFailure(f"artifact {sha[:12]} is not a tree manifest")
        return manifest["files"]

    def materialize_tree(self, sha: str, dest: Path | str) -> Path:
        """Write a stored tree under ``dest`` (verified file by file) and return ``dest``."""
        dest = Path(dest)
        for rel, entry in self.tree_files(sha).items():
            target = dest / check_name(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read_bytes(entry["sha256"]))
        return dest

    def _corrupt(self, sha: str) -> IntegrityFailure:
        where = self._local_blob(sha) if self._local else f"{self.root}/{self._rel(sha)}"
        return IntegrityFailure(
            f"artifact {sha[:12]} at {where} no longer matches its sha256 — it was changed on "
            "disk; restore it from a backup or register the model/dataset again"
        )
