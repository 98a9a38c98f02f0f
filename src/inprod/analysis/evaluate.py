"""The evaluation gate: may this candidate replace the champion? Both answer every row of one
dataset version; the candidate must meet every requirement overall and in every slice.

::

    result = evaluate("phone-inspector@5", against="champion", dataset="phone-images@3",
                      require=["accuracy>=champion"],
                      require_slices=["accuracy>=champion-0.01"])
    result.passed        # False when any requirement failed
    result.checks        # one line per requirement (and per slice for require_slices)

A requirement is ``METRIC OP LIMIT`` as a deployment gate is written (:mod:`inprod.rollout.gates`):
``accuracy>=0.9``, ``recall.scratch>=champion``, ``accuracy>=champion-0.01``,
``macro_f1>=champion*0.98``. Metrics: accuracy, macro_f1, precision.CLASS, recall.CLASS,
f1.CLASS. ``require`` is judged on all rows, ``require_slices`` on each slice (tags; by default
every value of the dataset's metadata columns with few values). A slice with fewer than
``min_slice`` labelled rows is listed but not judged (``skip``): its accuracy is noise.

The result is recorded on the candidate version: its tags get ``evaluation`` (passed/failed),
``evaluation.dataset``, ``evaluation.against`` and ``evaluation.time`` — what deployment and
retraining read — and the whole result (every check and slice) is kept as a ``model.evaluated``
audit event (:func:`evaluations` reads them back). The artifact itself never changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data._progress import ProgressFn
from ..data.slices import auto_tags, tag_masks
from ..errors import InvalidInput, NotFound
from ..provenance import current_user
from ..refs import parse_ref
from ..rollout.gates import Gate
from ..store import Store, get_store
from ..store.tables import AuditEvent, ModelVersion, utcnow
from . import _metrics
from .model_inputs import FeaturesFn, load_rows, predict_dataset

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AUDIT_KIND",
    "DEFAULT_MIN_SLICE",
    "Check",
    "Evaluation",
    "SliceResult",
    "evaluate",
    "evaluations",
    "parse_requirement",
]

DEFAULT_MIN_SLICE = 30
DEFAULT_REQUIRE = ("accuracy>=champion",)
AUDIT_KIND = "model.evaluated"
TAG = "evaluation"
OVERALL = "all"
_REQUIREMENT = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w.\-]*?)\s*(?P<op><=|>=|<|>)\s*"
    r"(?:(?P<champion>champion)\s*(?:(?P<rel>[-+*])\s*(?P<delta>[0-9.eE+-]+))?"
    r"|(?P<value>[-+]?[0-9.eE+-]+))\s*$"
)


@dataclass(frozen=True)
class Check:
    """One requirement judged in one scope (``all`` or a slice). ``status``: pass, fail, or
    skip (too few rows, or the champion's value is undefined there)."""

    requirement: str
    scope: str
    metric: str
    value: float | None
    champion: float | None
    limit: float | None
    count: int
    status: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SliceResult:
    """Both models' metrics on one slice's labelled rows."""

    tag: str
    count: int
    candidate: dict[str, float | None]
    champion: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    candidate: str
    against: str | None
    dataset: str
    label_col: str
    passed: bool
    rows: int
    overall: SliceResult
    slices: list[SliceResult]
    checks: list[Check]
    evaluated_at: datetime
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "against": self.against,
            "dataset": self.dataset,
            "label_col": self.label_col,
            "passed": self.passed,
            "rows": self.rows,
            "overall": self.overall.to_dict(),
            "slices": [s.to_dict() for s in self.slices],
            "checks": [c.to_dict() for c in self.checks],
            "evaluated_at": self.evaluated_at.isoformat(),
            "notes": list(self.notes),
        }


def parse_requirement(text: str) -> Gate:
    """``METRIC OP LIMIT`` (LIMIT a number or champion[-+*]NUMBER) as a :class:`Gate`."""
    match = _REQUIREMENT.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"requirement {text!r} is not METRIC OP LIMIT, e.g. 'accuracy>=champion', "
            "'accuracy>=champion-0.01' or 'recall.scratch>=0.9'",
            field="require",
        )
    metric = _metrics.check_metric(match.group("metric"))
    try:
        if match.group("champion"):
            rel = match.group("rel")
            delta = float(match.group("delta")) if rel else 0.0
            return Gate(text.strip(), metric, match.group("op"), delta, rel or "=")
        return Gate(text.strip(), metric, match.group("op"), float(match.group("value")))
    except ValueError:
        raise InvalidInput(f"requirement {text!r}: the limit is not a number") from None


