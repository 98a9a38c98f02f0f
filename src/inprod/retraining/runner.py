"""Running a retraining request, step by step, each step recorded in the request's details::

    dataset   the labels, training and evaluation versions (retraining/data.py)
    train     the policy's function in a child process and a tracked run; registers the
              candidate (retraining/training.py); a ``sweep`` trains each point so (or as Ray
              tasks) and keeps the best by ``select`` (retraining/sweeps.py)
    check     the candidate takes what serves now takes (kind, dtype, shape / columns)
    evaluate  analysis.evaluate against what serves, overall and per slice — the drifted slice
              included when a drift alert asked — recorded on the candidate version
    rescore   with the policy's ``rescore`` window: the candidate re-scores the logged window
              (batch engine, local or Ray); ``max_changed`` caps the share of changed answers
    deploy    deploy.canary with the policy's canary settings: only when the gate passed and
              the policy is ``auto`` or a person approved the canary (else awaiting_approval)

Resumable: a step already ``done`` is skipped, so running a failed or interrupted request
again goes on where it stopped (the dataset step stores nothing new: versions are
content-hashed). A failure records the step ``failed`` with the reason and ends the request
``failed``; nothing before ``deploy`` touches what serves, and ``deploy`` is one transaction
(the canary starts, or nothing changed). A deploy interrupted after its canary started finds
the canary on the next run and records it instead of starting another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, InprodError, InvalidInput, NotFound
from ..provenance import current_user
from ..store import Store, get_store
from ..store.tables import Alert, Endpoint, Monitor, RetrainingPolicy
from . import data as retraining_data
from . import sweeps, training
from .policies import DEFAULT_TIMEOUT_S, PolicyInfo
from .policies import info as policy_info
from .requests import (
    FINISHED,
    RequestInfo,
    finish,
    get_request,
    info,
    lock_request,
    move,
    record_step,
)
from .triggers import DEFAULT_MIN_LABELS

log = logging.getLogger(__name__)

DEFAULT_REQUIRE = ("accuracy>=champion",)
DEFAULT_REQUIRE_SLICES = ("accuracy>=champion-0.02",)
EVAL_ROLES = ("test", "eval")
DEPLOY_APPROVED = "deploy_approved_by"


class _Stopped(Exception):
    """The request left ``running``: a step failed, or someone cancelled it meanwhile."""


@dataclass
class _Job:
    request: RequestInfo
    policy: PolicyInfo
    actor: str
    store: Store
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        return self.policy.settings


def run_request(
    request_id: int, *, actor: str | None = None, store: Store | None = None
) -> RequestInfo:
    """Run the request's remaining steps; returns it as they left it.

    Runs an ``open``, ``approved`` or ``failed`` request, or one left ``running`` by a runner
    that stopped (the store went away, the process died) — only when that runner is gone.
    Conflict for a request awaiting approval of its canary (:func:`approve_deploy`) or
    finished; NotFound when neither the request nor its endpoint has a policy.
    """
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status == "awaiting_approval":
            raise Conflict(
                f"retraining request {row.id} passed the gate and waits for its canary to be "
                f"approved: 'inprod retrain approve {row.id}'"
            )
        if row.status in FINISHED and row.status != "failed":
            raise Conflict(
                f"retraining request {row.id} is {row.status}; it has nothing left to run "
                "(a failed request can run again)"
            )
        policy = _policy(s, row.endpoint, row.policy_id)
        if row.status == "running":
            log.warning("retraining request %s was left running; going on from there", row.id)
        else:
            move(s, row, "running", actor=actor, message=f"run by {actor}")
    return _run(request_id, policy, actor, store)


def approve_deploy(
    request_id: int, *, actor: str | None = None, store: Store | None = None
) -> RequestInfo:
    """Start the canary of a request ``awaiting_approval`` (its candidate passed the gate)."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status != "awaiting_approval":
            raise Conflict(
                f"retraining request {row.id} is {row.status}; only a request awaiting approval "
                f"can have its canary approved — see 'inprod retrain show {row.id}'"
            )
        policy = _policy(s, row.endpoint, row.policy_id)
        row.details = {**(row.details or {}), DEPLOY_APPROVED: actor}
        move(s, row, "running", actor=actor, message=f"canary approved by {actor}")
    return _run(request_id, policy, actor, store)


