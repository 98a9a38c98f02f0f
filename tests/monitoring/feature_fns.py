"""Feature functions the profile tests name in an endpoint's ``features`` setting."""

from __future__ import annotations

import numpy as np


def image_stats(instance) -> dict[str, float]:
    """Mean brightness and contrast of an image given as nested lists of pixel values in 0..1."""
    pixels = np.asarray(instance, dtype=float)
    return {"brightness": float(pixels.mean()), "contrast": float(pixels.std())}


def broken(instance) -> dict[str, float]:
    raise RuntimeError("a bug in the user's feature function")
