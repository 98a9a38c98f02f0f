"""Image augmentation: each step changes the pixels as it says, seeded; a slice's images get
augmented copies stored as a new version with labels, metadata and provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import write_images

from inprod.data import datasets
from inprod.data.augment import (
    RECIPE_COLUMN,
    SOURCE_COLUMN,
    STEPS,
    augment,
    augment_image,
    parse_recipe,
    select_slice,
)
from inprod.errors import Conflict, InvalidInput
from inprod.store import Store


def _phone(seed: int = 0) -> np.ndarray:
    """A 24x32 gray image: a mid-gray body with a bright line, plus texture."""
    rng = np.random.default_rng(seed)
    img = np.full((24, 32), 100.0) + rng.normal(0, 10, (24, 32))
    img[10, 4:28] = 200.0
    return np.clip(img, 0, 255).astype(np.uint8)


def _apply(name: str, pixels: np.ndarray, seed: int = 1) -> tuple[np.ndarray, str]:
    return augment_image(pixels, parse_recipe([name]), np.random.default_rng(seed))


def test_a_recipe_takes_default_ranges_or_given_ones_and_refuses_unknown_steps() -> None:
    steps = parse_recipe(["brightness", "noise=1..3", "flip"])
    assert [(s.name, lo, hi) for s, lo, hi in steps] == [
        ("brightness", 0.6, 1.4), ("noise", 1.0, 3.0), ("flip", 0.0, 0.0)
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="unknown augmentation 'bright'; did you mean 'brig"):
        parse_recipe(["bright"])
    with pytest.raises(InvalidInput, match=r"give a range LOW\.\.HIGH with LOW <= HIGH"):
        parse_recipe(["blur=2..1"])
    with pytest.raises(InvalidInput, match="flip takes no range"):
        parse_recipe(["flip=1..2"])
    with pytest.raises(InvalidInput, match="give at least one step"):
        parse_recipe([])


def test_each_step_changes_the_image_the_way_it_says() -> None:
    px = _phone()
    flipped, text = _apply("flip", px)
    assert text == "flip" and (flipped == px[:, ::-1]).all()
    darker, text = _apply("brightness=0.5..0.5", px)
    assert text == "brightness 0.5x" and darker.mean() == pytest.approx(px.mean() * 0.5, abs=0.6)
    flat, _ = _apply("contrast=0.5..0.5", px)
    assert flat.std() == pytest.approx(px.std() * 0.5, rel=0.02)
    assert flat.mean() == pytest.approx(px.mean(), abs=0.6)
    noisy, text = _apply("noise=8..8", px)
    assert text == "noise 8 sd" and np.std(noisy.astype(float) - px) == pytest.approx(8, rel=0.1)
    blurred, _ = _apply("blur=1..1", px)
    assert (
        np.abs(np.diff(blurred.astype(float), axis=1)).mean()
        < 0.6 * np.abs(np.diff(px.astype(float), axis=1)).mean()
    )
    turned, _ = _apply("rotate=90..90", np.pad(px[:, 4:28], ((0, 0), (0, 0))))
    assert turned.shape == (24, 24) and turned[4:20, 10].max() >= 190  # the line stands upright


def test_steps_keep_colour_images_in_colour_and_are_seeded() -> None:
    rgb = np.stack([_phone(1), _phone(2), _phone(3)], axis=-1)
    recipe = parse_recipe(list(STEPS))
    first, text = augment_image(rgb, recipe, np.random.default_rng(7))
    again, _ = augment_image(rgb, recipe, np.random.default_rng(7))
    other, _ = augment_image(rgb, recipe, np.random.default_rng(8))
    assert first.shape == rgb.shape and first.dtype == np.uint8
    assert (first == again).all() and (first != other).any()
    assert text.split(", ")[0].startswith("brightness ") and text.endswith("flip")


def test_a_slice_is_one_or_more_conditions_on_columns() -> None:
    frame = pd.DataFrame({"factory": ["A", "B", "B"], "brightness": [0.5, 0.1, 0.3],
                          "blurry": [True, False, True], "line": [1, 2, 2]})  # fmt: skip

    def rows(*conditions: str) -> list[int]:
        return np.flatnonzero(select_slice(frame, conditions, source="t")).tolist()

    assert rows() == [0, 1, 2]
    assert rows("factory=B") == [1, 2] and rows("factory!=B") == [0]
    assert rows("brightness<0.35") == [1, 2] and rows("brightness>=0.3", "blurry") == [0, 2]
    assert rows("line=2") == [1, 2]
    with pytest.raises(InvalidInput, match="no row of t is in the slice 'factory=C'"):
        rows("factory=C")
    with pytest.raises(InvalidInput, match="no column 'brightnes'; did you mean 'brightness'"):
        rows("brightnes<0.2")
    with pytest.raises(InvalidInput, match="'dark' is not a number"):
        rows("brightness<dark")


def test_augment_adds_copies_of_the_slice_with_labels_and_provenance(
    store: Store, tmp_path: Path
) -> None:
    originals = write_images(tmp_path / "imgs", count=6)
    base = datasets.add("phones", tmp_path / "imgs", label_columns=["label"],
                        metadata_columns=["factory"], store=store)  # fmt: skip
    result = augment(base.ref, recipe=["brightness", "noise"], only_slice="factory=factory-b",
                     factor=3, seed=5, store=store)  # fmt: skip
    v2 = result.dataset
    assert (v2.ref, v2.parents, v2.row_count) == ("phones@2", [base.ref], 12)
    assert (result.slice_rows, result.added) == (3, 6)
    assert v2.transform == ("augment: 6 new image(s) (2 per image of the 3 rows where "
                            "factory=factory-b); recipe brightness, noise; seed 5")  # fmt: skip
    frame = datasets.load(v2.ref, store=store)
    new = frame.iloc[6:]
    assert (frame.iloc[:6][SOURCE_COLUMN].fillna("") == "").all()  # CSV: empty, not null
    assert new[SOURCE_COLUMN].tolist() == [f"images/{i:03d}.png" for i in (1, 1, 3, 3, 5, 5)]
    assert new["image"].tolist()[:2] == ["augmented/images/001-s5-1.png",
                                         "augmented/images/001-s5-2.png"]  # fmt: skip
    assert set(new["label"]) == {"scratch"} and set(new["factory"]) == {"factory-b"}
    assert all(t.startswith("brightness ") and ", noise " in t for t in new[RECIPE_COLUMN])
    pixels = datasets.load_images(v2.ref, store=store)
    assert (pixels[:6] == np.stack(originals)).all()
    assert not (pixels[6] == originals[1]).all() and not (pixels[6] == pixels[7]).all()
    assert abs(pixels[6].astype(float).mean() / originals[1].mean() - 1) < 0.45  # 0.6..1.4x
    same = augment(base.ref, recipe=["brightness", "noise"], only_slice="factory=factory-b",
                   factor=3, seed=5, store=store)  # fmt: skip
    assert same.dataset.ref == "phones@2" and not same.dataset.created  # same bytes
    with pytest.raises(Conflict, match=r"already holds augmented/images/001-s5-1\.png"):
        augment(v2.ref, recipe=["brightness", "noise"], only_slice="factory=factory-b",
                factor=3, seed=5, store=store)  # fmt: skip
    other = augment(v2.ref, recipe=["flip"], factor=2, seed=6, name="phones-flipped", store=store)
    assert other.dataset.ref == "phones-flipped@1" and other.dataset.row_count == 24


def test_rows_naming_one_image_share_its_copies(store: Store, tmp_path: Path) -> None:
    write_images(tmp_path / "imgs", count=2)
    manifest = pd.read_csv(tmp_path / "imgs" / "manifest.csv")
    twice = pd.concat([manifest.assign(labeler="a"), manifest.assign(labeler="b")])
    twice.to_csv(tmp_path / "imgs" / "manifest.csv", index=False)
    base = datasets.add("votes", tmp_path / "imgs", label_columns=["label"], store=store)
    result = augment(base.ref, recipe=["noise"], factor=2, store=store)
    assert (result.slice_rows, result.added) == (4, 4) and result.dataset.row_count == 8
    new = datasets.load(result.dataset.ref, store=store).iloc[4:]
    assert sorted(zip(new["image"], new["labeler"], strict=True)) == [
        ("augmented/images/000-s0-1.png", "a"), ("augmented/images/000-s0-1.png", "b"),
        ("augmented/images/001-s0-1.png", "a"), ("augmented/images/001-s0-1.png", "b"),
    ]  # fmt: skip
    assert len(set(new[RECIPE_COLUMN])) == 2  # one draw per image, not per row


def test_augment_refuses_tables_and_factors_below_two(store: Store, table_file) -> None:
    table = datasets.add("sensors", table_file(), store=store)
    with pytest.raises(InvalidInput, match="sensors@1 is a table dataset"):
        augment(table.ref, store=store)
    with pytest.raises(InvalidInput, match="factor must be 2 or more"):
        augment(table.ref, factor=1, store=store)
