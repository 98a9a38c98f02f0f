"""Reading a CSV or Parquet file as a stream of equal-sized Arrow chunks, in bounded memory.

Parquet is read batch by batch with ``ParquetFile.iter_batches`` (row count from the footer);
CSV with ``pyarrow.csv.open_csv``, which parses one block at a time and cannot know the row
count. Both are re-cut to exactly ``chunk_rows`` rows so that chunk boundaries (and the row
ranges errors name) do not depend on the format.

CSV column types are inferred from the first block, so a column that looks integral there and
holds decimals later would fail mid-file; the caller passes the types the model's signature
declares (``column_types``) to avoid that.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..data.readers import first_line, ragged_line
from ..errors import InvalidInput, NotFound

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_CSV_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """An input file checked to exist and parse: its format, columns and (Parquet) row count."""

    path: Path
    format: str  # csv | parquet
    schema: pa.Schema
    total_rows: int | None  # None for CSV

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


def open_input(path: Path, *, column_types: Mapping[str, pa.DataType] | None = None) -> InputFile:
    """Check the file and read only its schema (Parquet footer, or the first CSV block)."""
    fmt = FORMATS.get(path.suffix.lower())
    if not path.exists():
        raise NotFound(f"input file not found: {path}; check the path", field="input")
    if not path.is_file():
        raise InvalidInput(
            f"input {path} is not a file; give a .csv or .parquet file", field="input"
        )
    if fmt is None:
        raise InvalidInput(
            f"input {path}: cannot score {path.suffix or 'extensionless'!r} files; give a .csv "
            "or .parquet file",
            field="input",
        )
    if fmt == "parquet":
        try:
            with pq.ParquetFile(path) as parquet:
                meta = parquet.metadata
                schema = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(
                f"input {path} is not a readable Parquet file ({first_line(exc)}); check that it "
                "was written as Parquet and copied completely",
                field="input",
            ) from None
        total: int | None = meta.num_rows
    else:
        with _csv_errors(path):
            reader = _open_csv(path, column_types)
            schema = reader.schema
            if not any(batch.num_rows for batch in _first(reader)):
                raise InvalidInput(
                    f"input {path} has a header but no rows; nothing to score", field="input"
                )
        total = None
    _check_unique(path, schema.names)
    return InputFile(path=path, format=fmt, schema=schema, total_rows=total)


def iter_chunks(
    source: InputFile,
    chunk_rows: int,
    *,
    columns: Sequence[str],
    column_types: Mapping[str, pa.DataType] | None = None,
) -> Iterator[pa.Table]:
    """The file's ``columns`` as tables of exactly ``chunk_rows`` rows (the last may be short)."""
    if source.format == "parquet":
        # pre_buffer (the default) keeps every row group read so far in memory until the file
        # is closed: memory would grow with the file (300 MB for 4M rows), not the chunk
        with _parquet_errors(source.path), pq.ParquetFile(source.path, pre_buffer=False) as parquet:
            batches = parquet.iter_batches(batch_size=chunk_rows, columns=list(columns))
            yield from _rechunk(batches, chunk_rows)
        return
    with _csv_errors(source.path):
        reader = _open_csv(source.path, column_types, include=columns)
        yield from _rechunk(reader, chunk_rows)


def _open_csv(
    path: Path,
    column_types: Mapping[str, pa.DataType] | None,
    include: Sequence[str] | None = None,
) -> pcsv.CSVStreamingReader:
    return pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types=dict(column_types or {}),
            include_columns=list(include) if include is not None else None,
        ),
    )


def _first(reader: pcsv.CSVStreamingReader) -> list[pa.RecordBatch]:
    """The first batch (the parsed first block), or none for a header-only file."""
    try:
        return [reader.read_next_batch()]
    except StopIteration:
        return []


def _rechunk(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Cut a stream of record batches of any sizes into tables of ``chunk_rows`` rows."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_rows).combine_chunks()
            rest = table.slice(chunk_rows)
            pending = rest.to_batches() if rest.num_rows else []
            held = rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks()


@contextlib.contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """Turns Arrow's CSV errors into messages that name the file, the line and the fix."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        message = first_line(exc)
        if "Empty CSV file" in message:
            raise InvalidInput(
                f"input {path} is empty; give a CSV file with a header row and data",
                field="input",
            ) from None
        if "Expected" in message and "columns" in message:
            where = ragged_line(path)
            raise InvalidInput(
                f"input {path}: {where or message}; fix that row (an unquoted comma or a "
                "missing value?) and run again",
                field="input",
            ) from None
        column = re.match(r"In CSV column #(\d+): (.*)", message)
        if column:
            name = _header_name(path, int(column.group(1)))
            raise InvalidInput(
                f"input {path}: column {name!r}: {column.group(2)}; fix or remove that value "
                "(the model takes this column as that type)",
                field=name,
            ) from None
        raise InvalidInput(
            f"input {path} is not a readable CSV file: {message}", field="input"
        ) from None


@contextlib.contextmanager
def _parquet_errors(path: Path) -> Iterator[None]:
    """A damaged page deep in the file is found only when it is read."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"input {path} is damaged inside ({first_line(exc)}); check that it was written "
            "and copied completely",
            field="input",
        ) from None


def _header_name(path: Path, index: int) -> str:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    return header[index] if index < len(header) else f"#{index + 1}"


def _check_unique(path: Path, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(
                f"input {path}: column {name!r} appears more than once; give each column a "
                "unique name",
                field="input",
            )
        seen.add(name)
