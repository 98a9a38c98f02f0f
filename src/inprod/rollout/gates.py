"""Gates: conditions a canary must meet over a step's window before it takes more traffic.

A gate is ``METRIC OP LIMIT``: ``error_rate<=0.01``, ``latency_p99_ms<=300``, or relative to the
primary ("champion") over the same window: ``accuracy>=champion-0.01``,
``latency_p99_ms<=champion*1.2``. Metrics are looked up by name in a registry
(:func:`register_gate_metric`), which is the seam where monitoring's input and output metrics
plug in; the software metrics are registered by :mod:`inprod.rollout.gate_metrics`.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidInput, suggest

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_GATE_RE = re.compile(
    r"^\s*(?P<metric>[a-z][a-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?:(?P<champion>champion)\s*(?:(?P<rel>[-+*])\s*(?P<delta>[0-9.eE+-]+))?"
    r"|(?P<value>[-+]?[0-9.eE+-]+))\s*$"
)


@dataclass(frozen=True)
class GateWindow:
    """What a metric is computed over: one endpoint's predictions in [start, end) by one version
    in one role (``canary`` for the candidate, ``primary`` for the champion)."""

    endpoint: str
    model_name: str
    version: int
    role: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class MetricValue:
    """A metric's value over a window and how many observations it rests on; ``value`` is None
    when there is nothing to compute it from yet (no feedback for accuracy, say)."""

    value: float | None
    samples: int


@dataclass(frozen=True)
class GateMetric:
    name: str
    description: str
    compute: Callable[[GateWindow, Any], MetricValue]  # (window, store) -> value
    min_samples: int = 1  # fewer observations than this: the gate waits instead of judging


_METRICS: dict[str, GateMetric] = {}


def register_gate_metric(metric: GateMetric) -> None:
    """Make ``metric.name`` usable in ``--gate``; later registrations replace earlier ones."""
    _METRICS[metric.name] = metric


def gate_metrics() -> dict[str, GateMetric]:
    from . import gate_metrics as _builtin  # noqa: F401  (registers the software metrics)

    return dict(_METRICS)


def resolve_gate_metric(name: str) -> GateMetric | None:
    """A registered gate metric, else monitoring's metric of that name computed from window
    profiles (``input.brightness.mean``, ``output.class.scratch``, ``precision.scratch``…);
    None when neither knows it. Drift metrics need a reference, so gates do not take them."""
    known = gate_metrics().get(name)
    if known is not None:
        return known
    from ..monitoring.metrics import Span, compute, parse_metric

    try:
        spec = parse_metric(name)
    except InvalidInput:
        return None
    if spec.family == "drift":
        return None

    def compute_over(w: GateWindow, store: Any) -> MetricValue:
        span = Span(w.endpoint, w.start, w.end, w.role, w.model_name, w.version)
        return compute(spec, span, store=store)

    return GateMetric(name, f"monitoring metric {name}", compute_over, spec.min_samples)


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: str
    value: float  # the limit, or the offset/factor when relative to the champion
    relative: str | None = None  # None, "=", "-", "+" or "*"

    def limit(self, champion: float | None) -> float | None:
        """The number the candidate's value is compared with; None while the champion's value
        is unknown for a relative gate."""
        if self.relative is None:
            return self.value
        if champion is None:
            return None
        if self.relative == "-":
            return champion - self.value
        if self.relative == "+":
            return champion + self.value
        if self.relative == "*":
            return champion * self.value
        return champion

    def holds(self, candidate: float, limit: float) -> bool:
        return _OPS[self.op](candidate, limit)


@dataclass(frozen=True)
class GateResult:
    """One gate judged over one window. ``status``: ``pass``, ``fail`` or ``wait`` (too few
    observations to judge, e.g. no feedback yet)."""

    gate: str
    status: str
    value: float | None
    limit: float | None
    samples: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status,
            "value": self.value,
            "limit": self.limit,
            "samples": self.samples,
            "note": self.note,
        }


def parse_gate(text: str) -> Gate:
    """Parse and check one gate; names the known metrics when the metric is unknown."""
    if not isinstance(text, str):
        raise InvalidInput(f"gate {text!r} must be text like 'error_rate<=0.01'", field="gates")
    match = _GATE_RE.match(text)
    if match is None:
        raise InvalidInput(
            f"gate {text!r} is not METRIC OP LIMIT, e.g. 'error_rate<=0.01', "
            "'latency_p99_ms<=300' or 'accuracy>=champion-0.01'",
            field="gates",
        )
    metric = match.group("metric")
    if resolve_gate_metric(metric) is None:
        known = gate_metrics()
        # the list is short and the user is choosing from it: always show all of it
        listing = (
            "known gate metrics: "
            + ", ".join(repr(k) for k in sorted(known))
            + ", and monitoring metrics such as 'input.FEATURE.mean' or 'output.class.LABEL'"
        )
        hint = suggest(metric, known, what="gate metrics")
        if hint.startswith("did you mean"):
            listing = f"{hint} {listing}"
        raise InvalidInput(
            f"gate {text!r} names an unknown metric {metric!r}; {listing}", field="gates"
        )
    try:
        if match.group("champion"):
            rel = match.group("rel")
            delta = float(match.group("delta")) if rel else 0.0
            gate = Gate(text.strip(), metric, match.group("op"), delta, rel or "=")
        else:
            gate = Gate(text.strip(), metric, match.group("op"), float(match.group("value")))
    except ValueError:
        raise InvalidInput(f"gate {text!r}: the limit is not a number", field="gates") from None
    if math.isnan(gate.value) or math.isinf(gate.value):
        raise InvalidInput(f"gate {text!r}: the limit must be a finite number", field="gates")
    return gate


def parse_gates(texts: list[str] | tuple[str, ...]) -> tuple[Gate, ...]:
    return tuple(parse_gate(t) for t in texts)
