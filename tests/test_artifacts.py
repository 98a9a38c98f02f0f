from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from inprod.artifacts import ArtifactStore, check_name
from inprod.errors import IntegrityFailure, InvalidInput, NotFound


@pytest.fixture(params=["local", "memory"])
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    return ArtifactStore(f"memory://inprod-test-{os.getpid()}-{id(tmp_path)}", cache_dir=tmp_path)


def test_blob_is_named_by_its_sha256_and_stored_once(artifacts: ArtifactStore) -> None:
    data = b"phone image bytes"
    first = artifacts.put_bytes(data)
    second = artifacts.put_bytes(data)
    assert first == second
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert artifacts.read_bytes(first.sha256) == data
    assert artifacts.local_path(first.sha256).read_bytes() == data


def test_put_file_hashes_while_copying(artifacts: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))
    seen = []
    blob = artifacts.put_file(src, progress=seen.append)
    assert blob.size == src.stat().st_size == sum(seen)
    assert blob.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()


def test_changed_bytes_on_disk_are_detected(tmp_path: Path) -> None:
    artifacts = ArtifactStore(str(tmp_path / "a"))
    blob = artifacts.put_bytes(b"model weights")
    path = tmp_path / "a" / "sha256" / blob.sha256[:2] / blob.sha256
    path.write_bytes(b"tampered weights")
    with pytest.raises(IntegrityFailure, match="no longer matches"):
        artifacts.read_bytes(blob.sha256)
    with pytest.raises(IntegrityFailure):
        artifacts.local_path(blob.sha256)


def test_missing_blob_is_not_found(artifacts: ArtifactStore) -> None:
    with pytest.raises(NotFound, match="missing"):
        artifacts.read_bytes("0" * 64)


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    artifacts = ArtifactStore(str(tmp_path / "a"))
    artifacts.put_bytes(b"x")
    assert list((tmp_path / "a" / "tmp").iterdir()) == []


@pytest.mark.parametrize("name", ["../evil", "a/../../b", "/etc/passwd", "a\\b", "", "C:/x", "."])
def test_names_that_leave_the_root_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)


def test_normal_names_pass() -> None:
    assert check_name("plots/./confusion.png") == "plots/confusion.png"


def test_tree_round_trip(artifacts: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}")
    (src / "sub" / "w.bin").write_bytes(b"\x00\x01")
    tree = artifacts.put_tree(src)
    assert set(artifacts.tree_files(tree.sha256)) == {"MLmodel", "sub/w.bin"}
    out = artifacts.materialize_tree(tree.sha256, tmp_path / "out")
    assert (out / "sub" / "w.bin").read_bytes() == b"\x00\x01"


def test_tree_with_a_symlink_is_refused(tmp_path: Path) -> None:
    artifacts = ArtifactStore(str(tmp_path / "a"))
    src = tmp_path / "model"
    src.mkdir()
    (src / "link").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput, match="symbolic link"):
        artifacts.put_tree(src)


def test_file_not_found(artifacts: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="file not found"):
        artifacts.put_file(tmp_path / "nope.csv")
