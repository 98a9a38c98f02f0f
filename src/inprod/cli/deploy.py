"""``inprod deploy``: shadow, canary and blue-green deployments of an endpoint, and their state.

``inprod deploy ENDPOINT --shadow|--canary|--blue-green REF`` starts a pattern (a hidden default
command: the group sends any first word that is not a subcommand there); ``inprod deploy status |
history | compare | promote | pause | resume | abort ENDPOINT`` look and steer; ``inprod rollback
ENDPOINT`` is top-level because it is what a person types in a hurry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ._output import JSON_OPTION_HELP, console, fmt_num, print_json, print_table

START = "start"  # the hidden default command
APPLIES = "servers apply it within a second"
SPELLING = {
    "shadow": "--shadow",
    "canary": "--canary",
    "blue_green": "--blue-green",
    "steps": "--steps",
    "interval": "--interval",
    "gates": "--gate",
    "min_requests": "--min-requests",
    "keep_previous": "--keep-previous",
    "check": "--no-check",
    "sample_rate": "--shadow-rate",
}


class _DeployGroup(TyperGroup):
    """Runs the hidden ``start`` command when the first word is not a subcommand, so that
    ``inprod deploy phone-inspector --canary phone-inspector@4`` reads like a sentence."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [START, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DeployGroup,
    help=(
        "Deploy a model version to an endpoint safely and steer the rollout.\n\n"
        "Start one with [bold]inprod deploy ENDPOINT --shadow REF[/] (or --canary REF, "
        "--blue-green REF; see [bold]inprod deploy start --help[/] for their options)."
    ),
    no_args_is_help=True,
)
REASON_HELP = "Why (kept in the plan's history)."


