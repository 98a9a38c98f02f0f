"""Checks on what callers of the review queue pass in: validated once, at the edge, with
messages that name the value and how to fix it."""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import DEFAULTS
from ..errors import InvalidInput, NotFound, suggest
from ..store import Store
from ..store.tables import Endpoint
from ..store.tables import ReviewTask as TaskRow

REASONS = (
    "low_confidence",
    "disagreement",
    "audit",
    "human",
    "shadow",
    "monitor",
    "label_issue",
    "borderline",
)
MAX_REVIEWER_CHARS = 100  # the feedback source is "review:<reviewer>", at most 200 characters
MAX_NOTE_CHARS = 2000
ID_RE = re.compile(r"^[0-9a-f]{32}$")


def check_note(note: Any) -> None:
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(
            f"note must be text of at most {MAX_NOTE_CHARS} characters", field="note"
        )


def same(a: Any, b: Any) -> bool:
    """Labels compared as text: a reviewer types ``1`` where the model's class is the integer 1,
    and JSON may carry ``1.0``."""
    return _text(a) == _text(b)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_endpoint(s: Session, endpoint: str) -> None:
    """Refuse a queue name that is neither an endpoint nor used by any task (likely a typo)."""
    if s.scalar(select(TaskRow.id).where(TaskRow.endpoint == endpoint).limit(1)) is not None:
        return
    if s.scalar(select(Endpoint.id).where(Endpoint.name == endpoint)) is not None:
        return
    known = set(s.scalars(select(Endpoint.name))) | set(
        s.scalars(select(TaskRow.endpoint).distinct())
    )
    raise NotFound(
        f"no endpoint {endpoint!r} and no review tasks for it; "
        f"{suggest(endpoint, known, what='endpoints')}"
    )


def check_reviewer(reviewer: Any) -> str:
    name = reviewer.strip() if isinstance(reviewer, str) else ""
    if not name or len(name) > MAX_REVIEWER_CHARS or not name.isprintable():
        raise InvalidInput(
            f"reviewer {str(reviewer)[:40]!r} must be a name of 1 to {MAX_REVIEWER_CHARS} "
            "printable characters, e.g. 'inspector-7'",
            field="reviewer",
        )
    return name


def check_reason(reason: Any) -> None:
    if reason not in REASONS:
        raise InvalidInput(
            f"reason {reason!r} is not one of {', '.join(REASONS)}; "
            f"{suggest(str(reason), REASONS, what='reasons')}",
            field="reason",
        )


def check_prediction_id(prediction_id: Any) -> None:
    if not isinstance(prediction_id, str) or not ID_RE.match(prediction_id):
        raise InvalidInput(
            f"prediction id {prediction_id!r} is not a 32-character hex id as returned in "
            '"prediction_ids"',
            field="prediction_id",
        )


def check_label(label: Any) -> None:
    empty = isinstance(label, str) and not label.strip()
    infinite = isinstance(label, float) and not math.isfinite(label)
    if label is None or isinstance(label, dict | list | tuple) or empty or infinite:
        raise InvalidInput(
            f"label {label!r} must be a plain value (text, number or boolean), e.g. 'scratch'",
            field="label",
        )


def lease_seconds(lease_s: float | None, store: Store) -> float:
    """``lease_s`` when given, else the store's ``review_lease_seconds`` setting."""
    if lease_s is None:
        settings = store.settings
        return settings.review_lease_seconds if settings else DEFAULTS["review_lease_seconds"]
    if isinstance(lease_s, bool) or not isinstance(lease_s, int | float) or not lease_s > 0:
        raise InvalidInput(
            f"lease {lease_s!r} must be a number of seconds above 0", field="lease_s"
        )
    return float(lease_s)
