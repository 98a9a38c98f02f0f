"""Image augmentation: more examples of the slice the prioritization table says to work on.

``augment("phone-images@2", recipe=["brightness", "contrast", "noise"],
only_slice="brightness<0.22", factor=2)`` makes one new image per dark phone (factor 2 doubles
the slice), each by applying every step of the recipe with parameters drawn at random from the
step's range, and stores the next version of the dataset: the old rows, plus a row per new image
with the labels and metadata of the image it came from and two provenance columns,
``augmented_from`` (that image's path) and ``augmentation`` (the steps and the parameters
drawn). The transform of the version names the recipe, slice, factor and seed. Rows naming
one image (one row per labeler) share its copies: each gets a row per copy.

Why label-preserving steps only: a scratch stays a scratch when the photo is darker, blurrier
or mirrored, so the copies keep their labels; cropping could cut the scratch out. Seeded per
image (``seed``, image path, copy), so the same call gives the same bytes, whatever the order.

Images are decoded with Pillow; colour images are processed as RGB (an alpha channel is
dropped) and grayscale as L; every new image is written as PNG.
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import Conflict, InvalidInput, suggest
from ..store import Store, get_store
from . import datasets
from ._progress import ProgressFn, report
from .derive import add_derived
from .versions import DatasetVersionInfo

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_RECIPE = ("brightness", "contrast", "noise")
DEFAULT_FACTOR = 2
SOURCE_COLUMN = "augmented_from"
RECIPE_COLUMN = "augmentation"
FOLDER = "augmented"
STAGE = "augmenting images"

__all__ = ["STEPS", "AugmentResult", "Step", "augment", "augment_image", "parse_recipe"]


@dataclass(frozen=True)
class Step:
    """One augmentation: ``apply(pixels, value, rng)`` on float pixels in 0..255 (H, W) or
    (H, W, C), ``value`` drawn uniformly from [low, high]; ``unit`` is empty for a step without
    a parameter (flip)."""

    name: str
    low: float
    high: float
    unit: str
    apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

    def describe(self, value: float) -> str:
        return self.name if not self.unit else f"{self.name} {value:.3g}{self.unit}"


def _brightness(px: np.ndarray, factor: float, _: np.random.Generator) -> np.ndarray:
    return px * factor


def _contrast(px: np.ndarray, factor: float, _: np.random.Generator) -> np.ndarray:
    mean = px.mean(axis=(0, 1), keepdims=True)
    return (px - mean) * factor + mean


def _noise(px: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    return px + rng.normal(0.0, sd, px.shape)


def _flip(px: np.ndarray, _: float, __: np.random.Generator) -> np.ndarray:
    return px[:, ::-1].copy()


def _blur(px: np.ndarray, radius: float, _: np.random.Generator) -> np.ndarray:
    from PIL import ImageFilter

    return _with_pillow(px, lambda im: im.filter(ImageFilter.GaussianBlur(radius)))


def _rotate(px: np.ndarray, degrees: float, _: np.random.Generator) -> np.ndarray:
    """Turned about the centre; the corners it uncovers take the image's median colour."""
    from PIL import Image

    median = np.median(px.reshape(px.shape[0] * px.shape[1], -1), axis=0).astype(int)
    fill = int(median[0]) if px.ndim == 2 else tuple(int(v) for v in median)
    bilinear = Image.Resampling.BILINEAR
    return _with_pillow(px, lambda im: im.rotate(degrees, resample=bilinear, fillcolor=fill))


def _with_pillow(px: np.ndarray, change: Callable[[Any], Any]) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8))
    return np.asarray(change(image), dtype=np.float32)


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step("brightness", 0.6, 1.4, "x", _brightness),
        Step("contrast", 0.6, 1.4, "x", _contrast),
        Step("noise", 2.0, 10.0, " sd", _noise),
        Step("blur", 0.5, 1.5, " px", _blur),
        Step("rotate", -10.0, 10.0, " deg", _rotate),
        Step("flip", 0.0, 0.0, "", _flip),
    )
}


