"""Datasets: immutable, content-hashed versions of a table (CSV, Parquet) or of an image folder
(a manifest plus PNG/JPEG files), each with its schema, profile and provenance.

Used as ``inprod.datasets``::

    v = inprod.datasets.add("phone-images", "data/images", label_columns=["label"],
                            metadata_columns=["factory", "camera", "labeler"])
    df = inprod.datasets.load("phone-images@2")
    inprod.datasets.diff("phone-images@1", "phone-images@2")

Why content hashing: adding the same content again returns the version that holds it
(``created=False``) instead of a copy, so re-running a pipeline does not inflate the history,
and a run that names ``phone-images@2`` can prove which bytes it trained on. The content hash
covers the stored bytes and the declared column roles (label, metadata, image): the same file
with another label column is a new version. Provenance (source, parents, transform, code
version, creator) describes a version but is not part of its identity.

Everything a user can get wrong is checked before any byte is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import provenance
from ..errors import Conflict, InvalidInput
from ..projects import check_name
from ..store import Store, get_store
from . import images as _images
from . import readers, versions
from ._progress import Counter, ProgressFn, report
from .diff import DatasetDiff, compare
from .profile import describe_table
from .schema import declare_roles
from .versions import DatasetSummary, DatasetVersionInfo

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

logger = logging.getLogger(__name__)

READ_STAGE = "reading"
HASH_STAGE = "hashing and storing"

__all__ = [
    "DatasetDiff",
    "DatasetSummary",
    "DatasetVersionInfo",
    "add",
    "diff",
    "get",
    "list_datasets",
    "list_versions",
    "load",
    "load_images",
    "path",
]


def add(
    name: str,
    path: str | os.PathLike[str],
    *,
    label_columns: list[str] | None = None,
    metadata_columns: list[str] | None = None,
    image_column: str | None = None,
    parents: list[str] | None = None,
    transform: str = "",
    source: str | None = None,
    description: str = "",
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> DatasetVersionInfo:
    """Store ``path`` as the next version of dataset ``name`` (or find the version holding it).

    ``path`` is a .csv or .parquet table, a manifest naming images, or a folder with one
    manifest.csv / manifest.parquet. A manifest is recognised by that name or by giving
    ``image_column`` (default: the first of "image", "path", "file" that exists). Declared label
    and metadata columns must exist. ``parents`` are dataset refs ("raw-images@2").
    ``progress(stage, done, total)`` is called while reading, hashing, profiling and checking
    images.
    Raises InvalidInput / NotFound for bad input, with nothing stored.
    """
    check_name(name, "dataset")
    labels = list(dict.fromkeys(label_columns or []))
    metadata = list(dict.fromkeys(metadata_columns or []))
    store = get_store(store)
    given = Path(path)
    kind, file = _locate(given, image_column)
    file = file.resolve()  # a link to the data is fine; its target is what gets stored
    stat = readers.check_file(file)
    fmt = readers.table_format(file)
    parent_ids = versions.resolve_parents(store, parents or [])
    report(progress, READ_STAGE, 0, stat.st_size)
    table = readers.read_table(file, fmt)
    report(progress, READ_STAGE, stat.st_size, stat.st_size)
    if kind == "images":
        image_column = _images.pick_image_column(table.column_names, image_column, source=str(file))
    roles = declare_roles(
        table.column_names, labels=labels, metadata=metadata, image=image_column, source=str(file)
    )
    if kind == "table":
        artifacts, size, entries, profile = _store_table(store, file, table, roles, progress)
    else:
        assert image_column is not None
        artifacts, size, entries, profile = _store_images(
            store, file, table, image_column, roles, progress
        )
    _check_unchanged(file, stat)
    content_hash = _content_hash(kind, fmt, artifacts, labels, metadata, image_column)
    code = provenance.code_version()
    fields = dict(
        content_hash=content_hash,
        kind=kind,
        format=fmt,
        artifacts=artifacts,
        row_count=table.num_rows,
        size_bytes=size,
        schema={"columns": entries, "image_column": image_column},
        profile=profile,
        label_columns=labels,
        metadata_columns=metadata,
        source=source if source is not None else str(given.absolute()),
        transform=transform,
        description=description,
        code_sha=code.sha,
        code_dirty=code.dirty,
        created_by=provenance.current_user(),
    )
    info = versions.insert_version(store, name, fields, parent_ids)
    logger.info("dataset %s %s", info.ref, "added" if info.created else "already stored")
    return info


def _locate(given: Path, image_column: str | None) -> tuple[str, Path]:
    """("table" | "images", the file to read)."""
    if given.is_dir():
        return "images", _images.find_manifest(given)
    if image_column is not None or given.name.lower() in readers.MANIFEST_NAMES:
        return "images", given
    return "table", given


def _store_table(
    store: Store, file: Path, table: pa.Table, roles: dict[str, str], progress: ProgressFn | None
) -> tuple[dict[str, str], int, list[dict[str, Any]], dict[str, Any]]:
    # Copying (disk + sha256) and profiling (CPU) overlap: both release the GIL.
    counter = Counter(progress, HASH_STAGE, file.stat().st_size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inprod-hash") as pool:
        copied = pool.submit(store.artifacts.put_file, file, progress=counter)
        entries, profile = describe_table(table, roles=roles, progress=progress)
        blob = copied.result()
    return {"data": blob.sha256}, blob.size, entries, profile


def _store_images(
    store: Store,
    manifest: Path,
    table: pa.Table,
    image_column: str,
    roles: dict[str, str],
    progress: ProgressFn | None,
) -> tuple[dict[str, str], int, list[dict[str, Any]], dict[str, Any]]:
    source = str(manifest)
    paths = _images.image_paths(table, image_column, source=source)
    facts = _images.inspect_images(manifest.parent, paths, progress=progress)
    others = table.drop_columns([image_column])
    entries, profile = describe_table(others, roles=roles, progress=progress)
    rows = [facts[p] for p in paths]
    entries.insert(
        table.column_names.index(image_column), _images.image_column_schema(image_column, rows)
    )
    profile["columns"][image_column] = _images.image_column_profile(rows)
    manifest_blob = store.artifacts.put_file(manifest)
    tree = _images.store_images(store.artifacts, manifest.parent, facts, progress=progress)
    size = manifest_blob.size + sum(f.size for f in facts.values())
    return {"manifest": manifest_blob.sha256, "images": tree.sha256}, size, entries, profile


def _check_unchanged(file: Path, before: os.stat_result) -> None:
    after = file.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise Conflict(
            f"{file} changed while it was being added; add it again once nothing writes to it"
        )


def _content_hash(
    kind: str,
    fmt: str,
    artifacts: dict[str, str],
    labels: list[str],
    metadata: list[str],
    image_column: str | None,
) -> str:
    identity = {
        "kind": kind,
        "format": fmt,
        "artifacts": artifacts,
        "label_columns": labels,
        "metadata_columns": metadata,
        "image_column": image_column,
    }
    encoded = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def get(ref: str, *, store: Store | None = None) -> DatasetVersionInfo:
    """The version named by ``ref``: "name" or "name@latest" (newest) or "name@3"."""
    return versions.get_version(get_store(store), ref)


def list_versions(name: str, *, store: Store | None = None) -> list[DatasetVersionInfo]:
    """Every version of dataset ``name``, oldest first."""
    return versions.list_versions(get_store(store), name)


def list_datasets(*, store: Store | None = None) -> list[DatasetSummary]:
    """Every dataset with its newest version, by name."""
    return versions.list_datasets(get_store(store))


def diff(ref_a: str, ref_b: str, *, store: Store | None = None) -> DatasetDiff:
    """What changed from ``ref_a`` to ``ref_b`` (columns, types, rows, statistics, categories)."""
    store = get_store(store)
    return compare(get(ref_a, store=store), get(ref_b, store=store))


def path(ref: str, *, store: Store | None = None) -> Path:
    """A local file with the table's bytes, verified against its hash (read-only: do not edit)."""
    store = get_store(store)
    info = get(ref, store=store)
    if info.kind != "table":
        raise InvalidInput(
            f"{info.ref} is an image dataset; use load() for its manifest rows or "
            "load_images() for the pixels",
            field="ref",
        )
    return store.artifacts.local_path(info.artifacts["data"])


