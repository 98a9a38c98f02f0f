"""The prediction log writer and what reads it back (tail, export), without a server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inprod import endpoints, predictions
from inprod.errors import InvalidInput
from inprod.serving.tap import PredictionLog
from inprod.store import Store

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _row(i: int, endpoint: str = "phone-inspector") -> tuple:
    return (
        uuid.UUID(int=i + 1).hex, T0 + timedelta(seconds=i), endpoint, "tiny", 1, "primary", None,
        f"station-{i % 3}", None, [0.1 * i, 0.2], {"output": i % 2, "confidence": 0.9},
        0.9, 1.5, "ok", None, None,
    )  # fmt: skip


def _fill(store: Store, n: int) -> PredictionLog:
    tap = PredictionLog(store, capacity=10_000)
    for i in range(n):
        assert tap.record(_row(i))
    assert tap.flush() == n
    return tap


def test_the_writer_stores_every_buffered_record_in_order(store: Store) -> None:
    _fill(store, 2500)
    assert predictions.count("phone-inspector", store=store) == 2500
    latest = predictions.recent("phone-inspector", limit=3, store=store)
    assert [r.time for r in latest] == [T0 + timedelta(seconds=s) for s in (2497, 2498, 2499)]
    assert latest[-1].outputs == {"output": 1, "confidence": 0.9}


def test_a_full_buffer_drops_and_counts_instead_of_blocking(store: Store) -> None:
    dropped = []
    tap = PredictionLog(store, capacity=5, on_drop=dropped.append)
    results = [tap.record(_row(i)) for i in range(8)]
    assert results == [True] * 5 + [False] * 3
    assert tap.dropped == 3 and sum(dropped) == 3
    assert tap.flush() == 5


def test_a_failed_write_keeps_the_records_for_the_next_try(store: Store, monkeypatch) -> None:
    tap = PredictionLog(store, capacity=100)
    for i in range(10):
        tap.record(_row(i))
    calls = {"n": 0}
    real_session = store.session

    def failing_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("store went away")
        return real_session(*args, **kwargs)

    monkeypatch.setattr(store, "session", failing_once)
    with pytest.raises(RuntimeError):
        tap.flush()
    assert len(tap) == 10
    assert tap.flush() == 10
    monkeypatch.undo()
    ids = [r.id for r in predictions.recent("phone-inspector", limit=20, store=store)]
    assert ids == [uuid.UUID(int=i + 1).hex for i in range(10)]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_writes_every_prediction_in_time_order(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    _fill(store, 120)
    out = tmp_path / f"preds.{fmt}"
    n = predictions.export(
        "phone-inspector", out, format=fmt, since=T0 + timedelta(seconds=20), store=store
    )
    assert n == 100
    if fmt == "parquet":
        table = pq.read_table(out)
        assert table.num_rows == 100
        assert json.loads(table.column("outputs")[0].as_py()) == {"output": 0, "confidence": 0.9}
        assert table.column("time")[0].as_py() == T0 + timedelta(seconds=20)
    elif fmt == "jsonl":
        lines = out.read_text().splitlines()
        assert len(lines) == 100 and json.loads(lines[0])["request_key"] == "station-2"
    else:
        assert len(out.read_text().splitlines()) == 101  # header + rows


def test_export_pages_through_more_rows_than_one_chunk(store: Store, tmp_path: Path) -> None:
    _fill(store, 130)
    chunks = list(predictions.iter_chunks("phone-inspector", chunk_rows=50, store=store))
    assert [len(c) for c in chunks] == [50, 50, 30]
    ids = [r.id for c in chunks for r in c]
    assert len(set(ids)) == 130


def test_export_errors_leave_no_file(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        predictions.export("phone-inspector", tmp_path / "no" / "x.parquet", store=store)
    with pytest.raises(InvalidInput, match="format 'xlsx'"):
        predictions.export("phone-inspector", tmp_path / "x.xlsx", format="xlsx", store=store)
    assert not (tmp_path / "no").exists() and not list(tmp_path.glob("x.xlsx*"))


def test_tail_and_export_from_the_cli(cli, store: Store, tiny_model: str, tmp_path: Path) -> None:
    endpoints.create("phone-inspector", tiny_model, store=store)
    _fill(store, 30)
    tail = json.loads(cli.ok("predictions", "tail", "phone-inspector", "-n", "5", "--json").stdout)
    assert len(tail) == 5 and tail[-1]["id"] == uuid.UUID(int=30).hex
    assert "station" not in cli.ok("predictions", "tail", "phone-inspector").stdout  # table
    out = tmp_path / "p.parquet"
    cli.ok(
        "predictions",
        "export",
        "phone-inspector",
        "--output",
        out,
        "--until",
        "2026-11-25T12:00:10",
    )
    assert pq.read_table(out).num_rows == 10
    cli.fails("predictions", "tail", "phone-inspectr", match="did you mean 'phone-inspector'")
    cli.fails(
        "predictions", "export", "phone-inspector", "-o", out, "--since", "yesterday", match="ISO"
    )


def test_rows_written_by_the_driver_read_back_through_the_orm_unchanged(store: Store) -> None:
    import numpy as np
    from sqlalchemy import select

    from inprod.store.tables import Prediction

    when = datetime(2026, 11, 25, 17, 30, 1, 123456, tzinfo=UTC)
    tap = PredictionLog(store, capacity=10)
    outputs = {"output": np.int64(1), "confidence": np.float64(0.75), "probabilities": {"0": 0.25}}
    tap.record(("a" * 32, when, "ep", "m", 2, "shadow", None, "k", None, None, outputs, 0.75, 1.5,
                "ok", None, "b" * 32))  # fmt: skip
    tap.record(("c" * 32, when, "ep", "m", 1, "primary", None, None, "t", {"x": [1, None]},
                None, None, 2.0, "error", "e" * 32, None))  # fmt: skip
    assert tap.flush() == 2
    with store.session(write=False) as s:
        rows = {r.id: r for r in s.scalars(select(Prediction))}
        assert s.scalars(select(Prediction.id).where(Prediction.inputs.is_(None))).all() == [
            "a" * 32
        ]  # None is SQL NULL, not JSON null
    shadow, primary = rows["a" * 32], rows["c" * 32]
    assert shadow.time == when and shadow.time.tzinfo is not None
    assert shadow.outputs == {"output": 1, "confidence": 0.75, "probabilities": {"0": 0.25}}
    assert (shadow.role, shadow.primary_id, shadow.request_key) == ("shadow", "b" * 32, "k")
    assert primary.inputs == {"x": [1, None]} and primary.outputs is None
    assert (primary.status, primary.error_id, primary.trace_id) == ("error", "e" * 32, "t")