@dataclass(frozen=True)
class AugmentResult:
    """The stored version, how many rows were in the slice and how many images were added."""

    dataset: DatasetVersionInfo
    source: str
    slice_rows: int
    added: int
    recipe: list[str]
    only_slice: list[str]
    factor: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.ref,
            "created": self.dataset.created,
            "source": self.source,
            "slice_rows": self.slice_rows,
            "added": self.added,
            "recipe": self.recipe,
            "only_slice": self.only_slice,
            "factor": self.factor,
            "seed": self.seed,
        }


_RANGE = re.compile(r"^\s*([a-z]+)\s*(?:=\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+))?\s*$")


def parse_recipe(recipe: Sequence[str]) -> list[tuple[Step, float, float]]:
    """Steps named like ``brightness`` (its default range) or ``brightness=0.4..0.8``."""
    if not recipe:
        raise InvalidInput(f"give at least one step, from {', '.join(STEPS)}", field="recipe")
    out = []
    for item in recipe:
        match = _RANGE.match(item)
        step = STEPS.get(match.group(1)) if match else None
        if match is None or step is None:
            name = match.group(1) if match else item
            raise InvalidInput(
                f"unknown augmentation {item!r}; {suggest(name, STEPS, what='steps')} "
                "(a step may give its range, e.g. brightness=0.4..0.8)",
                field="recipe",
            )
        low, high = step.low, step.high
        if match.group(2) is not None:
            try:
                low, high = float(match.group(2)), float(match.group(3))
            except ValueError:
                raise InvalidInput(
                    f"{item!r}: the range is not two numbers", field="recipe"
                ) from None
            if low > high or (not step.unit and (low, high) != (0.0, 0.0)):
                raise InvalidInput(
                    f"{item!r}: give a range LOW..HIGH with LOW <= HIGH"
                    + ("" if step.unit else f"; {step.name} takes no range"),
                    field="recipe",
                )
        out.append((step, low, high))
    return out


