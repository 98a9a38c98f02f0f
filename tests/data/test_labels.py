"""Importing labels, agreement from the store, consensus, taxonomy standardization, borderline
examples and the review round trip, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from inprod.data import datasets, labels
from inprod.data.agreement import Votes
from inprod.data.consensus import reliability, vote, weights_for
from inprod.data.taxonomy import Taxonomy
from inprod.errors import InvalidInput, NotFound
from inprod.quickstart import phone_data
from inprod.review import queue
from inprod.store import Store
from inprod.store.tables import Annotation

INSPECTORS = list(phone_data.INSPECTORS)


def parts_frame(n: int = 12) -> pd.DataFrame:
    """Parts with ids, a factory, a current label and three inspectors' labels."""
    rng = np.random.default_rng(3)
    labels_ = rng.choice(["ok", "scratch"], n)
    frame = pd.DataFrame({
        "id": [f"p{i:02d}" for i in range(n)],
        "width": rng.normal(10.0, 1.0, n),
        "factory": np.where(np.arange(n) % 3 == 0, "B", "A"),
        "label": labels_,
    })  # fmt: skip
    for j, who in enumerate(INSPECTORS):
        frame[who] = np.where((np.arange(n) + j) % 5 == 0, "ok", labels_)
    return frame


def add_parts(store: Store, tmp_path: Path, frame: pd.DataFrame | None = None) -> str:
    frame = parts_frame() if frame is None else frame
    file = tmp_path / "parts.csv"
    frame.to_csv(file, index=False)
    return datasets.add("parts", file, label_columns=["label", *INSPECTORS],
                        metadata_columns=["factory"], store=store).ref  # fmt: skip


def long_file(tmp_path: Path, frame: pd.DataFrame, name: str = "labels.csv") -> Path:
    long = frame.melt(id_vars=["id"], value_vars=INSPECTORS, var_name="who", value_name="verdict")
    path = tmp_path / name
    long.to_csv(path, index=False)
    return path


def annotation_count(store: Store) -> int:
    with store.session(write=False) as s:
        return s.scalar(select(func.count()).select_from(Annotation))


def test_import_stores_each_label_once_and_counts_corrections(store: Store, tmp_path) -> None:
    frame = parts_frame()
    ref = add_parts(store, tmp_path, frame)
    file = long_file(tmp_path, frame)
    first = labels.import_labels(ref, file, example_col="id", labeler_col="who",
                                 label_col="verdict", store=store)  # fmt: skip
    assert (first.added, first.changed, first.unchanged) == (36, 0, 0)
    assert (first.examples, first.labelers, first.checked_against) == (12, INSPECTORS, ref)
    again = labels.import_labels(ref, file, example_col="id", labeler_col="who",
                                 label_col="verdict", store=store)  # fmt: skip
    assert (again.added, again.changed, again.unchanged) == (0, 0, 36)
    fixed = pd.DataFrame({"id": ["p00"], "who": ["inspector-1"], "verdict": ["dent"]})
    fixed.to_csv(tmp_path / "fix.csv", index=False)
    fix = tmp_path / "fix.csv"
    correction = labels.import_labels(ref, fix, example_col="id", labeler_col="who",
                                      label_col="verdict", store=store)  # fmt: skip
    assert (correction.added, correction.changed) == (0, 1)
    assert annotation_count(store) == 37
    report = labels.agreement(ref, store=store)
    assert "dent" in report.classes  # the later label counts


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([("p00", "ann", "ok"), ("p99", "ann", "ok")], "'p99' (row 2)"),
        ([("p00", "ann", "ok"), ("p01", "ann", None)], "'verdict' is empty in 1 row(s) (rows 2"),
        (
            [("p00", "ann", "ok"), ("p00", "ann", "scratch")],
            "different labels ('ok' in row 1, 'scratch' in row 2)",
        ),
        ([("p00", "  ", "ok")], "'who' is empty in 1 row(s) (rows 1"),
        ([("p00", "x" * 201, "ok")], "labeler is over 200 characters in 1 row(s)"),
    ],
)
def test_a_bad_row_stores_nothing_and_is_named(
    store: Store, tmp_path, rows: list, match: str
) -> None:
    ref = add_parts(store, tmp_path)
    file = tmp_path / "bad.csv"
    pd.DataFrame(rows, columns=["id", "who", "verdict"]).to_csv(file, index=False)
    with pytest.raises(InvalidInput, match=match.replace("(", r"\(").replace(")", r"\)")):
        labels.import_labels(ref, file, example_col="id", labeler_col="who",
                             label_col="verdict", store=store)  # fmt: skip
    assert annotation_count(store) == 0


