"""``inprod batch``: score a CSV or Parquet file with a registered model version."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.markup import escape

from ._output import console, err_console, print_json

# inprod.batch.scoring.DEFAULT_CHUNK_ROWS; repeated so that `inprod --help` need not import
# pyarrow (a test keeps the two equal)
DEFAULT_CHUNK_ROWS = 50_000


def batch(
    ref: str = typer.Argument(
        ..., help="Model version: NAME@champion, NAME@3 or NAME (the latest)."
    ),
    input: Path = typer.Option(..., "--input", "-i", help="The .parquet or .csv file to score."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="The .parquet file to write (replaced if it exists)."
    ),
    chunk_rows: int = typer.Option(
        DEFAULT_CHUNK_ROWS, "--chunk-rows", help="Rows scored at a time; bounds the memory used."
    ),
    columns: str | None = typer.Option(
        None,
        "--columns",
        help="Feature columns in the model's order, 'a,b,c' (default: the model's own columns, "
        "or all columns of the file for a tensor model).",
    ),
    keep: list[str] = typer.Option(
        [], "--keep", help="Input column to copy into the output, e.g. an id (repeatable)."
    ),
    ray: bool = typer.Option(
        False, "--ray", help="Score on Ray (needs: pip install 'inprod\\[ray]')."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster to use (default: a local Ray for this job)."
    ),
    ray_cpus: int | None = typer.Option(
        None, "--ray-cpus", help="CPUs of the local Ray started for this job (default 2)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the batch job as JSON."),
) -> None:
    """Score a file with a registered model version; write predictions to a Parquet file.

    Output columns: the --keep columns, prediction, confidence, one proba_<class> per class.

    Each run is recorded as a batch job: which model version scored which file, and when.
    """
    from ..batch import scoring

    with _progress_bar() as progress:
        job = scoring.score_file(
            ref,
            input,
            output,
            chunk_rows=chunk_rows,
            columns=None if columns is None else _split(columns),
            keep=keep,
            ray=ray,
            ray_address=ray_address,
            ray_cpus=ray_cpus,
            progress=progress,
        )
    if as_json:
        print_json(job.to_dict())
        return
    console.print(
        f"scored {job.rows:,} rows with [bold]{escape(job.model_ref)}[/] into "
        f"{escape(job.output_path)} in {job.seconds or 0:.1f} s "
        f"({job.engine}, job {job.id[:12]})",
        highlight=False,
        soft_wrap=True,
    )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@contextlib.contextmanager
def _progress_bar() -> Iterator[Callable[[int, int | None], None]]:
    """Rows done (of the total when the file says it) on stderr, shown only on a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = bar.add_task("scoring", total=None, rows="")

    def update(done: int, total: int | None) -> None:
        rows = f"{done:,} / {total:,} rows" if total is not None else f"{done:,} rows"
        bar.update(task, completed=done, total=total, rows=rows)

    with bar:
        yield update