def augment_image(
    pixels: np.ndarray, steps: Sequence[tuple[Step, float, float]], rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Apply ``steps`` in order to one uint8 image; returns the new uint8 image and what was
    applied ("brightness 0.83x, noise 4.1 sd")."""
    px = pixels.astype(np.float32)
    applied = []
    for step, low, high in steps:
        value = float(rng.uniform(low, high)) if high > low else low
        px = step.apply(px, value, rng)
        applied.append(step.describe(value))
    return np.clip(np.rint(px), 0, 255).astype(np.uint8), ", ".join(applied)


def augment(
    dataset: str,
    *,
    recipe: Sequence[str] = DEFAULT_RECIPE,
    only_slice: str | Sequence[str] | None = None,
    factor: int = DEFAULT_FACTOR,
    seed: int = 0,
    name: str | None = None,
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> AugmentResult:
    """Add ``factor - 1`` augmented copies of each image in ``only_slice`` (every row when
    None) and store the result as the next version of ``name`` (default: the same dataset).

    A slice is one condition or several (all must hold): ``factory=B``, ``label!=ok``,
    ``brightness<0.22`` (also <=, >, >=) or a bare boolean column, ``blurry``. Raises
    InvalidInput for a table dataset, an unknown step or column, a slice with no rows or a
    factor below 2; Conflict when the dataset already holds these very copies (same recipe and
    seed): pick another seed.
    """
    if factor < 2:
        raise InvalidInput(f"factor must be 2 or more (2 doubles the slice), got {factor}")
    steps = parse_recipe(recipe)
    store = get_store(store)
    info = datasets.get(dataset, store=store)
    if info.kind != "images" or info.image_column is None:
        raise InvalidInput(
            f"{info.ref} is a table dataset; augmentation makes new images from an image dataset",
            field="dataset",
        )
    conditions = [only_slice] if isinstance(only_slice, str) else list(only_slice or [])
    frame = datasets.load(info.ref, store=store)
    rows = np.flatnonzero(select_slice(frame, conditions, source=info.ref))
    column = info.image_column
    paths = frame[column].astype(str)
    images = list(dict.fromkeys(paths.iloc[rows]))  # several rows may name one image
    copies = _make_copies(store, info, images, steps, factor, seed, set(paths), progress)
    new_rows = [
        {**frame.iloc[row].to_dict(), column: target, SOURCE_COLUMN: paths.iloc[row],
         RECIPE_COLUMN: applied}
        for row in rows
        for target, (_, applied) in copies[paths.iloc[row]].items()
    ]  # fmt: skip
    new_images = {t: png for made in copies.values() for t, (png, _) in made.items()}
    result = add_derived(
        name or info.name,
        _grown(frame, new_rows),
        parents=[info.ref],
        transform=_describe(recipe, conditions, factor, seed, len(rows), len(new_rows)),
        new_images=new_images,
        progress=progress,
        store=store,
    )
    logger.info("augmented %s: %s with %d new images", info.ref, result.ref, len(new_rows))
    return AugmentResult(
        dataset=result, source=info.ref, slice_rows=len(rows), added=len(new_rows),
        recipe=list(recipe), only_slice=conditions, factor=factor, seed=seed,
    )  # fmt: skip


def _make_copies(
    store: Store,
    info: DatasetVersionInfo,
    images: list[str],
    steps: list[tuple[Step, float, float]],
    factor: int,
    seed: int,
    known: set[str],
    progress: ProgressFn | None,
) -> dict[str, dict[str, tuple[bytes, str]]]:
    """image path -> {new path: (PNG bytes, what was applied)}, ``factor - 1`` per image. Each
    copy's draws are seeded by (seed, the image's path, copy number): the same image gets the
    same copies whichever rows or version it is in."""
    from PIL import Image

    files = store.artifacts.tree_files(info.artifacts["images"])
    out: dict[str, dict[str, tuple[bytes, str]]] = {}
    report(progress, STAGE, 0, len(images))
    for done, path in enumerate(images, start=1):
        with Image.open(io.BytesIO(store.artifacts.read_bytes(files[path]["sha256"]))) as im:
            pixels = np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))
        out[path] = {}
        for copy in range(1, factor):
            target = _new_path(path, seed, copy)
            if target in known:
                raise Conflict(
                    f"{info.ref} already holds {target}: these copies were made before (same "
                    "image, seed and copy number); pass another seed to make new ones"
                )
            rng = np.random.default_rng([seed, zlib.crc32(path.encode()), copy])
            pixels_out, applied = augment_image(pixels, steps, rng)
            buf = io.BytesIO()
            Image.fromarray(pixels_out).save(buf, format="PNG")
            out[path][target] = (buf.getvalue(), applied)
        report(progress, STAGE, done, len(images))
    return out


def _new_path(path: str, seed: int, copy: int) -> str:
    stem = PurePosixPath(path).with_suffix("")
    return f"{FOLDER}/{stem}-s{seed}-{copy}.png"


def _grown(frame: pd.DataFrame, new_rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The old rows (their provenance columns empty unless an earlier run filled them) and the
    new ones."""
    import pandas as pd

    return pd.concat([frame, pd.DataFrame(new_rows)], ignore_index=True)


def _describe(
    recipe: Sequence[str], conditions: list[str], factor: int, seed: int, rows: int, added: int
) -> str:
    where = f"of the {rows} rows where {' and '.join(conditions)}" if conditions else "of every row"
    return (
        f"augment: {added} new image(s) ({factor - 1} per image {where}); recipe "
        f"{', '.join(recipe)}; seed {seed}"
    )


def select_slice(frame: pd.DataFrame, conditions: Sequence[str], *, source: str) -> np.ndarray:
    """Rows where every condition (a slice spec of :mod:`inprod.data.slices`) holds, as a boolean
    mask; every row for no condition. A condition no row meets is refused: it is a typo more
    often than a wish to augment nothing."""
    from .slices import tag_masks

    mask = np.ones(len(frame), dtype=bool)
    for condition in dict.fromkeys(conditions):
        mask &= tag_masks(frame, [condition], what="slice", field="only_slice")[condition]
        if not mask.any():
            column = re.split(r"\s*(?:[<>!]=?|=)", condition, maxsplit=1)[0].strip()
            seen = _examples(frame[column]) if column in frame.columns else "no such column"
            raise InvalidInput(
                f"no row of {source} is in the slice {' and '.join(conditions)!r}; check the "
                f"values of {column!r} (e.g. {seen})",
                field="only_slice",
            )
    return mask


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.dropna().astype(str).unique()[:5]) or "all missing"
