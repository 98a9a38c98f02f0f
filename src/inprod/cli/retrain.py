"""``inprod retrain``: retraining policies (``policy add | list | show | update | remove``), the
requests they make (``list | show | request | approve | cancel | run``) and ``check``, one pass
of the triggers for stores no server watches."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from ._output import JSON_OPTION_HELP, console, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from ..retraining.policies import PolicyInfo
    from ..retraining.requests import RequestInfo

app = typer.Typer(
    help="Retrain models when monitoring or new labels ask: policies and requests.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="How an endpoint is retrained.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

ON_HELP = (
    "What opens a request: alert:MONITOR, new-labels:N, schedule:hourly|daily|weekly|"
    "every:DURATION; repeatable."
)
APPROVE_HELP = "manual (a person approves the run and the canary) or auto (the server does)."
STATUS_COLOURS = {"deployed": "green", "failed": "red", "rejected": "yellow", "running": "cyan",
                  "awaiting_approval": "magenta", "open": "bold"}  # fmt: skip

TRAIN = typer.Option(None, "--train", help="module:function that trains the model.")
ON = typer.Option(None, "--on", help=ON_HELP)
DATA = typer.Option(None, "--data", help="Dataset to start from (default: the champion's).")
EVAL_DATA = typer.Option(None, "--eval-data", help="Dataset the gate judges on.")
REQUIRE = typer.Option(
    None, "--require", help="Overall requirement, e.g. accuracy>=champion; repeatable."
)
REQUIRE_SLICES = typer.Option(
    None, "--require-slices", help="Requirement on each slice, e.g. accuracy>=champion-0.02."
)
TAGS = typer.Option(None, "--tags", help="Slices for the gate, e.g. 'brightness<0.3,line=B'.")
LABEL_MAP = typer.Option(None, "--label-map", help="OUTPUT=LABEL, e.g. 1=scratch; repeatable.")
CANARY_STEPS = typer.Option(None, "--canary-steps", help="Traffic percentages: 5,25,50,100.")
CANARY_INTERVAL = typer.Option(None, "--canary-interval", help="Time at each step: 2m.")
CANARY_GATE = typer.Option(None, "--canary-gate", help="Canary gate, e.g. error_rate<=0.01.")
CANARY_MIN = typer.Option(None, "--canary-min-requests", help="Requests a step needs.")
TIMEOUT = typer.Option(None, "--timeout", help="How long training may take: 30m (default).")
MIN_LABELS = typer.Option(None, "--min-labels", help="New labels a scheduled run needs (1).")
SWEEP = typer.Option(
    None, "--sweep", help="A training parameter's values, NAME=V1,V2 (repeatable: a grid)."
)
SELECT = typer.Option(
    None, "--select", help="Metric the sweep's runs log that picks the best: val_acc[:max|min]."
)
PARALLEL = typer.Option(None, "--parallel", help="Sweep points at once (default: one a CPU).")
RAY = typer.Option(None, "--ray", help="Train and re-score on Ray: local, or an address.")
RESCORE = typer.Option(
    None, "--rescore", help="Re-score this much of the logged window with the candidate: 24h."
)
MAX_CHANGED = typer.Option(
    None, "--max-changed", help="Reject when more re-scored answers change: 0.2 (20%)."
)
REQUEST_ID = typer.Argument(..., help="The request's number (see 'inprod retrain list').")
AS_JSON = typer.Option(False, "--json", help=JSON_OPTION_HELP)


def _settings(
    *,
    data: str | None,
    eval_data: str | None,
    require: list[str] | None,
    require_slices: list[str] | None,
    tags: list[str] | None,
    label_map: list[str] | None,
    canary_steps: str | None,
    canary_interval: str | None,
    canary_gate: list[str] | None,
    canary_min: int | None,
    timeout: str | None,
    min_labels: int | None,
    sweep: list[str] | None,
    select: str | None,
    parallel: int | None,
    ray: str | None,
    rescore: str | None,
    max_changed: float | None,
) -> dict[str, Any]:
    """The settings the options give (only those given)."""
    from ..retraining.sweeps import parse_sweep_options

    canary = {"steps": canary_steps, "interval": canary_interval, "gates": canary_gate or None,
              "min_requests": canary_min}  # fmt: skip
    given = {
        "data": data, "eval_data": eval_data, "require": require or None,
        "require_slices": require_slices or None, "tags": tags or None,
        "label_map": _label_map(label_map) if label_map else None,
        "canary": {k: v for k, v in canary.items() if v is not None} or None,
        "timeout_s": timeout, "min_labels": min_labels,
        "sweep": parse_sweep_options(sweep) if sweep else None, "select": select,
        "parallel": parallel, "ray": ray, "rescore": rescore, "max_changed": max_changed,
    }  # fmt: skip
    return {k: v for k, v in given.items() if v is not None}


def _label_map(pairs: list[str]) -> dict[str, str]:
    from ..errors import InvalidInput

    out = {}
    for pair in pairs:
        output, sep, label = pair.partition("=")
        if not sep or not output.strip() or not label.strip():
            raise InvalidInput(f"--label-map {pair!r} is not OUTPUT=LABEL, e.g. 1=scratch")
        out[output.strip()] = label.strip()
    return out


# -- policies -----------------------------------------------------------------------------------
@policy_app.command("add")
def policy_add(
    endpoint: str = typer.Argument(..., help="The endpoint whose model to retrain."),
    train: str = typer.Option(..., "--train", help="module:function that trains the model."),
    on: list[str] | None = ON,
    approve: str = typer.Option("manual", "--approve", help=APPROVE_HELP),
    data: str | None = DATA,
    eval_data: str | None = EVAL_DATA,
    require: list[str] | None = REQUIRE,
    require_slices: list[str] | None = REQUIRE_SLICES,
    tags: list[str] | None = TAGS,
    label_map: list[str] | None = LABEL_MAP,
    canary_steps: str | None = CANARY_STEPS,
    canary_interval: str | None = CANARY_INTERVAL,
    canary_gate: list[str] | None = CANARY_GATE,
    canary_min: int | None = CANARY_MIN,
    timeout: str | None = TIMEOUT,
    min_labels: int | None = MIN_LABELS,
    sweep: list[str] | None = SWEEP,
    select: str | None = SELECT,
    parallel: int | None = PARALLEL,
    ray: str | None = RAY,
    rescore: str | None = RESCORE,
    max_changed: float | None = MAX_CHANGED,
    as_json: bool = AS_JSON,
) -> None:
    """Make the endpoint's retraining policy: the training function, what triggers a request,
    who approves, and how the candidate is judged and canaried."""
    from ..retraining import policies

    settings = _settings(
        data=data, eval_data=eval_data, require=require, require_slices=require_slices,
        tags=tags, label_map=label_map, canary_steps=canary_steps,
        canary_interval=canary_interval, canary_gate=canary_gate, canary_min=canary_min,
        timeout=timeout, min_labels=min_labels, sweep=sweep, select=select, parallel=parallel,
        ray=ray, rescore=rescore, max_changed=max_changed,
    )  # fmt: skip
    p = policies.add(endpoint, train=train, triggers=on or [], approve=approve, settings=settings)
    _print_policy(p, as_json)


@policy_app.command("list")
def policy_list(as_json: bool = AS_JSON) -> None:
    """Every retraining policy."""
    from ..retraining import policies

    found = policies.list_policies()
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    if not found:
        console.print("no retraining policies yet; add one with 'inprod retrain policy add "
                      "ENDPOINT --train module:function --on new-labels:500'")  # fmt: skip
        return
    rows = [(p.id, p.endpoint, p.train, ", ".join(p.triggers) or "-", p.approve,
             "yes" if p.enabled else "no") for p in found]  # fmt: skip
    print_table(("id", "endpoint", "train", "triggers", "approve", "enabled"), rows)


@policy_app.command("show")
def policy_show(
    endpoint: str = typer.Argument(..., help="The endpoint (or the policy's id)."),
    as_json: bool = AS_JSON,
) -> None:
    """A policy: its function, triggers (with what they last saw), settings and history."""
    from ..retraining import policies

    p = policies.get_policy(endpoint)
    events = policies.history(p.id)
    if as_json:
        print_json({**p.to_dict(), "history": events})
        return
    _print_policy(p, False)
    for key, value in sorted(p.settings.items()):
        console.print(f"  {key}: {value}", highlight=False)
    for key, value in sorted(p.marks.items()):
        console.print(f"  [dim]last seen {key}: {value}[/]", highlight=False)
    rows = [(e["time"][:19].replace("T", " "), e["actor"],
             e["kind"].removeprefix("retraining.policy."), e["details"].get("reason", ""))
            for e in events]  # fmt: skip
    print_table(("time", "actor", "event", "reason"), rows)


@policy_app.command("update")
def policy_update(
    endpoint: str = typer.Argument(..., help="The endpoint (or the policy's id)."),
    train: str | None = TRAIN,
    on: list[str] | None = typer.Option(None, "--on", help=ON_HELP + " Replaces the triggers."),
    no_triggers: bool = typer.Option(False, "--no-triggers", help="Remove every trigger."),
    approve: str | None = typer.Option(None, "--approve", help=APPROVE_HELP),
    data: str | None = DATA,
    eval_data: str | None = EVAL_DATA,
    require: list[str] | None = REQUIRE,
    require_slices: list[str] | None = REQUIRE_SLICES,
    tags: list[str] | None = TAGS,
    label_map: list[str] | None = LABEL_MAP,
    canary_steps: str | None = CANARY_STEPS,
    canary_interval: str | None = CANARY_INTERVAL,
    canary_gate: list[str] | None = CANARY_GATE,
    canary_min: int | None = CANARY_MIN,
    timeout: str | None = TIMEOUT,
    min_labels: int | None = MIN_LABELS,
    sweep: list[str] | None = SWEEP,
    select: str | None = SELECT,
    parallel: int | None = PARALLEL,
    ray: str | None = RAY,
    rescore: str | None = RESCORE,
    max_changed: float | None = MAX_CHANGED,
    unset: list[str] | None = typer.Option(
        None, "--unset", help="A setting back to its default (data, canary, ...); repeatable."
    ),
    enable: bool | None = typer.Option(None, "--enable/--disable", help="Turn it on or off."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit trail)."),
    as_json: bool = AS_JSON,
) -> None:
    """Change a policy; what is not given stays. Audited with before and after."""
    from ..errors import InvalidInput
    from ..retraining import policies

    if on and no_triggers:
        raise InvalidInput("give --on or --no-triggers, not both")
    settings: dict[str, Any] = _settings(
        data=data, eval_data=eval_data, require=require, require_slices=require_slices,
        tags=tags, label_map=label_map, canary_steps=canary_steps,
        canary_interval=canary_interval, canary_gate=canary_gate, canary_min=canary_min,
        timeout=timeout, min_labels=min_labels, sweep=sweep, select=select, parallel=parallel,
        ray=ray, rescore=rescore, max_changed=max_changed,
    )  # fmt: skip
    settings.update(dict.fromkeys(unset or []))
    p = policies.update(
        endpoint, train=train, triggers=[] if no_triggers else (on or None), approve=approve,
        settings=settings or None, enabled=enable, reason=reason,
    )  # fmt: skip
    _print_policy(p, as_json)


@policy_app.command("remove")
def policy_remove(
    endpoint: str = typer.Argument(..., help="The endpoint (or the policy's id)."),
) -> None:
    """Delete a policy (not while it has a live request; its finished requests stay)."""
    from ..retraining import policies

    p = policies.remove(endpoint)
    console.print(f"removed the retraining policy of {p.endpoint}")


def _print_policy(p: PolicyInfo, as_json: bool) -> None:
    if as_json:
        print_json(p.to_dict())
        return
    state = "" if p.enabled else " [yellow](disabled)[/]"
    console.print(f"policy {p.id} for [bold]{p.endpoint}[/]{state}: train {p.train}, "
                  f"approve {p.approve}, on {', '.join(p.triggers) or 'request only'}",
                  highlight=False)  # fmt: skip


# -- requests -----------------------------------------------------------------------------------
@app.command("list")
def list_(
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help="Only this endpoint."),
    status: str | None = typer.Option(None, "--status", help="open, approved, running, ..."),
    limit: int = typer.Option(50, "--limit", help="At most this many, latest first."),
    as_json: bool = AS_JSON,
) -> None:
    """Retraining requests, latest first: what triggered each and where it stands."""
    from ..retraining import requests

    found = requests.list_requests(endpoint=endpoint, status=status, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        console.print("no retraining requests")
        return
    rows = [(r.id, r.endpoint, _status(r.status), fmt_time(r.created_at)[:16],
             r.trigger + (f" +{len(r.triggers) - 1}" if len(r.triggers) > 1 else ""),
             r.details.get("candidate") or _last_step(r)) for r in found]  # fmt: skip
    print_table(("id", "endpoint", "status", "opened", "trigger", "candidate / step"), rows)


@app.command("show")
def show(request_id: int = REQUEST_ID, as_json: bool = AS_JSON) -> None:
    """The story of a request: its triggers, each step with its time and message, the
    candidate, the evaluation and the canary."""
    from ..retraining import requests

    _print_story(requests.get_request(request_id), as_json)


@app.command("request")
def request(
    endpoint: str = typer.Argument(..., help="The endpoint whose model to retrain."),
    reason: str = typer.Option(..., "--reason", help="Why retrain now."),
    as_json: bool = AS_JSON,
) -> None:
    """Ask for retraining now (joins the policy's live request if there is one)."""
    from ..retraining import requests

    r = requests.open_request(endpoint, trigger="manual", reason=reason)
    if as_json:
        print_json(r.to_dict())
        return
    console.print(f"request {r.id} for {r.endpoint}: {_status(r.status)}")


@app.command("approve")
def approve(request_id: int = REQUEST_ID, as_json: bool = AS_JSON) -> None:
    """Approve an open request (the server's worker then runs it), or start the canary of one
    whose candidate passed the gate and awaits approval."""
    from ..retraining import requests

    r = requests.approve(request_id)
    if as_json:
        print_json(r.to_dict())
        return
    then = {"approved": f"; the server's worker runs it, or run it now: 'inprod retrain run "
                        f"{r.id}'"}  # fmt: skip
    console.print(f"request {r.id}: {_status(r.status)}{then.get(r.status, '')}",
                  highlight=False)  # fmt: skip


@app.command("cancel")
def cancel(
    request_id: int = REQUEST_ID,
    reason: str = typer.Option("", "--reason", help="Why (kept with the request)."),
    force: bool = typer.Option(False, "--force", help="Also a running request (its worker died)."),
) -> None:
    """Cancel a request that has not finished."""
    from ..retraining import requests

    r = requests.cancel(request_id, reason=reason, force=force)
    console.print(f"request {r.id}: {_status(r.status)}")


@app.command("run")
def run(request_id: int = REQUEST_ID, as_json: bool = AS_JSON) -> None:
    """Run a request's remaining steps here and now (an open request: running it approves it;
    a failed or interrupted one goes on where it stopped)."""
    from ..retraining.runner import run_request

    _print_story(run_request(request_id), as_json)


@app.command("check")
def check(as_json: bool = AS_JSON) -> None:
    """Check every policy's triggers once and approve the requests of auto policies — what the
    server's worker does each tick, for stores no server watches (e.g. from cron). Refuses
    while a server leads the store: it checks them already."""
    from ..errors import Conflict
    from ..retraining.worker import RetrainingWorker
    from ..rollout.leader import Leadership
    from ..store import get_store

    store = get_store()
    leadership = Leadership(store)
    if not leadership.try_acquire():
        raise Conflict("a running server leads this store and checks retraining triggers already")
    try:
        touched = RetrainingWorker(store, tick_s=0, leadership=leadership).tick(start_runs=False)
    finally:
        leadership.release()
    if as_json:
        print_json([r.to_dict() for r in touched])
        return
    if not touched:
        console.print("no trigger fired")
    for r in touched:
        console.print(f"request {r.id} for {r.endpoint} ({_status(r.status)}): "
                      f"{r.triggers[-1]['reason']}", highlight=False)  # fmt: skip


# -- printing -----------------------------------------------------------------------------------
def _status(status: str) -> str:
    colour = STATUS_COLOURS.get(status)
    return f"[{colour}]{status}[/]" if colour else status


def _last_step(r: RequestInfo) -> str:
    if not r.steps:
        return ""
    step = r.steps[-1]
    return f"{step['name']} {step['status']}"


def _print_story(r: RequestInfo, as_json: bool) -> None:
    from ..retraining.sweeps import describe

    if as_json:
        print_json(r.to_dict())
        return
    console.print(f"request {r.id} for [bold]{r.endpoint}[/]: {_status(r.status)}"
                  + (f" — {r.details['message']}" if r.details.get("message") else ""),
                  highlight=False)  # fmt: skip
    console.print(f"opened {fmt_time(r.created_at)} by {r.created_by}: {r.reason}",
                  highlight=False)  # fmt: skip
    print_table(("time", "trigger", "reason"),
                [(t["time"][:19].replace("T", " "), t["trigger"], t["reason"])
                 for t in r.triggers], title="triggers")  # fmt: skip
    if r.steps:
        print_table(("step", "status", "started", "took", "message"),
                    [(st["name"], _status(st["status"]),
                      (st.get("started_at") or "")[:19].replace("T", " "), _took(st),
                      st.get("message", "")) for st in r.steps], title="steps")  # fmt: skip
    facts = [("dataset", r.details.get("dataset")), ("run", r.details.get("run_id")),
             ("candidate", r.details.get("candidate")),
             ("canary plan revision", r.details.get("plan_revision"))]  # fmt: skip
    for name, value in facts:
        if value is not None:
            console.print(f"{name}: {value}", highlight=False)
    train = next((st for st in r.steps if st["name"] == "train"), {}).get("outputs") or {}
    if train.get("sweep"):
        print_table(("params", train.get("select", "value"), "version", "run", "error"),
                    [(describe(p["params"]), _value(p.get("value")), p.get("candidate", ""),
                      (p.get("run_id") or "")[:8], p.get("error", "")) for p in train["sweep"]],
                    title="sweep")  # fmt: skip
    evaluation = r.details.get("evaluation")
    if evaluation:
        verdict = "[green]passed[/]" if evaluation.get("passed") else "[red]failed[/]"
        summary = evaluation.get("summary", "")
        for said in ("gate passed: ", "gate failed: "):  # the runner's summary names it too
            summary = summary.removeprefix(said)
        console.print(f"gate {verdict}: {summary}", highlight=False)


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _took(step: dict[str, Any]) -> str:
    if not step.get("started_at") or not step.get("finished_at"):
        return ""
    took = datetime.fromisoformat(step["finished_at"]) - datetime.fromisoformat(step["started_at"])
    seconds = took.total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"
