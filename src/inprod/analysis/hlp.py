"""Human-level performance (HLP) per slice, and the other baselines error analysis compares with.

HLP is how well people do the task, measured like the model: how often a labeler's label
agrees with a reference, overall and per tag. The reference is

* a **ground-truth column** (``truth=``): every labeler is scored against it;
* otherwise the **majority of the other labelers**, one labeler held out at a time (or only
  ``holdout=``): rows where the others tie or say nothing are not judged.

A slice's HLP pools the labelers: judged labels that agree / judged labels. Labels come from
columns of a table (``inspector-1``…) or from the ``annotations`` table (one label per example
per labeler, joined to the dataset's rows on ``example_col``).

Where HLP does not fit (structured data, no second labeler) another baseline plays its role, as
a column next to the labels: a previous model version's answers (:func:`model_baseline`), an
older system's column, or a simple model's out-of-fold answers (:func:`simple_baseline`). Any of
them is the ``--hlp-col`` of ``inprod analyze errors`` and is reported here with ``others``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.slices import TagFunction, auto_tags, tag_masks
from ..errors import InvalidInput, suggest
from ..store import Store, get_store
from . import _metrics
from .model_inputs import FeaturesFn

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HLPReport",
    "HLPSlice",
    "annotation_table",
    "dataset_hlp",
    "human_level",
    "majority_of_others",
    "model_baseline",
    "simple_baseline",
]

ALL = "all"
DEFAULT_FOLDS = 5
ID_COLUMN = "id"


@dataclass(frozen=True)
class HLPSlice:
    """One tag: each labeler's (and other baseline's) agreement with the reference, and the
    pooled HLP over the labelers. ``judged`` counts the rows each was scored on."""

    tag: str
    count: int
    agreement: dict[str, float | None]
    judged: dict[str, int]
    hlp: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HLPReport:
    reference: str
    labelers: list[str]
    others: list[str]
    slices: list[HLPSlice]
    dataset: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def hlp(self) -> float | None:
        return self.slices[0].hlp

    def slice(self, tag: str) -> HLPSlice:
        for s in self.slices:
            if s.tag == tag:
                return s
        known = [s.tag for s in self.slices]
        raise InvalidInput(f"no slice {tag!r}; {suggest(tag, known, what='slices')}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "reference": self.reference,
            "labelers": self.labelers,
            "others": self.others,
            "hlp": self.hlp,
            "slices": [s.to_dict() for s in self.slices],
            "notes": list(self.notes),
        }


def human_level(
    frame: pd.DataFrame,
    *,
    labelers: Sequence[str],
    truth: str | None = None,
    holdout: str | None = None,
    others: Sequence[str] = (),
    tags: Sequence[str] = (),
    tag_columns: Sequence[str] = (),
    functions: Mapping[str, TagFunction] | None = None,
    dataset: str | None = None,
) -> HLPReport:
    """HLP of ``labelers`` (columns of ``frame``) per tag; ``others`` are baseline columns
    (a model's answers, an older system) scored against the same reference but not pooled.

    With no tags named, columns with few values that are not labels are sliced. Raises
    InvalidInput for missing columns, or when there is no reference to score against.
    """
    labelers = list(dict.fromkeys(labelers))
    others = [o for o in dict.fromkeys(others) if o not in labelers]
    scored = _check_roles(frame, labelers, truth, holdout, others)
    if not (tags or tag_columns or functions):
        used = {*labelers, *others, *([truth] if truth else [])}
        tags = auto_tags(frame, [c for c in frame.columns if c not in used])
    masks = tag_masks(frame, tags, tag_columns=tag_columns, functions=functions)
    columns = [*labelers, *others] + ([truth] if truth else [])
    coded = _metrics.encode(*(frame[c] for c in columns))
    codes = dict(zip(columns, coded.codes, strict=True))
    if truth is not None:
        references = dict.fromkeys([*scored, *others], codes[truth])
        reference = f"ground truth column {truth!r}"
    else:
        votes = np.stack([codes[c] for c in labelers], axis=1)
        references = {c: _leave_one_out(votes, labelers.index(c), coded.k) for c in scored}
        others_ref = _leave_one_out(votes, None, coded.k)
        references.update(dict.fromkeys(others, others_ref))
        reference = "majority of the other labelers"
    everything = np.ones(len(frame), dtype=bool)
    names = [ALL, *masks]
    mask_list = [everything, *masks.values()]
    judged: dict[str, np.ndarray] = {}
    hits: dict[str, np.ndarray] = {}
    for column in [*scored, *others]:
        judged[column], hits[column] = _metrics.correct_counts(
            references[column], codes[column], mask_list, answered_only=True
        )
    slices = []
    for i, name in enumerate(names):
        pooled_n = sum(int(judged[c][i]) for c in scored)
        pooled_hits = sum(int(hits[c][i]) for c in scored)
        slices.append(
            HLPSlice(
                tag=name,
                count=int(np.count_nonzero(mask_list[i])),
                agreement={c: _metrics.ratio(int(hits[c][i]), int(judged[c][i])) for c in judged},
                judged={c: int(judged[c][i]) for c in judged},
                hlp=_metrics.ratio(pooled_hits, pooled_n),
            )
        )
    notes = [f"{s.tag}: no label could be judged there" for s in slices if s.hlp is None]
    return HLPReport(reference, scored, others, slices, dataset=dataset, notes=notes)


def majority_of_others(
    frame: pd.DataFrame, labelers: Sequence[str], *, holdout: str | None = None
) -> pd.Series:
    """Per row, the label most of ``labelers`` (except ``holdout``) gave; missing on a tie.

    Use it as the reference (``label``) column when there is no ground truth, with the held-out
    labeler's column as the HLP baseline.
    """
    import pandas as pd

    labelers = list(labelers)
    _check_roles(frame, labelers, None, holdout, [])
    coded = _metrics.encode(*(frame[c] for c in labelers))
    votes = np.stack(coded.codes, axis=1)
    skip = None if holdout is None else labelers.index(holdout)
    majority = _leave_one_out(votes, skip, coded.k)
    classes = np.asarray([*coded.classes, None], dtype=object)
    return pd.Series(classes[majority], index=frame.index, name="majority")


def dataset_hlp(
    ref: str,
    *,
    labelers: Sequence[str] | None = None,
    truth: str | None = None,
    holdout: str | None = None,
    annotations: bool = False,
    example_col: str | None = None,
    baseline_models: Sequence[str] = (),
    baseline_cols: Sequence[str] = (),
    features: str | FeaturesFn | None = None,
    tags: Sequence[str] = (),
    tag_columns: Sequence[str] = (),
    store: Store | None = None,
) -> HLPReport:
    """HLP per slice of a dataset version.

    Labelers are ``labelers`` columns, or by default the dataset's label columns other than
    ``truth``; with ``annotations=True`` they are the annotations stored for the dataset, joined
    on ``example_col`` (default: the image column of an image dataset, else a column named
    ``id``, else the row number).
    ``baseline_models`` (model refs) answer on the dataset and are reported as baselines, like
    ``baseline_cols``. With no tags, the metadata columns are sliced.
    """
    from ..data import datasets
    from .model_inputs import load_rows, predict_dataset

    store = get_store(store)
    info = datasets.get(ref, store=store)
    rows = load_rows(info.ref, store=store) if baseline_models else None
    frame = rows.frame if rows is not None else datasets.load(info.ref, store=store)
    notes: list[str] = []
    if annotations:
        frame, found, unmatched = _join_annotations(frame, info, example_col, truth, store)
        labelers = list(labelers) if labelers else found
        if unmatched:
            notes.append(f"{unmatched} annotated example(s) match no row of {info.ref}")
    elif not labelers:
        labelers = [c for c in info.label_columns if c != truth]
    frame = frame.copy()
    for model_ref in baseline_models:
        assert rows is not None
        frame[model_ref] = predict_dataset(model_ref, rows, features=features, store=store)
    if not (tags or tag_columns):
        tags = auto_tags(frame, info.metadata_columns)
    report = human_level(
        frame,
        labelers=labelers,
        truth=truth,
        holdout=holdout,
        others=[*baseline_cols, *baseline_models],
        tags=tags,
        tag_columns=tag_columns,
        dataset=info.ref,
    )
    report.notes[:0] = notes
    return report


def annotation_table(dataset: str, *, store: Store | None = None) -> pd.DataFrame:
    """The annotations of ``dataset`` (its name) as one row per example and one column per
    labeler; a labeler who labelled an example twice counts with the later label."""
    import pandas as pd
    from sqlalchemy import select

    from ..store.tables import Annotation

    store = get_store(store)
    with store.session(write=False) as s:
        found = s.execute(
            select(Annotation.example_id, Annotation.labeler, Annotation.label)
            .where(Annotation.dataset == dataset)
            .order_by(Annotation.id)
        ).all()
    if not found:
        raise InvalidInput(
            f"dataset {dataset!r} has no annotations; import some with 'inprod labels import'",
            field="dataset",
        )
    long = pd.DataFrame(found, columns=["example_id", "labeler", "label"])
    long["label"] = long["label"].map(_label_text)
    latest = long.drop_duplicates(["example_id", "labeler"], keep="last")
    wide = latest.pivot(index="example_id", columns="labeler", values="label")
    wide.columns = [str(c) for c in wide.columns]
    return wide


def model_baseline(
    model_ref: str,
    dataset_ref: str,
    *,
    features: str | FeaturesFn | None = None,
    store: Store | None = None,
) -> pd.Series:
    """A model version's answers on every row of a dataset version (e.g. the previous champion),
    to put next to the labels as a baseline column."""
    import pandas as pd

    from .model_inputs import load_rows, predict_dataset

    rows = load_rows(dataset_ref, store=store)
    answers = predict_dataset(model_ref, rows, features=features, store=store)
    return pd.Series(answers, index=rows.frame.index, name=model_ref)


def simple_baseline(
    frame: pd.DataFrame,
    *,
    label_col: str,
    feature_cols: Sequence[str] = (),
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> pd.Series:
    """Out-of-fold answers of a simple model: logistic regression on ``feature_cols`` (numbers
    scaled, text one-hot), or the most frequent label with no features. Rows without a label
    get none. A baseline any new model should clearly beat."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    _check_columns(frame, [label_col, *feature_cols])
    labelled = frame[label_col].notna().to_numpy()
    if labelled.sum() < folds:
        raise InvalidInput(
            f"a simple baseline needs at least {folds} labelled rows; {label_col!r} has "
            f"{int(labelled.sum())}",
            field=label_col,
        )
    y = frame.loc[labelled, label_col].astype(str).to_numpy()
    X = frame.loc[labelled, list(feature_cols)] if feature_cols else np.zeros((len(y), 1))
    if feature_cols:
        numeric = [c for c in feature_cols if pd.api.types.is_numeric_dtype(frame[c])]
        text = [c for c in feature_cols if c not in numeric]
        prepare = ColumnTransformer(
            [
                ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                ("text", OneHotEncoder(handle_unknown="ignore"), text),
            ]
        )
        if text:
            X = X.astype({c: str for c in text})
        model = make_pipeline(prepare, LogisticRegression(max_iter=1000))
    else:
        model = DummyClassifier(strategy="most_frequent")
    split = KFold(n_splits=folds, shuffle=True, random_state=seed)
    answers = cross_val_predict(model, X, y, cv=split)
    out = pd.Series(None, index=frame.index, dtype=object, name="simple_baseline")
    out[labelled] = answers
    return out


def _leave_one_out(votes: np.ndarray, skip: int | None, k: int) -> np.ndarray:
    """Per row, the code most columns of ``votes`` (except ``skip``) hold; MISSING on a tie or
    when none of them has a value."""
    n, k = votes.shape[0], max(k, 1)
    present = votes != _metrics.MISSING
    if skip is not None:
        present[:, skip] = False
    rows = np.broadcast_to(np.arange(n)[:, None], votes.shape)
    flat = rows[present] * k + votes[present]
    counts = np.bincount(flat, minlength=n * k).reshape(n, k)
    top = counts.max(axis=1)
    winners = (counts == top[:, None]).sum(axis=1)
    return np.where((top > 0) & (winners == 1), counts.argmax(axis=1), _metrics.MISSING)


def _check_roles(
    frame: pd.DataFrame,
    labelers: list[str],
    truth: str | None,
    holdout: str | None,
    others: Sequence[str],
) -> list[str]:
    """The labelers to score; refuses missing columns and setups with no reference."""
    _check_columns(frame, [*labelers, *others, *([truth] if truth else [])])
    if truth is not None and truth in labelers:
        raise InvalidInput(
            f"{truth!r} is the ground truth; it cannot also be a labeler", field="truth"
        )
    if holdout is not None and holdout not in labelers:
        raise InvalidInput(
            f"held-out labeler {holdout!r} is not one of the labelers ({', '.join(labelers)})",
            field="holdout",
        )
    if not labelers:
        raise InvalidInput("no labelers: name the label columns of each labeler", field="labelers")
    if truth is None and len(labelers) < 2:
        raise InvalidInput(
            f"one labeler ({labelers[0]!r}) and no ground truth: give a truth column, or at "
            "least two labelers so each can be compared with the others",
            field="labelers",
        )
    return [holdout] if holdout is not None else labelers


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        if column not in frame.columns:
            hint = suggest(column, map(str, frame.columns), what="columns")
            raise InvalidInput(f"no column {column!r}; {hint}", field=column)


def _join_annotations(
    frame: pd.DataFrame, info: Any, example_col: str | None, truth: str | None, store: Store
) -> tuple[pd.DataFrame, list[str], int]:
    """``frame`` with one column per annotating labeler (replacing a column of that name), the
    labelers, and how many annotated examples matched no row."""
    table = annotation_table(info.name, store=store)
    if example_col is None:  # as 'inprod labels' matches them
        example_col = info.image_column or (ID_COLUMN if ID_COLUMN in frame.columns else None)
    if example_col is None:
        keys = [str(i) for i in range(len(frame))]
    elif example_col not in frame.columns:
        hint = suggest(example_col, map(str, frame.columns), what="columns")
        raise InvalidInput(f"example column {example_col!r} is not in {info.ref}; {hint}")
    else:
        keys = [_metrics.as_text(v) for v in frame[example_col].tolist()]
    if truth in table.columns:
        raise InvalidInput(
            f"labeler {truth!r} of the annotations has the name of the truth column; name "
            "another truth column",
            field="truth",
        )
    # the annotations stand for the labelers they name: a column of the same name gives way
    replaced = frame.drop(columns=[c for c in table.columns if c in frame.columns])
    joined = replaced.assign(_example=keys).join(table, on="_example").drop(columns="_example")
    joined.index = frame.index
    unmatched = int((~table.index.isin(set(keys))).sum())
    return joined, list(table.columns), unmatched


def _label_text(value: Any) -> Any:
    """An annotation's JSON label as one comparable value (a dict's "label" if it has one)."""
    if isinstance(value, dict):
        return value.get("label", str(sorted(value.items())))
    if isinstance(value, list):
        return str(value)
    return value
