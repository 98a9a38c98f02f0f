"""Training functions for the retraining tests (one that raises, one returning a non-model, a
slow one, one that learns nothing; the good one is the phone story's, ``GOOD``) and the small
world they retrain: a champion trained on well-lit phones serving an endpoint, and labelled
production phones, darker.

A module with its own name (not ``conftest``): policies name its functions as
``retrain_functions:NAME``, and the runner's child process imports it from the same path.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from inprod import endpoints, models
from inprod.data import datasets
from inprod.quickstart import phone_data
from inprod.retraining import policies, requests
from inprod.retraining.requests import RequestInfo
from inprod.store import Store
from inprod.store.tables import Alert, Feedback, Monitor, Prediction
from inprod.tracking.runs import start_run

ENDPOINT = "phones"
MODEL = "inspector"
DATASET = "phone-ref"
LABELS = ("ok", "scratch")
LABEL_MAP = {"0": "ok", "1": "scratch"}
FEATURES = "inprod.quickstart.phone_data:image_features"
GOOD = "inprod.quickstart.retrain_phone:train"
CANARY = {"steps": "10,100", "interval": "1m", "min_requests": 5}
DARK_SHIFT = 0.35


# -- training functions (run in the runner's child process) ----------------------------------
def broken(data: Any, run: Any) -> Any:
    raise RuntimeError("the labels file is corrupt")


def not_a_model(data: Any, run: Any) -> Any:
    return {"weights": [0.1, 0.2]}


def slow(data: Any, run: Any) -> Any:
    time.sleep(120)
    return None


def coin(data: Any, run: Any) -> Any:
    """Learns from shuffled labels: a candidate the gate must refuse."""
    rng = np.random.default_rng(data.seed)
    X = phone_data.features(data.images)
    y = rng.permutation((data.frame[data.label_column] == "scratch").to_numpy().astype(int))
    return LogisticRegression(max_iter=200).fit(X, y)


# -- the world ------------------------------------------------------------------------------
def serve_champion(store: Store, folder: Path, *, n: int = 240, seed: int = 3) -> str:
    """Phones in normal light as a dataset, a champion trained on them in a tracked run, and
    the endpoint serving it (monitoring brightness). Returns the dataset ref."""
    data = phone_data.generate(n, seed=seed)
    manifest = phone_data.write_image_folder(data, folder)
    ref = datasets.add(
        DATASET,
        manifest,
        image_column="image",
        label_columns=["label"],
        metadata_columns=["factory"],
        store=store,
    ).ref
    X = phone_data.features(data.images)
    y = np.array([r["label"] == "scratch" for r in data.rows], dtype=int)
    with start_run("phones", "champion", store=store) as run:
        run.use_dataset(ref, role="train")
        model = LogisticRegression(max_iter=1000).fit(X, y)
        models.register(MODEL, model, run=run, sample=X[:5], alias="champion", store=store)
    endpoints.create(ENDPOINT, f"{MODEL}@champion", settings={"features": FEATURES}, store=store)
    return ref


def log_labelled(
    store: Store,
    n: int,
    *,
    seed: int = 11,
    dark_shift: float = DARK_SHIFT,
    source: str = "inspector",
    endpoint: str = ENDPOINT,
) -> list[str]:
    """``n`` logged predictions of the champion on phones ``dark_shift`` darker, each with its
    inputs (1024 pixels in 0..1) and a feedback label (the truth as ``ok``/``scratch``, or
    the model's class 0/1 for a review decision, which the label map translates)."""
    data = phone_data.generate(n, seed=seed, dark_shift=dark_shift)
    pixels = phone_data.features(data.images)
    now = datetime.now(UTC)
    rng = np.random.default_rng(seed)  # seeded ids: the same examples are held out every time
    ids = [rng.bytes(16).hex() for _ in range(n)]
    with store.session() as s:
        for i, pid in enumerate(ids):
            s.add(
                Prediction(
                    id=pid, time=now + timedelta(microseconds=i), endpoint=endpoint,
                    model_name=MODEL, model_version=1, role="primary",
                    inputs=[round(float(v), 6) for v in pixels[i]], outputs={"output": 0},
                    latency_ms=2.0,
                )
            )  # fmt: skip
            truth = LABELS[int(data.truth[i])]
            label = int(data.truth[i]) if source.startswith("review:") else truth
            s.add(Feedback(prediction_id=pid, time=now, label=label, source=source))
    return ids


def add_policy(
    store: Store, *, train: str = GOOD, approve: str = "auto", **settings: Any
) -> policies.PolicyInfo:
    return policies.add(
        ENDPOINT,
        train=train,
        triggers=[],
        approve=approve,
        settings={"label_map": LABEL_MAP, "canary": CANARY, **settings},
        actor="test",
        store=store,
    )


def approved_request(store: Store, *, alert_id: int | None = None) -> RequestInfo:
    """A request of the endpoint's policy, approved to run."""
    opened = requests.open_request(
        ENDPOINT,
        trigger="manual" if alert_id is None else f"alert:{alert_id}",
        reason="test",
        alert_id=alert_id,
        actor="test",
        store=store,
    )
    return requests.approve(opened.id, actor="test", store=store)


def firing_drift_alert(store: Store, feature: str = "brightness") -> int:
    """A firing alert of a drift monitor on ``feature`` of the endpoint; returns its id."""
    with store.session() as s:
        monitor = Monitor(
            endpoint=ENDPOINT, name=f"{feature} drift", metric=f"drift.{feature}.psi",
            rule={"above": 0.2}, state="firing",
        )  # fmt: skip
        s.add(monitor)
        s.flush()
        alert = Alert(monitor_id=monitor.id, endpoint=ENDPOINT, state="firing", value=0.8)
        s.add(alert)
        s.flush()
        return alert.id
