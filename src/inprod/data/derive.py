"""New dataset versions made from existing ones: consensus labels, standardized labels, splits,
augmented images. Each is stored like any other version (content-hashed, profiled) with its
parents and the transform that made it, so lineage shows how it came to be.

Image datasets: the new manifest's image paths may name the parent's images (a relabelled or
split version keeps them; they are copied out of the artifact store, which keeps one copy of
each blob) or new image files given as ``new_images`` (an augmented version).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..store import Store, get_store
from . import datasets
from ._progress import ProgressFn
from .versions import DatasetVersionInfo

if TYPE_CHECKING:
    import pandas as pd


def add_derived(
    name: str,
    frame: pd.DataFrame,
    *,
    parents: list[str],
    transform: str,
    source: str | None = None,
    label_columns: list[str] | None = None,
    metadata_columns: list[str] | None = None,
    description: str = "",
    new_images: Mapping[str, bytes] | None = None,
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> DatasetVersionInfo:
    """Store ``frame`` as the next version of ``name``, derived from ``parents``.

    When the first parent is an image dataset, ``frame`` is its new manifest: every path in the
    parent's image column must be one of the parent's images or a key of ``new_images``
    (relative path -> encoded image bytes). Label and metadata columns default to the first
    parent's that ``frame`` still has.
    """
    if not parents:
        raise InvalidInput("a derived dataset version needs at least one parent")
    store = get_store(store)
    first = datasets.get(parents[0], store=store)
    labels = (
        [c for c in first.label_columns if c in frame.columns]
        if label_columns is None
        else label_columns
    )
    metadata = (
        [c for c in first.metadata_columns if c in frame.columns]
        if metadata_columns is None
        else metadata_columns
    )
    common = dict(
        label_columns=labels, metadata_columns=metadata, parents=parents, transform=transform,
        source=source if source is not None else f"derived from {', '.join(parents)}",
        description=description, progress=progress, store=store,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="inprod-derive-") as tmp:
        folder = Path(tmp)
        if first.kind != "images":
            if new_images:
                raise InvalidInput(f"{first.ref} is a table dataset; it has no images to add")
            file = folder / "data.parquet"
            frame.to_parquet(file, index=False)
            return datasets.add(name, file, **common)
        column = first.image_column
        assert column is not None
        if column not in frame.columns:
            raise InvalidInput(
                f"the new manifest lost the image column {column!r} of {first.ref}", field=column
            )
        _write_images(store, first, frame[column].astype(str).tolist(), new_images or {}, folder)
        frame.to_csv(folder / "manifest.csv", index=False)
        return datasets.add(name, folder, image_column=column, **common)


def _write_images(
    store: Store,
    parent: DatasetVersionInfo,
    paths: list[str],
    new_images: Mapping[str, bytes],
    folder: Path,
) -> None:
    files = store.artifacts.tree_files(parent.artifacts["images"])
    for rel in dict.fromkeys(paths):
        target = folder / rel
        if not target.resolve().is_relative_to(folder.resolve()):
            raise InvalidInput(f"image path {rel!r} leaves the dataset's folder", field="image")
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in new_images:
            target.write_bytes(new_images[rel])
        elif rel in files:
            target.write_bytes(store.artifacts.read_bytes(files[rel]["sha256"]))
        else:
            raise InvalidInput(
                f"image {rel!r} is neither one of {parent.ref}'s images nor a new one",
                field="image",
            )
