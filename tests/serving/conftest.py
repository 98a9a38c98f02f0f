from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from inprod import models
from inprod.store import Store


@pytest.fixture
def tiny_model(store: Store) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = (X[:, 0] > 0).astype(int)
    models.register(
        "tiny", LogisticRegression().fit(X, y), sample=X[:3], alias="champion", store=store
    )
    return "tiny@champion"
