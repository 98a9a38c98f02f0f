"""Many labels per example: import them, measure how well labelers agree, and turn them into
dataset versions (a consensus label, a standardized taxonomy) with provenance.

Used as ``inprod.data.labels``::

    labels.import_labels("phone-images", "labels.csv", example_col="image",
                         labeler_col="inspector", label_col="label")
    report = labels.agreement("phone-images@1", slices=["factory=B", "blurry"])
    labels.consensus("phone-images@1", method="weighted")     # -> phone-images@2
    labels.standardize("phone-images@2", Taxonomy.load("taxonomy.yaml"))

Where labels come from: the ``annotations`` table (imported files, review decisions), or, for a
dataset that already holds one column per labeler (the phone manifest's inspector-1..3),
``labeler_columns``.

How examples are identified: by an id column's values, never by row position, because versions
made by splits or filters reorder rows while ids stay. The id column is ``id_column`` when given,
else the image column of an image dataset (its relative image paths), else a column named "id".
Annotations belong to the dataset *name*, so they apply to every version holding those ids;
labels naming an example a version lacks are counted as ``unmatched`` and left out.

When one labeler labels an example twice, the later label counts (a correction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

from ..errors import InvalidInput
from ..store import Store, get_store
from ..store.tables import Annotation, utcnow
from . import readers
from ._annotations import (
    SHOWN,
    example_ids,
    load_version,
    load_votes,
    more,
    read_annotations,
    require_column,
)
from .agreement import (
    DEFAULT_TOP,
    AgreementReport,
    Disagreement,
    label_keys,
    measure,
    plain,
)
from .agreement import disagreements as _split_examples
from .agreement import slice_masks as _slice_masks
from .consensus import ConsensusResult as ConsensusResult
from .consensus import consensus as consensus
from .taxonomy import LabelChange as LabelChange
from .taxonomy import StandardizeResult as StandardizeResult
from .taxonomy import Taxonomy as Taxonomy
from .taxonomy import standardize as standardize
from .versions import DatasetVersionInfo

__all__ = [
    "ConsensusResult",
    "ImportResult",
    "LabelChange",
    "StandardizeResult",
    "Taxonomy",
    "agreement",
    "borderline",
    "consensus",
    "from_review",
    "import_labels",
    "queue_borderline",
    "queue_for_review",
    "review_id",
    "standardize",
]

BORDERLINE_REASON = "borderline"
DEFAULT_MIN_DISSENT = 1 / 3  # a 2-1 split of three labelers; 4-1 of five is not borderline
MAX_ID_CHARS = 200  # annotations.example_id and labeler are 200 characters
MAX_SOURCE_CHARS = 50
_NOT_OUTPUTS = ("example_id", "row", "confidence")  # item fields stored elsewhere on a task


@dataclass(frozen=True)
class ImportResult:
    """What an import stored: new labels, corrections (a labeler's label changed) and labels
    that were already stored (skipped, so importing a file twice changes nothing)."""

    dataset: str
    checked_against: str  # the version whose ids the labels were checked against
    added: int
    changed: int
    unchanged: int
    examples: int
    labelers: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_labels(
    dataset: str,
    file: str | Path,
    *,
    example_col: str,
    labeler_col: str,
    label_col: str,
    id_column: str | None = None,
    source: str = "import",
    store: Store | None = None,
) -> ImportResult:
    """Store one label per row of a CSV or Parquet ``file`` (example, labeler, label) as
    annotations of ``dataset`` (a ref: the ids are checked against that version).

    Every row is checked first; on any bad row (missing value, unknown example, one labeler
    giving one example two labels) nothing is stored and the message names the rows.
    """
    if not isinstance(source, str) or not 0 < len(source) <= MAX_SOURCE_CHARS:
        raise InvalidInput(
            f"source {source!r} must be a name of 1 to {MAX_SOURCE_CHARS} characters",
            field="source",
        )
    store = get_store(store)
    info, frame = load_version(dataset, store)
    id_col, ids = example_ids(info, frame, id_column)
    path = Path(file)
    readers.check_file(path)
    table = readers.read_table(path, readers.table_format(path)).to_pandas()
    for what, column in (("--example-col", example_col), ("--labeler-col", labeler_col),
                         ("--label-col", label_col)):  # fmt: skip
        require_column(table, column, f"{what} {column!r}", path.name)
    rows = _checked_rows(table, example_col, labeler_col, label_col, path.name)
    unknown = ~rows["example"].isin(set(ids))
    bad = list(rows["example"][unknown].items())
    if bad:
        shown = ", ".join(f"{e!r} (row {i + 1})" for i, e in bad[:SHOWN])
        raise InvalidInput(
            f"{path.name}: {len(bad)} row(s) name examples that {info.ref} does not have: "
            f"{shown}{more(bad)}; examples are matched by the {id_col!r} column",
            field="example_col",
        )
    details = {"file": path.name, "version": info.ref}
    return _store_labels(store, info, rows, source=source, details=details)


def from_review(
    dataset: str, *, id_column: str | None = None, store: Store | None = None
) -> ImportResult:
    """Copy review decisions on ``dataset``'s examples into its annotations (source "review").

    Two kinds of decisions count: on tasks queued from this dataset (label issues, borderline
    examples; see :func:`review_id`), and on logged predictions whose id is an example id of the
    dataset (a dataset made of logged predictions, with their ids as its id column). Copying
    twice adds nothing.
    """
    store = get_store(store)
    info, frame = load_version(dataset, store)
    _, ids = example_ids(info, frame, id_column)
    by_prediction = {review_id(info.name, e): e for e in ids}
    by_prediction.update({e: e for e in ids if len(e) == 32})
    with store.session(write=False) as s:
        decided = s.execute(
            select(Annotation.prediction_id, Annotation.labeler, Annotation.label,
                   Annotation.time, Annotation.details)
            .where(Annotation.source == "review", Annotation.dataset.is_(None))
            .order_by(Annotation.id)
        ).all()  # fmt: skip
        copied = {
            (pid, who)
            for pid, who in s.execute(
                select(Annotation.prediction_id, Annotation.labeler).where(
                    Annotation.dataset == info.name, Annotation.source == "review"
                )
            )
        }
    new = [
        dict(dataset=info.name, example_id=by_prediction[pid], labeler=who, label=label,
             source="review", prediction_id=pid, time=time,
             details={"review_task": (details or {}).get("review_task")})
        for pid, who, label, time, details in decided
        if pid in by_prediction and (pid, who) not in copied
    ]  # fmt: skip
    mine = sum(1 for pid, *_ in decided if pid in by_prediction)
    if new:
        with store.session() as s:
            s.execute(insert(Annotation), new)
    return ImportResult(
        dataset=info.name,
        checked_against=info.ref,
        added=len(new),
        changed=0,
        unchanged=mine - len(new),
        examples=len({r["example_id"] for r in new}),
        labelers=sorted({r["labeler"] for r in new}),
    )


def review_id(dataset_name: str, example_id: str) -> str:
    """The 32-hex "prediction id" a review task about one dataset example carries (stable, so
    the decision finds its way back to the example)."""
    return hashlib.sha256(f"{dataset_name}\0{example_id}".encode()).hexdigest()[:32]


def queue_for_review(
    dataset: str,
    items: Sequence[Mapping[str, Any]],
    *,
    reason: str,
    store: Store | None = None,
) -> int:
    """Put dataset examples in the review queue for people to decide; returns how many were
    queued. Each item names ``example_id`` and ``row`` (its position in ``dataset``'s version)
    and may give ``output`` (the suggested label, shown as the answer), ``confidence`` and other
    fields, kept with the task; the row's non-label columns are shown as its inputs. An example
    that already has a task (open or decided) is not queued again.

    The task's endpoint is ``dataset:NAME`` (``inprod review next --endpoint dataset:NAME``) and
    its model ``NAME@VERSION``, the dataset version the example came from.
    """
    from ..review.queue import DATASET_QUEUE_PREFIX, add_task
    from ..store.tables import ReviewTask

    store = get_store(store)
    info, frame = load_version(dataset, store)
    wanted = {review_id(info.name, str(item["example_id"])): item for item in items}
    bad = [item["row"] for item in items if not 0 <= int(item["row"]) < len(frame)]
    if bad:
        raise InvalidInput(f"{info.ref} has no row {bad[0]!r}", field="row")
    with store.session(write=False) as s:
        queued = set(
            s.scalars(
                select(ReviewTask.prediction_id).where(ReviewTask.prediction_id.in_(list(wanted)))
            )
        )
    for pid, item in wanted.items():
        if pid in queued:
            continue
        row = frame.iloc[int(item["row"])]
        shown = {
            str(k): plain(v) for k, v in row.items() if k not in info.label_columns and pd.notna(v)
        }
        confidence = item.get("confidence")
        add_task(
            pid,
            endpoint=f"{DATASET_QUEUE_PREFIX}{info.name}",
            model_name=info.name,
            model_version=info.version,
            reason=reason,
            inputs={"dataset": info.ref, "example_id": str(item["example_id"]), **shown},
            outputs={k: plain(v) for k, v in item.items() if k not in _NOT_OUTPUTS},
            confidence=None if confidence is None else float(confidence),
            store=store,
        )
    return len(set(wanted) - queued)


def queue_borderline(
    dataset: str, examples: Sequence[Disagreement], *, store: Store | None = None
) -> int:
    """Queue :func:`borderline` examples for a decision (reason "borderline"); the answer shown
    is the most common label, with every labeler's label alongside."""
    items = [
        {"example_id": d.example_id, "row": d.row, "output": d.top_label, "votes": d.votes,
         "confidence": 1.0 - d.dissent}
        for d in examples
    ]  # fmt: skip
    return queue_for_review(dataset, items, reason=BORDERLINE_REASON, store=store)


def agreement(
    dataset: str,
    *,
    slices: Sequence[str] | Mapping[str, Any] = (),
    labeler_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    taxonomy: Taxonomy | None = None,
    top: int = DEFAULT_TOP,
    store: Store | None = None,
) -> AgreementReport:
    """Agreement between labelers on ``dataset``, overall and per slice (see
    :func:`inprod.data.agreement.slice_masks` for slice specs), with the ``top`` examples they
    disagree on most. ``taxonomy`` merges label variants first (agreement after standardizing).
    """
    store = get_store(store)
    info, frame = load_version(dataset, store)
    masks = _slice_masks(frame, slices)
    votes, unmatched = load_votes(store, info, frame, labeler_columns, id_column, taxonomy)
    return measure(votes, slices=masks, top=top, dataset=info.ref, unmatched=unmatched)


def borderline(
    dataset: str,
    *,
    labeler_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    min_dissent: float = DEFAULT_MIN_DISSENT,
    taxonomy: Taxonomy | None = None,
    limit: int | None = None,
    store: Store | None = None,
) -> list[Disagreement]:
    """The examples to send back to labelers: at least ``min_dissent`` of their labels differ from
    the most common one (default a third: a 2-1 split), most disagreement first."""
    if not 0.0 < min_dissent <= 1.0:
        raise InvalidInput(
            f"min_dissent {min_dissent!r} must be above 0 and at most 1", field="min_dissent"
        )
    store = get_store(store)
    info, frame = load_version(dataset, store)
    votes, _ = load_votes(store, info, frame, labeler_columns, id_column, taxonomy)
    return _split_examples(votes, top=limit, min_dissent=min_dissent)


# -- helpers -----------------------------------------------------------------------------------


def _checked_rows(
    table: pd.DataFrame, example_col: str, labeler_col: str, label_col: str, name: str
) -> pd.DataFrame:
    """Columns example, labeler (text), label (plain values) and key (the label's text), one row
    per example and labeler; errors name the rows (counting from 1 after the header)."""
    for column in (example_col, labeler_col, label_col):
        values = table[column]
        empty = values.isna()
        if pd.api.types.is_string_dtype(values.dtype):  # object or str columns
            empty |= values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
        _refuse(np.flatnonzero(empty.to_numpy()), f"column {column!r} is empty", name, column)
    frame = pd.DataFrame({
        "example": label_keys(table[example_col]),
        "labeler": label_keys(table[labeler_col]).str.strip(),
        "label": table[label_col].astype(object).map(plain),
    })  # fmt: skip
    plain_value = frame["label"].map(lambda v: isinstance(v, str | int | float | bool))
    _refuse(np.flatnonzero(~plain_value.to_numpy()), "the label is not a plain value (text, "
            "number or boolean)", name, label_col)  # fmt: skip
    for what, column in (("example id", "example"), ("labeler", "labeler")):
        too_long = frame[column].str.len() > MAX_ID_CHARS
        _refuse(np.flatnonzero(too_long.to_numpy()), f"the {what} is over {MAX_ID_CHARS} "
                "characters", name, column)  # fmt: skip
    frame["key"] = label_keys(frame["label"])
    repeated = frame[frame.duplicated(["example", "labeler"], keep=False)]
    if len(repeated):
        kinds = repeated.groupby(["example", "labeler"], sort=False)["key"].transform("nunique")
        clash = repeated[kinds > 1]
        if len(clash):
            e, who = clash["example"].iloc[0], clash["labeler"].iloc[0]
            both = clash[(clash["example"] == e) & (clash["labeler"] == who)]
            shown = ", ".join(f"{k!r} in row {i + 1}" for i, k in both["key"].items())
            raise InvalidInput(
                f"{name}: {who!r} gave example {e!r} different labels ({shown}); keep one",
                field=label_col,
            )
    return frame.drop_duplicates(["example", "labeler"], keep="first")


def _refuse(bad: np.ndarray, problem: str, name: str, field: str) -> None:
    if len(bad):
        rows = ", ".join(str(i + 1) for i in bad[:SHOWN])
        raise InvalidInput(
            f"{name}: {problem} in {len(bad)} row(s) (rows {rows}{more(bad)}, counting from 1 "
            "after the header); fix or remove them",
            field=field,
        )


def _store_labels(
    store: Store,
    info: DatasetVersionInfo,
    rows: pd.DataFrame,
    *,
    source: str,
    details: dict[str, Any],
) -> ImportResult:
    with store.session() as s:
        stored = read_annotations(s, info.name, source=source)
        stored = stored.drop_duplicates(["example", "labeler"], keep="last")
        pairs = zip(stored["example"].to_numpy(), stored["labeler"].to_numpy(), strict=True)
        latest = dict(zip(pairs, label_keys(stored["label"]).to_numpy(), strict=True))
        new, changed = [], 0
        now = utcnow()
        columns = [rows[c].to_numpy(dtype=object) for c in ("example", "labeler", "label", "key")]
        for example, who, label, key in zip(*columns, strict=True):
            before = latest.get((example, who))
            if before == key:
                continue
            changed += before is not None
            new.append(
                dict(dataset=info.name, example_id=example, labeler=who, label=label,
                     source=source, time=now, details=details)
            )  # fmt: skip
        if new:
            s.connection().execute(Annotation.__table__.insert(), new)
    return ImportResult(
        dataset=info.name,
        checked_against=info.ref,
        added=len(new) - changed,
        changed=changed,
        unchanged=len(rows["example"]) - len(new),
        examples=len(set(rows["example"])),
        labelers=sorted(set(rows["labeler"])),
    )