def test_import_names_a_missing_column_and_a_dataset_without_ids(store: Store, tmp_path) -> None:
    ref = add_parts(store, tmp_path)
    file = long_file(tmp_path, parts_frame())
    with pytest.raises(InvalidInput, match="did you mean 'who'"):
        labels.import_labels(ref, file, example_col="id", labeler_col="whom",
                             label_col="verdict", store=store)  # fmt: skip
    no_ids = parts_frame().drop(columns=["id"]).assign(code=[f"c{i}" for i in range(12)])
    no_ids.to_csv(tmp_path / "noid.csv", index=False)
    other = datasets.add("no-ids", tmp_path / "noid.csv", label_columns=["label"], store=store)
    with pytest.raises(InvalidInput, match="--id-column"):
        labels.import_labels(other.ref, file, example_col="id", labeler_col="who",
                             label_col="verdict", store=store)  # fmt: skip
    with pytest.raises(InvalidInput, match="examples that no-ids@1 does not have"):
        labels.import_labels(other.ref, file, example_col="id", labeler_col="who",
                             label_col="verdict", id_column="code", store=store)  # fmt: skip


def test_agreement_from_imported_labels_equals_agreement_from_columns(
    store: Store, tmp_path
) -> None:
    frame = parts_frame()
    ref = add_parts(store, tmp_path, frame)
    labels.import_labels(ref, long_file(tmp_path, frame), example_col="id", labeler_col="who",
                         label_col="verdict", store=store)  # fmt: skip
    stored = labels.agreement(ref, slices=["factory=B"], store=store)
    columns = labels.agreement(ref, slices=["factory=B"], labeler_columns=INSPECTORS, store=store)
    assert stored.to_dict() == columns.to_dict()
    assert stored.slices[0].examples == 4 and stored.unmatched == 0
    assert json.loads(json.dumps(stored.to_dict()))["overall"]["pairs"][0]["a"] == "inspector-1"


def test_labels_of_examples_a_version_lacks_are_counted_not_used(store: Store, tmp_path) -> None:
    frame = parts_frame()
    ref = add_parts(store, tmp_path, frame)
    labels.import_labels(ref, long_file(tmp_path, frame), example_col="id", labeler_col="who",
                         label_col="verdict", store=store)  # fmt: skip
    smaller = add_parts(store, tmp_path, frame.iloc[:10])
    report = labels.agreement(smaller, store=store)
    assert (report.dataset, report.unmatched, report.overall.examples) == ("parts@2", 6, 10)


def test_agreement_without_labels_says_how_to_get_them(store: Store, tmp_path) -> None:
    ref = add_parts(store, tmp_path)
    with pytest.raises(InvalidInput, match="--labeler-columns inspector-1,inspector-2"):
        labels.agreement(ref, store=store)
    with pytest.raises(NotFound):
        labels.agreement("nothing@1", store=store)


def test_consensus_is_a_new_version_with_provenance(store: Store, tmp_path) -> None:
    frame = parts_frame().assign(label="ok")  # every current label "ok"
    ref = add_parts(store, tmp_path, frame)
    result = labels.consensus(ref, labeler_columns=INSPECTORS, store=store)
    version = result.version
    assert (version.ref, version.parents, result.method) == ("parts@2", [ref], "majority")
    assert (
        "consensus (majority)" in version.transform and "columns inspector-1" in version.transform
    )
    new = datasets.load(version.ref, store=store)
    majority = frame[INSPECTORS].mode(axis=1)[0]
    assert new["label"].tolist() == majority.tolist()
    assert result.changed == int((majority != "ok").sum()) > 0
    assert version.label_columns == ["label", *INSPECTORS]
    unchanged = labels.consensus(version.ref, labeler_columns=INSPECTORS, store=store)
    assert (unchanged.changed, unchanged.version.ref) == (0, version.ref)  # no copy made