def _policy(s: Session, endpoint: str, policy_id: int | None) -> PolicyInfo:
    query = select(RetrainingPolicy)
    query = query.where(
        RetrainingPolicy.id == policy_id
        if policy_id is not None
        else RetrainingPolicy.endpoint == endpoint
    )
    row = s.scalar(query)
    if row is None:
        raise NotFound(
            f"endpoint {endpoint!r} has no retraining policy, so the request cannot run: add "
            f"one with 'inprod retrain policy add {endpoint} --train module:function'"
        )
    return policy_info(row)


def _run(request_id: int, policy: PolicyInfo, actor: str, store: Store) -> RequestInfo:
    for name, step in _STEPS:
        if name == "rescore" and "rescore" not in policy.settings:
            continue
        request = get_request(request_id, store=store)
        if request.status != "running":
            return request
        if _done(request, name):
            continue
        if name == "deploy" and not (
            policy.approve == "auto" or DEPLOY_APPROVED in request.details
        ):
            return _await_approval(request_id, actor, store)
        outputs = {st["name"]: st.get("outputs") or {} for st in request.steps}
        job = _Job(request, policy, actor, store, outputs)
        try:
            _step(job, name, step)
        except _Stopped:
            return get_request(request_id, store=store)
        if name in ("evaluate", "rescore") and not job.outputs[name]["passed"]:
            return _end(request_id, "rejected", job.outputs[name]["summary"], actor, store)
    deployed = next(
        st for st in get_request(request_id, store=store).steps if st["name"] == "deploy"
    )
    return _end(request_id, "deployed", deployed.get("message", ""), actor, store)


def _done(request: RequestInfo, name: str) -> bool:
    return any(st["name"] == name and st.get("status") == "done" for st in request.steps)


def _step(job: _Job, name: str, step: Callable[[_Job], tuple[str, dict[str, Any]]]) -> None:
    """Record the step running, run it, record it done (or failed, ending the request)."""
    store, request_id = job.store, job.request.id
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status != "running":
            raise _Stopped
        record_step(s, row, name, "running")
    try:
        message, outputs = step(job)
    except Exception as exc:
        reason = exc.message if isinstance(exc, InprodError) else f"{type(exc).__name__}: {exc}"
        with store.session() as s:
            row = lock_request(s, request_id)
            record_step(s, row, name, "failed", reason)
            if row.status == "running":
                finish(s, row, "failed", f"{name} failed: {reason}", actor=job.actor)
        if not isinstance(exc, InprodError):
            raise  # a bug: recorded, and its traceback shown
        raise _Stopped from exc
    job.outputs[name] = outputs
    with store.session() as s:
        row = lock_request(s, request_id)
        record_step(s, row, name, "done", message, outputs)
        row.details = {**(row.details or {}), **_headline(name, outputs)}


