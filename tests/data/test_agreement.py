"""Agreement statistics against statsmodels and the krippendorff package, slices, disagreements."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from inprod.data.agreement import Votes, disagreements, label_key, measure, slice_masks
from inprod.errors import InvalidInput

CLASSES = np.array(["ok", "scratch", "dent"])


def noisy_labels(n: int = 400, labelers: int = 4, *, seed: int = 11, missing: float = 0.0):
    """(codes n×L with NaN for missing, the same as a DataFrame of class names)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    right = rng.random((n, labelers)) < rng.uniform(0.6, 0.9, labelers)
    codes = np.where(right, truth[:, None], rng.integers(0, 3, (n, labelers))).astype(float)
    codes[rng.random((n, labelers)) < missing] = np.nan
    names = pd.DataFrame(
        {f"l{j}": [None if np.isnan(c) else CLASSES[int(c)] for c in codes[:, j]]
         for j in range(labelers)}
    )  # fmt: skip
    return codes, names


def votes_of(names: pd.DataFrame) -> Votes:
    return Votes.from_columns(names, list(names.columns), example_ids=[str(i) for i in names.index])


def _code_matrix(names: pd.DataFrame) -> np.ndarray:
    """The class names as codes in the report's class order (ok, scratch, dent sorted)."""
    order = {c: i for i, c in enumerate(sorted(CLASSES))}
    return names.apply(lambda col: col.map(order)).to_numpy(dtype=float)


def test_cohens_kappa_of_every_pair_matches_statsmodels() -> None:
    _, names = noisy_labels(missing=0.2)
    report = measure(votes_of(names))
    codes = _code_matrix(names)
    assert len(report.overall.pairs) == 6
    for pair in report.overall.pairs:
        a, b = int(pair.a[1:]), int(pair.b[1:])
        both = ~np.isnan(codes[:, a]) & ~np.isnan(codes[:, b])
        table = pd.crosstab(codes[both, a], codes[both, b]).reindex(
            index=range(3), columns=range(3), fill_value=0
        )
        assert pair.examples == both.sum()
        assert np.array_equal(pair.confusion, table.to_numpy())
        assert pair.kappa == pytest.approx(cohens_kappa(table.to_numpy()).kappa, abs=1e-12)


def test_fleiss_kappa_matches_statsmodels_overall_and_per_slice() -> None:
    _, names = noisy_labels()
    first_half = np.arange(len(names)) < 150
    report = measure(votes_of(names), slices={"first-half": first_half})
    codes = _code_matrix(names).astype(int)
    assert report.overall.fleiss_kappa == pytest.approx(
        fleiss_kappa(aggregate_raters(codes)[0]), abs=1e-12
    )
    (half,) = report.slices
    assert half.examples == 150
    assert half.fleiss_kappa == pytest.approx(
        fleiss_kappa(aggregate_raters(codes[first_half])[0]), abs=1e-12
    )


def test_krippendorff_alpha_matches_the_package_with_missing_labels() -> None:
    _, names = noisy_labels(missing=0.3, seed=5)
    report = measure(votes_of(names), slices={"even": np.arange(len(names)) % 2 == 0})
    codes = _code_matrix(names)
    expected = krippendorff.alpha(codes.T, level_of_measurement="nominal")
    assert report.overall.alpha == pytest.approx(expected, abs=1e-12)
    even = krippendorff.alpha(codes[::2].T, level_of_measurement="nominal")
    assert report.slices[0].alpha == pytest.approx(even, abs=1e-12)


def test_observed_agreement_counts_agreeing_pairs_and_labelers_agreement_with_others() -> None:
    names = pd.DataFrame({"a": ["x", "x", "y"], "b": ["x", "y", "y"], "c": ["x", "y", None]})
    report = measure(votes_of(names))
    # pairs: example 0: 3 agree of 3; example 1: 1 of 3; example 2: 1 of 1 -> 5 of 7
    assert report.overall.agreement == pytest.approx(5 / 7)
    assert report.overall.labelers == {"a": pytest.approx(3 / 5), "b": pytest.approx(4 / 5),
                                       "c": pytest.approx(3 / 4)}  # fmt: skip


def test_kappa_and_alpha_are_undefined_when_everybody_used_one_class() -> None:
    names = pd.DataFrame({"a": ["ok"] * 5, "b": ["ok"] * 5})
    overall = measure(votes_of(names)).overall
    assert (overall.agreement, overall.fleiss_kappa, overall.alpha) == (1.0, None, None)
    assert overall.pairs[0].kappa is None


