"""Reading the labels to count: a dataset version, its examples' ids, and the votes on them from
the annotations table or from the version's own labeler columns. Shared by agreement, consensus,
standardization and the label-issue finder, so every one of them matches examples the same way
(see :mod:`inprod.data.labels` for the rules)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, suggest
from ..store import Store
from ..store.tables import Annotation
from . import datasets
from .agreement import Votes, label_key, label_keys
from .versions import DatasetVersionInfo

if TYPE_CHECKING:
    from .taxonomy import Taxonomy

ID_COLUMN = "id"
SHOWN = 5  # bad rows or values named in one message


def load_version(dataset: str, store: Store) -> tuple[DatasetVersionInfo, pd.DataFrame]:
    info = datasets.get(dataset, store=store)
    return info, datasets.load(info.ref, store=store)


def example_ids(
    info: DatasetVersionInfo, frame: pd.DataFrame, id_column: str | None, *, required: bool = True
) -> tuple[str | None, list[str]]:
    """(the id column, each row's id as text); row numbers when there is none and not
    ``required`` (labeler columns: a row is its own example)."""
    column = id_column or info.image_column or (ID_COLUMN if ID_COLUMN in frame.columns else None)
    if column is None:
        if not required:
            return None, [str(i) for i in range(len(frame))]
        raise InvalidInput(
            f"{info.ref} has no id column to match labels with its examples; name the column "
            "that identifies an example with --id-column (id_column=...), or add an 'id' column",
            field="id_column",
        )
    require_column(frame, column, f"id column {column!r}", info.ref)
    ids = label_keys(frame[column])
    problem = "is empty in some rows" if frame[column].isna().any() else None
    duplicated = ids[ids.duplicated()]
    if problem is None and len(duplicated):
        problem = f"repeats {duplicated.iloc[0]!r}"
    if problem:
        raise InvalidInput(
            f"id column {column!r} of {info.ref} {problem}; an id must name one example",
            field="id_column",
        )
    return column, ids.tolist()


def load_votes(
    store: Store,
    info: DatasetVersionInfo,
    frame: pd.DataFrame,
    labeler_columns: Sequence[str] | None,
    id_column: str | None,
    taxonomy: Taxonomy | None,
) -> tuple[Votes, int]:
    """The labels to count, and how many annotations name examples this version lacks."""
    unmatched = 0
    if labeler_columns:
        for column in labeler_columns:
            require_column(frame, column, f"labeler column {column!r}", info.ref)
        _, ids = example_ids(info, frame, id_column, required=False)
        votes = Votes.from_columns(frame, list(labeler_columns), example_ids=ids)
    else:
        _, ids = example_ids(info, frame, id_column)
        with store.session(write=False) as s:
            stored = read_annotations(s, info.name)
        if not len(stored):
            others = info.label_columns[1:]
            hint = (
                f" or count the label columns with --labeler-columns {','.join(others)}"
                if len(others) >= 2
                else ""
            )
            raise InvalidInput(
                f"no labels are stored for {info.name}; import them with 'inprod labels import "
                f"{info.name} FILE --example-col ... --labeler-col ... --label-col ...'{hint}",
                field="dataset",
            )
        rows = pd.Index(ids).get_indexer(pd.Index(stored["example"]))
        found = rows >= 0
        unmatched = int((~found).sum())
        stored = stored[found]
        votes = Votes.from_rows(rows[found], stored["labeler"], stored["label"], example_ids=ids)
    if taxonomy is not None:
        known = {label_key(c): taxonomy.standard(c) for c in votes.classes}
        votes = votes.mapped({k: v for k, v in known.items() if v is not None})
    return votes, unmatched


def read_annotations(s: Session, dataset: str, *, source: str | None = None) -> pd.DataFrame:
    """Every annotation of ``dataset`` (optionally of one source), oldest first, as columns
    example, labeler, label. Read without the ORM and with the label's JSON decoded once per
    distinct value: a million rows hold a handful (benchmarks/data/README.md)."""
    query = select(Annotation.example_id, Annotation.labeler, cast(Annotation.label, Text)).where(
        Annotation.dataset == dataset, Annotation.label.is_not(None)
    )
    if source is not None:
        query = query.where(Annotation.source == source)
    result = s.connection().execute(query.order_by(Annotation.id))
    rows = result.cursor.fetchall()  # plain tuples: every column is text, nothing to convert
    result.close()
    table = np.array(rows, dtype=object).reshape(-1, 3)
    codes, uniques = pd.factorize(pd.Series(table[:, 2], dtype=object))
    decoded = np.empty(len(uniques), dtype=object)
    decoded[:] = [json.loads(text) for text in uniques]
    return pd.DataFrame(
        {"example": pd.Series(table[:, 0], dtype=object),
         "labeler": pd.Series(table[:, 1], dtype=object), "label": decoded[codes]}
    )  # fmt: skip


def fit_column(values: list[Any], like: pd.Series | None, column: str) -> pd.Series:
    """New label values in the type of the column they replace (numbers stay numbers)."""
    series = pd.Series(values, dtype=object)
    if like is None:
        return series.infer_objects()
    if pd.api.types.is_bool_dtype(like.dtype):
        truth = {"true": True, "1": True, "false": False, "0": False}
        mapped = series.map(lambda v: truth.get(label_key(v).lower()))
        if mapped.isna().any():
            raise InvalidInput(
                f"label {series[mapped.isna()].iloc[0]!r} does not fit the boolean column "
                f"{column!r}",
                field="label_column",
            )
        return mapped.astype(bool)
    if pd.api.types.is_numeric_dtype(like.dtype):
        try:
            numbers = pd.to_numeric(series)
        except (ValueError, TypeError):
            raise InvalidInput(
                f"a new label does not fit the numeric column {column!r}; make the labels "
                "numbers or use a text label column",
                field="label_column",
            ) from None
        whole = pd.api.types.is_integer_dtype(like.dtype) and numbers.notna().all()
        return numbers.astype("int64") if whole and (numbers % 1 == 0).all() else numbers
    return series.map(lambda v: v if v is None or pd.isna(v) else label_key(v))


def require_column(frame: pd.DataFrame, column: str, what: str, where: str) -> None:
    if column not in frame.columns:
        known = suggest(column, map(str, frame.columns), what="columns")
        raise InvalidInput(f"{what} is not a column of {where}; {known}", field=column)


def more(items: Sequence[Any]) -> str:
    """ " and N more" after the first SHOWN of ``items`` in a message."""
    return f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
