"""The phone story's training function for retraining: the same logistic regression on raw pixels
that part 1 trained (quickstart/story.py), on the reference phones plus the ones the
inspectors labelled in production.

A policy names it ``inprod.quickstart.retrain_phone:train``; the runner calls it in a child
process with the training rows and a tracked run (docs/retraining.md, "Training function").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..retraining.data import ORIGIN, PRODUCTION
from . import phone_data

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

    from ..retraining.training import TrainingData
    from ..tracking.runs import ActiveRun

DEFECT = "scratch"
PARAMS = {"model": "LogisticRegression", "C": 1.0, "max_iter": 1000}


def train(data: TrainingData, run: ActiveRun) -> LogisticRegression:
    """Fit on every training row (the gate judges on held-out phones, so none is kept back
    for it); log the training accuracy overall and on the production phones, and
    ``val_accuracy`` — a fit on 80% scored on the other 20% — by which a sweep over ``C``
    (a policy's ``sweep`` setting, in ``data.params``) picks its best."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    if data.images is None:
        raise ValueError(f"{data.dataset} is not an image dataset; this function trains on pixels")
    X = phone_data.features(data.images)
    y = (data.frame[data.label_column].astype(str) == DEFECT).to_numpy().astype(int)
    params = {**PARAMS, **data.params}
    run.log_params({**params, "new_examples": data.new_examples})

    def fit(X: np.ndarray, y: np.ndarray) -> LogisticRegression:
        model = LogisticRegression(
            C=params["C"], max_iter=params["max_iter"], random_state=data.seed
        )
        return model.fit(X, y)

    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=0.2, random_state=data.seed, stratify=y
    )
    val_accuracy = float(np.mean(fit(X_fit, y_fit).predict(X_val) == y_val))
    model = fit(X, y)
    correct = model.predict(X) == y
    metrics = {"train_accuracy": float(correct.mean()), "val_accuracy": val_accuracy}
    if ORIGIN in data.frame and (production := (data.frame[ORIGIN] == PRODUCTION).to_numpy()).any():
        metrics["train_accuracy_production"] = float(np.mean(correct[production]))
    run.log_metrics(metrics)
    return model