def test_the_weakest_pair_has_the_lowest_kappa_and_undefined_kappa_comes_last() -> None:
    names = pd.DataFrame({"a": ["x", "y", "y", "y"], "b": ["x", "y", "x", "y"],
                          "c": ["x"] * 4, "d": ["x"] * 4})  # fmt: skip
    report = measure(votes_of(names))
    undefined = [p for p in report.overall.pairs if p.kappa is None]
    assert [(p.a, p.b, p.agreement) for p in undefined] == [("c", "d", 1.0)]
    weakest = report.weakest_pair()
    assert weakest is not None and weakest.kappa is not None
    assert weakest.kappa == min(p.kappa for p in report.overall.pairs if p.kappa is not None)
    only_undefined = measure(votes_of(names[["c", "d"]])).weakest_pair()
    assert only_undefined is not None and only_undefined.kappa is None


def test_examples_with_one_label_carry_no_agreement() -> None:
    names = pd.DataFrame({"a": ["x", "x", "y"], "b": [None, "x", None]})
    overall = measure(votes_of(names)).overall
    assert (overall.examples, overall.labels, overall.agreement) == (1, 2, 1.0)


def test_most_disagreement_first_and_unanimous_examples_left_out() -> None:
    names = pd.DataFrame({
        "a": ["x", "x", "x", "x"],
        "b": ["x", "y", "x", "y"],
        "c": ["x", "z", "y", "x"],
        "d": ["x", "w", "x", "x"],
    })  # fmt: skip
    found = disagreements(votes_of(names), top=None)
    assert [d.example_id for d in found] == ["1", "2", "3"]
    assert found[0].dissent == pytest.approx(0.75) and found[0].entropy == pytest.approx(2.0)
    assert found[1].votes == {"a": "x", "b": "x", "c": "y", "d": "x"}
    assert found[1].top_label == "x"
    assert [d.example_id for d in disagreements(votes_of(names), min_dissent=0.5)] == ["1"]
    assert measure(votes_of(names), top=1).disagreements == found[:1]


def test_numbers_and_their_text_are_one_class() -> None:
    assert label_key(1) == label_key(1.0) == label_key("1") == "1"
    votes = Votes.from_rows([0, 0, 0], ["a", "b", "c"], pd.Series([1, 1.0, "1"], dtype=object),
                            example_ids=["e0"])  # fmt: skip
    assert len(votes.classes) == 1
    assert measure(votes).overall.agreement == 1.0


def test_a_labelers_later_label_replaces_the_earlier_one() -> None:
    votes = Votes.from_rows([0, 0, 0], ["a", "b", "a"], ["x", "y", "y"], example_ids=["e0"])
    assert measure(votes).overall.agreement == 1.0


def test_slices_from_values_booleans_ranges_and_functions() -> None:
    frame = pd.DataFrame({
        "factory": ["A", "B", "B", None],
        "blurry": [True, False, True, False],
        "flag": ["true", "false", "TRUE", None],
        "brightness": [0.1, 0.5, np.nan, 0.2],
        "line": [1, 2, 2, 1],
    })  # fmt: skip
    masks = slice_masks(frame, ["factory=B", "factory!=B", "blurry", "flag", "brightness<0.3",
                                "line=2", "blurry=false"])  # fmt: skip
    assert masks["factory=B"].tolist() == [False, True, True, False]
    assert masks["factory!=B"].tolist() == [True, False, False, False]  # missing is in neither
    assert masks["blurry"].tolist() == [True, False, True, False]
    assert masks["flag"].tolist() == [True, False, True, False]
    assert masks["brightness<0.3"].tolist() == [True, False, False, True]
    assert masks["line=2"].tolist() == [False, True, True, False]
    assert masks["blurry=false"].tolist() == [False, True, False, True]
    tagged = slice_masks(frame, {"dark": lambda f: (f["brightness"] < 0.15).to_numpy()})
    assert tagged["dark"].tolist() == [True, False, False, False]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("factroy=B", "did you mean 'factory'"),
        (
            "factory",
            "slice 'factory': column 'factory' is not true/false; name a value, e.g. 'factory=A'",
        ),
        ("brightness<dark", "not a number"),
        ("factory<2", "column 'factory' is not numeric; use = for text"),
    ],
)
def test_bad_slices_say_what_to_fix(spec: str, match: str) -> None:
    frame = pd.DataFrame({"factory": ["A", "B"], "brightness": [0.1, 0.2]})
    with pytest.raises(InvalidInput, match=match) as raised:
        slice_masks(frame, [spec])
    assert raised.value.field == "slices"


def test_a_slice_mask_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(InvalidInput, match="2 booleans"):
        slice_masks(pd.DataFrame({"x": [1, 2]}), {"bad": np.array([True])})


def test_html_report_has_every_table_and_no_script() -> None:
    _, names = noisy_labels(n=60, labelers=3)
    names.loc[0, "l0"] = "<b>odd</b>"
    page = measure(votes_of(names), slices={"all-again": np.ones(60, bool)}).to_html()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for heading in ("Overall and per slice", "Pairs of labelers", "Confusion", "disagreement"):
        assert heading in page
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page
