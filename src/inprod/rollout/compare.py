"""Comparing a candidate version with the primary on the endpoint's own traffic.

A shadow answers a copy of every request, so its rows pair one to one with the primary's (the
shadow row's ``primary_id``): agreement between the two is exact, and a label given on the
primary prediction judges both answers. A canary answers a share of requests on its own, so its
rows do not pair: each version is summarised over the same window instead.

Reads the raw log; a rollout's window is one endpoint for minutes to days, which stays small.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from ..errors import InvalidInput
from ..monitoring.feedback_metrics import same_label
from ..store import Store, get_store
from ..store.tables import Feedback, Prediction
from .actions import get_plan

CANDIDATE_ROLES = ("shadow", "canary")


@dataclass(frozen=True)
class SideStats:
    """One version in one role over the compared rows. ``accuracy`` is over ``labelled`` rows
    (None without labels); latencies are over answered (``ok``) rows, in milliseconds."""

    ref: str
    role: str
    n: int
    errors: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    labelled: int
    accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """``mode`` is ``shadow`` (paired answers, with agreement) or ``canary`` (per version).

    For a shadow, ``pairs`` counts shadow answers whose primary answer is logged and both
    answered; ``agreement`` is the share of those pairs with the same output (None when none).
    """

    endpoint: str
    candidate: str
    mode: str
    since: str | None
    sides: list[SideStats] = field(default_factory=list)
    pairs: int = 0
    agreements: int = 0
    agreement: float | None = None

    @property
    def disagreements(self) -> int:
        return self.pairs - self.agreements

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "candidate": self.candidate,
            "mode": self.mode,
            "since": self.since,
            "pairs": self.pairs,
            "agreements": self.agreements,
            "disagreements": self.disagreements,
            "agreement": self.agreement,
            "sides": [s.to_dict() for s in self.sides],
        }


def compare(
    endpoint: str,
    *,
    model: str | None = None,
    since: datetime | None = None,
    store: Store | None = None,
) -> Comparison:
    """Compare ``model`` (a reference; default: the plan's candidate, else the latest shadow or
    canary version in the log) with the primary over ``since`` .. now.

    Raises NotFound for an unknown endpoint or model, InvalidInput when nothing was logged.
    """
    store = get_store(store)
    plan = get_plan(endpoint, store=store)
    if since is not None and since.tzinfo is None:
        raise InvalidInput(f"since {since!r} must carry a time zone (UTC)", field="since")
    name, version = _candidate_version(endpoint, model, plan, store)
    ref = f"{name}@{version}"
    with store.session(write=False) as s:
        cand_where = and_(
            Prediction.endpoint == endpoint,
            Prediction.model_name == name,
            Prediction.model_version == version,
            Prediction.role.in_(CANDIDATE_ROLES),
            *([] if since is None else [Prediction.time >= since]),
        )
        latest = s.execute(
            select(Prediction.role, Prediction.time)
            .where(cand_where)
            .order_by(Prediction.time.desc())
            .limit(1)
        ).first()
        if latest is None:
            when = "" if since is None else f" since {since.isoformat()}"
            cand = plan.candidate
            hint = (
                f"it is deployed as {cand.role}: send requests to {endpoint!r} and compare again"
                if cand is not None and cand.ref == ref
                else f"deploy one with 'inprod deploy {endpoint} --shadow MODEL@VERSION'"
            )
            raise InvalidInput(
                f"no shadow or canary predictions of {ref} logged for {endpoint!r}{when} yet; "
                f"{hint}",
                field="model",
            )
        if latest.role == "shadow":
            return _compare_shadow(s, endpoint, ref, cand_where, since)
        cand = plan.candidate
        start = since
        if start is None and cand is not None and cand.ref == ref and cand.started_at:
            start = datetime.fromisoformat(cand.started_at)
        if start is None:
            start = s.scalar(
                select(Prediction.time)
                .where(cand_where, Prediction.role == "canary")
                .order_by(Prediction.time)
                .limit(1)
            )
        return _compare_canary(s, endpoint, name, version, start)


def _candidate_version(endpoint: str, model: str | None, plan: Any, store: Store) -> tuple:
    if model is not None:
        from ..registry import models

        info = models.get(model, store=store)
        return info.name, info.version
    if plan.candidate is not None and plan.candidate.role in CANDIDATE_ROLES:
        return plan.candidate.model_name, plan.candidate.version
    with store.session(write=False) as s:
        row = s.execute(
            select(Prediction.model_name, Prediction.model_version)
            .where(Prediction.endpoint == endpoint, Prediction.role.in_(CANDIDATE_ROLES))
            .order_by(Prediction.time.desc())
            .limit(1)
        ).first()
    if row is None:
        raise InvalidInput(
            f"no shadow or canary predictions logged for {endpoint!r} yet; "
            f"deploy one with 'inprod deploy {endpoint} --shadow MODEL@VERSION'",
            field="model",
        )
    return row.model_name, row.model_version


def _compare_shadow(
    s: Any, endpoint: str, ref: str, cand_where: Any, since: datetime | None
) -> Comparison:
    primary = aliased(Prediction)
    shadow_where = and_(cand_where, Prediction.role == "shadow")
    rows = s.execute(
        select(
            Prediction.primary_id,
            Prediction.outputs,
            Prediction.status,
            Prediction.latency_ms,
            primary.model_name,
            primary.model_version,
            primary.outputs,
            primary.status,
            primary.latency_ms,
        )
        .outerjoin(primary, primary.id == Prediction.primary_id)
        .where(shadow_where)
    ).all()
    labels = _latest_labels(
        s.execute(
            select(Feedback.prediction_id, Feedback.label)
            .join(Prediction, Feedback.prediction_id == Prediction.primary_id)
            .where(shadow_where)
            .order_by(Feedback.id)
        )
    )
    shadow_rows: list[tuple[Any, str, float, Any]] = []
    primary_rows: dict[str, list[tuple[Any, str, float, Any]]] = {}
    pairs = agreements = 0
    for pid, out, status, latency, p_name, p_version, p_out, p_status, p_latency in rows:
        label = labels.get(pid, _NO_LABEL)
        shadow_rows.append((out, status, latency, label))
        if p_name is None:
            continue  # the primary's answer is not logged (yet)
        primary_rows.setdefault(f"{p_name}@{p_version}", []).append(
            (p_out, p_status, p_latency, label)
        )
        if status == "ok" and p_status == "ok":
            pairs += 1
            agreements += _output(out) == _output(p_out)
    sides = [_side(r, "primary", v) for r, v in sorted(primary_rows.items())]
    sides.append(_side(ref, "shadow", shadow_rows))
    return Comparison(
        endpoint=endpoint,
        candidate=ref,
        mode="shadow",
        since=None if since is None else since.isoformat(),
        sides=sides,
        pairs=pairs,
        agreements=agreements,
        agreement=None if not pairs else agreements / pairs,
    )


def _compare_canary(
    s: Any, endpoint: str, name: str, version: int, start: datetime | None
) -> Comparison:
    where = and_(
        Prediction.endpoint == endpoint,
        *([] if start is None else [Prediction.time >= start]),
        or_(
            Prediction.role == "primary",
            and_(
                Prediction.role == "canary",
                Prediction.model_name == name,
                Prediction.model_version == version,
            ),
        ),
    )
    rows = s.execute(
        select(
            Prediction.id,
            Prediction.model_name,
            Prediction.model_version,
            Prediction.role,
            Prediction.outputs,
            Prediction.status,
            Prediction.latency_ms,
        ).where(where)
    ).all()
    labels = _latest_labels(
        s.execute(
            select(Feedback.prediction_id, Feedback.label)
            .join(Prediction, Feedback.prediction_id == Prediction.id)
            .where(where)
            .order_by(Feedback.id)
        )
    )
    groups: dict[tuple[str, str], list[tuple[Any, str, float, Any]]] = {}
    for pid, m_name, m_version, role, out, status, latency in rows:
        groups.setdefault((role, f"{m_name}@{m_version}"), []).append(
            (out, status, latency, labels.get(pid, _NO_LABEL))
        )
    # primary first, then the canary
    order = sorted(groups, key=lambda k: (k[0] != "primary", k[1]))
    return Comparison(
        endpoint=endpoint,
        candidate=f"{name}@{version}",
        mode="canary",
        since=None if start is None else start.isoformat(),
        sides=[_side(k[1], k[0], groups[k]) for k in order],
    )


_NO_LABEL = object()


def _latest_labels(rows: Iterable[Any]) -> dict[str, Any]:
    """prediction id -> its latest label; feedback that is only an event (no label) is skipped."""
    out: dict[str, Any] = {}
    for pid, label in rows:
        if label is not None:
            out[pid] = label
    return out


def _output(outputs: Any) -> str | None:
    if isinstance(outputs, dict):
        outputs = outputs.get("output")
    return None if outputs is None else str(outputs)


def _side(ref: str, role: str, rows: list[tuple[Any, str, float, Any]]) -> SideStats:
    n = len(rows)
    errors = sum(1 for _, status, _, _ in rows if status != "ok")
    latencies = np.asarray([lat for _, status, lat, _ in rows if status == "ok"], dtype=float)
    labelled = [(out, label) for out, _, _, label in rows if label is not _NO_LABEL]
    right = sum(1 for out, label in labelled if same_label(out, label))
    return SideStats(
        ref=ref,
        role=role,
        n=n,
        errors=errors,
        error_rate=None if not n else errors / n,
        latency_p50_ms=None if not latencies.size else float(np.percentile(latencies, 50)),
        latency_p99_ms=None if not latencies.size else float(np.percentile(latencies, 99)),
        labelled=len(labelled),
        accuracy=None if not labelled else right / len(labelled),
    )
