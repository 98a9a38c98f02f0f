"""Window profiles built by the log writer from the records it stores, read back merged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from inprod.monitoring.windows import WindowAggregator, read_profiles, window_start
from inprod.serving.tap import PredictionLog
from inprod.store import Store
from inprod.store.tables import WindowProfileRow

T0 = datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC)


def _call(tap: PredictionLog, when: datetime, rows: list[list[float]], *, status: str = "ok",
          role: str = "primary", latency: float = 2.0) -> None:  # fmt: skip
    """Log one request the way the server does: one record per instance, sharing the time."""
    for row in rows:
        outputs = {"output": int(row[0] > 0), "confidence": 0.9} if status == "ok" else None
        tap.record((uuid.uuid4().hex, when, "ep", "m", 1, role, None, None, None, row, outputs,
                    0.9, latency, status, None, None))  # fmt: skip


def test_the_writer_stores_one_profile_per_window_and_calls_are_requests(store: Store) -> None:
    tap = PredictionLog(store, capacity=100, windows=WindowAggregator(replica="a"))
    _call(tap, T0, [[1.0, 2.0], [-1.0, 3.0]])  # one request, two instances
    _call(tap, T0 + timedelta(seconds=10), [[0.5, 1.0]])
    _call(tap, T0 + timedelta(seconds=20), [[0.5, 1.0]], status="error")
    _call(tap, T0 + timedelta(seconds=70), [[2.0, 2.0]])  # the next minute
    tap.close()  # a graceful stop writes every open window
    with store.session(write=False) as s:
        starts = s.scalars(select(WindowProfileRow.window_start).order_by("window_start")).all()
    assert starts == [window_start(T0), window_start(T0) + timedelta(minutes=1)]
    merged = read_profiles("ep", since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1),
                           store=store)  # fmt: skip
    profile = merged[("m", 1, "primary")]
    assert (profile.requests, profile.instances, profile.errors) == (4, 5, 1)
    summary = profile.summary()
    assert (summary["requests"], summary["error_rate"]) == (4, 0.25)


def test_records_arriving_after_their_window_was_written_merge_into_its_row(store: Store) -> None:
    windows = WindowAggregator(replica="a", grace_s=0)
    tap = PredictionLog(store, capacity=100, windows=windows)
    _call(tap, T0, [[1.0, 2.0]])
    tap.flush()  # T0's window closed long ago (grace 0): written now
    _call(tap, T0 + timedelta(seconds=1), [[3.0, 4.0]])
    tap.flush()
    with store.session(write=False) as s:
        rows = s.scalars(select(WindowProfileRow)).all()
        assert len(rows) == 1 and rows[0].instances == 2


def test_replicas_write_their_own_rows_and_reads_merge_them(store: Store) -> None:
    for replica in ("a", "b"):
        tap = PredictionLog(store, capacity=100, windows=WindowAggregator(replica=replica))
        for i in range(3):
            _call(tap, T0 + timedelta(seconds=i), [[float(i), 1.0]])
        tap.close()
    with store.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(WindowProfileRow)) == 2
    merged = read_profiles("ep", since=T0 - timedelta(minutes=5), until=T0 + timedelta(minutes=5),
                           store=store)  # fmt: skip
    assert merged[("m", 1, "primary")].requests == 6
    assert read_profiles("ep", since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2),
                         store=store) == {}  # fmt: skip


def test_an_endpoint_s_feature_function_derives_what_is_profiled(store: Store) -> None:
    from monitor_helpers import ENDPOINT, two_versions

    from inprod import endpoints
    from inprod.monitoring.windows import FeatureFunctions

    two_versions(store)
    endpoints.update(ENDPOINT, settings={"features": "feature_fns:image_stats"}, store=store)
    windows = WindowAggregator(replica="a", features=FeatureFunctions(store))
    tap = PredictionLog(store, capacity=100, windows=windows)
    rng = np.random.default_rng(0)
    for i in range(20):
        image = (rng.random((8, 8)) * 0.4 + 0.1).tolist()  # dark-ish: mean ≈ 0.3
        tap.record((uuid.uuid4().hex, T0 + timedelta(seconds=i), ENDPOINT, "inspector", 1,
                    "primary", None, None, None, image, {"output": "ok"}, 0.9, 3.0, "ok", None,
                    None))  # fmt: skip
    tap.close()
    profile = read_profiles(ENDPOINT, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1),
                            store=store)[("inspector", 1, "primary")]  # fmt: skip
    assert set(profile.features) == {"brightness", "contrast"}
    assert profile.features["brightness"].mean == pytest.approx(0.3, abs=0.02)


def test_a_feature_function_that_raises_never_stops_the_writer(store: Store) -> None:
    from monitor_helpers import ENDPOINT, two_versions

    from inprod import endpoints
    from inprod.monitoring.windows import FeatureFunctions

    two_versions(store)
    endpoints.update(ENDPOINT, settings={"features": "feature_fns:broken"}, store=store)
    functions = FeatureFunctions(store)
    tap = PredictionLog(store, capacity=100, windows=WindowAggregator(features=functions))
    tap.record((uuid.uuid4().hex, T0, ENDPOINT, "inspector", 1, "primary", None, None, None,
                [0.5, 0.5], {"output": "ok"}, 0.9, 3.0, "ok", None, None))  # fmt: skip
    tap.close()
    assert tap.written == 1 and functions.failures == 1
    profile = read_profiles(ENDPOINT, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1),
                            store=store)[("inspector", 1, "primary")]  # fmt: skip
    assert set(profile.features) == {"x0", "x1"}  # the instance itself, as without a function


def test_the_features_setting_must_name_a_function(store: Store) -> None:
    from monitor_helpers import ENDPOINT, two_versions

    from inprod import endpoints
    from inprod.errors import InvalidInput

    two_versions(store)
    with pytest.raises(InvalidInput, match="module:function"):
        endpoints.update(ENDPOINT, settings={"features": "not a function"}, store=store)


def test_records_the_full_buffer_dropped_are_counted_in_their_window(store: Store) -> None:
    from inprod.monitoring.metrics import Span, compute

    tap = PredictionLog(store, capacity=2, windows=WindowAggregator(replica="a"))
    _call(tap, T0, [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 5.0]])  # room for two of four
    tap.close()
    assert (tap.written, tap.dropped) == (2, 2)
    profile = read_profiles("ep", since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1),
                            store=store)[("m", 1, "primary")]  # fmt: skip
    assert (profile.instances, profile.dropped) == (2, 2)
    span = Span("ep", T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    assert compute("log.dropped", span, store=store).value == 2
