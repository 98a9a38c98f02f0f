"""Synthetic phone-inspection images: the course's running example, small enough for a laptop.

Each image is a 32×32 grayscale phone (body, screen) photographed at one of two factories:
factory A is well lit, factory B is darker and noisier. About a third of the phones have a
scratch: a thin line across the screen, sometimes faint. Three inspectors label every phone and
disagree the way real inspectors do: inspector-2 is strict (calls faint scratches defects),
inspector-3 is lenient (misses faint ones, more so at the darker factory), and everybody slips
now and then. Some images are blurred (camera out of focus). Seeded: same seed, same bytes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZE = 32
INSPECTORS = ("inspector-1", "inspector-2", "inspector-3")
LABELS = ("ok", "scratch")
MANIFEST_COLUMNS = (
    "image",
    "label",
    *INSPECTORS,
    "factory",
    "line",
    "camera",
    "brightness",
    "blurry",
    "scratch_contrast",
)


@dataclass(frozen=True)
class PhoneImages:
    images: np.ndarray  # (n, 32, 32) uint8
    rows: list[dict[str, object]]  # one manifest row per image (without the file name)
    truth: np.ndarray  # (n,) 1 = scratch


def _phone(rng: np.random.Generator, light: float) -> np.ndarray:
    img = np.full((SIZE, SIZE), 0.15, dtype=np.float32)  # background
    top, left = rng.integers(2, 5), rng.integers(6, 10)
    h, w = SIZE - 2 * top, SIZE - 2 * left
    img[top : top + h, left : left + w] = 0.75  # body
    img[top + 3 : top + h - 3, left + 2 : left + w - 2] = 0.35  # screen
    return img * light, (top + 3, left + 2, h - 6, w - 4)


def _scratch(img: np.ndarray, screen: tuple, contrast: float, rng: np.random.Generator) -> None:
    top, left, h, w = screen
    y0, y1 = rng.uniform(top, top + h, size=2)
    x0, x1 = left + rng.uniform(0, w * 0.3), left + w - rng.uniform(0, w * 0.3)
    for t in np.linspace(0.0, 1.0, 40):
        y, x = round(y0 + (y1 - y0) * t), round(x0 + (x1 - x0) * t)
        if top <= y < top + h and left <= x < left + w:
            img[y, x] += contrast


def _blur(img: np.ndarray) -> np.ndarray:
    padded = np.pad(img, 1, mode="edge")
    out = np.zeros_like(img)
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + SIZE, dx : dx + SIZE]
    return out / 9.0


def generate(n: int = 1200, *, seed: int = 7, dark_shift: float = 0.0) -> PhoneImages:
    """Make ``n`` labelled phone images. ``dark_shift`` darkens every image (for drift stories)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIZE, SIZE), dtype=np.uint8)
    truth = np.zeros(n, dtype=np.int8)
    rows: list[dict[str, object]] = []
    for i in range(n):
        factory = "A" if rng.random() < 0.6 else "B"
        light = (rng.normal(1.0, 0.06) if factory == "A" else rng.normal(0.7, 0.08)) - dark_shift
        light = float(np.clip(light, 0.2, 1.3))
        img, screen = _phone(rng, light)
        scratched = rng.random() < 0.35
        contrast = float(rng.choice([0.12, 0.25, 0.45], p=[0.3, 0.35, 0.35])) if scratched else 0.0
        if scratched:
            _scratch(img, screen, contrast * light, rng)
        blurry = bool(rng.random() < 0.12)
        if blurry:
            img = _blur(img)
        noise = 0.02 if factory == "A" else 0.05
        img = img + rng.normal(0.0, noise, img.shape)
        images[i] = np.clip(img * 255.0, 0, 255).astype(np.uint8)
        truth[i] = int(scratched)
        brightness = float(images[i].mean() / 255.0)
        votes = []
        for inspector in INSPECTORS:
            sees = scratched
            faint = scratched and contrast < 0.2
            if inspector == "inspector-2" and faint:
                sees = True
            elif inspector == "inspector-3" and faint:
                sees = rng.random() < (0.2 if factory == "B" else 0.5)
            elif faint:
                sees = rng.random() < 0.7
            if rng.random() < 0.03:  # a slip
                sees = not sees
            votes.append(LABELS[int(sees)])
        majority = LABELS[int(sum(v == "scratch" for v in votes) >= 2)]
        rows.append(
            {
                "label": majority,
                **dict(zip(INSPECTORS, votes, strict=True)),
                "factory": factory,
                "line": f"{factory}{int(rng.integers(1, 4))}",
                "camera": f"cam-{factory.lower()}{int(rng.integers(1, 3))}",
                "brightness": round(brightness, 4),
                "blurry": blurry,
                "scratch_contrast": round(contrast, 2),
            }
        )
    return PhoneImages(images=images, rows=rows, truth=truth)


def write_image_folder(data: PhoneImages, folder: Path) -> Path:
    """Write PNGs and ``manifest.csv`` under ``folder``; returns the manifest path."""
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(data.rows):
        name = f"images/phone-{i:05d}.png"
        path = folder / name
        if not path.exists():
            Image.fromarray(data.images[i], mode="L").save(path, format="PNG", optimize=False)
        writer.writerow({"image": name, **row})
    text = buf.getvalue()
    if not manifest.exists() or manifest.read_text() != text:
        manifest.write_text(text)
    return manifest


def features(images: np.ndarray) -> np.ndarray:
    """What the model sees: pixels scaled to [0, 1], one row of 1024 floats per image."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def image_features(instance: object) -> dict[str, float]:
    """The endpoint's monitored features of one logged image (1024 pixels in 0..1): mean
    brightness and contrast (the pixels' standard deviation). Set as the endpoint's
    ``features`` setting, so lighting changes show up as input metrics."""
    pixels = np.asarray(instance, dtype=np.float32)
    return {"brightness": float(pixels.mean()), "contrast": float(pixels.std())}
