"""Splits: every class and slice keeps its overall share in every split (within 2 points where
counts allow), no group and no image lands in two splits, and each split is stored as a derived
version with its provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import write_images

from inprod.data import datasets
from inprod.data.split import assign_splits, balance_report, split
from inprod.errors import InvalidInput
from inprod.store import Store

RATIOS = (0.7, 0.15, 0.15)
SEEDS = range(8)


def _inspections(rows: int = 2000, seed: int = 1, max_group: int = 6) -> pd.DataFrame:
    """Labels with a rare class (4%), two factories, and phones photographed 1..max_group times
    (a phone's photos share its label and factory, as they would)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_group + 1, rows)
    phone = np.repeat(np.arange(rows), sizes)[:rows]
    per_phone = len(np.unique(phone))
    label = rng.choice(["ok", "scratch", "crack"], per_phone, p=[0.66, 0.30, 0.04])
    factory = rng.choice(["A", "B"], per_phone, p=[0.6, 0.4])
    return pd.DataFrame(
        {
            "phone_id": [f"p{i}" for i in phone],
            "label": label[phone],
            "factory": factory[phone],
            "brightness": rng.normal(0.5, 0.1, rows),
        }
    )


def _shares(frame: pd.DataFrame, assignment: np.ndarray, column: str) -> pd.DataFrame:
    """Share of each value of ``column`` per split (rows: values, columns: splits)."""
    counts = pd.crosstab(frame[column], assignment)
    return counts / counts.sum(axis=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_grouped_splits_keep_every_class_and_slice_within_two_points(seed: int) -> None:
    frame = _inspections(seed=seed)
    assignment = assign_splits(frame, by=["label", "factory"], ratios=RATIOS, group="phone_id",
                               seed=seed)  # fmt: skip
    for column in ("label", "factory"):
        overall = frame[column].value_counts(normalize=True)
        shares = _shares(frame, assignment, column)
        gaps = shares.sub(overall, axis=0).abs()
        assert gaps.to_numpy().max() <= 0.02, f"{column}, seed {seed}:\n{shares}"
    sizes = np.bincount(assignment) / len(frame)
    assert np.abs(sizes - RATIOS).max() <= 0.01, sizes
    assert frame.groupby("phone_id")["phone_id"].size().sum() == len(frame)
    assert (pd.Series(assignment).groupby(frame["phone_id"]).nunique() == 1).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_without_groups_every_stratum_gets_its_target_count_to_one_row(seed: int) -> None:
    frame = _inspections(rows=1003, seed=seed + 100)
    assignment = assign_splits(frame, by=["label", "factory"], ratios=RATIOS, seed=seed)
    counts = pd.crosstab([frame["label"], frame["factory"]], assignment)
    targets = np.outer(counts.sum(axis=1), RATIOS)
    assert np.abs(counts.to_numpy() - targets).max() < 1.0, counts
    sizes = np.bincount(assignment) - np.array(RATIOS) * len(frame)
    assert np.abs(sizes).max() < len(counts)  # each stratum rounds on its own


def test_the_seed_decides_which_rows_and_the_same_seed_gives_the_same_split() -> None:
    frame = _inspections(rows=500)
    first = assign_splits(frame, by=["label"], group="phone_id", seed=3)
    assert (assign_splits(frame, by=["label"], group="phone_id", seed=3) == first).all()
    assert (assign_splits(frame, by=["label"], group="phone_id", seed=4) != first).any()


def test_rows_sharing_a_group_or_an_image_are_kept_together_transitively() -> None:
    # rows 0-1 share inspector i1, rows 1-2 share an image: 0, 1 and 2 form one group.
    frame = pd.DataFrame(
        {
            "image": ["a.png", "b.png", "b.png"] + [f"{i}.png" for i in range(60)],
            "inspector": ["i1", "i1", None] + [f"x{i}" for i in range(60)],
            "label": ["ok"] * 63,
        }
    )
    for seed in SEEDS:
        assignment = assign_splits(frame, by=["label"], group="inspector", links=["image"],
                                   seed=seed)  # fmt: skip
        assert len(set(assignment[:3])) == 1
        assert set(assignment) == {0, 1, 2}


def test_augmented_copies_stay_in_the_split_of_the_image_they_came_from() -> None:
    originals = [f"images/{i}.png" for i in range(90)]
    copies = [f"augmented/images/{i}-s0-1.png" for i in range(0, 90, 3)]
    twice = [f"augmented/{c}-s1-1.png" for c in copies[:5]]  # copies of copies
    frame = pd.DataFrame(
        {
            "image": originals + copies + twice,
            "augmented_from": [""] * 90 + originals[::3] + copies[:5],
            "label": [("ok", "scratch")[i % 2] for i in range(125)],
        }
    )
    links = ["image", "augmented_from"]
    for seed in SEEDS:
        assignment = assign_splits(frame, by=["label"], links=links, seed=seed)
        split_of = dict(zip(frame["image"], assignment, strict=True))
        for image, source in zip(frame["image"], frame["augmented_from"], strict=True):
            assert not source or split_of[image] == split_of[source]
        assert len(set(assignment[:90])) == 3  # the originals are not all one group


def test_few_large_groups_still_fill_every_split_and_the_report_warns() -> None:
    frame = _inspections(rows=600)
    frame["line"] = np.where(frame["factory"] == "A", "A", "B") + (frame.index % 3).astype(str)
    assignment = assign_splits(frame, by=["label", "factory"], group="line", seed=0)
    assert set(assignment) == {0, 1, 2}
    report = balance_report(frame, assignment, by=["label", "factory"], labels=["label"])
    assert report.max_deviation > 0.02
    assert any("factory=" in w and "more than 2" in w for w in report.warnings), report.warnings


def test_rare_classes_with_too_few_examples_per_split_are_warned_about() -> None:
    frame = _inspections(rows=400)
    assignment = assign_splits(frame, by=["label"], seed=0)
    crack_in_test = int(((frame["label"] == "crack") & (assignment == 2)).sum())
    assert crack_in_test < 10
    report = balance_report(frame, assignment, by=["label", "factory"], labels=["label"])
    assert f"class label=crack has only {crack_in_test} example(s) in test (fewer than 10)" in (
        " ".join(report.warnings)
    )
    assert not any("label=ok" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"by": ["lable"]}, "by column 'lable' is not in the data; did you mean 'label'"),
        ({"group": "phone"}, "group column 'phone' is not in the data"),
        ({"ratios": (0.7, 0.2)}, "add up to 0.9, not 1"),
        ({"ratios": (1.2, -0.2)}, "must be two or more positive shares"),
        ({"ratios": (1.0,)}, "must be two or more positive shares"),
        ({"by": ["brightness"]}, "'brightness' has 200 distinct values; stratify on categories"),
    ],
)
def test_bad_options_are_refused_saying_what_to_fix(options: dict, match: str) -> None:
    frame = _inspections(rows=200)
    with pytest.raises(InvalidInput, match=match):
        assign_splits(frame, **{"by": ["label"], **options})


