"""Fixtures for the registry tests: a seeded problem, fitted models, run and dataset rows."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression

from inprod.registry import models
from inprod.store import Store
from inprod.store.tables import Run


@pytest.fixture(scope="session")
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] - X[:, 3] > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def logreg(xy) -> LogisticRegression:
    return LogisticRegression().fit(*xy)


@pytest.fixture(scope="session")
def frame(xy) -> pd.DataFrame:
    return pd.DataFrame(xy[0], columns=["brightness", "contrast", "blur", "edges"])


@pytest.fixture
def insert_run(store: Store) -> Callable[..., str]:
    """A runs row written through the ORM (the tracking API is not needed here)."""

    def _insert(run_id: str, **values: Any) -> str:
        with store.session() as s:
            s.add(Run(id=run_id, **values))
        return run_id

    return _insert


@pytest.fixture
def mlflow_folder(tmp_path: Path) -> Callable[..., Path]:
    """A minimal MLflow sklearn folder (the full format is in tests/flavors/mlflow_folders.py)."""

    def _make(model: Any, fmt: str = "skops", name: str = "mlflow-model") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        file = "model.skops" if fmt == "skops" else "model.pkl"
        data = sio.dumps(model) if fmt == "skops" else pickle.dumps(model)
        (folder / file).write_bytes(data)
        (folder / "requirements.txt").write_text("scikit-learn==1.9.1\n")
        spec = {
            "flavors": {
                "python_function": {"loader_module": "mlflow.sklearn", "model_path": file},
                "sklearn": {"pickled_model": file, "serialization_format": fmt},
            },
            "mlflow_version": "3.17.2",
        }
        (folder / "MLmodel").write_text(yaml.safe_dump(spec))
        return folder

    return _make


@pytest.fixture
def nothing_stored(store: Store) -> Callable[[], None]:
    """Asserts no model row and no artifact blob: a refused registration leaves no trace."""

    def _check() -> None:
        assert models.list_models(store=store) == []
        blobs = Path(store.artifacts.root) / "sha256"
        assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))

    return _check