def test_consensus_ties_keep_the_current_label_then_the_most_common_class(
    store: Store, tmp_path
) -> None:
    frame = pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "label": ["dent", None, None, None],
        "l1": ["dent", "dent", "ok", "ok"],
        "l2": ["ok", "ok", "ok", "ok"],
    })  # fmt: skip
    frame.to_csv(tmp_path / "t.csv", index=False)
    ref = datasets.add("ties", tmp_path / "t.csv", label_columns=["label"], store=store).ref
    result = labels.consensus(ref, labeler_columns=["l1", "l2"], store=store)
    assert datasets.load(result.version.ref, store=store)["label"].tolist() == [
        "dent",  # tie: keeps its label
        "ok",  # tie: "ok" is the most common class
        "ok",
        "ok",
    ]
    assert result.ties == 2


def test_consensus_keeps_a_numeric_label_column_numeric(store: Store, tmp_path) -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "label": [0, 0, 0]})
    frame.to_csv(tmp_path / "n.csv", index=False)
    ref = datasets.add("nums", tmp_path / "n.csv", label_columns=["label"], store=store).ref
    long = pd.DataFrame({"ex": [1, 1, 2, 2, 3], "who": ["a", "b", "a", "b", "a"],
                         "y": ["1", "1", "0", "0", "1"]})  # fmt: skip
    long.to_csv(tmp_path / "y.csv", index=False)
    labels.import_labels(ref, tmp_path / "y.csv", example_col="ex", labeler_col="who",
                         label_col="y", store=store)  # fmt: skip
    result = labels.consensus(ref, store=store)
    new = datasets.load(result.version.ref, store=store)
    assert new["label"].tolist() == [1, 0, 1] and str(new["label"].dtype) == "int64"


