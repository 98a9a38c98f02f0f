"""Training jobs as Ray tasks: a retraining policy's sweep (or its one training) on a Ray
cluster, or on a Ray started on this machine for the run (the policy's ``ray`` setting is
``local``).

Each task runs the body of a training child process (``training.run_job``): it opens the store
by its URL and imports the training function, so the workers must reach the store and its
artifact folder (on a cluster: a PostgreSQL store and a shared artifact root) and have the
function's module installed (a local Ray gets the caller's ``sys.path``). A task still running
at the deadline is cancelled with its worker process killed, and its run is marked killed.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict

from ..batch._input import first_line
from ..batch.ray_runner import connect, require_ray
from ..store import Store
from ..store.tables import Run
from .training import Outcome, TrainedModel, TrainingJob, mark_killed, run_job, timed_out

LOCAL = "local"


def train_on_ray(
    jobs: list[TrainingJob], *, timeout_s: float, address: str, store: Store
) -> list[Outcome]:
    """Each job as a Ray task (one CPU each); outcomes in the jobs' order. The deadline is
    ``timeout_s`` for each wave of tasks the cluster's CPUs can run at once."""
    ray = require_ray("training on Ray")
    ours = connect(ray, None if address == LOCAL else address, None, option="the policy's ray")
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_task)
        refs = [task.remote(json.dumps({**asdict(job), "sys_path": sys.path})) for job in jobs]
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        waves = math.ceil(len(jobs) / cpus)
        _, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s * waves)
        late = {ref.hex() for ref in pending}
        for ref in pending:
            ray.cancel(ref, force=True)
        outcomes = []
        for job, ref in zip(jobs, refs, strict=True):
            if ref.hex() in late:
                mark_killed(Run.name == job.run_name, timeout_s, store)
                outcomes.append(Outcome(job, error=timed_out(job, timeout_s)))
                continue
            try:
                kind, value, run_id = ray.get(ref)
            except ray.exceptions.RayError as exc:
                error = f"the Ray task training {job.train} failed: {first_line(exc)}"
                outcomes.append(Outcome(job, error=error))
                continue
            if kind == "done" and run_id is not None:
                outcomes.append(Outcome(job, model=TrainedModel(value, run_id)))
            else:
                outcomes.append(Outcome(job, error=value))
        return outcomes
    finally:
        if ours:  # stops the local Ray we started, or disconnects from the cluster
            ray.shutdown()


def _task(payload: str) -> tuple[str, str, str | None]:
    """On a Ray worker: (``done``, ref, run id) or (``failed``, why, run id or None)."""
    given = json.loads(payload)
    sys.path[:0] = [p for p in given.pop("sys_path") if p not in sys.path]
    heard: list[tuple[str, str]] = []
    kind, value = run_job(heard.append, TrainingJob(**given))
    run_id = next((v for k, v in heard if k == "run"), None)
    return kind, value, run_id
