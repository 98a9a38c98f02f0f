"""A seeded inspection problem, a classifier registered as ``phone-inspector@champion``, and
input files of it (Parquet and CSV) larger than the chunk size the tests use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_helpers import FEATURES, ROWS, Scoring
from sklearn.linear_model import LogisticRegression

from inprod.registry import models
from inprod.store import Store


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    """Features plus an ``id`` and a ``factory`` column the model does not take."""
    rng = np.random.default_rng(11)
    data = pd.DataFrame(rng.normal(size=(ROWS, len(FEATURES))), columns=FEATURES)
    data.insert(0, "id", np.arange(1000, 1000 + ROWS))
    data["factory"] = np.where(rng.random(ROWS) < 0.5, "A", "B")
    return data


@pytest.fixture(scope="session")
def classifier(frame) -> LogisticRegression:
    y = np.where(frame.brightness - frame.blur > 0, "ok", "scratch")
    return LogisticRegression().fit(frame[FEATURES], y)


@pytest.fixture
def scoring(store: Store, frame, classifier, tmp_path: Path) -> Scoring:
    """The classifier registered (columns signature, classes ok/scratch) and the files."""
    models.register(
        "phone-inspector", classifier, sample=frame[FEATURES][:5], alias="champion", store=store
    )
    folder = tmp_path / "batch"
    folder.mkdir()
    frame.to_parquet(folder / "phones.parquet", row_group_size=700)
    frame.to_csv(folder / "phones.csv", index=False)
    return Scoring(
        "phone-inspector@champion",
        classifier,
        frame,
        folder / "phones.parquet",
        folder / "phones.csv",
        folder,
    )
