"""``inprod monitor add | list | tune | remove | history | alerts | ack | run | metrics |
defaults | report | drift-windows``: monitors on an endpoint's metrics, the alerts they raise,
and reports.

These commands join the ``monitor`` group of :mod:`.monitor` (which holds ``drift``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from ._output import JSON_OPTION_HELP, console, fmt_num, fmt_time, print_json, print_table
from .monitor import app

ENDPOINT_HELP = "Only this endpoint."
REPLAY_LIMIT = 100_000


def _rule_options(
    above: float | None,
    below: float | None,
    change: str | None,
    for_: str | None,
    window: str | None,
    min_samples: int | None,
    role: str | None,
    reference: str | None,
    function: str | None,
) -> dict[str, Any]:
    given = {
        "above": above, "below": below, "change_pct": change, "for_": for_, "window": window,
        "min_samples": min_samples, "role": role, "reference": reference, "function": function,
    }  # fmt: skip
    return {k: v for k, v in given.items() if v is not None}


ABOVE = typer.Option(None, "--above", help="Fire when the metric is above this.")
BELOW = typer.Option(None, "--below", help="Fire when the metric is below this.")
CHANGE = typer.Option(
    None,
    "--change-from-reference",
    help="Fire when the metric moves more than this percentage from its value on the reference.",
)
FOR = typer.Option(None, "--for", help="How long the rule must hold before firing: 30s, 10m…")
WINDOW = typer.Option(None, "--window", help="Span the metric is computed over (default 5m).")
MIN_SAMPLES = typer.Option(
    None, "--min-samples", help="Fewer observations than this: no data (default: the metric's)."
)
ROLE = typer.Option(None, "--role", help="primary (default), canary, shadow or previous.")
REFERENCE = typer.Option(
    None,
    "--reference",
    help="dataset:NAME@VERSION or window:START/END (default: the served model's training data).",
)
FUNCTION = typer.Option(None, "--function", help="module:function computing a custom.NAME metric.")
SEVERITY_HELP = "info, warning (default) or critical."
ACTION_HELP = "On firing: webhook:URL, pause, rollback, retrain or review[:N]; repeatable."


@app.command("add")
def add(
    endpoint: str = typer.Argument(..., help="The endpoint to watch."),
    metric: str = typer.Argument(..., help="A metric name, e.g. input.brightness.mean."),
    above: float | None = ABOVE,
    below: float | None = BELOW,
    change: str | None = CHANGE,
    for_: str | None = FOR,
    window: str | None = WINDOW,
    min_samples: int | None = MIN_SAMPLES,
    role: str | None = ROLE,
    reference: str | None = REFERENCE,
    function: str | None = FUNCTION,
    severity: str = typer.Option("warning", "--severity", help=SEVERITY_HELP),
    action: list[str] = typer.Option([], "--action", "-a", help=ACTION_HELP),
    name: str | None = typer.Option(None, "--name", help="Default: the metric and rule."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Watch one metric of an endpoint with a rule.

    The evaluator in 'inprod serve' (or 'inprod monitor run') fires an alert when the rule has
    held for --for, and runs its actions once."""
    from ..monitoring import monitors

    rule = _rule_options(above, below, change, for_, window, min_samples, role, reference,
                         function)  # fmt: skip
    m = monitors.add(endpoint, metric, name=name, severity=severity, actions=action, **rule)
    if as_json:
        print_json(m.to_dict())
        return
    console.print(f"monitor {m.id} [bold]{m.name}[/] on {m.endpoint}: {m.summary}")


