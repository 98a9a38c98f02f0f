"""Deploying models safely, from Python: the same operations as ``inprod deploy`` and ``/api``.

    from inprod import deploy
    deploy.shadow("phone-inspector", "phone-inspector@4")   # answers copies, after the primary
    print(deploy.compare("phone-inspector").agreement)      # once it has seen traffic
    deploy.promote("phone-inspector")                        # v4 serves; v3 kept for rollback
    deploy.canary("phone-inspector", "phone-inspector@5", gates=["accuracy>=champion-0.01"])
    deploy.status("phone-inspector")["judgement"]           # what the controller does next

Every change is one audited transaction (see :func:`history`) that servers apply within a
second; a change that makes no sense in the plan's state raises Conflict naming what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .rollout import actions as _actions
from .rollout.actions import PlanEvent as PlanEvent
from .rollout.actions import abort as abort
from .rollout.actions import blue_green as blue_green
from .rollout.actions import canary as canary
from .rollout.actions import get_plan as get_plan
from .rollout.actions import history as history
from .rollout.actions import pause as pause
from .rollout.actions import promote as promote
from .rollout.actions import resume as resume
from .rollout.actions import rollback as rollback
from .rollout.actions import set_automation as set_automation
from .rollout.actions import shadow as shadow
from .rollout.compare import Comparison as Comparison
from .rollout.compare import compare as compare
from .rollout.plan import DeploymentPlan as DeploymentPlan
from .rollout.thresholds import ThresholdSuggestion as ThresholdSuggestion
from .rollout.thresholds import suggest_threshold as suggest_threshold
from .store import Store, get_store

# option -> the pattern it belongs to
_OPTION_PATTERN = {
    "steps": "canary",
    "interval": "canary",
    "gates": "canary",
    "min_requests": "canary",
    "keep_previous": "blue_green",
    "check": "blue_green",
    "sample_rate": "shadow",
}

__all__ = [
    "Comparison",
    "DeploymentPlan",
    "PlanEvent",
    "ThresholdSuggestion",
    "abort",
    "blue_green",
    "canary",
    "compare",
    "get_plan",
    "history",
    "pause",
    "promote",
    "resume",
    "rollback",
    "set_automation",
    "shadow",
    "start",
    "status",
    "suggest_threshold",
]


def status(endpoint: str, *, store: Store | None = None) -> dict[str, Any]:
    """The plan (:meth:`DeploymentPlan.to_dict`), the version its primary reference names now
    (``primary_version``) and ``judgement``: what the rollout controller would do now and why,
    with every gate's live value against its limit."""
    from .errors import NotFound
    from .registry import models
    from .rollout.judge import judge

    store = get_store(store)
    plan = get_plan(endpoint, store=store)
    out = plan.to_dict()
    try:
        out["primary_version"] = models.get(plan.primary_ref, store=store).ref
    except NotFound:  # the reference no longer resolves; the status still shows the plan
        out["primary_version"] = None
    out["judgement"] = judge(plan, store=store).to_dict()
    return out


def start(
    endpoint: str,
    *,
    shadow: str | None = None,
    canary: str | None = None,
    blue_green: str | None = None,
    steps: str | list[float] | None = None,
    interval: str | float | None = None,
    gates: list[str] | None = None,
    min_requests: int | None = None,
    keep_previous: str | float | None = None,
    check: bool | None = None,
    sample_rate: float | None = None,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
    spelling: Mapping[str, str] | None = None,
) -> DeploymentPlan:
    """Start one deployment pattern: exactly one of ``shadow``, ``canary`` or ``blue_green``
    names the version; the other options apply to their pattern only (None: its default).

    One entry point for ``inprod deploy ENDPOINT --canary REF`` and ``POST .../deploy``;
    ``spelling`` maps option names to how the caller spells them in error messages
    (``{"blue_green": "--blue-green"}``). Raises Unprocessable for a wrong combination.
    """
    from .errors import Unprocessable

    names = dict(spelling or {})

    def spell(key: str) -> str:
        return names.get(key, key)

    given = {"shadow": shadow, "canary": canary, "blue_green": blue_green}
    chosen = [k for k, v in given.items() if v is not None]
    patterns = ", ".join(spell(k) for k in given)
    if len(chosen) != 1:
        got = "none" if not chosen else " and ".join(spell(k) for k in chosen)
        raise Unprocessable(
            f"give exactly one of {patterns} with the version to deploy (got {got}), e.g. "
            f"{spell('shadow')} MODEL@VERSION",
            field=chosen[1] if len(chosen) > 1 else "shadow",
        )
    pattern = chosen[0]
    options = {
        "steps": steps,
        "interval": interval,
        "gates": gates,
        "min_requests": min_requests,
        "keep_previous": keep_previous,
        "check": check,
        "sample_rate": sample_rate,
    }
    for key, value in options.items():
        if value is not None and _OPTION_PATTERN[key] != pattern:
            raise Unprocessable(
                f"{spell(key)} applies only to {spell(_OPTION_PATTERN[key])}, "
                f"not to {spell(pattern)}",
                field=key,
            )
    kwargs = {k: v for k, v in options.items() if v is not None}
    if pattern == "shadow":
        return _actions.shadow(
            endpoint, given[pattern], reason=reason, actor=actor, store=store, **kwargs
        )
    if pattern == "canary":
        return _actions.canary(
            endpoint, given[pattern], reason=reason, actor=actor, store=store, **kwargs
        )
    return _actions.blue_green(
        endpoint, given[pattern], reason=reason, actor=actor, store=store, **kwargs
    )
