"""Reading the audit trail: what happened to one subject (a monitor, a policy), oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import AuditEvent


def subject_events(s: Session, subject: str) -> list[dict[str, Any]]:
    """Every audit event of ``subject`` as ``{time, actor, kind, details}``, oldest first."""
    events = s.scalars(
        select(AuditEvent).where(AuditEvent.subject == subject).order_by(AuditEvent.id)
    )
    return [
        {"time": e.time.isoformat(), "actor": e.actor, "kind": e.kind, "details": e.details}
        for e in events
    ]
