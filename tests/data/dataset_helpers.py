"""Helpers for the dataset tests: small, seeded tables and image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from inprod.data import datasets
from inprod.store import Store


def sensor_frame(rows: int = 200, seed: int = 7) -> pd.DataFrame:
    """Numbers with nulls, categorical metadata (factory, camera, labeler) and a 0/1 label."""
    rng = np.random.default_rng(seed)
    brightness = rng.normal(120.0, 15.0, rows)
    brightness[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "brightness": brightness,
            "width": rng.integers(600, 700, rows),
            "factory": rng.choice(["factory-a", "factory-b"], rows),
            "camera": rng.choice(["cam-1", "cam-2", "cam-3"], rows),
            "labeler": rng.choice([f"inspector-{i}" for i in range(4)], rows),
            "label": rng.integers(0, 2, rows),
        }
    )


def write_images(
    folder: Path,
    count: int = 6,
    *,
    seed: int = 3,
    size: tuple[int, int] = (8, 6),
    mode: str = "L",
    offset: int = 0,
    fmt: str = "png",
) -> list[np.ndarray]:
    """``count`` random images under folder/images and a manifest.csv with label and metadata.

    Returns the pixel arrays as written, in manifest order. ``offset`` brightens every image.
    """
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    arrays, rows = [], []
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    for i in range(count):
        pixels = np.clip(rng.integers(0, 200, shape) + offset, 0, 255).astype(np.uint8)
        name = f"images/{i:03d}.{fmt}"
        Image.fromarray(pixels, mode=mode).save(folder / name)
        arrays.append(pixels)
        rows.append(
            {
                "image": name,
                "label": ["ok", "scratch"][i % 2],
                "factory": ["factory-a", "factory-b"][i % 2],
                "labeler": f"inspector-{i % 3}",
            }
        )
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return arrays


def assert_nothing_stored(store: Store) -> None:
    """No dataset row and no blob in the artifact store."""
    assert datasets.list_datasets(store=store) == []
    blobs = Path(store.artifacts.root) / "sha256"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
