"""Derived dataset versions keep their parents, transform and (for images) their pictures."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inprod.data import datasets
from inprod.data.derive import add_derived
from inprod.errors import InvalidInput
from inprod.store import Store


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4), value, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def test_a_table_version_derived_from_another(store: Store, tmp_path) -> None:
    file = tmp_path / "t.csv"
    pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "a"]}).to_csv(file, index=False)
    base = datasets.add("t", file, label_columns=["label"], store=store)
    frame = datasets.load(base.ref, store=store).assign(label=["a", "a", "a"])
    child = add_derived("t", frame, parents=[base.ref], transform="relabel", store=store)
    assert (child.version, child.parents, child.transform) == (2, [base.ref], "relabel")
    assert child.label_columns == ["label"]
    assert datasets.load(child.ref, store=store)["label"].tolist() == ["a", "a", "a"]


def test_an_image_version_keeps_parent_images_and_adds_new_ones(store: Store, tmp_path) -> None:
    folder = tmp_path / "imgs"
    (folder / "images").mkdir(parents=True)
    for i in range(2):
        (folder / "images" / f"{i}.png").write_bytes(_png(10 * i))
    pd.DataFrame({"image": ["images/0.png", "images/1.png"], "label": ["ok", "scratch"]}).to_csv(
        folder / "manifest.csv", index=False
    )
    base = datasets.add("imgs", folder, label_columns=["label"], store=store)
    manifest = datasets.load(base.ref, store=store)
    grown = pd.concat([manifest, pd.DataFrame({"image": ["aug/0.png"], "label": ["ok"]})])
    child = add_derived("imgs", grown, parents=[base.ref], transform="augment",
                        new_images={"aug/0.png": _png(200)}, store=store)  # fmt: skip
    pixels = datasets.load_images(child.ref, store=store)
    assert pixels.shape == (3, 4, 4) and pixels[2].max() == 200
    with pytest.raises(InvalidInput, match="neither one of"):
        add_derived("imgs", grown, parents=[base.ref], transform="x", store=store)
