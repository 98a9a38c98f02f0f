"""Every metric a monitor, a gate or a report can name, computed over a span of one endpoint.

Names are dotted and fall in five families (docs/monitoring.md lists them all):

- software, from window profiles: ``requests``, ``qps``, ``errors``, ``error_rate``,
  ``latency.p50`` … ``latency.p99``, ``latency.mean``, ``latency.max`` (milliseconds),
  ``log.dropped`` (log records the server's full buffer dropped);
- input, from window profiles: ``input.FEATURE.STAT`` with STAT one of mean, std, min, max,
  p01 … p99, missing, out_of_schema, count (numeric) or ``input.FEATURE.share.VALUE`` and
  ``input.FEATURE.missing`` (categorical), plus ``input.missing`` and ``input.out_of_schema`` over
  every feature;
- output, from window profiles: ``output.class.LABEL`` (share of answers),
  ``output.confidence.STAT``, ``output.value.STAT``, ``output.null`` and ``output.needs_review``
  (fractions of instances);
- feedback, from the log joined with feedback: ``accuracy``, ``precision.CLASS``, ``recall.CLASS``,
  ``calibration`` (expected calibration error), ``labels`` (how many), ``event.NAME`` (user events
  such as ``event.redo`` per answered instance); all but events per slice of a logged input
  feature: ``accuracy@factory=B``;
- drift against the endpoint's reference: ``drift.FEATURE.STAT`` (psi, ks, js, wasserstein,
  p_value), ``drift.share`` (share of features drifted) and ``drift.multivariate.auc`` (a domain
  classifier on logged inputs); ``custom.NAME`` for user functions
  (:func:`register_metric`).

Profile metrics never scan raw predictions: they merge the span's window profiles. A value is
``None`` when the span has no data for it, which monitors treat as "no data", never as zero.
"""

from __future__ import annotations

import importlib
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..errors import InvalidInput, NotFound
from ..rollout.gates import MetricValue
from ..store import Store, get_store
from .profile import WindowProfile, merge_all
from .sketches import CategorySketch, NumericSketch

__all__ = [
    "MetricContext",
    "MetricSpec",
    "MetricValue",
    "Span",
    "compute",
    "metric_catalog",
    "parse_metric",
    "register_metric",
]

SOFTWARE = ("requests", "qps", "errors", "error_rate")
LATENCY_STATS = ("p50", "p90", "p95", "p99", "mean", "max")
QUANTILES = {"p01": 0.01, "p05": 0.05, "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75}
QUANTILES |= {"p90": 0.9, "p95": 0.95, "p99": 0.99}
NUMERIC_STATS = ("mean", "std", "min", "max", "count", "missing", "out_of_schema", *QUANTILES)
DRIFT_STATS = ("psi", "ks", "js", "wasserstein", "p_value")
FEEDBACK = ("accuracy", "calibration", "labels")
FAMILIES = ("software", "input", "output", "feedback", "drift", "custom")
CALIBRATION_BINS = 10
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/=@+-]*$")