def evaluate(
    candidate: str,
    *,
    dataset: str,
    against: str | None = "champion",
    require: Sequence[str] = (),
    require_slices: Sequence[str] = (),
    tags: Sequence[str] = (),
    tag_columns: Sequence[str] = (),
    label_col: str | None = None,
    label_map: Mapping[Any, Any] | None = None,
    features: str | FeaturesFn | None = None,
    min_slice: int = DEFAULT_MIN_SLICE,
    record: bool = True,
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> Evaluation:
    """Compare ``candidate`` with ``against`` on ``dataset`` and judge the requirements.

    ``against`` is an alias of the candidate's model (``champion``), another model ref, or None
    (absolute requirements only). With no requirement at all and a champion,
    ``accuracy>=champion`` is required. ``label_col`` defaults to the dataset's first label
    column; ``label_map`` translates the models' answers to label values (``{0: "ok",
    1: "scratch"}`` for a model trained on 0/1). Raises InvalidInput / NotFound for anything
    wrong before judging, so the caller (CI) can tell "refused" from "failed".
    """
    from ..registry import models

    store = get_store(store)
    overall_gates = [parse_requirement(r) for r in require]
    slice_gates = [parse_requirement(r) for r in require_slices]
    if against is not None and not (overall_gates or slice_gates):
        overall_gates = [parse_requirement(r) for r in DEFAULT_REQUIRE]
    if against is None and any(g.relative for g in [*overall_gates, *slice_gates]):
        raise InvalidInput(
            "a requirement compares with the champion but there is nothing to compare with; "
            "give against= (e.g. 'champion') or absolute limits like 'accuracy>=0.9'",
            field="against",
        )
    if min_slice < 1:
        raise InvalidInput(f"min_slice {min_slice!r} must be at least 1", field="min_slice")
    cand = models.get(candidate, store=store)
    champ = None if against is None else models.get(_against_ref(cand.name, against), store=store)
    rows = load_rows(dataset, store=store)
    labels = _labels(rows.frame, rows.info, label_col)
    answers = {
        side: _mapped(
            predict_dataset(info.ref, rows, features=features, progress=progress, store=store),
            label_map,
        )
        for side, info in (("candidate", cand), ("champion", champ))
        if info is not None
    }
    coded = _code(labels, answers, cand.ref)
    for gate in [*overall_gates, *slice_gates]:
        _metrics.check_metric(gate.metric, coded.classes)
    if not (tags or tag_columns):
        tags = auto_tags(rows.frame, rows.info.metadata_columns)
    masks = tag_masks(rows.frame, tags, tag_columns=tag_columns)
    overall_metrics = _names(["accuracy"], overall_gates)
    slice_metrics = _names(["accuracy"], slice_gates)
    everything = np.ones(len(labels), dtype=bool)
    overall = _slice_result(OVERALL, everything, overall_metrics, coded)
    slices = [_slice_result(t, m, slice_metrics, coded) for t, m in masks.items()]
    checks = [_check(g, overall, 1) for g in overall_gates]
    checks += [_check(g, s, min_slice) for g in slice_gates for s in slices]
    result = Evaluation(
        candidate=cand.ref,
        against=None if champ is None else champ.ref,
        dataset=rows.info.ref,
        label_col=labels.name,
        passed=not any(c.status == "fail" for c in checks),
        rows=len(labels),
        overall=overall,
        slices=slices,
        checks=checks,
        evaluated_at=utcnow(),
        notes=[] if checks else ["nothing was required; the gate passes by default"],
    )
    if record:
        _record(result, cand.id, cand.name, cand.version, store)
    return result


def evaluations(ref: str, *, store: Store | None = None) -> list[dict[str, Any]]:
    """Every recorded evaluation of the version ``ref`` names, newest first (``to_dict`` form)."""
    from sqlalchemy import select

    from ..registry import models

    store = get_store(store)
    info = models.get(ref, store=store)
    with store.session(write=False) as s:
        events = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject == f"model:{info.name}", AuditEvent.kind == AUDIT_KIND)
            .order_by(AuditEvent.id.desc())
        ).all()
        return [dict(e.details) for e in events if e.details.get("candidate") == info.ref]


