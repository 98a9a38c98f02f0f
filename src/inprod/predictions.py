"""Logged predictions: the latest ones (``inprod predictions tail``) and exports for analysis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .errors import InvalidInput
from .store import Store, get_store
from .store.tables import Prediction

EXPORT_CHUNK_ROWS = 50_000
EXPORT_FORMATS = ("parquet", "csv", "jsonl")


@dataclass(frozen=True)
class PredictionRecord:
    id: str
    time: datetime
    endpoint: str
    model_version: str
    role: str
    request_key: str | None
    trace_id: str | None
    inputs: Any
    outputs: Any
    confidence: float | None
    latency_ms: float
    status: str
    error_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "endpoint": self.endpoint,
            "model_version": self.model_version,
            "role": self.role,
            "request_key": self.request_key,
            "trace_id": self.trace_id,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "confidence": self.confidence,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "error_id": self.error_id,
        }


def record_of(p: Prediction) -> PredictionRecord:
    return PredictionRecord(
        id=p.id,
        time=p.time,
        endpoint=p.endpoint,
        model_version=f"{p.model_name}@{p.model_version}",
        role=p.role,
        request_key=p.request_key,
        trace_id=p.trace_id,
        inputs=p.inputs,
        outputs=p.outputs,
        confidence=p.confidence,
        latency_ms=p.latency_ms,
        status=p.status,
        error_id=p.error_id,
    )


def recent(
    endpoint: str, *, limit: int = 20, after: datetime | None = None, store: Store | None = None
) -> list[PredictionRecord]:
    """The newest ``limit`` predictions (after ``after`` when given), oldest first."""
    store = get_store(store)
    query = select(Prediction).where(Prediction.endpoint == endpoint)
    if after is not None:
        query = query.where(Prediction.time > after)
    query = query.order_by(Prediction.time.desc(), Prediction.id.desc()).limit(limit)
    with store.session(write=False) as s:
        rows = [record_of(p) for p in s.scalars(query)]
    return rows[::-1]


def count(endpoint: str, *, store: Store | None = None) -> int:
    from sqlalchemy import func

    store = get_store(store)
    with store.session(write=False) as s:
        return s.scalar(
            select(func.count()).select_from(Prediction).where(Prediction.endpoint == endpoint)
        )


def iter_chunks(
    endpoint: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk_rows: int = EXPORT_CHUNK_ROWS,
    store: Store | None = None,
) -> Iterator[list[PredictionRecord]]:
    """Predictions in time order, a chunk at a time (keyset pagination: bounded memory)."""
    store = get_store(store)
    last: tuple[datetime, str] | None = None
    while True:
        query = select(Prediction).where(Prediction.endpoint == endpoint)
        if since is not None:
            query = query.where(Prediction.time >= since)
        if until is not None:
            query = query.where(Prediction.time < until)
        if last is not None:
            query = query.where(
                (Prediction.time > last[0])
                | ((Prediction.time == last[0]) & (Prediction.id > last[1]))
            )
        query = query.order_by(Prediction.time, Prediction.id).limit(chunk_rows)
        with store.session(write=False) as s:
            rows = [record_of(p) for p in s.scalars(query)]
        if not rows:
            return
        yield rows
        last = (rows[-1].time, rows[-1].id)


def export(
    endpoint: str,
    output: Path,
    *,
    format: str = "parquet",
    since: datetime | None = None,
    until: datetime | None = None,
    store: Store | None = None,
) -> int:
    """Write predictions to a Parquet, CSV or JSON-lines file; returns the row count.

    Inputs and outputs are kept as JSON text columns so rows of any shape fit one schema.
    """
    import json

    import pyarrow as pa

    if format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"format {format!r} is not one of {', '.join(EXPORT_FORMATS)}", field="format"
        )
    if not output.parent.is_dir():
        raise InvalidInput(
            f"folder {output.parent} does not exist; create it first", field="output"
        )
    tmp = output.with_name(output.name + ".partial")
    writer: Any = None
    total = 0
    try:
        for records in iter_chunks(endpoint, since=since, until=until, store=store):
            rows = [r.to_dict() for r in records]
            for r in rows:
                r["inputs"] = json.dumps(r["inputs"])
                r["outputs"] = json.dumps(r["outputs"])
            if format == "jsonl":
                with open(tmp, "a") as fh:
                    fh.writelines(json.dumps(r) + "\n" for r in rows)
            else:
                for r, rec in zip(rows, records, strict=True):
                    r["time"] = rec.time
                table = pa.Table.from_pylist(rows, schema=_export_schema())
                if writer is None:
                    writer = _writer(format, tmp, table.schema)
                if format == "parquet":
                    writer.write_table(table)
                else:
                    writer.write(table)
            total += len(rows)
        if writer is not None:
            writer.close()
            writer = None
        if total == 0 and not tmp.exists():
            tmp.write_bytes(b"")
        tmp.replace(output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return total


def _export_schema() -> Any:
    """Fixed column types, so every chunk of an export has one schema (pyarrow loads late)."""
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("id", text),
            ("time", pa.timestamp("us", tz="UTC")),
            ("endpoint", text),
            ("model_version", text),
            ("role", text),
            ("request_key", text),
            ("trace_id", text),
            ("inputs", text),
            ("outputs", text),
            ("confidence", pa.float64()),
            ("latency_ms", pa.float64()),
            ("status", text),
            ("error_id", text),
        ]
    )


def _writer(format: str, path: Path, schema: Any) -> Any:
    if format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(path, schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema)
