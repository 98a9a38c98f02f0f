"""Column profiles checked against pandas on small seeded data (no store needed)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from inprod.data.profile import QUANTILES, describe_column, describe_table
from inprod.data.schema import type_name


@pytest.mark.parametrize(
    ("arrow_type", "name"),
    [
        (pa.large_string(), "string"),
        (pa.dictionary(pa.int8(), pa.string()), "string"),
        (pa.float64(), "float64"),
        (pa.float32(), "float32"),
        (pa.int16(), "int16"),
        (pa.timestamp("ms"), "timestamp"),
        (pa.timestamp("ns", tz="UTC"), "timestamp[tz=UTC]"),
        (pa.date32(), "date"),
        (pa.bool_(), "bool"),
        (pa.list_(pa.int64()), "list<item: int64>"),
    ],
)
def test_type_names_do_not_depend_on_the_file_format(arrow_type: pa.DataType, name: str) -> None:
    assert type_name(arrow_type) == name


def test_numeric_statistics_match_pandas() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(3.0, 2.0, 500)
    ints = pd.array(rng.integers(-50, 50, 500), dtype="Int64")
    ints[rng.random(500) < 0.1] = pd.NA
    frame = pd.DataFrame({"x": values, "n": ints})
    entries, profile = describe_table(pa.Table.from_pandas(frame, preserve_index=False), roles={})
    for name in ("x", "n"):
        series = frame[name].dropna().astype(float)
        stats = profile["columns"][name]
        assert stats["count"] == len(series)
        assert stats["mean"] == pytest.approx(series.mean(), rel=1e-12)
        assert stats["std"] == pytest.approx(series.std(ddof=1), rel=1e-12)
        assert stats["min"] == series.min() and stats["max"] == series.max()
        for q in QUANTILES:
            key = f"p{round(q * 100):02d}"
            assert stats["quantiles"][key] == pytest.approx(series.quantile(q), rel=1e-12)
    assert entries[1]["type"] == "int64" and isinstance(entries[1]["min"], int)
    assert entries[1]["null_count"] == int(frame["n"].isna().sum())


def test_strings_with_many_values_keep_the_ten_most_frequent() -> None:
    rng = np.random.default_rng(5)
    values = [f"id-{i}" for i in rng.zipf(1.5, 2000) % 500]
    entry, stats = describe_column("id", pa.chunked_array([values]))
    expected = pd.Series(values).value_counts()
    assert stats["distinct"] == expected.size > 50
    assert "categories" not in entry
    assert [n for _, n in stats["top"]] == list(expected.iloc[:10])
    assert stats["top"][0][0] == expected.index[0]


def test_categorical_columns_list_their_categories_and_all_counts() -> None:
    # two chunks with different dictionaries, as Parquet row groups may have
    values = pa.chunked_array(
        [
            pa.array(["b", "a", None, "b"]).dictionary_encode(),
            pa.array(["c", "b"]).dictionary_encode(),
        ]
    )
    entry, stats = describe_column("factory", values, role="metadata")
    assert entry["type"] == "string" and entry["role"] == "metadata"
    assert entry["categories"] == ["a", "b", "c"]
    assert stats["top"] == [["b", 3], ["a", 1], ["c", 1]]
    assert (stats["null_count"], stats["null_fraction"]) == (1, 1 / 6)


def test_booleans_and_times_get_counts_and_ranges() -> None:
    flags = pa.chunked_array([[True, False, True, None]])
    entry, stats = describe_column("dark", flags)
    assert entry["categories"] == [False, True]
    assert (stats["true_count"], stats["mean"]) == (2, pytest.approx(2 / 3))
    times = pa.chunked_array([[dt.datetime(2026, 3, 1, 12), None, dt.datetime(2026, 1, 5)]])
    entry, stats = describe_column("taken", times)
    assert (entry["min"], entry["max"]) == ("2026-01-05T00:00:00", "2026-03-01T12:00:00")
    assert entry["kind"] == "temporal" and stats["null_count"] == 1


def test_an_integer_label_column_gets_categories_but_a_plain_one_does_not() -> None:
    column = pa.chunked_array([[0, 1, 1, 2]])
    label, _ = describe_column("label", column, role="label")
    plain, _ = describe_column("label", column)
    assert label["categories"] == [0, 1, 2] and "categories" not in plain