@app.command(START, hidden=True)
def start(
    endpoint: str = typer.Argument(..., help="Endpoint name, e.g. phone-inspector."),
    shadow: str | None = typer.Option(
        None, "--shadow", help="Run REF on a copy of every request, after the response."
    ),
    canary: str | None = typer.Option(
        None, "--canary", help="Send a growing share of traffic to REF, gated."
    ),
    blue_green: str | None = typer.Option(
        None, "--blue-green", help="Warm REF, then switch all traffic to it at once."
    ),
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="Canary: traffic percentages, increasing, ending at 100; default 5,25,50,100.",
    ),
    interval: str | None = typer.Option(
        None, "--interval", help="Canary: least time per step, e.g. 10m; default 10m."
    ),
    gate: list[str] | None = typer.Option(
        None,
        "--gate",
        help="Canary: METRIC OP LIMIT that must hold to advance (repeatable), e.g. "
        "'latency_p99_ms<=300', 'accuracy>=champion-0.01'; default error_rate<=0.01.",
    ),
    min_requests: int | None = typer.Option(
        None,
        "--min-requests",
        help="Canary: canary answers per step before judging it; default 500.",
    ),
    keep_previous: str | None = typer.Option(
        None,
        "--keep-previous",
        help="Blue-green: keep the old version loaded this long; default 10m.",
    ),
    no_check: bool = typer.Option(
        False, "--no-check", help="Blue-green: switch without the health check on logged inputs."
    ),
    shadow_rate: float | None = typer.Option(
        None,
        "--shadow-rate",
        help="Shadow: the share of requests copied to it, in (0, 1]; default 1.",
    ),
    reason: str = typer.Option("", "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Start a shadow, canary or blue-green deployment of ENDPOINT."""
    from .. import deploy

    plan = deploy.start(
        endpoint,
        shadow=shadow,
        canary=canary,
        blue_green=blue_green,
        steps=steps,
        interval=interval,
        gates=gate or None,
        min_requests=min_requests,
        keep_previous=keep_previous,
        check=False if no_check else None,
        sample_rate=shadow_rate,
        reason=reason,
        spelling=SPELLING,
    )
    _done(plan, as_json)


@app.command("status")
def status(
    endpoint: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show the plan: what serves, the candidate, its gates now and what happens next."""
    from .. import deploy

    info = deploy.status(endpoint)
    if as_json:
        print_json(info)
        return
    console.print(
        f"[bold]{endpoint}[/]: {info['state']} (revision {info['revision']}, "
        f"changed {_when(info['updated_at'])})",
        highlight=False,
        soft_wrap=True,
    )
    primary = info["primary"]
    if info["primary_version"] and info["primary_version"] != primary:
        primary += f" (now {info['primary_version']})"
    console.print(f"  primary     {primary}", highlight=False, soft_wrap=True)
    cand = info["candidate"]
    if cand is not None:
        console.print(f"  candidate   {_candidate_text(cand)}", highlight=False, soft_wrap=True)
    console.print(
        f"  automation  {automation_text(info['automation'])}", highlight=False, soft_wrap=True
    )
    prev = info["previous"]
    if prev is not None:
        console.print(
            f"  previous    {prev['ref']} (kept loaded until {_when(prev['until'])} for "
            f"'inprod rollback {endpoint}')",
            highlight=False,
            soft_wrap=True,
        )
    judgement = info["judgement"]
    if judgement["gates"]:
        print_table(
            ["gate", "value", "limit", "samples", "status"],
            [
                (g["gate"], _num(g["value"]), _num(g["limit"]), g["samples"], g["status"])
                for g in judgement["gates"]
            ],
            title=f"gates since {_when(judgement['window_start'])}",
        )
    if judgement["action"] != "none":
        console.print(
            f"next: [bold]{judgement['action']}[/] — {judgement['reason']}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"allowed now: {', '.join(a.replace('_', '-') for a in info['allowed_actions'])}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("history")
def history(
    endpoint: str = typer.Argument(...),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show the last N changes."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Every change of the plan: when, who, what, from → to, and why (failed gates included)."""
    from .. import deploy

    events = deploy.history(endpoint, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    print_table(
        ["time", "actor", "action", "state", "change", "reason"],
        [
            tuple(
                escape(cell)  # free text (reasons, user names) is not Rich markup
                for cell in (
                    _when(e.time),
                    e.actor,
                    e.action.replace("_", "-"),
                    f"{e.from_state} → {e.to_state}",
                    _change_text(e.details),
                    _reason_text(e.reason, e.details),
                )
            )
            for e in events
        ],
        title=f"{endpoint}: plan history",
    )


@app.command("compare")
def compare(
    endpoint: str = typer.Argument(...),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Version to compare (default: the candidate)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Candidate vs primary on the endpoint's traffic: agreement, accuracy, latency, errors."""
    from .. import deploy

    cmp = deploy.compare(endpoint, model=model)
    if as_json:
        print_json(cmp.to_dict())
        return
    if cmp.mode == "shadow":
        agreement = "n/a" if cmp.agreement is None else f"{cmp.agreement:.1%}"
        console.print(
            f"[bold]{endpoint}[/]: {cmp.candidate} in shadow — {cmp.agreements} of {cmp.pairs} "
            f"paired answers agree ({agreement}), {cmp.disagreements} disagree",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"[bold]{endpoint}[/]: canary {cmp.candidate} vs the primary since {_when(cmp.since)}",
            highlight=False,
            soft_wrap=True,
        )
    sides = cmp.sides
    rows = [
        ("answers", *(s.n for s in sides)),
        ("error rate", *(_pct(s.error_rate) for s in sides)),
        ("latency p50 ms", *(_num(s.latency_p50_ms) for s in sides)),
        ("latency p99 ms", *(_num(s.latency_p99_ms) for s in sides)),
        ("labelled", *(s.labelled for s in sides)),
        ("accuracy", *(_pct(s.accuracy) for s in sides)),
    ]
    print_table(["", *(f"{s.ref} ({s.role})" for s in sides)], rows)


def _steer(action: str) -> Callable[..., None]:
    def command(
        endpoint: str = typer.Argument(...),
        reason: str = typer.Option("", "--reason", help=REASON_HELP),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        from .. import deploy

        before = deploy.get_plan(endpoint)
        plan = getattr(deploy, action)(endpoint, reason=reason)
        _done(plan, as_json, before=before)

    command.__doc__ = {
        "promote": "Make the candidate the primary now (skipping any steps left).",
        "pause": "Hold the canary at its current share; the controller stops judging it.",
        "resume": "Go on ramping a paused canary; the current step's window starts again.",
        "abort": "Stop trying the candidate; the primary keeps serving.",
        "rollback": "Take the canary out of traffic, or serve the previous version again.",
    }[action]
    return command


for _action in ("promote", "pause", "resume", "abort"):
    app.command(_action)(_steer(_action))
rollback = _steer("rollback")


# --- printing ------------------------------------------------------------------------------


def _done(plan: Any, as_json: bool, *, before: Any = None) -> None:
    """One line saying what happens now (or the plan as JSON)."""
    if as_json:
        print_json(plan.to_dict())
        return
    console.print(_what_now(plan, before), highlight=False, soft_wrap=True)


def _what_now(plan: Any, before: Any) -> str:
    ep, cand, prev = plan.endpoint, plan.candidate, plan.previous
    primary = _resolved(plan.primary_ref)
    kept = (
        ""
        if prev is None
        else f"; {prev.ref} stays loaded until {_when(prev.until)} for 'inprod rollback {ep}'"
    )
    if plan.state == "shadowing" and cand is not None:
        return (
            f"{ep}: {cand.ref} runs in shadow beside {primary} on a copy of every request, after "
            f"the response; see 'inprod deploy compare {ep}'; {APPLIES}"
        )
    if plan.state in ("ramping", "paused") and cand is not None:
        gates = ", ".join(cand.gates) or "none"
        step = f"step {cand.step + 1} of {len(cand.steps)}"
        if plan.state == "paused":
            return (
                f"{ep}: canary {cand.ref} held at {cand.weight:.0%} ({step}); "
                f"'inprod deploy resume {ep}' goes on"
            )
        return f"{ep}: canary {cand.ref} takes {cand.weight:.0%} ({step}; gates {gates}); {APPLIES}"
    if plan.state == "promoted":
        return f"{ep}: {primary} now takes all traffic{kept}; {APPLIES}"
    if plan.state == "rolled_back":
        return f"{ep}: rolled back; {primary} takes all traffic; {APPLIES}"
    if plan.state == "aborted":
        tried = "" if before is None or before.candidate is None else f" {before.candidate.ref}"
        return f"{ep}: stopped trying{tried}; {primary} keeps serving; {APPLIES}"
    return f"{ep}: {plan.state}; {primary} serves"


def _resolved(ref: str) -> str:
    """``tiny@champion`` -> ``tiny@champion (tiny@2)``, for people reading which version."""
    from ..errors import NotFound
    from ..registry import models

    try:
        version = models.get(ref).ref
    except NotFound:
        return ref
    return ref if version == ref else f"{ref} ({version})"


def _candidate_text(cand: dict[str, Any]) -> str:
    if cand["role"] != "canary":
        return f"{cand['ref']} ({cand['role']})"
    steps = ",".join(f"{s:g}" for s in cand["steps"])
    return (
        f"{cand['ref']} canary at {cand['weight']:.0%} (step {cand['step'] + 1} of "
        f"{len(cand['steps'])}: {steps}%; each step ≥ {cand['interval_s']:g} s and "
        f"{cand['min_requests']} requests; gates {', '.join(cand['gates']) or 'none'})"
    )


def automation_text(auto: dict[str, Any]) -> str:
    """``partial, threshold 0.9, audit 2% of decisions, disagreements reviewed``."""
    parts = [auto["mode"]]
    if auto.get("threshold") is not None:
        parts.append(f"threshold {auto['threshold']:g}")
    if auto.get("audit_rate"):
        parts.append(f"audit {auto['audit_rate']:.0%} of decisions")
    parts.append(
        "shadow disagreements reviewed"
        if auto.get("review_disagreements")
        else "shadow disagreements not reviewed"
    )
    return ", ".join(parts)


def _change_text(details: dict[str, Any]) -> str:
    """What served before and after, by version (``tiny@1 + @2 canary 5% → 25%``); the
    automation only where it changed."""

    def primary(summary: dict[str, Any]) -> str:
        return str(summary.get("primary_version") or summary.get("primary"))

    def candidate(summary: dict[str, Any], primary_ref: str) -> str:
        cand = summary.get("candidate")
        if not cand:
            return ""
        ref = str(cand["ref"])
        if ref.split("@")[0] == primary_ref.split("@")[0]:
            ref = "@" + ref.split("@")[-1]  # same model: the version says it all
        return f" + {ref} {cand['role']}"

    def weight(summary: dict[str, Any]) -> str:
        cand = summary.get("candidate") or {}
        return f" {cand['weight']:.0%}" if cand.get("role") == "canary" else ""

    before, after = details.get("from") or {}, details.get("to") or {}
    b_text = primary(before) + candidate(before, primary(before))
    a_text = primary(after) + candidate(after, primary(after))
    if b_text == a_text:
        change = b_text + weight(before)
        if weight(before) != weight(after):
            change += f" →{weight(after)}"
    else:
        change = f"{b_text}{weight(before)} → {a_text}{weight(after)}"
    if before.get("automation") != after.get("automation"):
        change += f"; automation {before.get('automation')} → {after.get('automation')}"
    return change


def _reason_text(reason: str, details: dict[str, Any]) -> str:
    failed = [
        f"{g['gate']} failed: {_num(g.get('value'))} vs {_num(g.get('limit'))}"
        for g in details.get("gates") or []
        if isinstance(g, dict) and g.get("status") == "fail" and g.get("gate", "") not in reason
    ]
    return "; ".join([r for r in [reason, *failed] if r])


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float | None) -> str:
    return "n/a" if value is None else fmt_num(float(value))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
