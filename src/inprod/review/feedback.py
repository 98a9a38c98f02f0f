"""Feedback: a ground-truth label or a user event attached to a prediction id after the fact.

Committed before the caller hears "created": a label is how accuracy is measured in production,
so it is never lost. The prediction itself may still be in the server's log buffer, so its
existence is not required here; joins happen when metrics are computed.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from ..errors import InvalidInput
from ..store import Store, get_store
from ..store.tables import Feedback, utcnow

_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,99}$")
ALLOWED_KEYS = {"label", "event", "source", "details"}


def record_feedback(prediction_id: str, payload: Any, *, store: Store | None = None) -> int:
    """Store ``{"label": ...}`` and/or ``{"event": "redo"}`` for a prediction; returns its id."""
    if not _ID_RE.match(prediction_id or ""):
        raise InvalidInput(
            f"prediction id {prediction_id!r} is not a 32-character hex id as returned in "
            '"prediction_ids"',
            field="prediction_id",
        )
    if not isinstance(payload, dict):
        raise InvalidInput(
            'feedback must be an object, e.g. {"label": "scratch", "source": "inspector-7"}',
            field="body",
        )
    extra = sorted(set(payload) - ALLOWED_KEYS)
    if extra:
        raise InvalidInput(
            f"unexpected field {extra[0]!r}; feedback takes {', '.join(sorted(ALLOWED_KEYS))}",
            field=extra[0],
        )
    label, event = payload.get("label"), payload.get("event")
    if label is None and event is None:
        raise InvalidInput(
            'feedback needs a "label" (the true answer) or an "event" (e.g. "redo")',
            field="label",
        )
    if isinstance(label, dict | list):
        raise InvalidInput("label must be a plain value (string, number or boolean)", field="label")
    if event is not None and (not isinstance(event, str) or not _EVENT_RE.match(event)):
        raise InvalidInput(
            f"event {event!r} must be a lower-case word like 'redo' or 'switched_to_typing'",
            field="event",
        )
    source = payload.get("source", "")
    if not isinstance(source, str) or len(source) > 200:
        raise InvalidInput("source must be a string of at most 200 characters", field="source")
    details = payload.get("details", {})
    if not isinstance(details, dict):
        raise InvalidInput("details must be an object", field="details")
    store = get_store(store)
    with store.session() as s:
        row = Feedback(
            prediction_id=prediction_id,
            time=utcnow(),
            label=label,
            event=event,
            source=source,
            details=details,
        )
        s.add(row)
        s.flush()
        return row.id


def count_feedback(prediction_id: str, *, store: Store | None = None) -> int:
    store = get_store(store)
    with store.session(write=False) as s:
        return s.scalar(
            select(func.count())
            .select_from(Feedback)
            .where(Feedback.prediction_id == prediction_id)
        )