def test_weighted_consensus_follows_the_reliable_labeler(store: Store, tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 600
    truth = rng.choice(["ok", "scratch"], n)
    flip = {"ok": "scratch", "scratch": "ok"}
    frame = pd.DataFrame({"id": range(n), "label": truth})
    for who, accuracy in (("expert", 0.97), ("rushed-1", 0.65), ("rushed-2", 0.65)):
        right = rng.random(n) < accuracy
        frame[who] = [t if r else flip[t] for t, r in zip(truth, right, strict=True)]
    frame.to_csv(tmp_path / "w.csv", index=False)
    ref = datasets.add("weighted", tmp_path / "w.csv", label_columns=["label"], store=store).ref
    who = ["expert", "rushed-1", "rushed-2"]
    majority = labels.consensus(ref, labeler_columns=who, store=store)
    weighted = labels.consensus(ref, method="weighted", labeler_columns=who, store=store)

    def accuracy(result: labels.ConsensusResult) -> float:
        return float((datasets.load(result.version.ref, store=store)["label"] == truth).mean())

    assert accuracy(weighted) > accuracy(majority) + 0.05  # expected: 0.97 vs 0.86
    assert weighted.reliability["expert"] == pytest.approx(0.97, abs=0.03)
    assert weighted.reliability["rushed-1"] == pytest.approx(0.65, abs=0.05)
    known = {"expert": 3, "rushed-1": 1, "rushed-2": 1}
    given = labels.consensus(majority.version.ref, method="weighted", labeler_columns=who,
                             weights=known, store=store)  # fmt: skip
    assert accuracy(given) == pytest.approx(accuracy(weighted), abs=0.02)
    with pytest.raises(InvalidInput, match="no weight for labeler"):
        labels.consensus(ref, method="weighted", labeler_columns=who, weights={"expert": 1},
                         store=store)  # fmt: skip


def test_reliability_estimates_each_labelers_accuracy_without_a_store() -> None:
    rng = np.random.default_rng(8)
    n, k = 2000, 3
    truth = rng.integers(0, k, n)
    rows, who, given = [], [], []
    for name, accuracy in (("a", 0.9), ("b", 0.75), ("c", 0.6), ("d", 0.5)):
        right = rng.random(n) < accuracy
        rows += list(range(n))
        who += [name] * n
        given += np.where(right, truth, (truth + rng.integers(1, k, n)) % k).tolist()
    votes = Votes.from_rows(rows, who, given, example_ids=[str(i) for i in range(n)])
    p = reliability(votes)
    assert p == pytest.approx([0.9, 0.75, 0.6, 0.5], abs=0.04)
    assert (vote(votes, weights=weights_for(p, k)).winner == truth).mean() > (
        vote(votes).winner == truth
    ).mean()
    assert weights_for(np.array([1 / 3]), 3)[0] == 0.0  # chance: ignored


def test_standardize_merges_variants_into_a_new_version_and_reports_them(
    store: Store, tmp_path
) -> None:
    frame = pd.DataFrame({"id": range(6), "label": ["Um", "Umm", "Ummm", "uh", " Um", "Uh"],
                          "second": ["Um"] * 6})  # fmt: skip
    frame.to_csv(tmp_path / "s.csv", index=False)
    ref = datasets.add("speech", tmp_path / "s.csv", label_columns=["label", "second"],
                       store=store).ref  # fmt: skip
    taxonomy = Taxonomy.from_dict(
        {"classes": ["Um", "Uh"], "merge": {"Um": ["Umm", "Ummm"]}, "ignore_case": True}
    )
    result = labels.standardize(ref, taxonomy, store=store)
    assert result.version.ref == "speech@2" and result.version.parents == [ref]
    new = datasets.load(result.version.ref, store=store)["label"].tolist()
    assert new == ["Um", "Um", "Um", "Uh", "Um", "Uh"]
    assert {(c.before, c.after, c.count) for c in result.changes} == {
        ("Umm", "Um", 1), ("Ummm", "Um", 1), ("uh", "Uh", 1), (" Um", "Um", 1)
    }  # fmt: skip
    assert result.changed == 4 and "4 labels changed in label" in result.version.transform
    again = labels.standardize(result.version.ref, taxonomy, store=store)
    assert (again.version.ref, again.changes) == ("speech@2", [])  # nothing to do: no version


def test_standardize_refuses_unknown_labels_unless_kept(store: Store, tmp_path) -> None:
    frame = pd.DataFrame({"id": range(3), "label": ["ok", "scrach", "scratch"]})
    frame.to_csv(tmp_path / "u.csv", index=False)
    ref = datasets.add("typos", tmp_path / "u.csv", label_columns=["label"], store=store).ref
    taxonomy = Taxonomy.from_dict({"classes": ["ok", "scratch"], "rename": {"Scratch": "scratch"}})
    with pytest.raises(InvalidInput, match=r"'scrach' \(1 in 'label'\).*--keep-unknown"):
        labels.standardize(ref, taxonomy, store=store)
    assert len(datasets.list_versions("typos", store=store)) == 1
    kept = labels.standardize(ref, taxonomy, keep_unknown=True, store=store)
    assert kept.changes == [] and [u.before for u in kept.unknown] == ["scrach"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"classes": []}, "non-empty list"),
        ({"classes": ["a"], "merge": {"b": ["x"]}}, "not one of the classes"),
        ({"classes": ["a", "b"], "merge": {"a": ["x"], "b": ["x"]}}, "both 'a' and 'b'"),
        ({"classes": ["OK", "ok"], "ignore_case": True}, "both"),
        ({"classes": ["a"], "merge": {"a": "x"}}, "must list its variants"),
        ({"classes": ["a"], "colour": 1}, "unknown key"),
    ],
)
def test_a_bad_taxonomy_says_what_to_fix(data: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        Taxonomy.from_dict(data)


def test_taxonomy_files_in_yaml_and_json(tmp_path) -> None:
    (tmp_path / "t.yaml").write_text("classes: [ok, scratch]\nrename:\n  scratched: scratch\n")
    (tmp_path / "t.json").write_text(json.dumps({"classes": ["ok"], "merge": {"ok": ["fine"]}}))
    assert Taxonomy.load(tmp_path / "t.yaml").standard("scratched") == "scratch"
    assert Taxonomy.load(tmp_path / "t.json").standard("fine") == "ok"
    assert Taxonomy.load(tmp_path / "t.json").standard("bad") is None
    (tmp_path / "broken.yaml").write_text("classes: [ok\n")
    with pytest.raises(InvalidInput, match="not a readable taxonomy"):
        Taxonomy.load(tmp_path / "broken.yaml")
    with pytest.raises(NotFound):
        Taxonomy.load(tmp_path / "missing.yaml")


def test_agreement_after_a_taxonomy_counts_spellings_as_one(store: Store, tmp_path) -> None:
    frame = pd.DataFrame({"id": range(4), "a": ["Um", "Um", "Uh", "Uh"],
                          "b": ["Umm", "Um", "uh", "Uh"]})  # fmt: skip
    frame.to_csv(tmp_path / "sp.csv", index=False)
    ref = datasets.add("sp", tmp_path / "sp.csv", store=store).ref
    taxonomy = Taxonomy.from_dict({"classes": ["Um", "Uh"], "merge": {"Um": ["Umm"]},
                                   "ignore_case": True})  # fmt: skip
    raw = labels.agreement(ref, labeler_columns=["a", "b"], store=store)
    merged = labels.agreement(ref, labeler_columns=["a", "b"], taxonomy=taxonomy, store=store)
    assert (raw.overall.agreement, merged.overall.agreement) == (0.5, 1.0)


def test_borderline_lists_split_examples_most_dissent_first(store: Store, tmp_path) -> None:
    frame = pd.DataFrame({
        "id": ["a", "b", "c"],
        "l1": ["x", "x", "x"], "l2": ["x", "y", "y"], "l3": ["x", "x", "z"],
        "l4": ["x", "x", "x"], "l5": ["x", "x", "x"],
    })  # fmt: skip
    frame.to_csv(tmp_path / "b.csv", index=False)
    ref = datasets.add("bl", tmp_path / "b.csv", store=store).ref
    cols = ["l1", "l2", "l3", "l4", "l5"]
    found = labels.borderline(ref, labeler_columns=cols, store=store)
    assert [d.example_id for d in found] == ["c"]  # 3-1-1: dissent 0.4; 4-1 (0.2) is not
    everything = labels.borderline(ref, labeler_columns=cols, min_dissent=0.2, store=store)
    assert [d.example_id for d in everything] == ["c", "b"]
    with pytest.raises(InvalidInput, match="min_dissent"):
        labels.borderline(ref, labeler_columns=cols, min_dissent=0, store=store)


def test_review_decisions_come_back_as_labels(store: Store, tmp_path) -> None:
    """Borderline examples go to the review queue; a decision is copied back once."""
    frame = parts_frame()
    ref = add_parts(store, tmp_path, frame)
    found = labels.borderline(ref, labeler_columns=INSPECTORS, store=store)
    assert found
    assert labels.queue_borderline(ref, found, store=store) == len(found)
    assert labels.queue_borderline(ref, found, store=store) == 0  # queued once
    task = queue.next_task(reviewer="lead-inspector", endpoint="dataset:parts", store=store)
    assert task is not None and task.reason == "borderline"
    assert task.inputs["example_id"] == found[0].example_id and "width" in task.inputs
    assert task.outputs["votes"] == found[0].votes
    queue.decide(task.id, "scratch", reviewer="lead-inspector", store=store)
    copied = labels.from_review(ref, store=store)
    assert (copied.added, copied.labelers) == (1, ["lead-inspector"])
    assert labels.from_review(ref, store=store).added == 0
    report = labels.agreement(ref, store=store)
    assert report.labelers == ["lead-inspector"]


def test_image_dataset_examples_are_named_by_their_image_paths(store: Store, tmp_path) -> None:
    data = phone_data.generate(40, seed=3)
    manifest = phone_data.write_image_folder(data, tmp_path / "phones")
    ref = datasets.add("phones", manifest, image_column="image",
                       label_columns=["label", *INSPECTORS], store=store).ref  # fmt: skip
    report = labels.agreement(ref, labeler_columns=INSPECTORS, slices=["factory=B"], top=3,
                              store=store)  # fmt: skip
    assert all(d.example_id.startswith("images/phone-") for d in report.disagreements)
    relabelled = labels.consensus(ref, method="weighted", labeler_columns=INSPECTORS,
                                  label_column="weighted", store=store)  # fmt: skip
    version = relabelled.version
    assert version.kind == "images" and "weighted" in version.label_columns
    assert datasets.load_images(version.ref, store=store).shape == (40, 32, 32)