@dataclass(frozen=True)
class Span:
    """What a metric is computed over: one endpoint's answers in [since, until) in one role, by
    one model version or (``version`` None) every version that served in that role."""

    endpoint: str
    since: datetime
    until: datetime
    role: str = "primary"
    model_name: str | None = None
    version: int | None = None

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: its family and the parts the family needs."""

    name: str
    family: str
    feature: str | None = None
    stat: str | None = None
    value: str | None = None  # a class label, category value, event or custom metric name
    slice: tuple[str, str] | None = None  # feedback metrics of one slice: (feature, value)

    @property
    def min_samples(self) -> int:
        from ..rollout.gate_metrics import MIN_LABELS

        return MIN_LABELS if self.family == "feedback" and self.name != "labels" else 1


@dataclass
class MetricContext:
    """What a custom metric function gets: the span, its merged profile (None without data), the
    store, and a cache shared by one evaluation pass."""

    span: Span
    store: Store
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def profile(self) -> WindowProfile | None:
        return span_profile(self.span, self.store, self.cache)


CustomMetric = Callable[[MetricContext], float | None]
_CUSTOM: dict[tuple[str, str], CustomMetric] = {}
_CUSTOM_LOCK = threading.Lock()


def register_metric(endpoint: str, name: str, function: CustomMetric) -> None:
    """Make ``custom.NAME`` computable for ``endpoint`` in this process (``endpoint`` "*" for every
    endpoint). A monitor can also name ``module:function`` so that any process can import it."""
    if not _NAME.match(name) or "." in name:
        raise InvalidInput(f"custom metric name {name!r} must be letters, digits and _ (no dots)")
    if not callable(function):
        raise InvalidInput(f"custom metric {name!r}: {function!r} is not callable")
    with _CUSTOM_LOCK:
        _CUSTOM[(endpoint, name)] = function


def parse_metric(name: str) -> MetricSpec:
    """Check a metric name's form; the message lists the forms when it is not one of them."""
    if not isinstance(name, str) or not name or not _NAME.match(name):
        raise InvalidInput(f"metric {name!r} is not a metric name; {_forms()}", field="metric")
    if "@" in name:
        return _sliced(name)
    if name in SOFTWARE:
        return MetricSpec(name, "software", stat=name)
    if name in FEEDBACK:
        return MetricSpec(name, "feedback", stat=name)
    head, _, rest = name.partition(".")
    if head == "latency" and rest in LATENCY_STATS:
        return MetricSpec(name, "software", stat=rest)
    if name == "log.dropped":
        return MetricSpec(name, "software", stat="dropped")
    if head == "input" and rest in ("missing", "out_of_schema"):
        return MetricSpec(name, "input", stat=rest)
    if head == "input" and rest:
        if ".share." in rest:
            feature, _, value = rest.rpartition(".share.")
            if feature and value:
                return MetricSpec(name, "input", feature=feature, stat="share", value=value)
        feature, _, stat = rest.rpartition(".")
        if feature and stat in NUMERIC_STATS:
            return MetricSpec(name, "input", feature=feature, stat=stat)
        raise InvalidInput(
            f"metric {name!r}: an input metric is input.FEATURE.STAT with STAT one of "
            f"{', '.join(NUMERIC_STATS)}, or input.FEATURE.share.VALUE",
            field="metric",
        )
    if head == "output":
        kind, _, stat = rest.partition(".")
        if kind == "class" and stat:
            return MetricSpec(name, "output", feature="class", stat="share", value=stat)
        if kind in ("confidence", "value") and stat in NUMERIC_STATS:
            return MetricSpec(name, "output", feature=kind, stat=stat)
        if rest in ("null", "needs_review"):
            return MetricSpec(name, "output", stat=rest)
        raise InvalidInput(
            f"metric {name!r}: output metrics are output.class.LABEL, output.confidence.STAT, "
            "output.value.STAT, output.null and output.needs_review",
            field="metric",
        )
    if head in ("precision", "recall") and rest:
        return MetricSpec(name, "feedback", stat=head, value=rest)
    if head == "event" and rest:
        return MetricSpec(name, "feedback", stat="event", value=rest)
    if head == "drift":
        if rest == "share":
            return MetricSpec(name, "drift", stat="share")
        if rest == "multivariate.auc":
            return MetricSpec(name, "drift", feature="multivariate", stat="auc")
        feature, _, stat = rest.rpartition(".")
        if feature and stat in DRIFT_STATS:
            return MetricSpec(name, "drift", feature=feature, stat=stat)
        raise InvalidInput(
            f"metric {name!r}: a drift metric is drift.FEATURE.STAT with STAT one of "
            f"{', '.join(DRIFT_STATS)}, or drift.share",
            field="metric",
        )
    if head == "custom" and rest and "." not in rest:
        return MetricSpec(name, "custom", value=rest)
    raise InvalidInput(f"metric {name!r} is not known; {_forms()}", field="metric")


def _sliced(name: str) -> MetricSpec:
    """``accuracy@factory=B``: a feedback metric over the answers whose logged input has
    ``factory`` equal to ``B`` (concept drift per slice)."""
    base, _, text = name.partition("@")
    feature, sep, value = text.partition("=")
    spec = parse_metric(base)
    if spec.family != "feedback" or spec.stat == "event" or not sep or not feature or not value:
        raise InvalidInput(
            f"metric {name!r}: a slice is METRIC@FEATURE=VALUE on accuracy, precision.CLASS, "
            "recall.CLASS, calibration or labels, e.g. accuracy@factory=B",
            field="metric",
        )
    return replace(spec, name=name, slice=(feature, value))