def test_a_split_that_would_be_empty_is_refused() -> None:
    frame = _inspections(rows=100).assign(site=lambda f: np.where(f.index < 50, "s1", "s2"))
    with pytest.raises(InvalidInput, match="split 3 of 3 would be empty: the 2 group"):
        assign_splits(frame, by=["label"], group="site")


def test_split_stores_one_derived_version_per_split_keeping_the_images(
    store: Store, tmp_path: Path
) -> None:
    write_images(tmp_path / "imgs", count=80)
    base = datasets.add("phones", tmp_path / "imgs", label_columns=["label"],
                        metadata_columns=["factory", "labeler"], store=store)  # fmt: skip
    report = split(base.ref, by=["label", "factory"], names=("train", "dev", "test"), store=store)
    assert [p.dataset.ref for p in report.parts] == ["phones-train@1", "phones-dev@1",
                                                     "phones-test@1"]  # fmt: skip
    assert [p.rows for p in report.parts] == [56, 12, 12]
    train = report.parts[0].dataset
    assert train.parents == [base.ref] and train.label_columns == ["label"]
    assert train.transform.startswith("split: the train part of phones@1 (stratified by label")
    rows = [datasets.load(p.dataset.ref, store=store) for p in report.parts]
    assert sorted(pd.concat(rows)["image"]) == sorted(datasets.load(base.ref, store=store)["image"])
    assert datasets.load_images(report.parts[2].dataset.ref, store=store).shape == (12, 6, 8)
    again = split(base.ref, by=["label", "factory"], store=store)
    assert [p.dataset.created for p in again.parts] == [False, False, False]
    assert again.to_dict()["splits"][0]["dataset"] == "phones-train@1"


def test_split_by_default_stratifies_on_the_label_columns_and_checks_names_first(
    store: Store, table_file
) -> None:
    base = datasets.add("sensors", table_file(), label_columns=["label"], store=store)
    report = split(base.ref, ratios=(0.5, 0.5), names=("fit", "holdout"), store=store)
    assert report.by == ["label"] and [p.rows for p in report.parts] == [100, 100]
    with pytest.raises(InvalidInput, match="give 3 distinct split names"):
        split(base.ref, names=("a", "a", "b"), store=store)
    with pytest.raises(InvalidInput, match="dataset name 'sensors-no way' is not allowed"):
        split(base.ref, names=("train", "no way", "test"), store=store)
    assert [d.name for d in datasets.list_datasets(store=store)] == [
        "sensors", "sensors-fit", "sensors-holdout"
    ]  # fmt: skip