def _against_ref(name: str, against: str) -> str:
    """``champion`` → ``NAME@champion``; a full ref (``other@3``) as given."""
    if "@" in against:
        parse_ref(against, what="--against")
        return against
    return f"{name}@{against}"


def _labels(frame: pd.DataFrame, info: Any, label_col: str | None) -> pd.Series:
    if label_col is None:
        if not info.label_columns:
            raise InvalidInput(
                f"{info.ref} declares no label column; name one with label_col (--label-col)",
                field="label_col",
            )
        label_col = info.label_columns[0]
    if label_col not in frame.columns:
        raise NotFound(
            f"{info.ref} has no column {label_col!r}; its label columns are "
            f"{', '.join(info.label_columns) or 'none'}",
            field="label_col",
        )
    return frame[label_col].rename(label_col)


def _mapped(answers: np.ndarray, label_map: Mapping[Any, Any] | None) -> np.ndarray:
    """Answers translated to label values (keys compared as text: 1, 1.0 and "1" are one key)."""
    import pandas as pd

    if not label_map:
        return answers
    mapping = {_metrics.as_text(k): v for k, v in label_map.items()}
    codes, uniques = pd.factorize(pd.Series(answers), use_na_sentinel=True)
    translated = [mapping.get(_metrics.as_text(u), u) for u in uniques]
    return np.array([*translated, None], dtype=object)[codes]


def _code(labels: pd.Series, answers: dict[str, np.ndarray], ref: str) -> _metrics.Coded:
    import pandas as pd

    series = [labels, *(pd.Series(a, name=k) for k, a in answers.items())]
    coded = _metrics.encode(*series)
    label, cand = coded.codes[0], coded.codes[1]
    if not np.isin(cand[cand != _metrics.MISSING], label[label != _metrics.MISSING]).any():
        said = sorted({str(coded.classes[c]) for c in np.unique(cand) if c >= 0})[:6]
        known = sorted({str(coded.classes[c]) for c in np.unique(label) if c >= 0})[:6]
        example = ",".join(f"{a}={b}" for a, b in zip(said, known, strict=False))
        raise InvalidInput(
            f"model {ref} never answers a label of {labels.name!r}: it says {', '.join(said)}; "
            f"the labels are {', '.join(known)}; translate its answers with a label map, e.g. "
            f"--label-map {example}",
            field="label_map",
        )
    return coded


def _names(first: list[str], gates: Sequence[Gate]) -> list[str]:
    return list(dict.fromkeys([*first, *(g.metric for g in gates)]))


def _slice_result(
    tag: str, mask: np.ndarray, metrics: list[str], coded: _metrics.Coded
) -> SliceResult:
    label = coded.codes[0]
    sides = {}
    for side, codes in zip(("candidate", "champion"), coded.codes[1:], strict=False):
        sides[side] = {m: _metrics.metric_value(m, label, codes, coded, mask)[0] for m in metrics}
    count = int(np.count_nonzero(mask & (label != _metrics.MISSING)))
    return SliceResult(tag, count, sides["candidate"], sides.get("champion", {}))


def _check(gate: Gate, where: SliceResult, min_rows: int) -> Check:
    value = where.candidate.get(gate.metric)
    champion = where.champion.get(gate.metric)
    limit = gate.limit(champion)
    status, note = "pass", ""
    if where.count < min_rows:
        status, note = "skip", f"{where.count} labelled rows (< {min_rows}): not judged"
    elif limit is None:
        status, note = "skip", f"the champion's {gate.metric} is undefined here"
    elif value is None:
        status, note = "fail", f"the candidate's {gate.metric} is undefined here"
    elif not gate.holds(value, limit):
        status = "fail"
    return Check(
        gate.text, where.tag, gate.metric, value, champion, limit, where.count, status, note
    )


def _record(result: Evaluation, version_id: int, name: str, version: int, store: Store) -> None:
    with store.session() as s:
        row = s.get(ModelVersion, version_id)
        if row is None:
            raise NotFound(f"model {result.candidate} was deleted while it was evaluated")
        row.tags = {
            **(row.tags or {}),
            TAG: "passed" if result.passed else "failed",
            f"{TAG}.dataset": result.dataset,
            f"{TAG}.against": result.against or "",
            f"{TAG}.time": result.evaluated_at.isoformat(),
        }
        s.add(
            AuditEvent(
                actor=current_user(),
                kind=AUDIT_KIND,
                subject=f"model:{name}",
                details={"version": version, **result.to_dict()},
            )
        )
