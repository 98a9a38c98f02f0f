from __future__ import annotations

import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from inprod.errors import IntegrityFailure, InvalidInput, UnsafeContent
from inprod.flavors import Predictor, Signature, load_predictor
from inprod.flavors.sklearn import EstimatorPredictor


def doubled(x):
    """A function skops does not know: a pipeline using it holds an untrusted type."""
    return x * 2


DOUBLED = f"{doubled.__module__}.{doubled.__qualname__}"


def test_skops_model_predicts_exactly_like_the_original(files_of, logreg, xy) -> None:
    X, _ = xy
    predictor = load_predictor("sklearn", files_of({"model.skops": sio.dumps(logreg)}))
    assert isinstance(predictor, Predictor)
    batch = predictor.predict(X)
    np.testing.assert_array_equal(batch.outputs, logreg.predict(X))
    np.testing.assert_array_equal(batch.probabilities, logreg.predict_proba(X))
    np.testing.assert_array_equal(batch.confidence, logreg.predict_proba(X).max(axis=1))
    assert batch.classes == [0, 1] and len(batch) == 200
    one = predictor.predict(X[:1])
    assert len(one) == 1 and one.outputs[0] == logreg.predict(X[:1])[0]
    assert predictor.flavor == "sklearn"
    assert predictor.signature.inputs.width == 4  # from n_features_in_


def test_a_regressor_has_no_probabilities(files_of, xy) -> None:
    X, _ = xy
    reg = LinearRegression().fit(X, X[:, 0] * 3)
    batch = load_predictor("sklearn", files_of({"model.skops": sio.dumps(reg)})).predict(X)
    np.testing.assert_array_equal(batch.outputs, reg.predict(X))
    assert batch.probabilities is None and batch.classes is None and batch.confidence is None


def test_untrusted_types_are_refused_with_how_to_trust_them(files_of, xy) -> None:
    X, y = xy
    pipe = make_pipeline(FunctionTransformer(doubled), LinearRegression()).fit(X, y)
    files = files_of({"model.skops": sio.dumps(pipe)})
    with pytest.raises(UnsafeContent, match=DOUBLED) as refused:
        load_predictor("sklearn", files)
    assert f"--trust {DOUBLED}" in refused.value.message
    assert "trusted=" in refused.value.message
    predictor = load_predictor("sklearn", files, trusted=[DOUBLED])
    np.testing.assert_array_equal(predictor.predict(X).outputs, pipe.predict(X))
    assert predictor.untrusted_types == (DOUBLED,)
    # what was trusted at registration comes back through the stored options
    again = load_predictor("sklearn", files, options={"trusted": [DOUBLED]})
    np.testing.assert_array_equal(again.predict(X).outputs, pipe.predict(X))


def test_a_signature_that_disagrees_with_n_features_in_is_refused(files_of, logreg, xy) -> None:
    files = files_of({"model.skops": sio.dumps(logreg)})
    three = Signature.infer(xy[0][:, :3])
    with pytest.raises(IntegrityFailure, match=r"3 input feature\(s\) but the model expects 4"):
        load_predictor("sklearn", files, signature=three)
    with pytest.raises(InvalidInput, match="n_features_in_"):
        load_predictor("sklearn", files, signature=three, mismatch=InvalidInput)


def test_column_names_are_checked_against_feature_names_in(files_of, frame, xy) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame, xy[1])
    files = files_of({"model.skops": sio.dumps(model)})
    renamed = Signature.infer(frame.rename(columns={"d": "e"}))
    with pytest.raises(IntegrityFailure, match="feature_names_in_"):
        load_predictor("sklearn", files, signature=renamed)
    with pytest.raises(IntegrityFailure, match="fitted on a DataFrame"):
        load_predictor("sklearn", files, signature=Signature.infer(xy[0]))
    predictor = load_predictor("sklearn", files, signature=Signature.infer(frame))
    # a plain array gets the fitted column names, so sklearn neither warns nor fails
    np.testing.assert_array_equal(predictor.predict(xy[0]).outputs, model.predict(frame))


def test_a_model_fitted_on_arrays_accepts_a_dataframe(files_of, logreg, frame) -> None:
    predictor = load_predictor("sklearn", files_of({"model.skops": sio.dumps(logreg)}))
    np.testing.assert_array_equal(
        predictor.predict(frame).probabilities, logreg.predict_proba(frame.to_numpy())
    )


def test_a_pickle_loads_only_when_allowed(files_of, logreg, xy) -> None:
    files = files_of({"model.pkl": pickle.dumps(logreg)})
    with pytest.raises(UnsafeContent, match="--allow-pickle"):
        load_predictor("pickle", files)
    predictor = load_predictor("pickle", files, allow_pickle=True)
    assert predictor.flavor == "pickle"
    np.testing.assert_array_equal(predictor.predict(xy[0]).outputs, logreg.predict(xy[0]))


def test_broken_files_give_clear_errors(files_of) -> None:
    with pytest.raises(InvalidInput, match="not a readable skops file"):
        load_predictor("sklearn", files_of({"model.skops": b"not a zip"}))
    with pytest.raises(InvalidInput, match="cannot unpickle"):
        load_predictor("pickle", files_of({"model.pkl": b"garbage"}), allow_pickle=True)
    with pytest.raises(InvalidInput, match="no predict method"):
        load_predictor("pickle", files_of({"model.pkl": pickle.dumps({"a": 1})}), allow_pickle=True)
    with pytest.raises(InvalidInput, match=r"unknown flavor 'sklaern'.*did you mean 'sklearn'"):
        load_predictor("sklaern", files_of({}))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(max_iter=500),
        lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
        lambda: RandomForestClassifier(n_estimators=7, max_depth=3, random_state=0),
        lambda: GradientBoostingClassifier(n_estimators=5, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=5),
        lambda: make_pipeline(FunctionTransformer(np.abs), LogisticRegression(max_iter=500)),
    ],
    ids=["logreg", "tree", "forest", "gbm", "hist-gbm", "pipeline"],
)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_one_probability_call_answers_exactly_what_predict_would(make, n_classes) -> None:
    """Classifiers whose predict() is the most probable class answer from one predict_proba
    call; the outputs, ties and label types included, must equal predict()'s."""
    rng = np.random.default_rng(n_classes)
    X = rng.normal(size=(300, 4)).round(1)  # rounding makes ties in trees and forests likely
    labels = np.array(["ok", "scratch", "dent"][:n_classes])
    y = labels[(X[:, 0] * 2 + X[:, 1]).astype(int) % n_classes]
    model = make().fit(X, y)
    predictor = EstimatorPredictor(model, flavor="sklearn", signature=Signature.infer(X))
    assert predictor._classes_array is not None  # the one-call path is taken
    test = rng.normal(size=(500, 4)).round(1)
    batch = predictor.predict(test)
    np.testing.assert_array_equal(batch.outputs, model.predict(test))
    assert batch.outputs.dtype == model.predict(test).dtype
