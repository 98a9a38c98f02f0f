"""The benchmark's model and request, identical for every server.

Imports only numpy and scikit-learn, so the peers' virtualenvs (MLflow, BentoML) can import it
too: every server fits the same LogisticRegression on the same seeded data (lbfgs is
deterministic) and every load generator sends the same body.
"""

from __future__ import annotations

import json

import numpy as np

SEED = 0
ROWS = 400
FEATURES = 20


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """400 x 20 standard-normal floats; the label is whether x0 + x1 > 0."""
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(ROWS, FEATURES)).astype(np.float64)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def fit_logistic():
    """The served model: scikit-learn LogisticRegression on 20 float features."""
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    return LogisticRegression().fit(X, y)


def fit_mlp():
    """The costly-to-call model of the batching test: an MLP with two hidden layers of 256."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = training_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # accuracy is not the point here
        return MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=50, random_state=SEED).fit(
            X, y
        )


def request_row() -> list[float]:
    """The one instance every request carries (20 floats, 6 decimals as a client would send)."""
    rng = np.random.default_rng(SEED + 1)
    return [round(float(v), 6) for v in rng.normal(size=FEATURES)]


def request_body() -> bytes:
    """``{"instances": [[...20 floats...]]}``: the body all servers accept unchanged."""
    return json.dumps({"instances": [request_row()]}).encode()
