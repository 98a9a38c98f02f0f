"""A small seeded classification problem and models fitted on it, for the flavor tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from inprod.flavors import FolderFiles


@pytest.fixture(scope="session")
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def logreg(xy) -> LogisticRegression:
    X, y = xy
    return LogisticRegression().fit(X, y)


@pytest.fixture(scope="session")
def frame(xy) -> pd.DataFrame:
    return pd.DataFrame(xy[0], columns=["a", "b", "c", "d"])


@pytest.fixture
def files_of(tmp_path):
    """``files_of({"model.skops": bytes})`` -> FolderFiles over those files in a fresh folder."""

    def _make(contents: dict[str, bytes]) -> FolderFiles:
        folder = tmp_path / "model"
        folder.mkdir(exist_ok=True)
        for name, data in contents.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return FolderFiles.of_folder(folder)

    return _make
