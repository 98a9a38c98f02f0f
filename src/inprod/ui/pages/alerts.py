"""The alerts page: firing and past alerts, latest first, and an Acknowledge button for
operators.

The rows are :func:`inprod.monitoring.alerts.list_alerts`'s (what ``GET /api/alerts`` lists),
with what ``GET /api/alerts/{id}`` adds to each: the rule it broke, the actions its monitor ran
and the note it was acknowledged with (read for the whole page at once).
Acknowledging calls :func:`inprod.monitoring.alerts.acknowledge`, as ``POST
/api/alerts/{id}/ack`` does, with the person's actor; the button sends the note the browser
asks for (htmx's ``hx-prompt``, in the ``HX-Prompt`` header; a script may post a ``note``
field), and the row is swapped in place. One action id per button: a double click
acknowledges once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ... import endpoints
from ...errors import InvalidInput
from ...monitoring import alerts
from ...monitoring.monitors import Rule
from ...store import Store
from ..actions import new_action_id
from ..render import off_loop, render
from ..session import check_change, viewer_of

STATES = ("all", "firing", "acknowledged", "resolved")
LIMIT = 100  # rows a page shows: the latest alerts of the filter
MAX_NOTE = 2000


@dataclass(frozen=True)
class AlertRow:
    """One alert as the page shows it."""

    id: int
    monitor: str
    endpoint: str
    severity: str
    state: str
    value: float | None
    metric: str
    threshold: str  # the rule it broke, e.g. "> 0.2 for 4s (over 6s, primary)"
    reference_value: float | None
    started_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str
    message: str
    actions: list[dict[str, Any]]
    action_id: str  # for this row's Acknowledge button


def alert_rows(*, endpoint: str | None, state: str, store: Store) -> list[AlertRow]:
    """The latest ``LIMIT`` alerts of ``endpoint`` (all when None) in ``state``."""
    if endpoint is not None:
        endpoints.get(endpoint, store=store)  # NotFound with a suggestion
    found = alerts.list_alerts(
        endpoint=endpoint, state=None if state == "all" else state, limit=LIMIT, store=store
    )
    return rows_of(found, store=store)


def rows_of(found: list[alerts.AlertInfo], *, store: Store) -> list[AlertRow]:
    """``found`` with each alert's rule, actions and acknowledgement note, read for the whole
    page at once (:func:`inprod.monitoring.alerts.histories`)."""
    with store.session(write=False) as s:
        history = alerts.histories(s, [a.id for a in found])
    return [_row(a, **_parts(history[a.id])) for a in found]


def _parts(history: dict[str, Any]) -> dict[str, Any]:
    notes = [
        str((e["details"] or {}).get("note") or "")
        for e in history["events"]
        if e["kind"] == "acknowledged"
    ]
    return {
        "details": history["details"],
        "actions": [_action(a) for a in history["actions"]],
        "note": notes[-1] if notes else "",
    }


def _row(
    alert: alerts.AlertInfo, details: dict[str, Any], actions: list[dict[str, Any]], note: str
) -> AlertRow:
    rule = details.get("rule")
    return AlertRow(
        id=alert.id,
        monitor=alert.monitor,
        endpoint=alert.endpoint,
        severity=alert.severity,
        state=alert.state,
        value=alert.value,
        metric=details.get("metric", ""),
        threshold=Rule.from_dict(rule).describe() if isinstance(rule, dict) else "",
        reference_value=details.get("reference_value"),
        started_at=alert.started_at,
        resolved_at=alert.resolved_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        note=note,
        message=alert.message,
        actions=actions,
        action_id=new_action_id(),
    )


def _action(run: dict[str, Any]) -> dict[str, Any]:
    outcome = (run["result"] or {}).get("outcome") or {}
    return {
        "action": run["action"],
        "status": run["status"],
        "attempts": run["attempts"],
        "error": run["last_error"],
        "outcome": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in outcome.items()),
    }


def parse_params(request: Request) -> tuple[str | None, str]:
    endpoint = request.query_params.get("endpoint") or None
    state = request.query_params.get("state") or "all"
    if state not in STATES:
        raise InvalidInput(f"state {state!r} is not one of {', '.join(STATES)}", field="state")
    return endpoint, state


def _note(request: Request, field: Any) -> str:
    """The prompt's answer: htmx sends it raw, or URL-encoded (and says so) when it holds
    characters a header cannot."""
    note = request.headers.get("hx-prompt")
    if note is None:
        return str(field or "").strip()
    if request.headers.get("hx-prompt-uri-autoencoded") == "true":
        note = unquote(note)
    return note.strip()


async def alerts_page(request: Request) -> Response:
    viewer_of(request)
    endpoint, state = parse_params(request)
    rows = await off_loop(
        alert_rows, endpoint=endpoint, state=state, store=request.app.state.inprod.store
    )
    return render(
        request, "alerts.html", rows=rows, endpoint=endpoint, state=state, states=STATES,
        limit=LIMIT,
    )  # fmt: skip


async def acknowledge(request: Request) -> Response:
    """Acknowledge once per action id; the row again (htmx), or back to the list."""
    viewer = await check_change(request, "operator")
    alert_id: int = request.path_params["alert_id"]
    form = await request.form()
    note = _note(request, form.get("note"))
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note has {len(note)} characters; at most {MAX_NOTE}", field="note")
    store = request.app.state.inprod.store

    async def ack() -> alerts.AlertInfo:
        return await off_loop(
            alerts.acknowledge, alert_id, actor=viewer.actor, note=note, store=store
        )

    acknowledged, _ = await request.app.state.actions.run_once(form.get("action_id"), ack)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/ui/alerts?state=all#alert-{alert_id}", status_code=303)
    (row,) = await off_loop(rows_of, [acknowledged], store=store)
    return render(request, "_alerts_row.html", row=row)


routes: list[BaseRoute] = [
    Route("/alerts", alerts_page, methods=["GET"]),
    Route("/alerts/{alert_id:int}/ack", acknowledge, methods=["POST"]),
]