def _forms() -> str:
    return (
        "metrics are requests, qps, errors, error_rate, latency.p99, input.FEATURE.mean, "
        "output.class.LABEL, output.confidence.mean, accuracy, precision.CLASS, event.NAME, "
        "drift.FEATURE.psi, drift.share or custom.NAME (see docs/monitoring.md)"
    )


def compute(
    metric: str | MetricSpec,
    span: Span,
    *,
    store: Store | None = None,
    reference: WindowProfile | None = None,
    reference_name: str | None = None,
    function: str | None = None,
    cache: dict[Any, Any] | None = None,
) -> MetricValue:
    """The metric's value over ``span`` and how many observations it rests on.

    ``reference`` is the profile drift metrics compare with (see monitoring.reference), and
    ``reference_name`` its spelling (the multivariate check reads the reference's raw rows);
    ``function`` a ``module:function`` for a custom metric not registered in this process;
    ``cache`` lets one evaluation pass read each span's profiles once."""
    spec = metric if isinstance(metric, MetricSpec) else parse_metric(metric)
    store = get_store(store)
    cache = {} if cache is None else cache
    if spec.feature == "multivariate":
        return _multivariate(span, reference_name, store)
    if spec.family == "feedback":
        from .feedback_metrics import feedback_metric

        return feedback_metric(spec, span, store)
    if spec.family == "custom":
        return _custom(spec, span, store, function, cache)
    profile = span_profile(span, store, cache)
    if profile is None:
        return MetricValue(None, 0)
    if spec.family == "drift":
        return _drift(spec, profile, reference)
    return profile_metric(spec, profile)


def span_profile(span: Span, store: Store, cache: dict[Any, Any]) -> WindowProfile | None:
    """The span's window profiles merged (versions of one role merged too); None without data."""
    key = ("profile", span)
    if key not in cache:
        from .windows import read_profiles

        streams = read_profiles(span.endpoint, since=span.since, until=span.until, store=store)
        chosen = [
            p
            for (model, version, role), p in streams.items()
            if role == span.role
            and (span.model_name is None or model == span.model_name)
            and (span.version is None or version == span.version)
        ]
        cache[key] = merge_versions(chosen) if chosen else None
    return cache[key]


def merge_versions(profiles: list[WindowProfile]) -> WindowProfile:
    """Profiles of several versions as one stream (a version change mid-span is still one
    endpoint's traffic in that role)."""
    key = profiles[0].key
    common = [
        replace(p, key=replace(p.key, model_name=key.model_name, model_version=key.model_version))
        for p in profiles
    ]
    return merge_all(common)


def profile_metric(spec: MetricSpec, p: WindowProfile) -> MetricValue:
    """A software, input or output metric of one (merged) profile."""
    if spec.family == "software":
        return _software(spec.stat or "", p)
    if spec.family == "input":
        return _input(spec, p)
    return _output(spec, p)


def _software(stat: str, p: WindowProfile) -> MetricValue:
    if stat == "dropped":  # a window may hold nothing else when the buffer was full
        return MetricValue(float(p.dropped), p.dropped + p.instances)
    n = p.requests
    if not n:
        return MetricValue(None, 0)
    if stat == "requests":
        return MetricValue(float(n), n)
    if stat == "qps":
        return MetricValue(n / p.key.seconds if p.key.seconds > 0 else None, n)
    if stat == "errors":
        return MetricValue(float(p.errors), n)
    if stat == "error_rate":
        return MetricValue(p.errors / n, n)
    return _numeric_stat(p.latency_ms, stat, n)


