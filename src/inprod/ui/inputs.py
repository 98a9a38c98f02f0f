"""A logged input as a person looks at it: an image as an image (a PNG data: URL), anything
else as a short table of named values. The review queue shows tasks with it."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

MAX_FIELDS = 50  # input values shown in a table; the rest are counted
MAX_TEXT = 200  # characters of one input value shown
MIN_IMAGE_SIDE = 16  # a flat list of 256+ numbers that is a square is a grayscale image
MAX_IMAGE_SIDE = 2048


@dataclass(frozen=True)
class InputField:
    """One named input value: shown as an image when it is one, else as text."""

    name: str
    text: str
    image: str | None = None


def input_image(value: Any) -> str | None:
    """``value`` as a PNG data: URL when it is an image, else None.

    An image is a flat list of numbers whose length is a square (at least 16×16: the phone
    story's 32×32 grayscale pixels, as the model sees them), or nested lists H×W or H×W×C with
    C = 1, 3 or 4; a leading batch axis of one is dropped. Values in 0..1 are scaled to 0..255;
    values outside 0..255 mean it is not an image.
    """
    import numpy as np

    try:
        pixels = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if pixels.ndim >= 2 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim == 1:
        side = math.isqrt(pixels.size)
        if side < MIN_IMAGE_SIDE or side * side != pixels.size:
            return None
        pixels = pixels.reshape(side, side)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))):
        return None
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE or max(height, width) > MAX_IMAGE_SIDE:
        return None
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        return None
    if pixels.max() <= 1:
        pixels = pixels * 255
    return _png_url(np.rint(pixels).astype(np.uint8))


def _png_url(pixels: Any) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def input_fields(inputs: Any) -> tuple[list[InputField], int]:
    """Inputs that are no image, as named values (a dict's keys, a list's positions) and how
    many more there are than the table shows."""
    if isinstance(inputs, dict):
        items = [(str(k), v) for k, v in inputs.items()]
    elif isinstance(inputs, list):
        items = [(str(i), v) for i, v in enumerate(inputs)]
    elif inputs is None:
        items = []
    else:
        items = [("input", inputs)]
    shown = [
        InputField(name, "", image) if (image := input_image(v)) else InputField(name, _short(v))
        for name, v in items[:MAX_FIELDS]
    ]
    return shown, max(0, len(items) - MAX_FIELDS)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
