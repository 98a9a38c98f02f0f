from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import write_images
from PIL import Image

from inprod.data import datasets
from inprod.errors import IntegrityFailure, InvalidInput
from inprod.store import Store


def test_an_image_folder_becomes_a_version_with_image_stats(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "phones"
    arrays = write_images(folder, count=6, size=(8, 6))
    v = datasets.add(
        "phones",
        folder,
        label_columns=["label"],
        metadata_columns=["factory", "labeler"],
        store=store,
    )
    assert (v.kind, v.format, v.row_count, v.image_column) == ("images", "csv", 6, "image")
    assert set(v.artifacts) == {"manifest", "images"}
    manifest_sha = hashlib.sha256((folder / "manifest.csv").read_bytes()).hexdigest()
    assert v.artifacts["manifest"] == manifest_sha
    files = store.artifacts.tree_files(v.artifacts["images"])
    assert sorted(files) == [f"images/{i:03d}.png" for i in range(6)]
    png = folder / "images" / "002.png"
    assert files["images/002.png"]["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    image_bytes = sum((folder / p).stat().st_size for p in files)
    assert v.size_bytes == image_bytes + (folder / "manifest.csv").stat().st_size

    schema = {c["name"]: c for c in v.schema["columns"]}
    assert v.columns == ["image", "label", "factory", "labeler"]
    assert schema["image"]["type"] == "image"
    assert (schema["image"]["width"], schema["image"]["height"], schema["image"]["mode"]) == (
        8,
        6,
        "L",
    )
    assert schema["label"]["categories"] == ["ok", "scratch"]
    brightness = np.array([a.mean() for a in arrays])
    stats = v.profile["columns"]["image"]
    assert stats["brightness"]["mean"] == pytest.approx(brightness.mean(), rel=1e-12)
    assert stats["brightness"]["std"] == pytest.approx(brightness.std(ddof=1), rel=1e-12)
    assert stats["contrast"]["mean"] == pytest.approx(np.mean([a.std() for a in arrays]))
    assert stats["modes"] == [["L", 6]] and stats["formats"] == [["PNG", 6]]


def test_load_images_returns_the_pixels_in_manifest_order(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "phones"
    arrays = write_images(folder, count=5, mode="RGB", size=(4, 3))
    manifest = pd.read_csv(folder / "manifest.csv")
    # a second inspector labelled image 0 again: two rows, one stored file
    manifest = pd.concat([manifest, manifest.iloc[[0]].assign(labeler="inspector-9")])
    manifest.to_csv(folder / "manifest.csv", index=False)
    v = datasets.add("phones", folder, store=store)
    assert v.row_count == 6 and v.profile["columns"]["image"]["distinct"] == 5
    pixels = datasets.load_images("phones", store=store)
    assert pixels.dtype == np.uint8 and pixels.shape == (6, 3, 4, 3)
    np.testing.assert_array_equal(pixels, np.stack([*arrays, arrays[0]]))
    gray = datasets.load_images("phones", mode="L", store=store)
    assert gray.shape == (6, 3, 4)
    rows = datasets.load("phones", store=store)
    assert list(rows["labeler"])[-1] == "inspector-9"


def test_rgb_brightness_is_the_luma_mean(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "phones"
    arrays = write_images(folder, count=3, mode="RGB")
    v = datasets.add("phones", folder, store=store)
    luma = [(a.astype(float) @ [0.299, 0.587, 0.114]).mean() for a in arrays]
    got = v.profile["columns"]["image"]["brightness"]
    assert got["mean"] == pytest.approx(np.mean(luma), abs=0.5)


def test_a_manifest_file_with_an_image_column_is_an_image_dataset(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "phones"
    write_images(folder, count=3, fmt="jpg")
    manifest = pd.read_csv(folder / "manifest.csv").rename(columns={"image": "photo"})
    manifest.to_parquet(folder / "labels.parquet", index=False)
    v = datasets.add("phones", folder / "labels.parquet", image_column="photo", store=store)
    assert (v.kind, v.format, v.image_column) == ("images", "parquet", "photo")
    assert v.profile["columns"]["photo"]["formats"] == [["JPEG", 3]]
    assert datasets.load_images("phones", store=store).shape == (3, 6, 8)


def test_changing_one_image_makes_a_new_version(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "phones"
    write_images(folder, count=4)
    first = datasets.add("phones", folder, store=store)
    assert datasets.add("phones", folder, store=store).created is False
    Image.fromarray(np.zeros((6, 8), np.uint8), mode="L").save(folder / "images" / "001.png")
    second = datasets.add("phones", folder, store=store)
    assert second.version == 2 and second.artifacts["manifest"] == first.artifacts["manifest"]
    d = datasets.diff("phones@1", "phones@2", store=store)
    changes = {(c.column, c.stat): c for c in d.stat_changes}
    assert changes[("image", "brightness.mean")].change < 0


def test_images_of_different_shapes_need_a_mode_or_a_resize(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "phones"
    write_images(folder, count=2, mode="L")
    Image.fromarray(np.zeros((6, 8, 3), np.uint8), mode="RGB").save(folder / "images" / "001.png")
    v = datasets.add("phones", folder, store=store)
    assert v.schema["columns"][0]["mode"] is None
    assert v.schema["columns"][0]["modes"] == ["L", "RGB"]
    with pytest.raises(InvalidInput, match=r"different shapes .* pass mode='RGB'"):
        datasets.load_images("phones", store=store)
    assert datasets.load_images("phones", mode="RGB", store=store).shape == (2, 6, 8, 3)


def test_a_stored_image_changed_on_disk_is_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "phones"
    write_images(folder, count=2)
    v = datasets.add("phones", folder, store=store)
    sha = store.artifacts.tree_files(v.artifacts["images"])["images/000.png"]["sha256"]
    blob = Path(store.artifacts.root) / "sha256" / sha[:2] / sha
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with pytest.raises(IntegrityFailure, match="no longer matches"):
        datasets.load_images("phones", store=store)
