"""Image datasets: a manifest (CSV or Parquet, one row per example) naming PNG/JPEG files that
lie beside it, with labels and metadata (factory, line, camera, labeler) in its other columns.

Every listed image is read, hashed and decoded with Pillow before anything is stored, so a
missing or broken file is refused up front; when the files are then copied into the artifact
store their hashes must match the ones checked, so a file changed in between is caught too.
Several rows may name the same image (one row per labeler): it is stored once. Statistics are
per row, so they match ``load_images`` and slices by metadata.

Brightness is the mean of the image's luma (Pillow's "L" conversion, 0-255) and contrast its
standard deviation: the input metrics a camera station's monitoring watches.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import ArtifactStore, Blob, check_name
from ..errors import Conflict, InvalidInput, NotFound
from ._progress import ProgressFn, report
from .profile import summarize
from .readers import MANIFEST_NAMES
from .schema import check_column

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

DEFAULT_IMAGE_COLUMNS = ("image", "path", "file")
IMAGE_FORMATS = ("PNG", "JPEG")
MISSING_SHOWN = 5


@dataclass(frozen=True)
class ImageFacts:
    """What inspecting one image file found."""

    path: str
    sha256: str
    size: int
    width: int
    height: int
    mode: str
    format: str
    brightness: float
    contrast: float


def find_manifest(folder: Path) -> Path:
    """The folder's one manifest.csv or manifest.parquet."""
    found = [folder / name for name in MANIFEST_NAMES if (folder / name).is_file()]
    if not found:
        raise InvalidInput(
            f"folder {folder} has no manifest.csv or manifest.parquet; write one with a row "
            "per image: an 'image' column with paths relative to the folder, plus label and "
            "metadata columns",
            field="path",
        )
    if len(found) > 1:
        raise InvalidInput(
            f"folder {folder} has both manifest.csv and manifest.parquet; keep one, or give "
            "the one to use as PATH",
            field="path",
        )
    return found[0]


def pick_image_column(columns: Sequence[str], given: str | None, *, source: str) -> str:
    if given is not None:
        check_column(given, columns, option="--image-column", source=source)
        return given
    for name in DEFAULT_IMAGE_COLUMNS:
        if name in columns:
            return name
    shown = ", ".join(repr(c) for c in columns)
    raise InvalidInput(
        f"{source} has none of the columns 'image', 'path' or 'file'; name the column that "
        f"lists the image files with --image-column (its columns are {shown})",
        field="image_column",
    )


def image_paths(table: pa.Table, column: str, *, source: str) -> list[str]:
    """Each row's image path, normalised and checked to stay inside the manifest's folder."""
    import pyarrow as pa

    values = table.column(column)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string()) if pa.types.is_dictionary(values.type) else None
        if values is None:
            raise InvalidInput(
                f"{source}: image column {column!r} holds {table.schema.field(column).type}, "
                "not file paths; name the column of paths with --image-column",
                field="image_column",
            )
    paths = []
    for row, value in enumerate(values.to_pylist(), start=1):
        if value is None or not value.strip():
            raise InvalidInput(
                f"{source} row {row}: column {column!r} is empty; every row needs an image path"
            )
        try:
            paths.append(check_name(value.strip()))
        except InvalidInput as exc:
            raise InvalidInput(
                f"{source} row {row}: image path {value!r} is not usable ({exc.message}); list "
                "images by paths relative to the manifest's folder, e.g. 'images/0001.png'"
            ) from None
    return paths


def inspect_images(
    folder: Path, paths: Sequence[str], *, progress: ProgressFn | None = None
) -> dict[str, ImageFacts]:
    """Facts for each distinct path, after refusing missing files and files that are not images."""
    unique = list(dict.fromkeys(paths))
    missing = [p for p in unique if not (folder / p).is_file()]
    if missing:
        shown = ", ".join(missing[:MISSING_SHOWN])
        more = f" and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
        raise NotFound(
            f"the manifest names {len(missing)} image(s) that are not in {folder}: {shown}{more}; "
            "add the files or remove their rows from the manifest"
        )
    linked = [p for p in unique if (folder / p).is_symlink()]
    if linked:
        raise InvalidInput(
            f"image {folder / linked[0]} is a symbolic link; image folders may hold only real "
            "files (a link could point anywhere) — copy the image into the folder"
        )
    facts: dict[str, ImageFacts] = {}
    stage = "checking images"
    report(progress, stage, 0, len(unique))
    for i, rel in enumerate(unique, start=1):
        facts[rel] = _inspect(folder / rel, rel)
        report(progress, stage, i, len(unique))
    return facts


