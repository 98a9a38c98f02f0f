"""Error analysis: the course's prioritization table from real rows, precision/recall per tag
against scikit-learn, rare classes, fairness, and predictions logged on a run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import COURSE, COURSE_ROWS, course_frame
from sklearn.metrics import f1_score, precision_recall_fscore_support

from inprod.analysis import analyze_errors, load_predictions, log_predictions
from inprod.analysis.report_html import errors_html, percent
from inprod.errors import Conflict, InvalidInput, NotFound
from inprod.store import Store
from inprod.tracking.runs import start_run


def test_the_course_example_comes_out_exactly_from_rows() -> None:
    frame = course_frame()
    # the rows really hold the course's numbers: nothing below is typed in
    by_tag = frame.assign(
        model=frame["prediction"] == frame["label"], human=frame["human_label"] == frame["label"]
    ).groupby("noise")[["model", "human"]]
    assert by_tag.mean().loc["car noise"].tolist() == [0.89, 0.93]
    assert len(frame) == COURSE_ROWS

    result = analyze_errors(frame, baseline_col="human_label", tag_columns=["noise"])

    table = {r.tag: r for r in result.table}
    for tag, (accuracy, hlp, share) in COURSE.items():
        row = table[tag]
        assert (row.accuracy, row.baseline, row.share) == (accuracy, hlp, share)
    assert [percent(table[t].potential) for t in COURSE] == ["0.6%", "0.16%", "0.6%", "0%"]
    assert [table[t].potential for t in COURSE] == [0.006, 0.0016, 0.006, 0.0]
    assert [table[t].gap for t in COURSE] == [0.01, 0.04, 0.02, 0.0]
    assert [r.tag for r in result.table] == [
        "clean speech",
        "people noise",
        "car noise",
        "low bandwidth",
    ]


def test_gap_and_potential_are_gap_times_share() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 3, n),
            "prediction": rng.integers(0, 3, n),
            "human": rng.integers(0, 3, n),
            "site": rng.choice(["x", "y", "z"], n),
        }
    )
    result = analyze_errors(frame, baseline_col="human", tags=["site=x", "site=y", "site=z"])
    for row in result.table:
        rows = frame[frame["site"] == row.tag[-1]]
        accuracy = (rows["label"] == rows["prediction"]).mean()
        human = (rows["label"] == rows["human"]).mean()
        assert row.accuracy == pytest.approx(accuracy)
        assert row.gap == pytest.approx(human - accuracy)
        # a tag where the model already beats the baseline has nothing to gain from reaching it
        assert row.potential == pytest.approx(max(human - accuracy, 0.0) * len(rows) / n)
        assert row.errors == (rows["label"] != rows["prediction"]).sum()
    potentials = [r.potential for r in result.table]
    assert potentials == sorted(potentials, reverse=True)
    assert any(r.gap < 0 and r.potential == 0 for r in result.table)


def test_precision_and_recall_per_tag_match_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    label = rng.choice(["ok", "scratch", "dent"], n, p=[0.72, 0.25, 0.03])
    noisy = rng.random(n) < 0.2
    prediction = np.where(noisy, rng.choice(["ok", "scratch", "dent"], n), label)
    frame = pd.DataFrame(
        {"label": label, "prediction": prediction, "factory": rng.choice(["A", "B"], n)}
    )
    result = analyze_errors(frame, tags=["factory=B"])
    rows = frame[frame["factory"] == "B"]
    classes = ["dent", "ok", "scratch"]
    p, r, f, support = precision_recall_fscore_support(
        rows["label"], rows["prediction"], labels=classes, zero_division=np.nan
    )
    got = {c.cls: c for c in result.slice_classes["factory=B"]}
    assert [got[c].precision for c in classes] == pytest.approx(p.tolist())
    assert [got[c].recall for c in classes] == pytest.approx(r.tolist())
    assert [got[c].f1 for c in classes] == pytest.approx(f.tolist())
    assert [got[c].support for c in classes] == support.tolist()
    assert [c.cls for c in result.rare_classes] == ["dent"]
    assert result.accuracy == pytest.approx((frame["label"] == frame["prediction"]).mean())


def test_fairness_names_the_worst_group_and_the_disparity() -> None:
    rng = np.random.default_rng(9)
    n = 3000
    group = rng.choice(["A", "B", "C", "tiny"], n, p=[0.5, 0.3, 0.19, 0.01])
    label = rng.choice(["ok", "scratch"], n)
    wrong = rng.random(n) < np.select([group == "B", group == "tiny"], [0.3, 0.9], 0.1)
    prediction = np.where(wrong, np.where(label == "ok", "scratch", "ok"), label)
    frame = pd.DataFrame({"label": label, "prediction": prediction, "group": group})

    result = analyze_errors(
        frame, tags=["group=A"], protected="group", fairness_metric="recall.scratch"
    )

    view = result.fairness
    assert view is not None
    expected = {}
    for g in ("A", "B", "C"):
        rows = frame[(frame["group"] == g) & (frame["label"] == "scratch")]
        expected[g] = (rows["prediction"] == "scratch").mean()
    assert view.worst == "B"
    assert view.disparity == pytest.approx(max(expected.values()) - expected["B"])
    assert view.ratio == pytest.approx(expected["B"] / max(expected.values()))
    tiny = next(g for g in view.groups if g.value == "tiny")
    assert not tiny.compared and not tiny.worst  # too few rows to be called the worst
    assert [g.value for g in view.groups if g.worst] == ["B"]


def test_macro_f1_fairness_matches_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 3, 600),
            "prediction": rng.integers(0, 4, 600),
            "g": rng.choice(["u", "v"], 600),
        }
    )
    view = analyze_errors(frame, tags=["g=u"], protected="g", fairness_metric="macro_f1").fairness
    assert view is not None
    for group in view.groups:
        rows = frame[frame["g"] == group.value]
        assert group.metric == pytest.approx(
            f1_score(rows["label"], rows["prediction"], average="macro")
        )


def test_missing_labels_are_left_out_and_missing_predictions_are_wrong() -> None:
    frame = pd.DataFrame(
        {
            "label": ["a", "b", None, "a", "b"],
            "prediction": ["a", None, "a", "a", "a"],
            "t": [True, True, True, False, False],
        }
    )
    result = analyze_errors(frame, tags=["t"])
    assert result.unlabelled == 1
    assert result.accuracy == pytest.approx(2 / 4)
    assert result.table[0].count == 2 and result.table[0].accuracy == 0.5


def test_the_baseline_is_judged_on_the_rows_that_have_one() -> None:
    frame = pd.DataFrame(
        {
            "label": ["a"] * 6,
            "prediction": ["a", "a", "b", "b", "a", "a"],
            "human": ["a", None, "a", None, "b", None],
            "t": [True] * 4 + [False] * 2,
        }
    )
    result = analyze_errors(frame, baseline_col="human", tags=["t"])
    row = result.table[0]
    assert (row.baseline, row.baseline_count, row.accuracy) == (1.0, 2, 0.5)
    assert row.potential == pytest.approx(0.5 * 4 / 6)
    assert any("missing on some rows of t" in n for n in result.notes)


def test_labels_and_answers_of_different_types_compare_as_text() -> None:
    frame = pd.DataFrame({"label": ["1", "0", "1"], "prediction": [1.0, 0.0, 0.0], "t": [1, 1, 0]})
    assert analyze_errors(frame, tags=["t"]).accuracy == pytest.approx(2 / 3)


def test_without_tags_columns_with_few_values_are_sliced_and_outputs_are_not() -> None:
    frame = course_frame().assign(confidence=0.9, proba_yes=0.1)
    result = analyze_errors(frame, baseline_col="human_label")
    assert sorted(r.tag for r in result.table) == sorted(f"noise={t}" for t in COURSE)


def test_without_a_baseline_the_tags_with_most_errors_come_first() -> None:
    result = analyze_errors(course_frame(), tag_columns=["noise"])
    assert all(r.potential is None for r in result.table)
    assert [r.tag for r in result.table][:2] == ["people noise", "clean speech"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label_col": "truth"}, "label column 'truth' is not in the table"),
        ({"baseline_col": "human"}, "did you mean 'human_label'"),
        ({"protected": "sex"}, "protected attribute column 'sex'"),
        ({"fairness_metric": "recall.blah"}, "no class 'blah'"),
        ({"fairness_metric": "auc"}, "unknown metric 'auc'"),
        ({"rare_share": 1.5}, "rare_share"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        analyze_errors(course_frame(), tag_columns=["noise"], **kwargs)


def test_html_report_escapes_tags_and_marks_the_worst_group() -> None:
    frame = course_frame()
    frame.loc[frame["noise"] == "car noise", "noise"] = "<car & noise>"
    result = analyze_errors(
        frame, baseline_col="human_label", tag_columns=["noise"], protected="noise"
    )
    html = errors_html(result, title="speech")
    assert "&lt;car &amp; noise&gt;" in html and "<car & noise>" not in html
    assert "<script" not in html
    worst = html[html.index("<h2>Fairness</h2>") :]
    assert 'font-weight:600"><td>low bandwidth</td>' in worst
    assert "0.16%" in html


def test_predictions_logged_on_a_run_are_read_back(store: Store) -> None:
    frame = course_frame().rename(columns={"label": "truth"})
    with start_run(project="speech", store=store) as run:
        record = log_predictions(run, frame, label_col="truth")
    assert record["path"] == "predictions.parquet"
    back = load_predictions(run.id[:8], store=store)
    assert list(back.columns) == ["label", "prediction", "human_label", "noise"]
    result = analyze_errors(back, baseline_col="human_label", tag_columns=["noise"])
    assert result.table[0].tag == "clean speech"


def test_a_run_without_predictions_says_how_to_log_them(store: Store) -> None:
    with start_run(project="speech", store=store) as run:
        pass
    with pytest.raises(NotFound, match="log_predictions"):
        load_predictions(run.id, store=store)


def test_predictions_cannot_change_once_logged(store: Store) -> None:
    frame = course_frame()
    with start_run(project="speech", store=store) as run:
        log_predictions(run, frame)
        log_predictions(run, frame)  # the same content again is fine
        with pytest.raises(Conflict):
            log_predictions(run, frame.head(10))
        with pytest.raises(InvalidInput, match="both 'truth' and 'label'"):
            log_predictions(run, frame.assign(truth=frame["label"]), label_col="truth")
