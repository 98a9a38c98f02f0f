"""Drift per window: each stream's windows against the reference, stored and explained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from inprod import endpoints, models
from inprod.data import datasets
from inprod.errors import InvalidInput
from inprod.monitoring import ProfileBuilder, ProfileKey
from inprod.monitoring.drift import ColumnDrift, DriftReport
from inprod.monitoring.window_drift import drift_windows, explain
from inprod.store import Store
from inprod.store.tables import DriftResult, WindowProfileRow

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
REFERENCE = "dataset:phone-table@1"


def _rows(n: int, *, brightness: float = 0.5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"brightness": rng.normal(brightness, 0.1, n), "contrast": rng.gamma(2.0, 0.2, n)}
    )


@pytest.fixture
def endpoint(store: Store, tmp_path: Path) -> str:
    """``ep`` serving a model of brightness and contrast; ``phone-table@1`` holds its inputs."""
    path = tmp_path / "train.csv"
    _rows(2_000).to_csv(path, index=False)
    datasets.add("phone-table", path, store=store)
    frame = _rows(50)
    model = LogisticRegression().fit(frame, frame["brightness"] > 0.5)
    models.register("inspector", model, sample=frame.iloc[:3], store=store)
    endpoints.create("ep", "inspector@1", store=store)
    return "ep"


def _serve(
    store: Store,
    start: datetime,
    frame: pd.DataFrame,
    *,
    role: str = "primary",
    version: int = 1,
    replica: str = "a",
) -> None:
    """One stored minute of traffic, as the log writer would store it."""
    builder = ProfileBuilder(ProfileKey("ep", "inspector", version, role, start, 60.0))
    builder.add(frame.to_dict("records"), None, 1.0)
    profile = builder.build()
    with store.session() as s:
        s.add(
            WindowProfileRow(
                endpoint="ep",
                model_name="inspector",
                model_version=version,
                role=role,
                window_start=start,
                window_s=60,
                replica=replica,
                instances=profile.instances,
                profile=profile.to_dict(),
            )
        )


def test_each_window_with_traffic_is_tested_stored_and_explained(
    store: Store, endpoint: str
) -> None:
    for minute in range(0, 60, 10):  # hour 0: like the training data
        _serve(store, T0 + timedelta(minutes=minute), _rows(300, seed=minute + 1))
    for minute in range(0, 60, 10):  # hour 2 (hour 1 had no traffic): brighter images
        _serve(
            store,
            T0 + 2 * HOUR + timedelta(minutes=minute),
            _rows(300, brightness=0.6, seed=minute + 100),
        )
    results = drift_windows(
        endpoint,
        since=T0 + timedelta(minutes=10),
        until=T0 + 3 * HOUR,
        reference=REFERENCE,
        store=store,
    )
    assert [(r.window_start, r.role, r.model_version) for r in results] == [
        (T0, "primary", 1),
        (T0 + 2 * HOUR, "primary", 1),
    ]
    calm, bright = results
    assert calm.drifted == [] and calm.explanation == "no drift in 2 feature(s)"
    assert bright.drifted == ["brightness"]
    assert bright.explanation.startswith("brightness: PSI ") and "(p<1e-06)" in bright.explanation
    assert bright.reference == REFERENCE and bright.window_s == 3600
    with store.session(write=False) as s:
        rows = s.scalars(select(DriftResult).order_by(DriftResult.window_start)).all()
        stored = [(r.window_start, r.drifted, r.reference, r.report["explanation"]) for r in rows]
    assert stored == [
        (T0, [], REFERENCE, calm.explanation),
        (T0 + 2 * HOUR, ["brightness"], REFERENCE, bright.explanation),
    ]
    assert rows[1].report["summary"]["drifted"] == ["brightness"]
    # testing again replaces the stored results instead of adding to them
    again = drift_windows(endpoint, since=T0, until=T0 + 3 * HOUR, reference=REFERENCE, store=store)
    assert [r.drifted for r in again] == [[], ["brightness"]]
    with store.session(write=False) as s:
        rows = s.scalars(select(DriftResult)).all()
        assert len(rows) == 2


def test_every_stream_of_a_window_is_compared_with_the_same_reference(
    store: Store, endpoint: str
) -> None:
    _serve(store, T0, _rows(500, seed=1))
    _serve(store, T0, _rows(500, seed=2), replica="b")  # another replica: merged
    _serve(
        store,
        T0 + timedelta(minutes=5),
        _rows(400, brightness=0.8, seed=3),
        role="canary",
        version=2,
    )
    results = drift_windows(endpoint, since=T0, until=T0 + HOUR, reference=REFERENCE, store=store)
    by_stream = {(r.model_version, r.role): r for r in results}
    assert sorted(by_stream) == [(1, "primary"), (2, "canary")]
    assert by_stream[(1, "primary")].report.n_current == 1_000
    assert by_stream[(1, "primary")].drifted == []
    assert by_stream[(2, "canary")].drifted == ["brightness"]


def test_a_span_without_traffic_gives_no_results_and_bad_spans_are_refused(
    store: Store, endpoint: str
) -> None:
    assert (
        drift_windows(endpoint, since=T0, until=T0 + HOUR, reference=REFERENCE, store=store) == []
    )
    with store.session(write=False) as s:
        assert s.scalars(select(DriftResult)).all() == []
    naive = datetime(2026, 11, 2, 12, 0)
    for since, until, window_s, match in [
        (naive, T0 + HOUR, 3600, "since=.* timezone-aware"),
        (T0, T0, 3600, "must come before until"),
        (T0, T0 + HOUR, 30, "at least 60"),
        (T0, T0 + 400 * 24 * HOUR, 60, "at most 5000 per call"),
    ]:
        with pytest.raises(InvalidInput, match=match):
            drift_windows(endpoint, since=since, until=until, window_s=window_s, store=store)
    with pytest.raises(InvalidInput, match="registered without a run"):  # default reference
        drift_windows(endpoint, since=T0, until=T0 + HOUR, store=store)


def _column(
    name: str,
    test: str,
    statistic: float | None,
    p: float | None,
    effect: float | None,
    *,
    note: str = "",
) -> ColumnDrift:
    return ColumnDrift(
        column=name,
        kind="numeric" if test == "ks" else "categorical",
        test=test,
        statistic=statistic,
        p_value=p,
        effect="psi" if test == "ks" else "js",
        effect_size=effect,
        drifted=True,
        n_reference=10,
        n_current=10,
        missing_reference=0.0,
        missing_current=0.0,
        note=note,
    )


def test_explanations_list_drifted_features_largest_effect_first() -> None:
    report = DriftReport(
        columns=[
            _column("contrast", "ks", 0.2, 0.003, 0.15),
            _column("factory", "chi2", 120.44, 1e-9, 0.35),
            _column(
                "exposure", "ks", None, None, None, note="all values missing on the current side"
            ),
        ]
    )
    assert explain(report) == (
        "exposure: all values missing on the current side; "
        "factory: JS 0.35, chi² 120.4 (p<1e-06); contrast: PSI 0.15, KS 0.20 (p=0.003)"
    )