def _inspect(path: Path, rel: str) -> ImageFacts:
    import numpy as np
    from PIL import Image

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read image {path}: {exc.strerror}") from None
    try:
        with Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as image:
            image.load()
            luma = np.asarray(image.convert("L"), dtype=np.uint8)
            width, height, mode, fmt = image.width, image.height, image.mode, image.format
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"{path} is not a readable PNG or JPEG image ({reason}); replace it or remove its "
            "rows from the manifest"
        ) from None
    return ImageFacts(
        path=rel,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        width=width,
        height=height,
        mode=mode,
        format=fmt or "",
        brightness=float(luma.mean()),
        contrast=float(luma.std()),
    )


def store_images(
    artifacts: ArtifactStore,
    folder: Path,
    facts: dict[str, ImageFacts],
    *,
    progress: ProgressFn | None = None,
) -> Blob:
    """Copy each image in and store the tree manifest (relative path -> blob) that names them."""
    files: dict[str, dict[str, Any]] = {}
    stage = "storing images"
    report(progress, stage, 0, len(facts))
    for i, (rel, fact) in enumerate(sorted(facts.items()), start=1):
        blob = artifacts.put_file(folder / rel)
        if blob.sha256 != fact.sha256:
            raise Conflict(
                f"image {folder / rel} changed while it was being added; add the dataset again "
                "once nothing is writing to its folder"
            )
        files[rel] = {"sha256": blob.sha256, "size": blob.size}
        report(progress, stage, i, len(facts))
    return artifacts.put_json({"kind": "tree", "files": files})


def image_column_schema(column: str, rows: Sequence[ImageFacts]) -> dict[str, Any]:
    """The schema entry of the image column: sizes and modes (one value when all agree)."""
    widths = sorted({f.width for f in rows})
    heights = sorted({f.height for f in rows})
    modes = sorted({f.mode for f in rows})
    return {
        "name": column,
        "type": "image",
        "kind": "image",
        "nullable": False,
        "null_count": 0,
        "role": "image",
        "width": widths[0] if len(widths) == 1 else None,
        "height": heights[0] if len(heights) == 1 else None,
        "mode": modes[0] if len(modes) == 1 else None,
        "width_range": [widths[0], widths[-1]],
        "height_range": [heights[0], heights[-1]],
        "modes": modes,
        "formats": sorted({f.format for f in rows}),
    }


def image_column_profile(rows: Sequence[ImageFacts]) -> dict[str, Any]:
    import numpy as np

    def counts(values: list[str]) -> list[list[Any]]:
        return [[v, n] for v, n in sorted(Counter(values).items(), key=lambda p: (-p[1], p[0]))]

    return {
        "count": len(rows),
        "null_count": 0,
        "null_fraction": 0.0,
        "distinct": len({f.path for f in rows}),
        "brightness": summarize(np.array([f.brightness for f in rows])),
        "contrast": summarize(np.array([f.contrast for f in rows])),
        "width": summarize(np.array([f.width for f in rows])),
        "height": summarize(np.array([f.height for f in rows])),
        "modes": counts([f.mode for f in rows]),
        "formats": counts([f.format for f in rows]),
    }


def load_array(
    artifacts: ArtifactStore, tree_sha: str, paths: Sequence[str], *, mode: str | None, name: str
) -> np.ndarray:
    """Decode the images (bytes verified by the artifact store) into one uint8 array."""
    import numpy as np
    from PIL import Image

    files = artifacts.tree_files(tree_sha)
    decoded: dict[str, np.ndarray] = {}
    for rel in dict.fromkeys(paths):
        data = artifacts.read_bytes(files[rel]["sha256"])
        with Image.open(io.BytesIO(data)) as image:
            try:
                converted = image.convert(mode) if mode else image
            except ValueError as exc:
                raise InvalidInput(f"cannot convert images to mode {mode!r}: {exc}") from None
            decoded[rel] = np.asarray(converted)
    shapes = sorted({a.shape for a in decoded.values()})
    if len(shapes) > 1:
        shown = ", ".join("x".join(map(str, s)) for s in shapes[:4])
        raise InvalidInput(
            f"{name}: the images have different shapes ({shown}); pass mode='RGB' or 'L' when "
            "only the colour mode differs, or add a version with the images resized to one size"
        )
    first = next(iter(decoded.values()))
    if first.dtype != np.uint8:
        raise InvalidInput(
            f"{name}: the images are {first.dtype}, not 8-bit; pass mode='L' or mode='RGB' "
            "to convert them"
        )
    out = np.empty((len(paths), *first.shape), dtype=np.uint8)
    for i, rel in enumerate(paths):
        out[i] = decoded[rel]
    return out
