from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import sensor_frame

from inprod import provenance
from inprod.data import datasets
from inprod.errors import IntegrityFailure
from inprod.store import Store


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_adding_a_parquet_file_records_schema_profile_and_provenance(
    store: Store, table_file
) -> None:
    path = table_file()
    frame = pd.read_parquet(path)
    v = datasets.add(
        "sensors",
        path,
        label_columns=["label"],
        metadata_columns=["factory", "camera", "labeler"],
        description="line 3 sensors",
        store=store,
    )
    assert (v.name, v.version, v.ref, v.kind, v.format) == (
        "sensors", 1, "sensors@1", "table", "parquet"
    )  # fmt: skip
    assert v.created and v.id > 0
    assert v.row_count == len(frame) == v.profile["rows"]
    assert v.artifacts == {"data": _sha256(path)}
    assert v.size_bytes == path.stat().st_size
    assert v.columns == list(frame.columns)
    assert (v.label_columns, v.metadata_columns) == (["label"], ["factory", "camera", "labeler"])
    assert v.source == str(path) and v.parents == [] and v.transform == ""
    assert v.created_by == provenance.current_user()
    assert (v.code_sha, v.code_dirty) == (None, None)  # the test's cwd is not a git repository
    assert v.created_at.tzinfo is not None and v.description == "line 3 sensors"

    schema = {c["name"]: c for c in v.schema["columns"]}
    assert schema["brightness"]["type"] == "float64"
    assert schema["brightness"]["nullable"] is True
    assert schema["brightness"]["null_count"] == int(frame["brightness"].isna().sum())
    assert schema["width"]["type"] == "int64" and schema["width"]["nullable"] is False
    assert schema["width"]["min"] == frame["width"].min()
    assert schema["width"]["max"] == frame["width"].max()
    assert schema["camera"]["categories"] == ["cam-1", "cam-2", "cam-3"]
    assert schema["camera"]["role"] == "metadata" and schema["label"]["role"] == "label"
    assert schema["label"]["categories"] == [0, 1]

    stats = v.profile["columns"]["brightness"]
    series = frame["brightness"].dropna()
    assert stats["mean"] == pytest.approx(series.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(series.std(), rel=1e-12)
    assert stats["quantiles"]["p05"] == pytest.approx(series.quantile(0.05), rel=1e-12)
    assert stats["quantiles"]["p50"] == pytest.approx(series.median(), rel=1e-12)
    assert stats["null_fraction"] == pytest.approx(frame["brightness"].isna().mean())
    counts = frame["labeler"].value_counts()
    assert dict(map(tuple, v.profile["columns"]["labeler"]["top"])) == counts.to_dict()


def test_adding_identical_content_returns_the_existing_version(store: Store, table_file) -> None:
    path = table_file()
    first = datasets.add("sensors", path, store=store)
    again = datasets.add("sensors", path, source="elsewhere", store=store)
    assert again.created is False
    assert (again.id, again.version, again.source) == (first.id, 1, first.source)
    assert [v.version for v in datasets.list_versions("sensors", store=store)] == [1]


def test_new_content_gets_the_next_version_and_refs_resolve(store: Store, table_file) -> None:
    first = datasets.add("sensors", table_file(sensor_frame(seed=1)), store=store)
    second = datasets.add("sensors", table_file(sensor_frame(seed=2)), store=store)
    assert (first.version, second.version) == (1, 2) and second.created
    assert second.content_hash != first.content_hash
    assert datasets.get("sensors", store=store).version == 2
    assert datasets.get("sensors@latest", store=store).version == 2
    assert datasets.get("sensors@1", store=store).id == first.id
    assert [v.ref for v in datasets.list_versions("sensors", store=store)] == [
        "sensors@1",
        "sensors@2",
    ]


def test_the_same_bytes_with_another_label_column_is_a_new_version(
    store: Store, table_file
) -> None:
    path = table_file()
    plain = datasets.add("sensors", path, store=store)
    labelled = datasets.add("sensors", path, label_columns=["label"], store=store)
    assert labelled.created and labelled.version == 2
    assert labelled.artifacts == plain.artifacts  # the bytes are stored once


def test_the_same_name_in_two_datasets_keeps_separate_histories(store: Store, table_file) -> None:
    path = table_file()
    a = datasets.add("a", path, store=store)
    b = datasets.add("b", path, store=store)
    assert a.created and b.created and a.id != b.id and b.version == 1


def test_csv_and_parquet_of_the_same_data_have_the_same_schema(store: Store, table_file) -> None:
    frame = sensor_frame()
    from_csv = datasets.add("s-csv", table_file(frame, "s.csv"), store=store)
    from_parquet = datasets.add("s-parquet", table_file(frame, "s.parquet"), store=store)
    assert from_csv.format == "csv"
    types = [(c["name"], c["type"]) for c in from_csv.schema["columns"]]
    assert types == [(c["name"], c["type"]) for c in from_parquet.schema["columns"]]
    assert from_csv.profile["columns"]["width"] == from_parquet.profile["columns"]["width"]


def test_parents_transform_and_source_are_recorded(store: Store, table_file) -> None:
    raw = sensor_frame()
    datasets.add("raw", table_file(raw, "raw.csv"), store=store)
    datasets.add("extra", table_file(sensor_frame(seed=9), "extra.csv"), store=store)
    clean = raw.dropna()
    v = datasets.add(
        "clean",
        table_file(clean, "clean.parquet"),
        parents=["raw", "extra@1", "raw@latest"],
        transform="dropna()",
        source="s3://bucket/clean.parquet",
        store=store,
    )
    assert v.parents == ["extra@1", "raw@1"]
    assert (v.transform, v.source) == ("dropna()", "s3://bucket/clean.parquet")
    assert datasets.get("clean", store=store).parents == ["extra@1", "raw@1"]


def test_load_and_path_give_back_the_stored_bytes(store: Store, table_file) -> None:
    frame = sensor_frame()
    path = table_file(frame, "s.csv")
    datasets.add("sensors", path, store=store)
    loaded = datasets.load("sensors@1", store=store)
    pd.testing.assert_frame_equal(loaded, pd.read_csv(path), check_dtype=False)
    stored = datasets.path("sensors", store=store)
    assert stored.read_bytes() == path.read_bytes()


def test_a_stored_table_changed_on_disk_is_refused(store: Store, table_file) -> None:
    v = datasets.add("sensors", table_file(), store=store)
    blob = Path(store.artifacts.root) / "sha256" / v.artifacts["data"][:2] / v.artifacts["data"]
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    with pytest.raises(IntegrityFailure, match="no longer matches"):
        datasets.load("sensors", store=store)


def test_list_datasets_shows_the_latest_version_of_each(store: Store, table_file) -> None:
    datasets.add("b-sensors", table_file(sensor_frame(seed=1)), store=store)
    datasets.add("b-sensors", table_file(sensor_frame(seed=2, rows=50)), store=store)
    datasets.add("a-sensors", table_file(sensor_frame(seed=3)), store=store)
    listed = datasets.list_datasets(store=store)
    assert [(d.name, d.versions, d.latest.ref, d.latest.row_count) for d in listed] == [
        ("a-sensors", 1, "a-sensors@1", 200),
        ("b-sensors", 2, "b-sensors@2", 50),
    ]
    assert listed[1].to_dict()["latest"] == "b-sensors@2"


def test_concurrent_adds_to_a_new_dataset_get_distinct_versions(store: Store, table_file) -> None:
    paths = [table_file(sensor_frame(seed=s), f"s{s}.parquet") for s in range(4)]
    results: list[int] = []
    errors: list[BaseException] = []

    def add(path: Path) -> None:
        try:
            results.append(datasets.add("shared", path, store=store).version)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [1, 2, 3, 4]


def test_statistics_skip_nulls_nan_and_infinity(store: Store, table_file) -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, np.inf, 3.0, -np.inf], "y": [None] * 5})
    datasets.add("odd", table_file(frame, "odd.parquet"), store=store)
    profile = datasets.get("odd", store=store).profile["columns"]
    x = profile["x"]
    assert (x["min"], x["max"], x["mean"], x["count"]) == (1.0, 3.0, 2.0, 2)
    assert (x["null_count"], x.get("nan_count", 0), x["inf_count"]) == (1, 0, 2)
    assert profile["y"]["null_count"] == 5


def test_progress_is_reported_for_each_stage(store: Store, table_file) -> None:
    path = table_file()
    seen: dict[str, tuple[int, int]] = {}
    lock = threading.Lock()

    def progress(stage: str, done: int, total: int) -> None:
        with lock:
            seen[stage] = (done, total)

    datasets.add("sensors", path, progress=progress, store=store)
    size = path.stat().st_size
    assert seen == {
        "reading": (size, size),
        "hashing and storing": (size, size),
        "profiling columns": (6, 6),
    }


def test_a_link_to_a_table_stores_the_target(store: Store, table_file, tmp_path: Path) -> None:
    target = table_file()
    link = tmp_path / "latest.parquet"
    link.symlink_to(target)
    v = datasets.add("sensors", link, store=store)
    assert v.artifacts["data"] == _sha256(target) and v.source == str(link)


def test_text_with_nul_characters_is_stored_on_both_backends(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"code,n\na\x00b,1\nc,2\n")
    v = datasets.add("codes", path, store=store)
    assert datasets.get("codes", store=store).schema == v.schema
    assert ["a\\x00b", 1] in v.profile["columns"]["code"]["top"]
