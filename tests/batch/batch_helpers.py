"""Shared by the batch tests: the problem's shape and the output scikit-learn itself gives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

FEATURES = ["brightness", "contrast", "blur"]
ROWS = 2_500
CHUNK = 1_000


@dataclass(frozen=True)
class Scoring:
    ref: str
    model: LogisticRegression
    frame: pd.DataFrame
    parquet: Path
    csv: Path
    folder: Path


def expected_output(model: LogisticRegression, frame: pd.DataFrame, keep=("id",)) -> pd.DataFrame:
    """What the output must hold, computed by calling scikit-learn directly."""
    proba = model.predict_proba(frame[FEATURES])
    out = frame[list(keep)].copy()
    out["prediction"] = model.predict(frame[FEATURES])
    out["confidence"] = proba.max(axis=1)
    for j, cls in enumerate(model.classes_):
        out[f"proba_{cls}"] = proba[:, j]
    return out.reset_index(drop=True)
