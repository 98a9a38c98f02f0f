"""How a run keeps the predictions error analysis reads: one Parquet artifact named
``predictions.parquet``, one row per evaluated example.

Columns: ``label`` (the reference) and ``prediction`` (the model's answer) are required; every
other column travels along and can be a tag or a baseline — metadata (``factory``,
``brightness``), true/false tags (``dark``), a tag column (``noise``), a human's label
(``inspector-1``) or a previous model's answer to compare with (``--hlp-col``). Outputs of batch
scoring (``confidence``, ``proba_<class>``) may be kept too; they are never sliced.

Training code logs it next to its metrics::

    with inprod.start_run(project="phone-inspection") as run:
        ...
        frame = test_rows.assign(label=y_test, prediction=model.predict(X_test))
        inprod.analysis.log_predictions(run, frame)

and ``inprod analyze errors RUN --tags dark,factory=B`` reads it back.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from ..store import Store, get_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ARTIFACT_NAME",
    "LABEL",
    "PREDICTION",
    "load_predictions",
    "log_predictions",
    "read_predictions",
]

ARTIFACT_NAME = "predictions.parquet"
LABEL = "label"
PREDICTION = "prediction"


def log_predictions(
    run: Any,
    frame: pd.DataFrame,
    *,
    label_col: str = LABEL,
    prediction_col: str = PREDICTION,
) -> dict[str, Any]:
    """Store ``frame`` as the run's ``predictions.parquet``; returns the artifact record.

    ``run`` is an active run (``inprod.start_run``). ``label_col``/``prediction_col`` name the
    columns to store as ``label``/``prediction`` when the frame calls them otherwise. Logging
    other content again under the same run is a Conflict (an artifact never changes).
    """
    if not hasattr(run, "log_artifact"):
        raise InvalidInput(
            f"{run!r} is not an active run; log predictions inside 'with inprod.start_run(...)'",
            field="run",
        )
    renames = {label_col: LABEL, prediction_col: PREDICTION}
    for source, target in renames.items():
        if source not in frame.columns:
            raise InvalidInput(
                f"the predictions have no {target} column {source!r}; columns are "
                f"{', '.join(map(str, frame.columns[:12]))}",
                field=target,
            )
        if source != target and target in frame.columns:
            raise InvalidInput(
                f"the predictions have both {source!r} and {target!r}; drop or rename "
                f"{target!r} so that {source!r} can be stored as {target!r}",
                field=target,
            )
    stored = frame.rename(columns={k: v for k, v in renames.items() if k != v})
    stored.columns = [str(c) for c in stored.columns]
    with tempfile.TemporaryDirectory(prefix="inprod-predictions-") as tmp:
        path = Path(tmp) / ARTIFACT_NAME
        stored.to_parquet(path, index=False)
        return run.log_artifact(path, name=ARTIFACT_NAME)


def load_predictions(run: Any, *, store: Store | None = None) -> pd.DataFrame:
    """The ``predictions.parquet`` a run logged (``run``: an id, a unique prefix or a run)."""
    import pandas as pd

    from ..tracking.runs import get_run

    store = get_store(store)
    info = get_run(run, store=store)
    for artifact in info.artifacts:
        if artifact["path"] == ARTIFACT_NAME:
            return pd.read_parquet(store.artifacts.local_path(artifact["sha256"]))
    raise NotFound(
        f"run {info.id[:8]} has no {ARTIFACT_NAME}; log it in the training code with "
        "inprod.analysis.log_predictions(run, frame), or analyse a file with --predictions",
        field="run",
    )


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A predictions table from a .csv or .parquet file, for teams whose runs live elsewhere."""
    from ..data import readers

    file = Path(path).expanduser()
    readers.check_file(file)
    return readers.read_table(file, readers.table_format(file)).to_pandas()
