"""Re-scoring a logged window with the candidate, for the gate: what would have changed had the
candidate answered the requests what serves answered over the policy's ``rescore`` window.

The window's logged inputs (the latest ``MAX_ROWS`` of the primary's answers that kept their
inputs) are written to a Parquet file and scored by the batch engine — ``batch.score_file``,
in this process or on Ray with the policy's ``ray`` setting — so it is the same code, and the
same batch-job record, as ``inprod batch``. Reported: the rows, the share of answers that
change, each answer's share before and after, and both models' accuracy on the window's
held-out labelled answers (those no training set takes, retraining/data.py: the candidate
never saw them). With ``max_changed`` the step fails the gate when more answers change: a
retrained model that flips a third of production's decisions deserves a person's look before
any traffic reaches it, whatever its score on the evaluation data.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, select

from ..errors import InvalidInput
from ..monitoring.feedback_metrics import output_label, same_label
from ..store import Store
from ..store.tables import Feedback, Prediction
from .data import held_out

MAX_ROWS = 100_000


@dataclass(frozen=True)
class Rescored:
    rows: int
    changed: float  # share of answers the candidate gives differently
    before: dict[str, float]  # answer -> share, as logged
    after: dict[str, float]  # answer -> share, the candidate's
    labelled: int  # held-out labelled answers: the candidate never trained on them
    accuracy_before: float | None
    accuracy_after: float | None
    job_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rescore(
    endpoint: str,
    candidate: str,
    *,
    window_s: float,
    label_map: Mapping[str, Any] | None = None,
    ray: str | None = None,
    store: Store,
) -> Rescored:
    """Score the endpoint's logged window with ``candidate``; InvalidInput when the window has
    no logged inputs to score (:func:`has_window` tells first) or they are not flat rows
    (nested tensors, mixed shapes)."""
    from ..batch.scoring import score_file

    logged = _window(endpoint, window_s, store)
    if not logged:
        raise InvalidInput(
            f"no answer of endpoint {endpoint!r} in the last {window_s:g} s kept its inputs to "
            "re-score (no traffic, or a sample_rate of 0); widen the policy's rescore window or "
            "remove its max_changed",
            field="rescore",
        )
    with tempfile.TemporaryDirectory(prefix="inprod-rescore-") as tmp:
        source, output = Path(tmp) / "window.parquet", Path(tmp) / "scored.parquet"
        _write_inputs([inputs for _, inputs, _ in logged], source)
        address = None if ray in (None, "local") else ray
        job = score_file(candidate, source, output, ray=ray is not None, ray_address=address,
                         store=store)  # fmt: skip
        import pyarrow.parquet as pq

        after = pq.read_table(output, columns=["prediction"]).column(0).to_pylist()
    before = [output_label(outputs) for _, _, outputs in logged]
    changed = sum(str(a) != str(b) for a, b in zip(after, before, strict=True))
    labels = _labels([pid for pid, _, _ in logged], store)
    mapping = {str(k): v for k, v in (label_map or {}).items()}

    def right(answer: Any, label: Any) -> bool:
        return same_label({"output": answer}, label) or mapping.get(str(answer)) == label

    pairs = [(b, a, labels[pid]) for (pid, _, _), b, a in zip(logged, before, after, strict=True)
             if pid in labels and held_out(pid)]  # fmt: skip
    return Rescored(
        rows=len(logged),
        changed=changed / len(logged),
        before=_shares(before),
        after=_shares(after),
        labelled=len(pairs),
        accuracy_before=sum(right(b, lab) for b, _, lab in pairs) / len(pairs) if pairs else None,
        accuracy_after=sum(right(a, lab) for _, a, lab in pairs) / len(pairs) if pairs else None,
        job_id=job.id,
    )


def has_window(endpoint: str, window_s: float, store: Store) -> bool:
    return bool(_window(endpoint, window_s, store, limit=1))


def _window(
    endpoint: str, window_s: float, store: Store, *, limit: int = MAX_ROWS
) -> list[tuple[str, Any, Any]]:
    """(id, inputs, outputs) of the primary's logged answers in the window, oldest first.
    The inputs come as JSON text parsed with orjson: a window of image rows is megabytes of
    numbers, which the standard json module takes seconds to read."""
    import orjson

    since = datetime.now(UTC) - timedelta(seconds=window_s)
    query = (
        select(Prediction.id, cast(Prediction.inputs, Text), Prediction.outputs)
        .where(
            Prediction.endpoint == endpoint,
            Prediction.role == "primary",
            Prediction.status == "ok",
            Prediction.time >= since,
            Prediction.inputs.is_not(None),
        )
        .order_by(Prediction.time.desc())
        .limit(limit)
    )
    with store.session(write=False) as s:
        rows = [(pid, orjson.loads(text), outputs) for pid, text, outputs in s.execute(query)]
    return rows[::-1]


def _write_inputs(instances: list[Any], path: Path) -> None:
    """Column inputs as named columns; flat tensor inputs as ``x0..xN`` in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(instances[0], dict):
        if not all(isinstance(i, dict) for i in instances):
            raise InvalidInput("the window mixes column and tensor inputs; cannot re-score it")
        table = pa.Table.from_pylist(instances)
    else:
        try:
            matrix = np.asarray([i if isinstance(i, list) else [i] for i in instances])
        except ValueError:  # ragged rows
            matrix = np.empty(0, dtype=object)
        if matrix.ndim != 2 or matrix.dtype == object:
            raise InvalidInput(
                "re-scoring takes flat inputs (a row of numbers, or named columns); this window's "
                "inputs are nested or of mixed widths — remove the policy's rescore setting",
                field="rescore",
            )
        table = pa.table({f"x{j}": matrix[:, j] for j in range(matrix.shape[1])})
    pq.write_table(table, path)


def _labels(ids: list[str], store: Store) -> dict[str, Any]:
    """The latest feedback label of each prediction that has one."""
    out: dict[str, Any] = {}
    with store.session(write=False) as s:
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = (
                select(Feedback.prediction_id, Feedback.label)
                .where(Feedback.prediction_id.in_(chunk), Feedback.label.is_not(None))
                .order_by(Feedback.id)
            )
            out.update(dict(s.execute(query).all()))
    return out


def _shares(answers: list[Any]) -> dict[str, float]:
    counts = Counter(str(a) for a in answers)
    return {k: counts[k] / len(answers) for k in sorted(counts)}
