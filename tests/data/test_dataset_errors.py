"""Every bad input gets a clear error naming the problem and the fix, and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dataset_helpers import assert_nothing_stored, sensor_frame, write_images

from inprod.data import datasets, readers
from inprod.errors import InvalidInput, NotFound
from inprod.store import Store


def _file(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "error", "match"),
    [
        ("ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n", InvalidInput, "line 3 has 2 fields"),
        (
            "quoted.csv",
            'a,b\n1,"two\nlines"\n3,4,5\n',
            InvalidInput,
            "line 4 has 3 fields but the header has 2",
        ),
        ("fake.parquet", "a,b\n1,2\n", InvalidInput, "is not a readable Parquet file"),
        ("data.xlsx", "whatever", InvalidInput, "cannot read '.xlsx' files"),
        ("noext", "a\n1\n", InvalidInput, "files without an extension"),
        ("empty.csv", "", InvalidInput, "is empty"),
        ("empty.parquet", "", InvalidInput, "is empty"),
        ("header.csv", "a,b\n", InvalidInput, "has columns but no rows"),
        ("latin1.csv", b"name,city\n1,M\xfcnchen\n", InvalidInput, "not valid UTF-8"),
        ("dupes.csv", "a,a\n1,2\n", InvalidInput, "column 'a' appears more than once"),
    ],
)
def test_unreadable_tables_are_refused(
    store: Store, tmp_path: Path, name: str, content: str, error: type, match: str
) -> None:
    path = _file(tmp_path, name, content)
    with pytest.raises(error, match=match):
        datasets.add("d", path, store=store)
    assert_nothing_stored(store)


def test_a_missing_file_is_named(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"file not found: .*nowhere\.csv"):
        datasets.add("d", tmp_path / "nowhere.csv", store=store)
    assert_nothing_stored(store)


def test_an_unreadable_file_is_refused_with_the_reason(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, "locked.csv", "a\n1\n")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers, "open", denied, raising=False)
    with pytest.raises(InvalidInput, match=r"cannot read .*locked\.csv: Permission denied"):
        datasets.add("d", path, store=store)
    assert_nothing_stored(store)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label_columns": ["lable"]}, "--label 'lable': .*did you mean .*'label'"),
        ({"metadata_columns": ["plant"]}, "--meta 'plant': .*its columns are 'brightness'"),
        ({"image_column": "img"}, "--image-column 'img'"),
        (
            {"label_columns": ["label"], "metadata_columns": ["label"]},
            "declared both as label and as metadata",
        ),
    ],
)
def test_declared_columns_must_exist(store: Store, table_file, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        datasets.add("d", table_file(), store=store, **kwargs)
    assert_nothing_stored(store)


@pytest.mark.parametrize("name", ["", "../up", "a b", "-x"])
def test_bad_dataset_names_are_refused(store: Store, table_file, name: str) -> None:
    with pytest.raises(InvalidInput, match="not allowed"):
        datasets.add(name, table_file(), store=store)
    assert_nothing_stored(store)


def test_unknown_parents_are_refused_with_a_suggestion(store: Store, table_file) -> None:
    path = table_file()
    with pytest.raises(NotFound, match="parent 'sensor@1': no dataset 'sensor'"):
        datasets.add("d", path, parents=["sensor@1"], store=store)
    assert_nothing_stored(store)
    datasets.add("sensors", path, store=store)
    with pytest.raises(NotFound, match="did you mean 'sensors'"):
        datasets.add("d", path, parents=["sensor"], store=store)
    with pytest.raises(NotFound, match=r"'sensors' has no version 4 \(latest is 1\)"):
        datasets.add("d", path, parents=["sensors@4"], store=store)
    assert [d.name for d in datasets.list_datasets(store=store)] == ["sensors"]


def test_unknown_datasets_and_versions_suggest_what_exists(store: Store, table_file) -> None:
    with pytest.raises(NotFound, match="no dataset 'sensors'; there are no datasets yet"):
        datasets.get("sensors", store=store)
    datasets.add("sensors", table_file(), store=store)
    with pytest.raises(NotFound, match="did you mean 'sensors'"):
        datasets.get("sensor@1", store=store)
    with pytest.raises(NotFound, match=r"no version 7 \(latest is 1\)"):
        datasets.load("sensors@7", store=store)
    with pytest.raises(NotFound, match="did you mean"):
        datasets.list_versions("sensorz", store=store)
    with pytest.raises(InvalidInput, match="datasets have no aliases"):
        datasets.get("sensors@champion", store=store)


def test_a_folder_without_a_manifest_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    with pytest.raises(InvalidInput, match=r"has no manifest\.csv or manifest\.parquet"):
        datasets.add("d", tmp_path / "imgs", store=store)
    assert_nothing_stored(store)


def test_a_manifest_naming_missing_images_lists_the_first_ones(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=8)
    for i in (1, 2, 3, 4, 5, 7):
        (folder / "images" / f"{i:03d}.png").unlink()
    with pytest.raises(NotFound, match="names 6 image") as info:
        datasets.add("d", folder, store=store)
    message = str(info.value)
    assert "images/001.png, images/002.png" in message and "and 1 more" in message
    assert "images/000.png" not in message
    assert_nothing_stored(store)


def test_a_file_that_is_not_an_image_is_named(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=3)
    (folder / "images" / "001.png").write_bytes(b"not a png at all")
    with pytest.raises(InvalidInput, match=r"001\.png is not a readable PNG or JPEG image"):
        datasets.add("d", folder, store=store)
    assert_nothing_stored(store)


def test_a_truncated_image_is_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=2, size=(64, 64))
    path = folder / "images" / "000.png"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InvalidInput, match=r"000\.png is not a readable PNG or JPEG image"):
        datasets.add("d", folder, store=store)
    assert_nothing_stored(store)


@pytest.mark.parametrize(
    ("path_value", "match"),
    [
        ("../outside.png", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("", "every row needs an image path"),
    ],
)
def test_image_paths_must_stay_inside_the_manifest_folder(
    store: Store, tmp_path: Path, path_value: str, match: str
) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=2)
    manifest = pd.read_csv(folder / "manifest.csv")
    manifest.loc[1, "image"] = path_value
    manifest.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(InvalidInput, match=f"row 2: .*{match}"):
        datasets.add("d", folder, store=store)
    assert_nothing_stored(store)


def test_a_manifest_without_an_image_column_asks_for_one(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=2)
    manifest = pd.read_csv(folder / "manifest.csv").rename(columns={"image": "picture"})
    manifest.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(InvalidInput, match="none of the columns 'image', 'path' or 'file'"):
        datasets.add("d", folder, store=store)
    with pytest.raises(InvalidInput, match="holds int64, not file paths"):
        pd.DataFrame({"picture": [1, 2]}).to_csv(folder / "numbers.csv", index=False)
        datasets.add("d", folder / "numbers.csv", image_column="picture", store=store)
    assert_nothing_stored(store)


def test_path_and_load_images_refuse_the_wrong_kind(
    store: Store, tmp_path: Path, table_file
) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=2)
    datasets.add("imgs", folder, store=store)
    datasets.add("table", table_file(sensor_frame()), store=store)
    with pytest.raises(InvalidInput, match="is an image dataset; use load"):
        datasets.path("imgs", store=store)
    with pytest.raises(InvalidInput, match="is a table dataset, not images"):
        datasets.load_images("table", store=store)


def test_linked_images_are_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, count=2)
    outside = tmp_path / "outside.png"
    (folder / "images" / "001.png").rename(outside)
    (folder / "images" / "001.png").symlink_to(outside)
    with pytest.raises(InvalidInput, match=r"001\.png is a symbolic link"):
        datasets.add("d", folder, store=store)
    assert_nothing_stored(store)
