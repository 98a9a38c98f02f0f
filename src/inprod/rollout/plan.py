"""The deployment plan of an endpoint: which versions serve it, in which roles, how automated.

A plan is a value read from the endpoint's row (``endpoints.model_ref`` is the primary;
``endpoints.plan`` the rest; ``endpoints.state`` where it is in its life). Changes go through
:mod:`inprod.rollout.actions`, which checks them against :data:`TRANSITIONS` so that an action
that makes no sense now ("promote" with nothing in flight) is refused with the actions that do.

States::

    stable ──deploy shadow──▶ shadowing ──promote──▶ promoted
       │                          ├──abort──▶ aborted
       │                          └──deploy canary──▶ ramping
       ├──deploy canary──▶ ramping ⇄ paused (pause / resume)
       │                     ├──advance (gates hold) ──▶ ramping … last step ──▶ promoted
       │                     ├──rollback (a gate failed, or a person) ──▶ rolled_back
       │                     └──promote / abort
       └──deploy blue-green──▶ promoted (previous version kept loaded for instant rollback)

``promoted``, ``rolled_back`` and ``aborted`` are resting states like ``stable``: a new
deployment may start from any of them.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from ..errors import InvalidInput

STATES = ("stable", "shadowing", "ramping", "paused", "promoted", "rolled_back", "aborted")
RESTING = frozenset({"stable", "promoted", "rolled_back", "aborted"})
ROLES = ("shadow", "canary", "green")
AUTOMATION_MODES = ("human", "shadow", "assist", "partial", "full")

DEFAULT_STEPS = (5.0, 25.0, 50.0, 100.0)
DEFAULT_INTERVAL_S = 600.0
DEFAULT_MIN_REQUESTS = 500
DEFAULT_GATES = ("error_rate<=0.01",)
DEFAULT_KEEP_PREVIOUS_S = 600.0

# action -> states it may start from; where it leads is decided by the action itself
TRANSITIONS: dict[str, frozenset[str]] = {
    "shadow": RESTING,
    "canary": RESTING | {"shadowing"},  # a shadow that looked good may go straight to canary
    "blue_green": RESTING,
    "advance": frozenset({"ramping"}),
    "promote": frozenset({"shadowing", "ramping", "paused"}),
    "pause": frozenset({"ramping"}),
    "resume": frozenset({"paused"}),
    "abort": frozenset({"shadowing", "ramping", "paused"}),
    "rollback": frozenset({"ramping", "paused", "promoted"}),
    "automation": frozenset(STATES),
}


def allowed_actions(state: str) -> list[str]:
    """The actions a person may take from ``state`` (the controller's ``advance`` left out)."""
    return [a for a, froms in TRANSITIONS.items() if state in froms and a != "advance"]


@dataclass(frozen=True)
class Automation:
    """How much the model decides alone (the course's degrees of automation).

    ``human``: the model is not called; every request waits for a person. ``shadow``: the model
    is called and logged but a person decides. ``assist``: the answer is returned as a suggestion.
    ``partial``: answers with confidence >= ``threshold`` are decisions, the rest go to review.
    ``full``: the model decides. ``audit_rate`` sends that share of model decisions to review too.
    """

    mode: str = "full"
    threshold: float | None = None
    audit_rate: float = 0.0
    review_disagreements: bool = True

    def check(self) -> Automation:
        if self.mode not in AUTOMATION_MODES:
            raise InvalidInput(
                f"automation mode {self.mode!r} is not one of {', '.join(AUTOMATION_MODES)}",
                field="mode",
            )
        if self.mode == "partial":
            t = self.threshold
            if t is None or not isinstance(t, int | float) or math.isnan(t) or not 0 < t <= 1:
                raise InvalidInput(
                    f"partial automation needs a confidence threshold in (0, 1], got {t!r} "
                    "(e.g. --threshold 0.9)",
                    field="threshold",
                )
        elif self.threshold is not None:
            raise InvalidInput(
                f"a threshold applies only to partial automation, not {self.mode!r}",
                field="threshold",
            )
        a = self.audit_rate
        if not isinstance(a, int | float) or math.isnan(a) or not 0 <= a <= 1:
            raise InvalidInput(f"audit rate {a!r} must be in [0, 1]", field="audit_rate")
        return self


@dataclass(frozen=True)
class Candidate:
    """The version being tried next to the primary, and how."""

    ref: str  # concrete NAME@VERSION
    model_name: str
    version: int
    role: str  # shadow | canary | green
    steps: tuple[float, ...] = ()
    step: int = 0
    interval_s: float = DEFAULT_INTERVAL_S
    gates: tuple[str, ...] = ()
    min_requests: int = DEFAULT_MIN_REQUESTS
    step_started_at: str | None = None  # ISO time the current step began
    started_at: str | None = None  # ISO time the rollout began (the champion's gate window)
    salt: str = ""  # mixes the request key hash, so each rollout splits keys afresh
    sample_rate: float = 1.0  # shadow: the share of requests copied to it

    @property
    def weight(self) -> float:
        """The share of traffic (0..1) this candidate answers now; shadows answer none."""
        if self.role != "canary" or not self.steps:
            return 0.0
        return self.steps[min(self.step, len(self.steps) - 1)] / 100.0


@dataclass(frozen=True)
class Previous:
    """The version the primary replaced, kept loaded until ``until`` for an instant rollback."""

    ref: str
    until: str  # ISO time


@dataclass(frozen=True)
class DeploymentPlan:
    endpoint: str
    primary_ref: str  # as the endpoint names it, e.g. phone-inspector@champion
    state: str = "stable"
    revision: int = 0
    candidate: Candidate | None = None
    previous: Previous | None = None
    automation: Automation = field(default_factory=Automation)
    keep_previous_s: float = DEFAULT_KEEP_PREVIOUS_S
    updated_at: str = ""

    @classmethod
    def from_row(cls, row: Any) -> DeploymentPlan:
        plan = row.plan or {}
        cand = plan.get("candidate")
        prev = plan.get("previous")
        return cls(
            endpoint=row.name,
            primary_ref=row.model_ref,
            state=row.state or "stable",
            revision=row.revision or 0,
            candidate=None
            if not cand
            else Candidate(
                **{**cand, "steps": tuple(cand["steps"]), "gates": tuple(cand["gates"])}
            ),
            previous=None if not prev else Previous(**prev),
            automation=Automation(**plan.get("automation", {})),
            keep_previous_s=plan.get("keep_previous_s", DEFAULT_KEEP_PREVIOUS_S),
            updated_at=row.updated_at.isoformat() if row.updated_at else "",
        )

    def stored(self) -> dict[str, Any]:
        """The ``endpoints.plan`` JSON (primary and state live in their own columns)."""
        return {
            "candidate": None if self.candidate is None else asdict(self.candidate),
            "previous": None if self.previous is None else asdict(self.previous),
            "automation": asdict(self.automation),
            "keep_previous_s": self.keep_previous_s,
        }

    def previous_live(self, now: datetime) -> Previous | None:
        """The previous version while it is still kept loaded."""
        if self.previous is None or datetime.fromisoformat(self.previous.until) <= now:
            return None
        return self.previous

    def with_(self, **changes: Any) -> DeploymentPlan:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "endpoint": self.endpoint,
            "primary": self.primary_ref,
            "state": self.state,
            "revision": self.revision,
            **self.stored(),
            "allowed_actions": allowed_actions(self.state),
            "updated_at": self.updated_at,
        }
        if self.candidate is not None:
            out["candidate"]["weight"] = self.candidate.weight
        return out


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: str | float | int, *, what: str = "duration") -> float:
    """``"10m"`` -> 600.0 seconds; plain numbers are seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if match is None:
            raise InvalidInput(
                f"{what} {value!r} is not a duration like 30s, 10m, 2h or 1d", field=what
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if math.isnan(seconds) or seconds < 0:
        raise InvalidInput(f"{what} {value!r} must be zero or more", field=what)
    return seconds


def parse_steps(value: str | list[float] | tuple[float, ...]) -> tuple[float, ...]:
    """``"5,25,50,100"`` -> (5.0, 25.0, 50.0, 100.0): increasing percentages ending at 100."""
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        steps = tuple(float(str(s).strip().rstrip("%")) for s in items if str(s).strip())
    except ValueError:
        raise InvalidInput(
            f"steps {value!r} must be percentages like 5,25,50,100", field="steps"
        ) from None
    if not steps:
        raise InvalidInput("steps are empty; give percentages like 5,25,50,100", field="steps")
    for a, b in itertools.pairwise(steps):
        if b <= a:
            raise InvalidInput(
                f"steps {list(steps)} must increase ({b:g} follows {a:g})", field="steps"
            )
    if steps[0] <= 0 or any(math.isnan(s) for s in steps):
        raise InvalidInput(f"steps {list(steps)} must be above 0", field="steps")
    if steps[-1] != 100:
        raise InvalidInput(
            f"steps {list(steps)} must end at 100 (the candidate takes all traffic last)",
            field="steps",
        )
    return steps