@app.command("list")
def list_(
    endpoint: str | None = typer.Argument(None, help=ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Every monitor with its state (ok, pending, firing, no_data, error) and last value."""
    from ..monitoring import monitors

    found = monitors.list_monitors(endpoint)
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    if not found:
        console.print("no monitors yet; add one with 'inprod monitor add ENDPOINT METRIC ...'")
        return
    rows = [
        (m.id, m.endpoint, m.name, m.summary, m.severity, _state(m.state, m.enabled),
         fmt_num(m.last_value) if m.last_value is not None else "", fmt_time(m.last_evaluated_at))
        for m in found
    ]  # fmt: skip
    print_table(("id", "endpoint", "name", "rule", "severity", "state", "value", "evaluated"),
                rows)  # fmt: skip


def _state(state: str, enabled: bool) -> str:
    if not enabled:
        return "disabled"
    colour = {"firing": "red", "pending": "yellow", "error": "magenta", "ok": "green"}
    return f"[{colour[state]}]{state}[/]" if state in colour else state


@app.command("tune")
def tune(
    monitor: str = typer.Argument(..., help="Monitor id or name."),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help="Where names repeat."),
    above: float | None = ABOVE,
    below: float | None = BELOW,
    change: str | None = CHANGE,
    for_: str | None = FOR,
    window: str | None = WINDOW,
    min_samples: int | None = MIN_SAMPLES,
    severity: str | None = typer.Option(None, "--severity", help=SEVERITY_HELP),
    action: list[str] | None = typer.Option(None, "--action", "-a", help=ACTION_HELP),
    enable: bool | None = typer.Option(None, "--enable/--disable", help="Turn it on or off."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit trail)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Change a monitor's threshold, duration, severity or actions; audited with before/after."""
    from ..monitoring import monitors

    rule = _rule_options(above, below, change, for_, window, min_samples, None, None, None)
    m = monitors.tune(monitor, endpoint=endpoint, severity=severity, actions=action,
                      enabled=enable, reason=reason, **rule)  # fmt: skip
    if as_json:
        print_json(m.to_dict())
        return
    console.print(f"monitor {m.id} [bold]{m.name}[/]: {m.summary} ({m.severity})")


@app.command("remove")
def remove(
    monitor: str = typer.Argument(..., help="Monitor id or name."),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help="Where names repeat."),
) -> None:
    """Delete a monitor and its alerts (the audit trail keeps its rule)."""
    from ..monitoring import monitors

    m = monitors.remove(monitor, endpoint=endpoint)
    console.print(f"removed monitor {m.id} {m.name!r} of {m.endpoint}")


@app.command("history")
def history(
    monitor: str = typer.Argument(..., help="Monitor id or name."),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help="Where names repeat."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Who created and tuned a monitor, when and why (thresholds before and after)."""
    from ..monitoring import monitors

    events = monitors.history(monitor, endpoint=endpoint)
    if as_json:
        print_json(events)
        return
    rows = []
    for e in events:
        d = e["details"]
        what = d.get("reason", "")
        if e["kind"] == "monitor.tuned":
            what = f"{_rule_text(d['before'])} → {_rule_text(d['after'])} {what}".strip()
        rows.append((e["time"][:19], e["actor"], e["kind"], what))
    print_table(("time", "actor", "event", "change"), rows)


def _rule_text(state: dict[str, Any]) -> str:
    rule = state["rule"]
    parts = [
        f"{k}={v:g}" for k in ("above", "below", "change_pct") if (v := rule.get(k)) is not None
    ]
    parts.append(f"for={rule.get('for_s', 0):g}s")
    if not state.get("enabled", True):
        parts.append("disabled")
    return " ".join(parts)


@app.command("alerts")
def alerts_(
    endpoint: str | None = typer.Argument(None, help=ENDPOINT_HELP),
    state: str | None = typer.Option(
        None, "--state", help="open, firing, acknowledged or resolved (default: all)."
    ),
    alert_id: int | None = typer.Option(None, "--id", help="Show one alert with its history."),
    limit: int = typer.Option(50, "--limit", help="At most this many, latest first."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Alerts, latest first; with --id, one alert's events and the state of its actions."""
    from ..monitoring import alerts

    if alert_id is not None:
        story = alerts.get(alert_id)
        if as_json:
            print_json(story)
            return
        console.print(f"alert {story['id']} ({story['severity']}) {story['state']}: "
                      f"{story['message']}")  # fmt: skip
        events = [(e["time"][:19], e["kind"], _brief(e["details"])) for e in story["events"]]
        print_table(("time", "event", "details"), events)
        if story["actions"]:
            print_table(("action", "status", "attempts", "last error"),
                        [(a["action"], a["status"], a["attempts"], a["last_error"] or "")
                         for a in story["actions"]])  # fmt: skip
        return
    found = alerts.list_alerts(endpoint=endpoint, state=state, limit=limit)
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    if not found:
        console.print("no alerts")
        return
    rows = [
        (a.id, a.endpoint, a.monitor, a.severity, a.state, fmt_time(a.started_at),
         fmt_time(a.resolved_at), fmt_num(a.value) if a.value is not None else "")
        for a in found
    ]  # fmt: skip
    print_table(("id", "endpoint", "monitor", "severity", "state", "started", "resolved", "value"),
                rows)  # fmt: skip


def _brief(details: dict[str, Any]) -> str:
    keep = ("value", "message", "action", "attempt", "error", "by", "note", "outcome")
    return ", ".join(f"{k}={fmt_num(details[k])}" for k in keep if details.get(k) not in (None, ""))


@app.command("ack")
def ack(
    alert_id: int = typer.Argument(..., help="The alert's id (see 'inprod monitor alerts')."),
    note: str = typer.Option("", "--note", help="What you are doing about it."),
) -> None:
    """Acknowledge an alert: it stays open until its rule stops holding, marked as taken."""
    from ..monitoring import alerts

    a = alerts.acknowledge(alert_id, note=note)
    console.print(f"alert {a.id} acknowledged by {a.acknowledged_by}")


@app.command("run")
def run(
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    at: str | None = typer.Option(None, "--at", help="Evaluate as of this ISO time (default now)."),
    start: str | None = typer.Option(None, "--from", help="Replay from this ISO time…"),
    end: str | None = typer.Option(None, "--to", help="…to this one (default now)."),
    step: str = typer.Option("1m", "--step", help="Time between replayed passes."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Evaluate every monitor once, or replay a stretch of history, and run due actions.

    For batch and offline use, and for stores no server watches. With a server running on
    PostgreSQL its leader already evaluates; this command then refuses, so no alert is raised
    twice."""
    from ..config import load_settings
    from ..errors import Conflict, InvalidInput
    from ..monitoring import actions
    from ..monitoring.evaluator import evaluate
    from ..rollout.leader import Leadership
    from ..rollout.plan import parse_duration
    from ..store import get_store

    store = get_store()
    times = [_when(at) if at else datetime.now(UTC)]
    if start is not None:
        first, last = _when(start), _when(end) if end else datetime.now(UTC)
        gap = parse_duration(step, what="step")
        if gap <= 0 or last < first:
            raise InvalidInput("--from must come before --to, and --step must be positive")
        count = int((last - first).total_seconds() // gap) + 1
        if count > REPLAY_LIMIT:
            raise InvalidInput(f"{count} passes is too many; use a larger --step")
        times = [first + timedelta(seconds=gap * i) for i in range(count)]
    profile_s = load_settings().profile_seconds or 60
    leadership = Leadership(store)
    if not leadership.try_acquire():
        raise Conflict("a running server leads this store and evaluates its monitors already")
    results = []
    try:
        for when in times:
            results.extend(evaluate(now=when, endpoint=endpoint, profile_s=profile_s, store=store))
            actions.run_due(now=when, store=store)
    finally:
        leadership.release()
    shown = results if len(times) == 1 else [r for r in results if r.change is not None]
    if as_json:
        print_json([r.to_dict() for r in shown])
        return
    rows = [
        (fmt_time(r.at), r.endpoint, r.name, fmt_num(r.value) if r.value is not None else "",
         r.state, r.change or "", r.error or "")
        for r in shown
    ]  # fmt: skip
    print_table(("at", "endpoint", "monitor", "value", "state", "change", "error"), rows)


def _when(text: str) -> datetime:
    from ..errors import InvalidInput

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not an ISO time like 2026-11-25T08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("metrics")
def metrics(
    endpoint: str = typer.Argument(..., help="Show the features and classes this endpoint saw."),
    since: str = typer.Option("1h", "--since", help="Look at profiles this far back."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The metric names a monitor, gate or report can use, with this endpoint's features."""
    from ..monitoring.metrics import Span, metric_catalog, span_profile
    from ..rollout.plan import parse_duration
    from ..store import get_store

    now = datetime.now(UTC)
    span = Span(endpoint, now - timedelta(seconds=parse_duration(since, what="since")), now)
    rows = metric_catalog(span_profile(span, get_store(), {}))
    if as_json:
        print_json([{"metric": m, "description": d} for m, d in rows])
        return
    print_table(("metric", "what it measures"), rows)


@app.command("defaults")
def defaults(
    endpoint: str = typer.Argument(..., help="The endpoint to watch."),
    project: str = typer.Option(..., "--project", "-p", help="Whose scoping metrics to use."),
) -> None:
    """Create monitors from a project's scoping metrics.

    One per key metric monitoring can measure (accuracy, p99 latency, QPS, error rate…); running
    it again adds only what is missing."""
    from ..monitoring import monitors

    made = monitors.scoping_defaults(endpoint, project)
    for m in made:
        console.print(f"monitor {m.id} [bold]{m.name}[/]: {m.summary}")
    if not made:
        console.print("nothing to add: every measurable scoping metric has its monitor")


@app.command("report")
def report(
    endpoint: str = typer.Argument(..., help="The endpoint to report on."),
    start: str = typer.Option("24h", "--from", help="ISO time, or a span back from now: 24h, 7d."),
    end: str | None = typer.Option(None, "--to", help="ISO time (default now)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the HTML page here."),
    reference: str | None = REFERENCE,
    role: str = typer.Option("primary", "--role", help="primary, canary, shadow or previous."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """A self-contained HTML page: metrics over time with thresholds and alert marks, the
    span's alerts, and per-feature drift of its last quarter against the reference."""
    from ..errors import InvalidInput
    from ..monitoring.report import build_report, render_html, to_json

    if out is None and not as_json:
        raise InvalidInput("give --out report.html for the page, or --json for the numbers")
    result = build_report(endpoint, since=start, until=end, reference=reference, role=role)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(result), encoding="utf-8")
    if as_json:
        print_json(to_json(result))
    else:
        console.print(f"wrote {out} ({result['requests']:,} requests, {len(result['alerts'])} "
                      f"alert(s))")  # fmt: skip


@app.command("drift-windows")
def drift_windows(
    endpoint: str = typer.Argument(..., help="The endpoint whose windows to test."),
    since: str = typer.Option("24h", "--since", help="ISO time, or a span back from now."),
    window: str = typer.Option("1h", "--window", help="Length of each tested window."),
    reference: str | None = REFERENCE,
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Test each window of the endpoint's traffic against the reference, and store the results
    (what the leader does every hour)."""
    from ..monitoring.report import parse_time
    from ..monitoring.window_drift import drift_windows as run_drift
    from ..rollout.plan import parse_duration

    now = datetime.now(UTC)
    window_s = int(parse_duration(window, what="window"))
    results = run_drift(
        endpoint, since=parse_time(since, now=now), until=now, window_s=window_s,
        reference=reference,
    )  # fmt: skip
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    if not results:
        console.print("no traffic in that span")
        return
    rows = [
        (fmt_time(r.window_start), f"{r.model_name}@{r.model_version}", r.role,
         ", ".join(r.drifted) or "-", r.explanation)
        for r in results
    ]  # fmt: skip
    print_table(("window", "version", "role", "drifted", "why"), rows)