def _numeric_stat(sketch: NumericSketch, stat: str, whole: int) -> MetricValue:
    """A statistic of a numeric sketch; ``whole`` is the count missing fractions divide."""
    n = sketch.count
    if stat == "count":
        return MetricValue(float(n), n)
    if stat in ("missing", "out_of_schema"):
        part = sketch.missing + sketch.nonfinite if stat == "missing" else sketch.out_of_schema
        return MetricValue(part / whole if whole else None, whole)
    if not n:
        return MetricValue(None, 0)
    value = sketch.quantile(QUANTILES[stat]) if stat in QUANTILES else getattr(sketch, stat)
    return MetricValue(None if value is None else float(value), n)


def _input(spec: MetricSpec, p: WindowProfile) -> MetricValue:
    if spec.feature is None:  # input.missing / input.out_of_schema over every feature
        cells = p.instances * len(p.features)
        if not cells:
            return MetricValue(None, 0)
        part = 0
        for sketch in p.features.values():
            absent = max(p.instances - sketch.seen, 0)
            part += (
                absent + sketch.missing + getattr(sketch, "nonfinite", 0)
                if spec.stat == "missing"
                else sketch.out_of_schema
            )
        return MetricValue(part / cells, cells)
    sketch = p.features.get(spec.feature)
    if sketch is None:
        return MetricValue(None, 0)
    if spec.stat == "missing":
        absent = max(p.instances - sketch.seen, 0)
        extra = sketch.nonfinite if isinstance(sketch, NumericSketch) else 0
        part = absent + sketch.missing + extra
        return MetricValue(part / p.instances if p.instances else None, p.instances)
    if isinstance(sketch, CategorySketch):
        if spec.stat == "share":
            return _share(sketch, spec.value or "")
        if spec.stat in ("count", "out_of_schema"):
            part = sketch.count if spec.stat == "count" else sketch.out_of_schema
            whole = 1 if spec.stat == "count" else p.instances
            return MetricValue(part / whole if whole else None, p.instances)
        raise InvalidInput(
            f"metric {spec.name!r}: feature {spec.feature!r} is categorical; use "
            f"input.{spec.feature}.share.VALUE or input.{spec.feature}.missing",
            field="metric",
        )
    if spec.stat == "share":
        raise InvalidInput(
            f"metric {spec.name!r}: feature {spec.feature!r} is numeric; use "
            f"input.{spec.feature}.mean (or p50, std, missing…)",
            field="metric",
        )
    return _numeric_stat(sketch, spec.stat or "", p.instances)


def _share(sketch: CategorySketch, value: str) -> MetricValue:
    n = sketch.count
    return MetricValue(sketch.estimate(value) / n if n else None, n)


def _output(spec: MetricSpec, p: WindowProfile) -> MetricValue:
    if spec.stat in ("null", "needs_review"):
        part = p.null_outputs if spec.stat == "null" else p.needs_review
        return MetricValue(part / p.instances if p.instances else None, p.instances)
    if spec.feature == "class":
        return _share(p.output_classes, spec.value or "")
    sketch = p.confidence if spec.feature == "confidence" else p.output_values
    return _numeric_stat(sketch, spec.stat or "", p.instances)


def _drift(
    spec: MetricSpec, current: WindowProfile, reference: WindowProfile | None
) -> MetricValue:
    if reference is None:
        raise InvalidInput(
            f"metric {spec.name!r} compares with a reference; give the monitor one (--reference, "
            "default: the training dataset of the served model version)",
            field="reference",
        )
    from .sketch_drift import profile_drift

    features = None if spec.stat == "share" else [spec.feature or ""]
    report = profile_drift(reference, current, features=features)
    if spec.stat == "share":
        total = len(report.columns)
        return MetricValue(len(report.drifted) / total if total else None, current.instances)
    for column in report.columns:
        if column.column == spec.feature:
            value = {
                "psi": column.psi,
                "ks": column.statistic if column.test == "ks" else None,
                "js": column.js,
                "wasserstein": column.wasserstein,
                "p_value": column.p_value,
            }[spec.stat or ""]
            return MetricValue(None if value is None else float(value), column.n_current)
    return MetricValue(None, 0)


_MULTIVARIATE: dict[tuple, MetricValue] = {}
_MULTIVARIATE_KEEP = 64


