"""Running a policy's training function: in a child process, in a tracked run, with a timeout.

The contract (docs/retraining.md, "Training function")::

    def train(data: TrainingData, run: ActiveRun) -> model

``data.frame`` holds the training rows (the reference's plus the new labelled ones, labels in
``data.label_column``), ``data.images`` the pixels of an image dataset aligned with the frame,
``data.dataset`` the version's ref, ``data.new_examples`` how many rows came from production
and ``data.seed`` a seed to use. ``run`` is the tracked run (log params and metrics on it).
Whatever is returned is registered with ``models.register`` (an estimator, an ONNX model, ...).

Why a child process: a function that hangs or exhausts memory must not take the server or the
worker down, and after the policy's timeout it is killed — a thread could not be. The child is
a fresh interpreter (``python -c``, never a fork of a server with threads, and not
multiprocessing's *spawn*, which would run the caller's main script again in the child): it
gets the job as JSON on its stdin — the store's URL is never on a command line — and the
caller's ``sys.path``, opens the store itself and sends back over a pipe the run's id (as soon
as the run starts, so a killed run can be marked) and the registered version's ref, or why it
failed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from ..errors import InprodError, InvalidInput
from ..store import Store
from ..store.tables import Run, utcnow
from .data import ORIGIN, PRODUCTION
from .sweeps import describe

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..data.versions import DatasetVersionInfo

log = logging.getLogger(__name__)

SAMPLE_ROWS = 5
JOIN_S = 30.0  # how long a finished child may take to exit before it is killed
STOP_S = 5.0  # at exit, how long a training child may take to end its run before it is killed
_CHILD_CODE = "from inprod.retraining.training import _main; _main()"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# training children of this process, stopped when it exits: nothing else would, and a server
# that stopped would leave a half-hour training running
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


@dataclass(frozen=True)
class TrainingData:
    """What a training function gets (see the module docstring)."""

    frame: pd.DataFrame
    images: np.ndarray | None
    dataset: str
    new_examples: int
    seed: int
    label_column: str = "label"
    params: dict[str, Any] = field(default_factory=dict)  # the sweep's point; empty without


@dataclass(frozen=True)
class TrainingJob:
    """Everything the child needs, as JSON: the store's URL and artifact root, not the store."""

    store_url: str
    artifacts: str
    train: str  # module:function
    dataset: str
    project: str
    run_name: str
    model_name: str
    signature: dict[str, Any]  # what serves takes: the registered sample is built to fit it
    request_id: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)  # a sweep's point


@dataclass(frozen=True)
class TrainedModel:
    ref: str
    run_id: str


@dataclass(frozen=True)
class Outcome:
    """One job's end: the registered model, or why there is none."""

    job: TrainingJob
    model: TrainedModel | None = None
    error: str | None = None


def load_training_data(
    ref: str, *, seed: int, store: Store, params: dict[str, Any] | None = None
) -> TrainingData:
    """The training version ``ref`` as the training function sees it."""
    from ..data import datasets

    info = datasets.get(ref, store=store)
    frame = datasets.load(info.ref, store=store)
    images = datasets.load_images(info.ref, store=store) if info.kind == "images" else None
    new = int((frame[ORIGIN] == PRODUCTION).sum()) if ORIGIN in frame else 0
    label = info.label_columns[0] if info.label_columns else "label"
    return TrainingData(frame, images, info.ref, new, seed, label, dict(params or {}))


