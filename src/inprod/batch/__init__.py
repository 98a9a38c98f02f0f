"""Batch scoring: a registered model version over a whole file, locally or on Ray.

``score_file`` (in :mod:`inprod.batch.scoring`) streams a CSV or Parquet file through the
model in bounded memory and writes a Parquet file of predictions; each run is recorded as a
batch job (:mod:`inprod.batch.jobs`) so lineage can tell which version scored which file.
"""

from __future__ import annotations

from .jobs import BatchJobInfo as BatchJobInfo
from .jobs import get_job as get_job
from .jobs import list_jobs as list_jobs
from .scoring import DEFAULT_CHUNK_ROWS as DEFAULT_CHUNK_ROWS
from .scoring import score_file as score_file

__all__ = ["DEFAULT_CHUNK_ROWS", "BatchJobInfo", "get_job", "list_jobs", "score_file"]
