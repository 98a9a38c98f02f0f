"""The output Parquet file, written chunk by chunk under a temporary name and renamed at the end.

Readers of the output path see either the previous file or the complete new one, never half a
file; a failed job leaves nothing behind. The first chunk fixes the schema and later chunks are
cast to it (a model may, say, give int64 in one chunk and float64 in another).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InvalidInput

OUTPUT_SUFFIXES = (".parquet", ".pq")


def check_output(output: Path, input_path: Path) -> Path:
    """The absolute output path, after refusing one we cannot or must not write."""
    output = output.expanduser().absolute()
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidInput(
            f"output {output} must end in .parquet: scores are written as Parquet",
            field="output",
        )
    folder = output.parent
    if not folder.is_dir():
        raise InvalidInput(
            f"output folder {folder} does not exist; create it first (mkdir -p {folder})",
            field="output",
        )
    if output.is_dir():
        raise InvalidInput(
            f"output {output} is a folder; give a file name such as {output / 'scores.parquet'}",
            field="output",
        )
    if output.resolve() == input_path.resolve():
        raise InvalidInput(
            f"output {output} is the input file; write the scores to another file",
            field="output",
        )
    return output


class OutputFile:
    """``with OutputFile(path) as out: out.write(table); ...; out.commit()``.

    Leaving the block without ``commit`` (an exception) deletes the temporary file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._committed = False

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self._close()
            self.partial.unlink(missing_ok=True)

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.partial, table.schema)
        elif table.schema != self._writer.schema:
            table = self._conform(table, self._writer.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> None:
        """Finish the file and move it to its real name (replacing an older output)."""
        if self._writer is None:
            raise InvalidInput("nothing was scored: the input has no rows", field="input")
        self._close()
        os.replace(self.partial, self.path)
        self._committed = True

    def _close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def _conform(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        try:
            return table.select(schema.names).cast(schema)
        except (pa.ArrowException, KeyError, ValueError) as exc:
            raise InvalidInput(
                f"rows {self.rows + 1}-{self.rows + table.num_rows} give output columns "
                f"{table.schema.names} of types that do not match the first chunk's "
                f"({_describe(schema)}): {exc}; the model's outputs must keep one type"
            ) from None


def _describe(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in schema)