def train_many(
    jobs: list[TrainingJob],
    *,
    timeout_s: float,
    parallel: int | None = None,
    ray: str | None = None,
    store: Store,
) -> list[Outcome]:
    """Each job in its own run, ``parallel`` at a time (default: one a CPU) in child
    processes, or as Ray tasks when ``ray`` names an address (``local``: a Ray started here).
    One job failing or timing out does not stop the others; outcomes keep the jobs' order."""
    if ray is not None:
        from .ray_training import train_on_ray

        return train_on_ray(jobs, timeout_s=timeout_s, address=ray, store=store)
    from concurrent.futures import ThreadPoolExecutor

    cpus = os.cpu_count() or 1
    workers = min(len(jobs), parallel or cpus)
    threads = max(1, cpus // workers) if workers > 1 else None

    def one(job: TrainingJob) -> Outcome:
        try:
            return Outcome(job, model=train(job, timeout_s=timeout_s, store=store, threads=threads))
        except InprodError as exc:
            return Outcome(job, error=exc.message)

    if workers <= 1:
        return [one(job) for job in jobs]
    with ThreadPoolExecutor(workers, thread_name_prefix="inprod-train") as pool:
        return list(pool.map(one, jobs))


def train(
    job: TrainingJob, *, timeout_s: float, store: Store, threads: int | None = None
) -> TrainedModel:
    """Run ``job`` in a child process and wait up to ``timeout_s`` for the registered model.

    ``threads`` caps the child's BLAS/OpenMP threads (unless the environment already sets
    them): children training side by side would otherwise each start one thread a core and
    fight over the cores. Raises InvalidInput saying why when the function raises, returns
    something the registry refuses, the child dies, or the time runs out (the child is killed,
    its run marked ``killed``).
    """
    env = None
    if threads is not None:
        env = {**{v: str(threads) for v in THREAD_VARIABLES}, **os.environ}
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
            env=env,
        )
    finally:
        os.close(write_fd)
    receive = Connection(read_fd, writable=False)
    with _children_lock:
        _children.add(child)
    deadline = time.monotonic() + timeout_s
    run_id: str | None = None
    try:
        assert child.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a child that died says so below
            child.stdin.write(json.dumps({**asdict(job), "sys_path": sys.path}).encode())
            child.stdin.close()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not receive.poll(remaining):
                child.kill()
                child.wait()
                if run_id is not None:
                    mark_killed(Run.id == run_id, timeout_s, store)
                raise InvalidInput(timed_out(job, timeout_s), field="timeout_s")
            try:
                kind, value = receive.recv()
            except EOFError:
                raise InvalidInput(
                    f"the training process of {job.train} exited with code {child.wait()} "
                    "before registering a model (out of memory, or the function exited)"
                ) from None
            if kind == "run":  # the run started: a killed child's run can be marked
                run_id = value
            elif kind == "done":
                assert run_id is not None
                return TrainedModel(value, run_id)
            else:
                raise InvalidInput(value)
    finally:
        receive.close()
        try:
            child.wait(JOIN_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        with _children_lock:
            _children.discard(child)


def timed_out(job: TrainingJob, timeout_s: float) -> str:
    return (
        f"training took longer than {_fmt_s(timeout_s)} ({job.train}); it was stopped — make "
        "it faster or raise the policy's timeout"
    )


@atexit.register
def _stop_children() -> None:
    """Ask each training child to stop (its run is marked ``killed``), then kill what is left.
    The request stays ``running``; running it again goes on from its last finished step."""
    with _children_lock:
        children = list(_children)
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(STOP_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _main() -> None:
    """The child's entry (``python -c``): the pipe's descriptor in argv, the job on stdin."""
    conn = Connection(int(sys.argv[1]), readable=False)
    given = json.load(sys.stdin)
    sys.stdin.close()
    sys.path[:0] = [p for p in given.pop("sys_path") if p not in sys.path]
    _child(conn, TrainingJob(**given))


def _child(conn: Connection, job: TrainingJob) -> None:
    """The child's whole life: open the store, train in a run, register, say how it went.

    SIGTERM (the parent is exiting) becomes KeyboardInterrupt, so the run is marked
    ``killed`` on the way out."""
    signal.signal(signal.SIGTERM, _interrupt)
    outcome = run_job(conn.send, job)
    with contextlib.suppress(OSError):  # the parent may be gone
        conn.send(outcome)
    conn.close()


def run_job(send: Callable[[tuple[str, str]], None], job: TrainingJob) -> tuple[str, str]:
    """Train and register here: ``("done", ref)`` or ``("failed", why)``; ``send`` hears
    ``("run", id)`` as soon as the run starts. The body of a child process or a Ray task."""
    try:
        return ("done", _train_and_register(send, job))
    except InprodError as exc:
        return ("failed", exc.message)
    except BaseException as exc:  # a bug of ours, or an exit: still tell the parent
        return ("failed", f"training failed: {type(exc).__name__}: {exc}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _train_and_register(send: Callable[[tuple[str, str]], None], job: TrainingJob) -> str:
    from ..data import datasets
    from ..flavors.python_callable import import_callable
    from ..registry import models
    from ..tracking.runs import start_run

    store = Store(job.store_url, job.artifacts)
    try:
        fn = import_callable(job.train)
        data = load_training_data(job.dataset, seed=job.seed, store=store, params=job.params)
        params = {"retraining_request": job.request_id, "train": job.train, "seed": job.seed,
                  **job.params}  # fmt: skip
        with start_run(job.project, job.run_name, params=params, store=store) as run:
            send(("run", run.id))
            run.use_dataset(data.dataset, role="train")
            try:
                model = fn(data, run)
            except Exception as exc:
                raise InvalidInput(
                    f"the training function {job.train} raised {type(exc).__name__}: {exc}"
                ) from exc
            if model is None:
                raise InvalidInput(f"the training function {job.train} returned None, not a model")
            try:
                return models.register(
                    job.model_name,
                    model,
                    run=run,
                    sample=_sample(data, datasets.get(data.dataset, store=store), job),
                    description=f"retrained by retraining request {job.request_id}",
                    tags={"retraining.request": job.request_id}
                    | ({"retraining.sweep": describe(job.params)} if job.params else {}),
                    store=store,
                ).ref
            except InprodError as exc:
                raise InvalidInput(
                    f"the training function {job.train} returned a {type(model).__name__} that "
                    f"cannot be registered: {exc.message}"
                ) from exc
    finally:
        store.close()


def _sample(data: TrainingData, info: DatasetVersionInfo, job: TrainingJob) -> Any:
    """A few training rows as the serving model takes them, for the candidate's signature."""
    from ..analysis.model_inputs import DatasetRows, model_batch
    from ..flavors import Signature

    images = None if data.images is None else data.images[:SAMPLE_ROWS]
    rows = DatasetRows(info, data.frame.iloc[:SAMPLE_ROWS], images)
    signature = Signature.from_dict(job.signature)
    return model_batch(signature, rows, features=None, model_ref=job.model_name)


def mark_killed(where: Any, timeout_s: float, store: Store) -> None:
    """Mark the runs ``where`` selects (by id, or by name for a Ray task that never said)
    killed, if they are still running."""
    with store.session() as s:
        s.execute(
            update(Run)
            .where(where, Run.status == "running")
            .values(
                status="killed",
                end_time=utcnow(),
                error=f"stopped by retraining: longer than {_fmt_s(timeout_s)}",
            )
        )


def _fmt_s(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
