from __future__ import annotations

import pytest
from dataset_helpers import sensor_frame

from inprod.data import datasets
from inprod.store import Store


def test_diff_reports_columns_types_rows_statistics_and_categories(
    store: Store, table_file
) -> None:
    old = sensor_frame(rows=200, seed=1)
    new = sensor_frame(rows=150, seed=2)
    new["brightness"] = new["brightness"] - 25.0  # the factory got darker
    new.loc[new.index[:30], "brightness"] = None
    new["camera"] = new["camera"].replace({"cam-1": "cam-4"})
    new["label"] = new["label"].map({0: "ok", 1: "scratch"})
    new = new.drop(columns=["width"]).assign(shift="night")
    for frame, name in ((old, "old.parquet"), (new, "new.parquet")):
        datasets.add("sensors", table_file(frame, name), label_columns=["label"], store=store)

    d = datasets.diff("sensors@1", "sensors@2", store=store)
    assert (d.a, d.b, d.same_content, d.changed) == ("sensors@1", "sensors@2", False, True)
    assert (d.row_count_a, d.row_count_b, d.row_count_change) == (200, 150, -50)
    assert (d.columns_added, d.columns_removed) == (["shift"], ["width"])
    assert [(t.column, t.a, t.b) for t in d.type_changes] == [("label", "int64", "string")]
    stats = {(c.column, c.stat): c for c in d.stat_changes}
    mean = stats[("brightness", "mean")]
    assert mean.a == pytest.approx(old["brightness"].mean(), rel=1e-12)
    assert mean.b == pytest.approx(new["brightness"].mean(), rel=1e-12)
    assert mean.change == pytest.approx(mean.b - mean.a)
    nulls = stats[("brightness", "null_fraction")]
    assert (nulls.a, nulls.b) == pytest.approx(
        (old["brightness"].isna().mean(), new["brightness"].isna().mean())
    )
    assert stats[("brightness", "max")].b == pytest.approx(new["brightness"].max())
    assert ("camera", "null_fraction") not in stats  # unchanged statistics are left out
    cats = {c.column: (c.added, c.removed) for c in d.category_changes}
    assert cats["camera"] == (["cam-4"], ["cam-1"])
    assert cats["label"] == (["ok", "scratch"], [0, 1])
    as_dict = d.to_dict()
    assert as_dict["row_count_change"] == -50
    assert {"column": "brightness", "stat": "mean"}.items() <= as_dict["stat_changes"][0].items()


def test_a_version_compared_with_itself_has_no_changes(store: Store, table_file) -> None:
    datasets.add("sensors", table_file(), store=store)
    d = datasets.diff("sensors@1", "sensors", store=store)
    assert d.same_content and not d.changed
    assert d.stat_changes == [] and d.columns_added == [] and d.type_changes == []


def test_diff_names_columns_whose_declared_role_changed(store, tmp_path) -> None:
    from inprod import datasets

    path = tmp_path / "phones.csv"
    path.write_text("brightness,label,factory\n0.4,ok,A\n0.2,scratch,B\n")
    datasets.add("phones", path, label_columns=["label"], store=store)
    datasets.add("phones", path, label_columns=["label"], metadata_columns=["factory"], store=store)
    d = datasets.diff("phones@1", "phones@2", store=store)
    assert d.changed and not d.same_content
    assert [(r.column, r.a, r.b) for r in d.role_changes] == [("factory", None, "metadata")]
    assert d.to_dict()["role_changes"] == [{"column": "factory", "a": None, "b": "metadata"}]
