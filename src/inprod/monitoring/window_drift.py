"""Drift per window: each stream's traffic in each window against the endpoint's reference,
stored in ``drift_results`` with an explanation a person can read.

Windows are ``window_s`` long and aligned to multiples of it since the epoch (UTC), so the
same window has the same start however the span was asked; every aligned window that overlaps
[since, until) is tested, over the window profiles that start inside it. A stream is one model
version in one role (primary, canary, shadow, ...); each is compared with the same reference.
Windows without traffic give no result. Testing a window again replaces its stored result for
that reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from ..errors import InvalidInput
from ..store import Store, get_store
from ..store.tables import DriftResult, utcnow
from .drift import ColumnDrift, DriftReport
from .reference import reference_profile
from .sketch_drift import profile_drift
from .windows import WINDOW_S, read_profiles, window_start

DEFAULT_WINDOW_S = 3600
MAX_WINDOWS = 5000  # per call: a year of hours fits, a year of minutes does not
TINY_P = 1e-6  # p-values below this are written "p<1e-6"

__all__ = ["WindowDrift", "drift_windows", "explain"]


@dataclass(frozen=True)
class WindowDrift:
    """One stream's window tested against the reference (as stored in ``drift_results``)."""

    endpoint: str
    model_name: str
    model_version: int
    role: str
    window_start: datetime
    window_s: int
    reference: str  # "dataset:NAME@VERSION" or "window:START/END"
    report: DriftReport
    explanation: str

    @property
    def drifted(self) -> list[str]:
        return self.report.drifted

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "role": self.role,
            "window_start": self.window_start.isoformat(),
            "window_s": self.window_s,
            "reference": self.reference,
            "drifted": self.drifted,
            "explanation": self.explanation,
            "report": self.report.to_dict(),
        }


def drift_windows(
    endpoint: str,
    *,
    since: datetime,
    until: datetime,
    window_s: int = DEFAULT_WINDOW_S,
    reference: str | None = None,
    store: Store | None = None,
) -> list[WindowDrift]:
    """Test and store every window with traffic in [since, until), oldest first.

    ``reference`` as in :func:`.reference.reference_profile` (default: the served model's
    training data). Raises InvalidInput for a bad span or reference, NotFound for an unknown
    endpoint or dataset; an empty span returns ``[]``.
    """
    starts = _window_starts(since, until, window_s)
    store = get_store(store)
    description, ref = reference_profile(endpoint, reference=reference, store=store)
    results = []
    for start in starts:
        streams = read_profiles(
            endpoint, since=start, until=start + timedelta(seconds=window_s), store=store
        )
        for (model_name, version, role), profile in sorted(streams.items()):
            report = profile_drift(ref, profile)
            results.append(
                WindowDrift(
                    endpoint,
                    model_name,
                    version,
                    role,
                    start,
                    window_s,
                    description,
                    report,
                    explain(report),
                )
            )
    if results:
        _save(store, results)
    return results


def recent_results(endpoint: str, *, limit: int, store: Store) -> list[dict[str, Any]]:
    """The latest stored hourly drift checks of ``endpoint``, newest first (one indexed,
    bounded read)."""
    query = (
        select(DriftResult)
        .where(DriftResult.endpoint == endpoint)
        .order_by(DriftResult.window_start.desc(), DriftResult.id.desc())
        .limit(limit)
    )
    with store.session(write=False) as s:
        return [
            {
                "window_start": r.window_start,
                "window_s": r.window_s,
                "version": f"{r.model_name}@{r.model_version}",
                "role": r.role,
                "reference": r.reference,
                "drifted": list(r.drifted or []),
                "explanation": (r.report or {}).get("explanation", ""),
            }
            for r in s.scalars(query)
        ]


def explain(report: DriftReport) -> str:
    """One line: the drifted features, largest effect first, with their numbers, e.g.
    ``brightness: PSI 0.42, KS 0.31 (p<1e-6); factory: JS 0.35, chi² 120.4 (p<1e-6)``."""
    drifted = sorted(
        (c for c in report.columns if c.drifted),
        key=lambda c: -(c.effect_size if c.effect_size is not None else math.inf),
    )
    if drifted:
        return "; ".join(_explain_column(c) for c in drifted)
    if report.columns:
        return f"no drift in {len(report.columns)} feature(s)"
    only_ref = [d.column for d in report.schema_differences if d.problem == "only_in_reference"]
    only_now = [d.column for d in report.schema_differences if d.problem == "only_in_current"]
    return (
        f"no feature in common with the reference (reference only: {_names(only_ref)}; "
        f"window only: {_names(only_now)})"
    )


def _explain_column(c: ColumnDrift) -> str:
    if c.statistic is None or c.p_value is None or c.effect_size is None:
        return f"{c.column}: {c.note}"
    p = f"p<{TINY_P:g}" if c.p_value < TINY_P else f"p={c.p_value:.2g}"
    if c.test == "ks":
        return f"{c.column}: PSI {c.effect_size:.2f}, KS {c.statistic:.2f} ({p})"
    return f"{c.column}: JS {c.effect_size:.2f}, chi² {c.statistic:.1f} ({p})"


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") or "-"


def _window_starts(since: datetime, until: datetime, window_s: int) -> list[datetime]:
    for name, when in (("since", since), ("until", until)):
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise InvalidInput(
                f"{name}={when!r} must be a timezone-aware datetime (UTC)", field=name
            )
    if not isinstance(window_s, int) or isinstance(window_s, bool) or window_s < WINDOW_S:
        raise InvalidInput(
            f"window_s={window_s!r} must be a whole number of seconds, at least {WINDOW_S} "
            "(the length of a stored window profile)",
            field="window_s",
        )
    if since >= until:
        raise InvalidInput(
            f"since ({since.isoformat()}) must come before until ({until.isoformat()})",
            field="since",
        )
    first = window_start(since, window_s)
    count = math.ceil((until - first).total_seconds() / window_s)
    if count > MAX_WINDOWS:
        raise InvalidInput(
            f"{count} windows of {window_s}s from {since.isoformat()} to {until.isoformat()}; "
            f"at most {MAX_WINDOWS} per call: use a longer window_s or a shorter span",
            field="window_s",
        )
    return [first + timedelta(seconds=i * window_s) for i in range(count)]


def _save(store: Store, results: list[WindowDrift]) -> None:
    now = utcnow()
    with store.session() as s:
        for r in results:
            s.execute(
                delete(DriftResult).where(
                    DriftResult.endpoint == r.endpoint,
                    DriftResult.model_name == r.model_name,
                    DriftResult.model_version == r.model_version,
                    DriftResult.role == r.role,
                    DriftResult.window_start == r.window_start,
                    DriftResult.window_s == r.window_s,
                    DriftResult.reference == r.reference,
                )
            )
            s.add(
                DriftResult(
                    endpoint=r.endpoint,
                    model_name=r.model_name,
                    model_version=r.model_version,
                    role=r.role,
                    window_start=r.window_start,
                    window_s=r.window_s,
                    reference=r.reference,
                    drifted=r.drifted,
                    report={**r.report.to_dict(), "explanation": r.explanation},
                    computed_at=now,
                )
            )
