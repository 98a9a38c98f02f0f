"""Batch scoring: a registered model version over a CSV or Parquet file, into a Parquet file.

The file is streamed in chunks of ``chunk_rows`` rows, so memory stays bounded whatever its
size; the model is loaded once. Each chunk is validated against the model's signature exactly
as the server validates a request. Output columns: the ``keep`` input columns, ``prediction``,
``confidence`` and one ``proba_<class>`` per class (when the model gives probabilities).

Every run is recorded as a batch job (model version, input, output, engine, rows, status) for
lineage. Everything that can be checked without scoring — the reference, the paths, the
columns and their types — is checked before the job is recorded, so a wrong call leaves no
trace; a failure while scoring marks the job ``failed`` and leaves no output file.

``ray=True`` runs the same Predictor code on Ray Data (``pip install 'inprod[ray]'``): on the
cluster at ``ray_address``, or on a local Ray started for the job and stopped after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

import pyarrow as pa

from ..errors import InprodError, InvalidInput
from ..flavors import Predictor, Signature
from ..registry import models
from ..store import Store, get_store
from ._input import InputFile, iter_chunks, open_input
from ._output import OutputFile, check_output
from ._plan import ScoringPlan, make_plan
from ._predict import score_chunk
from .jobs import BatchJobInfo, end_job, start_job

__all__ = ["DEFAULT_CHUNK_ROWS", "BatchProgressFn", "score_file"]

DEFAULT_CHUNK_ROWS = 50_000

# progress(rows_done, total_rows); total_rows is None when unknown (CSV)
BatchProgressFn = Callable[[int, int | None], None]

logger = logging.getLogger(__name__)


def score_file(
    ref: str,
    input: str | Path,
    output: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    columns: Sequence[str] | None = None,
    keep: Sequence[str] = (),
    ray: bool = False,
    ray_address: str | None = None,
    ray_cpus: int | None = None,
    progress: BatchProgressFn | None = None,
    store: Store | None = None,
) -> BatchJobInfo:
    """Score ``input`` with the model version ``ref`` names and write ``output`` (Parquet).

    ``columns`` picks the feature columns in the model's order (needed when a tensor model's
    file has other columns; a columns model takes its own by name). ``keep`` copies input
    columns (ids, timestamps) into the output. ``ray_address`` (implies ``ray``) names a
    cluster; ``ray_cpus`` sizes the local Ray started otherwise (default 2).
    Raises NotFound for an unknown model or input file and InvalidInput for a bad file, missing
    columns or an unwritable output — before any job is recorded; errors while scoring mark the
    job failed and are raised again. Returns the finished job.
    """
    store = get_store(store)
    chunk_rows = _check_count(chunk_rows, "chunk_rows", "rows")
    if ray_cpus is not None:
        _check_count(ray_cpus, "ray_cpus", "CPUs")
    input_path = Path(input).expanduser().absolute()
    output_path = check_output(Path(output), input_path)
    info = models.get(ref, store=store)
    signature = Signature.from_dict(info.signature)
    source = open_input(input_path)
    plan = make_plan(
        model_ref=info.ref,
        signature=signature,
        input_path=input_path,
        input_columns=source.columns,
        columns=columns,
        keep=keep,
    )
    if source.format == "csv":  # read the header again with the types the model declares
        source = open_input(input_path, column_types=plan.column_types())
    plan.check_schema(source.schema)
    if source.total_rows == 0:
        raise InvalidInput(f"input {input_path} has no rows; nothing to score", field="input")
    ray = ray or ray_address is not None
    if ray:
        from . import ray_runner

        ray_runner.require_ray()
        chunks = ray_runner.score_with_ray(
            info, plan, source, chunk_rows, address=ray_address, num_cpus=ray_cpus, store=store
        )
    else:
        predictor = models.load(info.ref, store=store)
        chunks = _score_locally(predictor, plan, source, chunk_rows)

    job_id = start_job(
        store,
        model_name=info.name,
        model_version=info.version,
        input_path=str(input_path),
        output_path=str(output_path),
        engine="ray" if ray else "local",
    )
    logger.info("batch job %s: scoring %s with %s", job_id, input_path, info.ref)
    rows = 0
    try:
        with OutputFile(output_path) as out:
            _report(progress, 0, source.total_rows)
            for table in chunks:
                out.write(table)
                rows = out.rows
                _report(progress, rows, source.total_rows)
            out.commit()
    except InprodError as exc:
        end_job(store, job_id, rows=rows, error=exc.message)
        raise
    except BaseException as exc:  # a bug or Ctrl-C: still close the job, then let it through
        end_job(store, job_id, rows=rows, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        chunks.close()  # a Ray run stops the Ray it started
    job = end_job(store, job_id, rows=rows)
    logger.info("batch job %s: %d rows scored into %s", job_id, rows, output_path)
    return job


def _score_locally(
    predictor: Predictor, plan: ScoringPlan, source: InputFile, chunk_rows: int
) -> Generator[pa.Table, None, None]:
    done = 0
    for chunk in iter_chunks(
        source, chunk_rows, columns=plan.read_columns, column_types=plan.column_types()
    ):
        yield score_chunk(predictor, plan, chunk, first_row=done)
        done += chunk.num_rows


def _check_count(value: int, name: str, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"{name} must be a whole number of {unit} >= 1, not {value!r}", field=name
        )
    return value


def _report(progress: BatchProgressFn | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, total)