def _headline(name: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """What a step puts at the top of the details (the story's key facts)."""
    if name == "dataset":
        return {"dataset": outputs["training"]}
    if name == "train":
        return {"candidate": outputs["candidate"], "run_id": outputs["run_id"]}
    if name == "evaluate":
        keep = ("passed", "summary", "dataset", "against", "failures")
        return {"evaluation": {k: outputs[k] for k in keep}}
    if name == "deploy":
        return {"plan_revision": outputs["plan_revision"]}
    return {}


def _end(request_id: int, status: str, message: str, actor: str, store: Store) -> RequestInfo:
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status == "running":
            finish(s, row, status, message, actor=actor)
        return info(row)


def _await_approval(request_id: int, actor: str, store: Store) -> RequestInfo:
    with store.session() as s:
        row = lock_request(s, request_id)
        if row.status == "running":
            move(s, row, "awaiting_approval", actor=actor, message=(
                f"the candidate passed the gate; start its canary with 'inprod retrain approve "
                f"{row.id}'"
            ))  # fmt: skip
        return info(row)


# -- the steps: each returns (message, outputs) or raises InprodError saying why ------------------
def _dataset(job: _Job) -> tuple[str, dict[str, Any]]:
    from ..endpoints import get as get_endpoint
    from ..flavors import Signature
    from ..flavors.python_callable import import_callable
    from ..registry import models

    store, settings = job.store, job.settings
    endpoint = get_endpoint(job.request.endpoint, store=store)
    serving = models.get(endpoint.model_ref, store=store)
    roles, project = _lineage(serving.ref, store)
    reference = settings.get("data") or roles.get("train")
    if reference is None:
        raise InvalidInput(
            f"{serving.ref}, which serves {endpoint.name}, has no training dataset in its "
            "lineage; name the data to retrain on in the policy's data setting (--data REF)",
            field="data",
        )
    eval_base = settings.get("eval_data") or next(
        (roles[r] for r in EVAL_ROLES if r in roles), reference
    )
    features = endpoint.settings.features
    built = retraining_data.build(
        job.request.id,
        endpoint.name,
        reference=reference,
        eval_base=eval_base,
        serving=retraining_data.Serving(
            serving.ref,
            Signature.from_dict(serving.signature),
            import_callable(features) if features else None,
        ),
        label_map=settings.get("label_map") or {},
        min_labels=settings.get("min_labels", DEFAULT_MIN_LABELS),
        monitored=_drifted_features(job.request, store),
        tags=settings.get("tags") or (),
        store=store,
    )
    outputs = {**built.to_dict(), "serving": serving.ref, "project": project or endpoint.name}
    sources = ", ".join(f"{n} from {src}" for src, n in sorted(built.sources.items()))
    message = (
        f"{built.training}: {built.reference} plus {built.new_examples} labelled production "
        f"example(s); {built.held_out} held out in {built.evaluation} ({sources or 'no labels'})"
    )
    return message, outputs


def _train(job: _Job) -> tuple[str, dict[str, Any]]:
    """One training run, or a sweep's runs in parallel (child processes or Ray tasks); the
    candidate is the one model, or the sweep's best by the policy's ``select`` metric."""
    from ..registry import models
    from ..rollout.plan import parse_duration

    data, settings, request = job.outputs["dataset"], job.settings, job.request
    serving = models.get(data["serving"], store=job.store)
    grid = settings.get("sweep")
    name = f"retrain-{request.endpoint}-{request.id}"
    jobs = [
        training.TrainingJob(
            store_url=job.store.url,
            artifacts=job.store.artifacts.root,
            train=job.policy.train,
            dataset=data["training"],
            project=data["project"],
            run_name=f"{name}-{i + 1}" if grid else name,
            model_name=serving.name,
            signature=serving.signature,
            request_id=request.id,
            seed=request.id,
            params=point,
        )
        for i, point in enumerate(sweeps.points(grid))
    ]
    outcomes = training.train_many(
        jobs,
        timeout_s=parse_duration(settings.get("timeout_s", DEFAULT_TIMEOUT_S), what="timeout"),
        parallel=settings.get("parallel"),
        ray=settings.get("ray"),
        store=job.store,
    )
    if not grid:
        [outcome] = outcomes
        if outcome.model is None:
            raise InvalidInput(outcome.error or "training failed")
        result = outcome.model
        return f"registered {result.ref} (run {result.run_id[:8]})", {
            "candidate": result.ref,
            "run_id": result.run_id,
        }
    return _best(outcomes, sweeps.parse_select(settings.get("select")), job.store)


def _best(
    outcomes: list[training.Outcome], select: sweeps.Select, store: Store
) -> tuple[str, dict[str, Any]]:
    """The sweep's best by ``select`` among the points that trained and logged it."""
    from ..registry import models

    points: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for outcome in outcomes:
        point = {"params": outcome.job.params, "run_name": outcome.job.run_name}
        if outcome.model is None:
            point["error"] = outcome.error
        else:
            value = models.get(outcome.model.ref, store=store).metrics.get(select.metric)
            point |= {"candidate": outcome.model.ref, "run_id": outcome.model.run_id,
                      "value": value}  # fmt: skip
            if value is None:
                point["error"] = f"its run logged no {select.metric!r}"
            elif best is None or select.better(value, best["value"]):
                best = point
        points.append(point)
    if best is None:
        reasons = "; ".join(f"{sweeps.describe(p['params'])}: {p['error']}" for p in points)
        raise InvalidInput(f"no point of the sweep gave a model to judge ({reasons})")
    failed = sum("error" in p for p in points)
    message = (
        f"registered {best['candidate']} (run {best['run_id'][:8]}): best of {len(points)} "
        f"sweep point(s) by {select} ({best['value']:.4g} with {sweeps.describe(best['params'])})"
        + (f"; {failed} point(s) failed" if failed else "")
    )
    return message, {
        "candidate": best["candidate"],
        "run_id": best["run_id"],
        "select": str(select),
        "sweep": points,
    }


def _check(job: _Job) -> tuple[str, dict[str, Any]]:
    from ..registry._lookup import resolve
    from ..rollout.actions import check_compatible

    candidate = job.outputs["train"]["candidate"]
    with job.store.session(write=False) as s:
        endpoint = s.scalar(select(Endpoint).where(Endpoint.name == job.request.endpoint))
        if endpoint is None:
            raise NotFound(f"endpoint {job.request.endpoint!r} was deleted")
        pm, pv = resolve(s, endpoint.model_ref)
        cm, cv = resolve(s, candidate)
        try:
            check_compatible(pm, pv, cm, cv)
        except InvalidInput as exc:
            raise InvalidInput(f"incompatible signature: {exc.message}", field="model") from None
        serving = f"{pm.name}@{pv.version}"
    return f"{candidate} takes what {serving} takes", {"serving": serving}


def _evaluate(job: _Job) -> tuple[str, dict[str, Any]]:
    from ..analysis import evaluate

    settings, data = job.settings, job.outputs["dataset"]
    candidate = job.outputs["train"]["candidate"]
    result = evaluate(
        candidate,
        dataset=data["evaluation"],
        against=job.outputs["check"]["serving"],
        require=settings.get("require") or DEFAULT_REQUIRE,
        require_slices=settings.get("require_slices") or DEFAULT_REQUIRE_SLICES,
        tags=data["slices"],
        label_map=settings.get("label_map") or None,
        record=True,
        store=job.store,
    )
    summary = _summary(result)
    outputs = {
        "passed": result.passed,
        "summary": summary,
        "dataset": result.dataset,
        "against": result.against,
        "failures": [c.to_dict() for c in result.failures],
        "slices": [
            {
                "tag": sl.tag,
                "count": sl.count,
                "candidate": sl.candidate.get("accuracy"),
                "champion": sl.champion.get("accuracy"),
            }
            for sl in result.slices
        ],
    }
    return summary, outputs


def _summary(result: Any) -> str:
    """One line: the verdict, overall accuracy against the champion's, and what failed."""
    cand = result.overall.candidate.get("accuracy")
    champ = result.overall.champion.get("accuracy")
    judged = [c for c in result.checks if c.status != "skip"]
    line = (
        f"gate {'passed' if result.passed else 'failed'}: accuracy {_pct(cand)} vs {_pct(champ)} "
        f"({result.against}) on {result.dataset}, {len(judged)} check(s) judged"
    )
    if result.failures:
        failed = "; ".join(
            f"{c.requirement} on {c.scope}: {_pct(c.value)} (limit {_pct(c.limit)})"
            for c in result.failures[:5]
        )
        line += f"; failed: {failed}"
    return line


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rescore(job: _Job) -> tuple[str, dict[str, Any]]:
    """What would change on the logged window (retraining/rescore.py); with ``max_changed``,
    too many changed answers fail the gate."""
    from .rescore import has_window, rescore

    settings, endpoint = job.settings, job.request.endpoint
    window, limit = settings["rescore"], settings.get("max_changed")
    if limit is None and not has_window(endpoint, window, job.store):
        return f"nothing logged in the last {window:g} s to re-score", {"passed": True, "rows": 0}
    candidate = job.outputs["train"]["candidate"]
    found = rescore(endpoint, candidate, window_s=window, label_map=settings.get("label_map"),
                    ray=settings.get("ray"), store=job.store)  # fmt: skip
    passed = limit is None or found.changed <= limit
    accuracy = (
        f"; on its {found.labelled} held-out labelled answer(s) accuracy "
        f"{_pct(found.accuracy_before)} → "
        f"{_pct(found.accuracy_after)}"
        if found.labelled
        else ""
    )
    verdict = "" if limit is None else ("within" if passed else "over") + f" max {limit:.1%}; "
    summary = (
        f"{'' if passed else 'gate failed: '}re-scored {found.rows} logged answer(s) of the last "
        f"{window:g} s with {candidate}: {found.changed:.1%} change ({verdict}batch job "
        f"{found.job_id[:8]}){accuracy}"
    )
    return summary, {"passed": passed, "summary": summary, **found.to_dict()}


def _deploy(job: _Job) -> tuple[str, dict[str, Any]]:
    from .. import deploy
    from ..rollout import plan as defaults

    endpoint = job.request.endpoint
    candidate = job.outputs["train"]["candidate"]
    plan = deploy.get_plan(endpoint, store=job.store)
    if plan.candidate is not None and plan.candidate.ref == candidate:
        # an earlier run started this canary and stopped before recording it
        return f"canary of {candidate} already started", {"plan_revision": plan.revision}
    canary = job.settings.get("canary") or {}
    plan = deploy.canary(
        endpoint,
        candidate,
        steps=canary.get("steps", defaults.DEFAULT_STEPS),
        interval=canary.get("interval", defaults.DEFAULT_INTERVAL_S),
        gates=canary.get("gates", defaults.DEFAULT_GATES),
        min_requests=canary.get("min_requests", defaults.DEFAULT_MIN_REQUESTS),
        reason=f"retraining request {job.request.id}",
        actor=job.actor,
        store=job.store,
    )
    steps = ",".join(f"{s:g}" for s in plan.candidate.steps) if plan.candidate else ""
    return f"canary of {candidate} started ({steps}%, plan revision {plan.revision})", {
        "plan_revision": plan.revision
    }


_STEPS: tuple[tuple[str, Callable[[_Job], tuple[str, dict[str, Any]]]], ...] = (
    ("dataset", _dataset),
    ("train", _train),
    ("check", _check),
    ("evaluate", _evaluate),
    ("rescore", _rescore),
    ("deploy", _deploy),
)


def _lineage(ref: str, store: Store) -> tuple[dict[str, str], str | None]:
    """The datasets of the run that made ``ref``, by role ("train", "test"), and its project."""
    from ..registry.lineage import lineage

    roles: dict[str, str] = {}
    project = None
    for run in lineage(ref, store=store).children:
        project = run.details.get("project")
        for node in run.children:
            ref_of = f"{node.details['name']}@{node.details['version']}"
            for role in str(node.details.get("role", "")).split(", "):
                roles.setdefault(role, ref_of)
    return roles, project


def _drifted_features(request: RequestInfo, store: Store) -> list[str]:
    """The features whose drift (or input) monitors' alerts asked for this request."""
    from ..monitoring.metrics import parse_metric

    alert_ids = {request.alert_id} | {t.get("alert_id") for t in request.triggers}
    alert_ids.discard(None)
    if not alert_ids:
        return []
    with store.session(write=False) as s:
        metrics = s.scalars(
            select(Monitor.metric)
            .join(Alert, Alert.monitor_id == Monitor.id)
            .where(Alert.id.in_(alert_ids))
        ).all()
    features = []
    for metric in metrics:
        try:
            spec = parse_metric(metric)
        except InvalidInput:
            continue
        if spec.family in ("drift", "input") and spec.feature not in (None, "multivariate"):
            features.append(spec.feature)
    return list(dict.fromkeys(features))
