"""Tags from metadata values, comparisons, true/false columns, tag columns and functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inprod.data.slices import auto_tags, frame_tag, split_tag_list, tag_masks
from inprod.errors import InvalidInput


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "factory": ["A", "B", "B", None, "A"],
            "line": [1, 2, 2, 3, np.nan],
            "brightness": [0.5, 0.1, 0.3, np.nan, 0.2],
            "blurry": [True, False, True, False, False],
            "dark01": [0, 1, 1, np.nan, 0],
            "glare": ["yes", "no", "No", "YES", None],
            "noise": ["car", "people", "car", "clean", "clean"],
            "scratch_contrast": [0.0, 0.12, 0.45, 0.12, 0.0],
        }
    )


def rows(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()


def test_value_tags_compare_as_text_so_numbers_match_their_digits(frame: pd.DataFrame) -> None:
    masks = tag_masks(frame, ["factory=B", "line=2", "line==3", "factory!=A"])
    assert rows(masks["factory=B"]) == [1, 2]
    assert rows(masks["line=2"]) == [1, 2]
    assert rows(masks["line==3"]) == [3]
    assert rows(masks["factory!=A"]) == [1, 2]  # the missing factory is in no tag


def test_numeric_comparisons_leave_missing_values_out(frame: pd.DataFrame) -> None:
    masks = tag_masks(frame, ["brightness<0.22", "brightness>=0.3", "line>1"])
    assert rows(masks["brightness<0.22"]) == [1, 4]
    assert rows(masks["brightness>=0.3"]) == [0, 2]
    assert rows(masks["line>1"]) == [1, 2, 3]


def test_true_false_columns_in_every_spelling(frame: pd.DataFrame) -> None:
    masks = tag_masks(frame, ["blurry", "dark01", "glare"])
    assert rows(masks["blurry"]) == [0, 2]
    assert rows(masks["dark01"]) == [1, 2]
    assert rows(masks["glare"]) == [0, 3]


def test_a_tag_column_gives_one_tag_per_value_and_true_false_columns_one(
    frame: pd.DataFrame,
) -> None:
    masks = tag_masks(frame, tag_columns=["noise", "blurry"])
    assert list(masks) == ["car", "people", "clean", "blurry"]
    assert rows(masks["car"]) == [0, 2]
    assert rows(masks["clean"]) == [3, 4]
    assert rows(masks["blurry"]) == [0, 2]


def test_a_tag_column_value_that_clashes_with_a_tag_is_named_by_its_column() -> None:
    frame = pd.DataFrame({"dark": [True, False], "kind": ["dark", "light"]})
    masks = tag_masks(frame, ["dark"], tag_columns=["kind"])
    assert list(masks) == ["dark", "kind=dark", "light"]
    assert rows(masks["kind=dark"]) == [0]


def test_row_functions_and_frame_functions_agree(frame: pd.DataFrame) -> None:
    masks = tag_masks(frame, ["test_slices:is_faint", "test_slices:faint_frame"])
    assert rows(masks["test_slices:is_faint"]) == [1, 3]
    assert rows(masks["test_slices:faint_frame"]) == [1, 3]


def test_python_functions_are_named_by_the_caller(frame: pd.DataFrame) -> None:
    masks = tag_masks(frame, functions={"bright": lambda row: row["brightness"] > 0.4})
    assert rows(masks["bright"]) == [0]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("factory", "not true/false; name a value, e.g. 'factory=A'"),
        ("factroy=B", "did you mean 'factory'"),
        ("factory<3", "is not numeric"),
        ("brightness<dark", "'dark' is not a number"),
        ("test_slices:broken_tag", "tag function 'test_slices:broken_tag' failed"),
        ("test_slices:two_values", "returned 2 value(s) for 5 rows"),
        ("no_such_module:fn", "cannot be imported"),
        ("", "is empty"),
    ],
)
def test_bad_tags_are_refused_with_what_to_fix(frame: pd.DataFrame, spec: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match.replace("(", r"\(").replace(")", r"\)")):
        tag_masks(frame, [spec])


def test_a_tag_named_twice_is_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="named twice"):
        tag_masks(frame, ["blurry"], tag_columns=["blurry"])


def test_auto_tags_slice_columns_with_few_values(frame: pd.DataFrame) -> None:
    frame = frame.assign(row_id=range(len(frame)))
    specs = auto_tags(frame, ["factory", "blurry", "glare", "row_id"], max_values=4)
    assert specs == ["factory=A", "factory=B", "blurry", "glare"]


def test_tag_lists_split_on_commas_and_repeat() -> None:
    assert split_tag_list(["dark,blurry", " factory=B ", "dark", ""]) == [
        "dark",
        "blurry",
        "factory=B",
    ]


# -- tag functions ------------------------------------------------------------


def is_faint(row: dict) -> bool:
    return 0 < float(row["scratch_contrast"]) < 0.2


@frame_tag
def faint_frame(frame: pd.DataFrame) -> np.ndarray:
    contrast = frame["scratch_contrast"].astype(float)
    return ((contrast > 0) & (contrast < 0.2)).to_numpy()


def broken_tag(row: dict) -> bool:
    raise KeyError("no such field")


@frame_tag
def two_values(frame: pd.DataFrame) -> list[bool]:
    return [True, False]
