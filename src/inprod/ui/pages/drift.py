"""The drift page: each feature of an endpoint's recent traffic against a reference, with the
test's numbers, a verdict and a small plot of both distributions.

The current side is the endpoint's primary traffic over the last hour or day, merged from its
window profiles (hour and day rollups where they fit), never from raw predictions. The
reference is what the endpoint's monitors compare with (the first drift monitor's, else any
monitor's), or one the person picks: the served model's training data or a monitor's
reference. The verdicts are :func:`inprod.monitoring.sketch_drift.profile_drift`'s, the one
line above the table is :func:`inprod.monitoring.window_drift.explain`'s, exactly as the
monitors and ``inprod monitor report`` compute them. Below, the hourly drift checks the leader
stored (``inprod monitor drift-windows``), newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import endpoints
from ...errors import InvalidInput, NotFound
from ...monitoring import monitors
from ...monitoring.drift import ColumnDrift, DriftReport
from ...monitoring.metrics import merge_versions
from ...monitoring.reference import DATASET_PREFIX, WINDOW_PREFIX, reference_profile
from ...monitoring.sketch_drift import profile_drift
from ...monitoring.window_drift import explain, recent_results
from ...monitoring.windows import read_profiles
from ...store import Store
from ..render import off_loop, render
from ..session import viewer_of
from ..svg import distribution_svg, feature_sketch

WINDOWS = {"1h": 3600, "24h": 86400}
DEFAULT_WINDOW = "1h"
TRAINING = "training"  # the served model's training data (reference_profile's default)
ROLE = "primary"
HISTORY_ROWS = 24
TEST_NAMES = {"ks": "KS", "chi2": "χ²"}
EFFECT_NAMES = {"psi": "PSI", "js": "JS"}


@dataclass(frozen=True)
class FeatureRow:
    """One tested feature and its plot (inline SVG, escaped where it is drawn)."""

    drift: ColumnDrift
    plot: str

    @property
    def test(self) -> str:
        return TEST_NAMES.get(self.drift.test, self.drift.test)

    @property
    def effect(self) -> str:
        return EFFECT_NAMES.get(self.drift.effect, self.drift.effect)


@dataclass(frozen=True)
class DriftPage:
    endpoint: str
    window: str
    since: datetime
    until: datetime
    reference: str  # the choice: TRAINING or a reference as monitors spell it
    choices: list[tuple[str, str]]  # (value, label) of every reference the page offers
    described: str = ""  # the reference as resolved, e.g. dataset:phone-tabular@1
    report: DriftReport | None = None
    explanation: str = ""
    features: list[FeatureRow] = field(default_factory=list)
    problem: str = ""  # why there is no table, when there is none
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reference_label(self) -> str:
        return self.described or dict(self.choices)[self.reference]


def parse_params(request: Request) -> tuple[str, str | None]:
    """``(window, reference)`` from the query, checked once here (400 naming the parameter)."""
    window = request.query_params.get("window") or DEFAULT_WINDOW
    if window not in WINDOWS:
        raise InvalidInput(
            f"window {window!r} is not one of {', '.join(WINDOWS)}: the current side is the "
            "last hour or the last day",
            field="window",
        )
    reference = request.query_params.get("reference") or None
    if reference is not None and not (
        reference == TRAINING or reference.startswith((DATASET_PREFIX, WINDOW_PREFIX))
    ):
        raise InvalidInput(
            f"reference {reference!r} is not {TRAINING!r}, dataset:NAME@VERSION or "
            "window:START/END; leave it out to use the monitors' reference",
            field="reference",
        )
    return window, reference


def drift_page(
    endpoint: str,
    *,
    window: str = DEFAULT_WINDOW,
    reference: str | None = None,
    now: datetime | None = None,
    store: Store,
) -> DriftPage:
    """What the page shows (it runs in a worker thread). NotFound for an unknown endpoint; a
    reference that cannot be used, or a window without traffic, is the page's ``problem``."""
    endpoints.get(endpoint, store=store)
    until = now or datetime.now(UTC)
    since = until - timedelta(seconds=WINDOWS[window])
    choices = _choices(monitors.list_monitors(endpoint, store=store))
    chosen = reference or choices[0][0]
    if chosen not in dict(choices):
        choices.append((chosen, chosen))
    page = DriftPage(
        endpoint,
        window,
        since,
        until,
        chosen,
        choices,
        history=recent_results(endpoint, limit=HISTORY_ROWS, store=store),
    )
    try:
        described, ref = reference_profile(
            endpoint, reference=None if chosen == TRAINING else chosen, store=store
        )
    except (InvalidInput, NotFound) as exc:
        return replace(page, problem=f"Cannot compare with this reference: {exc.message}")
    page = replace(page, described=described)
    streams = read_profiles(endpoint, since=since, until=until, store=store)
    served = [p for (_, _, role), p in sorted(streams.items()) if role == ROLE]
    if not served:
        return replace(page, problem=f"No {ROLE} traffic in the last {window}.")
    current = merge_versions(served)
    report = profile_drift(ref, current)
    rows = [
        FeatureRow(
            c, distribution_svg(feature_sketch(ref, c.column), feature_sketch(current, c.column))
        )
        for c in report.most_drifted_first()
    ]
    return replace(page, report=report, explanation=explain(report), features=rows)


def _choices(found: list[monitors.MonitorInfo]) -> list[tuple[str, str]]:
    """The monitors' references (drift monitors first), then the training data."""
    ranked = sorted(found, key=lambda m: (not m.metric.startswith("drift."), m.id))
    choices: dict[str, str] = {}
    for m in ranked:
        if m.rule.reference and m.rule.reference not in choices:
            choices[m.rule.reference] = f"{m.rule.reference} (monitor '{m.name}')"
    choices[TRAINING] = "training data of the served model"
    return list(choices.items())


async def drift(request: Request) -> Response:
    viewer_of(request)
    window, reference = parse_params(request)
    page = await off_loop(
        drift_page,
        request.path_params["name"],
        window=window,
        reference=reference,
        store=request.app.state.inprod.store,
    )
    return render(request, "drift.html", page=page, windows=list(WINDOWS))


routes: list[BaseRoute] = [Route("/endpoints/{name}/drift", drift, methods=["GET"])]
