from __future__ import annotations

import json
from pathlib import Path

from dataset_helpers import sensor_frame, write_images

from inprod.data import datasets
from inprod.store import Store


def test_add_and_list_tables_from_the_cli(cli, table_file) -> None:
    first = table_file(sensor_frame(seed=1), "v1.csv")
    second = table_file(sensor_frame(seed=2, rows=120), "v2.csv")
    labels = ("--label", "label", "--meta", "factory", "--meta", "camera")
    out = cli.ok("data", "add", "sensors", first, *labels, "-d", "line 3").stdout
    assert "added sensors@1: 200 rows, 6 columns, table (csv)" in out
    out = cli.ok("data", "add", "sensors", first, *labels).stdout
    assert "already stored as sensors@1" in out and "nothing added" in out
    added = json.loads(cli.ok("data", "add", "sensors", second, *labels, "--json").stdout)
    assert (added["ref"], added["created"], added["row_count"]) == ("sensors@2", True, 120)

    listed = json.loads(cli.ok("data", "list", "--json").stdout)
    assert [(d["name"], d["latest"], d["versions"]) for d in listed] == [
        ("sensors", "sensors@2", 2)
    ]
    assert "sensors@2" in cli.ok("data", "list").stdout
    versions = json.loads(cli.ok("data", "list", "sensors", "--json").stdout)
    assert [v["ref"] for v in versions] == ["sensors@1", "sensors@2"]


def test_show_and_diff_tables_from_the_cli(cli, table_file) -> None:
    labels = ("--label", "label", "--meta", "factory", "--meta", "camera")
    cli.ok(
        "data",
        "add",
        "sensors",
        table_file(sensor_frame(seed=1), "v1.csv"),
        *labels,
        "-d",
        "line 3",
    )
    cli.ok("data", "add", "sensors", table_file(sensor_frame(seed=2, rows=120), "v2.csv"), *labels)
    shown = json.loads(cli.ok("data", "show", "sensors@1", "--json").stdout)
    assert shown["description"] == "line 3" and shown["label_columns"] == ["label"]
    assert [c["name"] for c in shown["schema"]["columns"]][:2] == ["brightness", "width"]
    text = cli.ok("data", "show", "sensors@1").stdout
    for expected in ("sensors@1", "schema", "brightness", "cam-1", "numbers", "line 3"):
        assert expected in text

    diff = json.loads(cli.ok("data", "diff", "sensors@1", "sensors@2", "--json").stdout)
    assert diff["row_count_change"] == -80 and diff["changed"] is True
    text = cli.ok("data", "diff", "sensors@1", "sensors@2").stdout
    assert "200 -> 120 (-80)" in text and "mean" in text
    assert "no differences" in cli.ok("data", "diff", "sensors@2", "sensors").stdout


def test_add_an_image_folder_with_provenance_from_the_cli(
    cli, store: Store, tmp_path: Path, table_file
) -> None:
    cli.ok("data", "add", "raw-sensors", table_file())
    folder = tmp_path / "phones"
    write_images(folder, count=4)
    out = cli.ok(
        "data", "add", "phones", folder, "--label", "label", "--meta", "labeler",
        "--parent", "raw-sensors@1", "--transform", "crop to the phone", "--source", "camera-7",
    ).stdout  # fmt: skip
    assert "added phones@1: 4 rows" in out and "images (csv)" in out
    v = datasets.get("phones", store=store)
    assert (v.parents, v.transform, v.source) == (
        ["raw-sensors@1"],
        "crop to the phone",
        "camera-7",
    )
    text = cli.ok("data", "show", "phones").stdout
    assert "brightness mean" in text and "raw-sensors@1" in text and "crop to the phone" in text


def test_cli_errors_are_one_clean_line(cli, store: Store, tmp_path: Path, table_file) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    cli.fails("data", "add", "d", ragged, match="line 3 has 3 fields")
    cli.fails("data", "add", "d", tmp_path / "missing.parquet", match="file not found")
    cli.fails("data", "add", "d", table_file(), "--label", "labl", match="did you mean")
    cli.fails("data", "add", "d", table_file(), "--parent", "nope", match="parent 'nope'")
    assert datasets.list_datasets(store=store) == []
    cli.ok("data", "add", "sensors", table_file())
    cli.fails("data", "show", "sensor", match="did you mean 'sensors'")
    cli.fails("data", "show", "sensors@3", match="no version 3 (latest is 1)")
    cli.fails("data", "diff", "sensors", "sensors@9", match="no version 9")
    cli.fails("data", "list", "sensorz", match="did you mean 'sensors'")