def _multivariate(span: Span, reference: str | None, store: Store) -> MetricValue:
    """The domain classifier's AUC (0.5: the span looks like the reference), once per span and
    reference: the classifier costs about a second, and a span changes once a profile window."""
    from .multivariate import endpoint_multivariate_drift

    key = (store.url, span, reference)
    if key not in _MULTIVARIATE:
        try:
            result = endpoint_multivariate_drift(
                span.endpoint, since=span.since, until=span.until, reference=reference,
                role=span.role, store=store,
            )  # fmt: skip
            value = MetricValue(result.auc, min(result.n_reference, result.n_current))
        except InvalidInput as exc:
            if exc.field not in ("since", "current"):  # the reference or an option is wrong
                raise
            value = MetricValue(None, 0)  # too little logged in the span: no data
        if len(_MULTIVARIATE) >= _MULTIVARIATE_KEEP:
            _MULTIVARIATE.pop(next(iter(_MULTIVARIATE)))
        _MULTIVARIATE[key] = value
    return _MULTIVARIATE[key]


def _custom(
    spec: MetricSpec, span: Span, store: Store, function: str | None, cache: dict[Any, Any]
) -> MetricValue:
    name = spec.value or ""
    fn = _CUSTOM.get((span.endpoint, name)) or _CUSTOM.get(("*", name))
    if fn is None and function:
        fn = load_function(function)
    if fn is None:
        raise NotFound(
            f"custom metric {name!r} is not registered for endpoint {span.endpoint!r} in this "
            "process; register it with inprod.monitoring.register_metric, or give the monitor "
            "--function module:function"
        )
    value = fn(MetricContext(span, store, cache))
    if value is None:
        return MetricValue(None, 0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"custom metric {name!r} returned {value!r}; it must return a number or None"
        ) from None
    if math.isnan(number):
        return MetricValue(None, 0)
    return MetricValue(number, 1)


def load_function(path: str) -> CustomMetric:
    """Import ``module:function``; InvalidInput naming what failed."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"function {path!r} must be module:function, e.g. mymetrics:glare")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r} for {path!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InvalidInput(f"{path!r}: module {module_name!r} has no function {attr!r}")
    return fn


def metric_catalog(profile: WindowProfile | None = None) -> list[tuple[str, str]]:
    """(name, what it measures) for the fixed metrics, plus the input features and output
    classes ``profile`` shows; the CLI's ``monitor metrics`` prints it."""
    rows = [
        ("requests", "requests answered in the span"),
        ("qps", "requests a second"),
        ("errors", "failed requests"),
        ("log.dropped", "log records dropped because the server's buffer was full"),
        ("error_rate", "failed / answered requests"),
        *[(f"latency.{s}", f"server time, {s} (ms)") for s in LATENCY_STATS],
        ("input.missing", "missing values / (instances × features)"),
        ("input.out_of_schema", "values of the wrong type / (instances × features)"),
        ("output.null", "instances answered with no output"),
        ("output.needs_review", "instances sent to the review queue"),
        ("output.confidence.mean", "mean confidence (any STAT: p50, p05, …)"),
        ("output.value.mean", "mean numeric output (regression)"),
        ("accuracy", "labelled answers that match their label (needs 30 labels)"),
        ("precision.CLASS", "of answers CLASS, the share labelled CLASS"),
        ("recall.CLASS", "of labels CLASS, the share answered CLASS"),
        ("calibration", "expected calibration error of confidence vs correctness"),
        ("labels", "answers with a label"),
        ("event.NAME", "user events NAME (e.g. redo) per answered instance"),
        ("drift.FEATURE.psi", "drift vs the reference (psi, ks, js, wasserstein, p_value)"),
        ("drift.share", "share of features drifted vs the reference"),
        ("drift.multivariate.auc", "domain classifier AUC vs the reference (0.5: alike)"),
        ("custom.NAME", "a registered Python function"),
    ]
    if profile is not None:
        for name, sketch in sorted(profile.features.items()):
            if isinstance(sketch, NumericSketch):
                rows.append((f"input.{name}.mean", "numeric feature (any STAT)"))
            else:
                for item, *_ in sketch.top(5):
                    rows.append((f"input.{name}.share.{item}", "categorical feature share"))
        for item, *_ in profile.output_classes.top(10):
            rows.append((f"output.class.{item}", "share of answers of this class"))
    return rows