def load(ref: str, *, store: Store | None = None) -> pd.DataFrame:
    """The table as a DataFrame; for an image dataset, its manifest rows."""
    store = get_store(store)
    info = get(ref, store=store)
    return _read(store, info).to_pandas()


def load_images(ref: str, *, mode: str | None = None, store: Store | None = None) -> np.ndarray:
    """All images as one uint8 array (N, H, W) or (N, H, W, C), in manifest row order.

    Every image's bytes are verified against its hash. The images must share one shape; ``mode``
    ("L", "RGB") converts them first, which also makes mixed colour modes loadable.
    """
    store = get_store(store)
    info = get(ref, store=store)
    if info.kind != "images" or info.image_column is None:
        raise InvalidInput(
            f"{info.ref} is a table dataset, not images; use load() for it", field="ref"
        )
    table = _read(store, info)
    paths = _images.image_paths(table, info.image_column, source=info.ref)
    return _images.load_array(
        store.artifacts, info.artifacts["images"], paths, mode=mode, name=info.ref
    )


def _read(store: Store, info: DatasetVersionInfo) -> pa.Table:
    key = "data" if info.kind == "table" else "manifest"
    local = store.artifacts.local_path(info.artifacts[key])
    return readers.read_table(local, info.format, name=info.ref)
