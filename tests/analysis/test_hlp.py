"""Human-level performance per slice (ground truth, held-out labelers, annotations) and the
other baselines: a previous model, an older system's column, a simple model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import add_bolts, add_phone_images, bolt_frame, register_rule, slack_on_b
from sklearn.linear_model import LogisticRegression

from inprod.analysis import (
    analyze_errors,
    dataset_hlp,
    human_level,
    majority_of_others,
    model_baseline,
    simple_baseline,
)
from inprod.analysis.hlp import annotation_table
from inprod.data import datasets
from inprod.errors import InvalidInput
from inprod.quickstart import phone_data
from inprod.registry import models
from inprod.store import Store
from inprod.store.tables import Annotation

LABELERS = ["ana", "ben", "cho"]


def labelled_frame(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Three labelers of different skill (and ``cho`` skipping some rows), a truth, a site."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(["ok", "scratch", "dent"], n)
    site = rng.choice(["A", "B"], n)
    out = {"truth": truth, "site": site}
    for name, error in zip(LABELERS, (0.05, 0.15, 0.3), strict=True):
        wrong = rng.random(n) < np.where(site == "B", error * 2, error)
        labels = np.where(wrong, rng.choice(["ok", "scratch", "dent"], n), truth).astype(object)
        out[name] = labels
    out["cho"][rng.random(n) < 0.1] = None
    return pd.DataFrame(out)


def leave_one_out_reference(frame: pd.DataFrame, held: str) -> list[object]:
    """The majority of the other labelers row by row, None on a tie (plain Python)."""
    out = []
    for _, row in frame.iterrows():
        votes = Counter(row[c] for c in LABELERS if c != held and pd.notna(row[c]))
        top = votes.most_common()
        if not top or (len(top) > 1 and top[0][1] == top[1][1]):
            out.append(None)
        else:
            out.append(top[0][0])
    return out


def agreement(labels: pd.Series, reference: pd.Series) -> float:
    both = labels.notna() & reference.notna()
    return float((labels[both] == reference[both]).mean())


def test_each_labeler_against_the_ground_truth_per_slice() -> None:
    frame = labelled_frame()
    report = human_level(frame, labelers=LABELERS, truth="truth", tags=["site=B"])
    assert report.reference == "ground truth column 'truth'"
    for tag, rows in (("all", frame), ("site=B", frame[frame["site"] == "B"])):
        got = report.slice(tag)
        for name in LABELERS:
            assert got.agreement[name] == pytest.approx(agreement(rows[name], rows["truth"]))
        judged = sum(rows[name].notna().sum() for name in LABELERS)
        hits = sum((rows[name] == rows["truth"]).sum() for name in LABELERS)
        assert got.hlp == pytest.approx(hits / judged)
    assert report.slice("site=B").agreement["ana"] < report.slice("all").agreement["ana"]


def test_without_truth_each_labeler_is_compared_with_the_others_majority() -> None:
    frame = labelled_frame(n=150)
    report = human_level(frame, labelers=LABELERS, tags=["site=A"])
    assert report.reference == "majority of the other labelers"
    for name in LABELERS:
        reference = pd.Series(leave_one_out_reference(frame, name), index=frame.index)
        assert report.slice("all").agreement[name] == pytest.approx(
            agreement(frame[name], reference)
        )
        judged = (frame[name].notna() & reference.notna()).sum()
        assert report.slice("all").judged[name] == judged


def test_a_held_out_labeler_is_the_only_one_scored() -> None:
    frame = labelled_frame(n=150)
    report = human_level(frame, labelers=LABELERS, holdout="cho", tags=["site=A"])
    assert report.labelers == ["cho"]
    reference = majority_of_others(frame, LABELERS, holdout="cho")
    assert [None if pd.isna(v) else v for v in reference] == leave_one_out_reference(frame, "cho")
    assert report.hlp == pytest.approx(agreement(frame["cho"], reference))


def test_other_baselines_are_scored_but_not_pooled_into_hlp() -> None:
    frame = labelled_frame().assign(legacy=lambda f: f["truth"])
    report = human_level(frame, labelers=LABELERS, truth="truth", others=["legacy"], tags=[])
    assert report.slice("all").agreement["legacy"] == 1.0
    assert report.hlp < 1.0
    assert report.others == ["legacy"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labelers": ["ana"]}, "one labeler ('ana') and no ground truth"),
        ({"labelers": ["ana", "bem"]}, "did you mean 'ben'"),
        ({"labelers": LABELERS, "holdout": "dan"}, "held-out labeler 'dan'"),
        ({"labelers": ["truth", "ana"], "truth": "truth"}, "cannot also be a labeler"),
        ({"labelers": []}, "no labelers"),
    ],
)
def test_setups_without_a_reference_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match.replace("(", r"\(").replace(")", r"\)")):
        human_level(labelled_frame(n=20), **kwargs)


def test_a_dataset_defaults_to_its_label_columns_and_metadata_slices(
    store: Store, tmp_path: Path
) -> None:
    ref = add_phone_images(store, tmp_path / "phones", n=120)
    report = dataset_hlp(ref, truth="label", store=store)
    assert report.labelers == list(phone_data.INSPECTORS)
    assert [s.tag for s in report.slices] == ["all", "factory=A", "factory=B", "blurry"]
    frame = datasets.load(ref, store=store)
    b = frame[frame["factory"] == "B"]
    assert report.slice("factory=B").agreement["inspector-3"] == pytest.approx(
        agreement(b["inspector-3"], b["label"])
    )


def test_hlp_from_annotations_equals_hlp_from_the_same_labels_in_columns(
    store: Store, tmp_path: Path
) -> None:
    ref = add_phone_images(store, tmp_path / "phones", n=80)
    frame = datasets.load(ref, store=store)
    with store.session() as s:
        for _, row in frame.iterrows():
            for name in phone_data.INSPECTORS:
                s.add(
                    Annotation(dataset="phones", example_id=row["image"], labeler=name, label="ok")
                )  # a first opinion, replaced by the one below
                s.add(
                    Annotation(
                        dataset="phones", example_id=row["image"], labeler=name, label=row[name]
                    )
                )
        s.add(Annotation(dataset="phones", example_id="images/none.png", labeler="x", label="ok"))
    table = annotation_table("phones", store=store)
    assert table.loc[frame["image"][0], "inspector-2"] == frame["inspector-2"][0]

    from_annotations = dataset_hlp(
        ref, annotations=True, labelers=list(phone_data.INSPECTORS), store=store
    )
    from_columns = dataset_hlp(ref, labelers=list(phone_data.INSPECTORS), store=store)
    assert [s.to_dict() for s in from_annotations.slices] == [
        s.to_dict() for s in from_columns.slices
    ]
    everyone = dataset_hlp(ref, annotations=True, store=store)
    assert everyone.labelers == [*phone_data.INSPECTORS, "x"]
    assert everyone.slice("all").judged["x"] == 0
    assert "1 annotated example(s) match no row" in from_annotations.notes[0]


def test_a_dataset_without_annotations_says_how_to_add_them(store: Store, tmp_path: Path) -> None:
    ref = add_bolts(store, tmp_path)
    with pytest.raises(InvalidInput, match="inprod labels import"):
        dataset_hlp(ref, annotations=True, store=store)


def test_a_previous_model_is_a_baseline_column_for_error_analysis(
    store: Store, tmp_path: Path
) -> None:
    ref = add_bolts(store, tmp_path)
    register_rule(store, "bolt", slack_on_b)
    previous = model_baseline("bolt@1", ref, store=store)
    frame = datasets.load(ref, store=store)
    assert previous.tolist() == slack_on_b(frame).tolist()

    frame = frame.assign(prediction=np.where(frame["x"] > 0.5, "bad", "good"), previous=previous)
    result = analyze_errors(frame, baseline_col="previous", tags=["factory=B"])
    assert result.table[0].gap < 0  # the new rule beats the old one at factory B


def test_a_model_on_images_is_reported_next_to_the_labelers(store: Store, tmp_path: Path) -> None:
    ref = add_phone_images(store, tmp_path / "phones", n=120)
    frame = datasets.load(ref, store=store)
    X = phone_data.features(datasets.load_images(ref, store=store))
    model = LogisticRegression(max_iter=300).fit(X[:60], frame["label"][:60])
    models.register("phone", model, sample=X[:2], store=store)

    report = dataset_hlp(ref, truth="label", baseline_models=["phone@1"], store=store)

    assert report.others == ["phone@1"]
    b = (frame["factory"] == "B").to_numpy()
    answers = model.predict(X)
    assert report.slice("all").agreement["phone@1"] == pytest.approx(
        (answers == frame["label"]).mean()
    )
    assert report.slice("factory=B").agreement["phone@1"] == pytest.approx(
        (answers[b] == frame["label"][b]).mean()
    )


def test_a_simple_model_baseline_is_out_of_fold() -> None:
    frame = bolt_frame(600)
    majority = simple_baseline(frame, label_col="label")
    assert set(majority) == {frame["label"].mode()[0]}

    fitted = simple_baseline(frame, label_col="label", feature_cols=["x", "factory"], seed=1)
    accuracy = (fitted == frame["label"]).mean()
    in_sample = (
        LogisticRegression().fit(frame[["x"]], frame["label"]).score(frame[["x"]], frame["label"])
    )
    assert 0.85 < accuracy <= in_sample + 0.02
    assert accuracy > (majority == frame["label"]).mean()


def test_a_simple_baseline_leaves_unlabelled_rows_without_an_answer() -> None:
    frame = bolt_frame(100)
    frame.loc[:4, "label"] = None
    out = simple_baseline(frame, label_col="label", feature_cols=["x"])
    assert out[:5].isna().all() and out[5:].notna().all()


def test_annotations_of_a_table_match_rows_by_its_id_column(store: Store, tmp_path: Path) -> None:
    frame = labelled_frame(n=60).assign(id=lambda f: (f.index * 10).astype(float))
    path = tmp_path / "parts.csv"
    frame[["id", "truth", "site"]].to_csv(path, index=False)
    ref = datasets.add(
        "parts", path, label_columns=["truth"], metadata_columns=["site"], store=store
    ).ref
    with store.session() as s:
        for _, row in frame.iterrows():
            for name in LABELERS:
                if pd.notna(row[name]):
                    s.add(
                        Annotation(
                            dataset="parts",
                            example_id=str(int(row["id"])),
                            labeler=name,
                            label=row[name],
                        )
                    )
    report = dataset_hlp(
        ref, annotations=True, truth="truth", tags=["site=A", "site=B"], store=store
    )
    expected = human_level(frame, labelers=LABELERS, truth="truth", tags=["site=A", "site=B"])
    assert [s.to_dict() for s in report.slices] == [s.to_dict() for s in expected.slices]
