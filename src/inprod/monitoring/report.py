"""``inprod monitor report``: one endpoint over a span, as a self-contained HTML page or JSON.

Time series of the software and output metrics and of every monitored metric (with the
monitor's thresholds and alert marks), the alerts of the span, and a per-feature drift table of
the span's last stretch against the reference with small distribution plots. Everything comes
from window profiles (one read of the span's rows, bucketed into at most ``MAX_POINTS`` steps),
never from raw predictions, so a month reads as fast as an hour.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ..errors import InprodError, InvalidInput
from ..store import Store, get_store
from ..store.tables import WindowProfileRow
from . import html
from .alerts import list_alerts
from .metrics import merge_versions, parse_metric
from .monitors import list_monitors
from .profile import WindowProfile
from .series import bucket_profiles, metric_series, series_of
from .windows import covering_profiles

MAX_POINTS = 240
QUANTILE_POINTS = 200  # the distribution plots draw each side from this many quantiles
SERIES = (
    ("requests", "requests per step", ""),
    ("error_rate", "error rate", ""),
    ("latency.p50", "latency p50", "ms"),
    ("latency.p99", "latency p99", "ms"),
    ("output.confidence.mean", "mean confidence", ""),
)


def parse_time(text: str | datetime, *, now: datetime) -> datetime:
    """An ISO time, or a span back from ``now`` such as ``24h`` or ``7d``."""
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    from ..rollout.plan import parse_duration

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            return now - timedelta(seconds=parse_duration(text, what="time"))
        except InvalidInput:
            raise InvalidInput(
                f"{text!r} is neither an ISO time (2026-11-25T08:00) nor a span back from now "
                "(24h, 7d)"
            ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_report(
    endpoint: str,
    *,
    since: str | datetime = "24h",
    until: str | datetime | None = None,
    reference: str | None = None,
    role: str = "primary",
    store: Store | None = None,
) -> dict[str, Any]:
    """The report's numbers (what ``--json`` prints and the HTML draws)."""
    from ..endpoints import get as get_endpoint

    store = get_store(store)
    get_endpoint(endpoint, store=store)  # NotFound with a suggestion
    now = datetime.now(UTC)
    start, end = parse_time(since, now=now), parse_time(until or now, now=now)
    if end <= start:
        raise InvalidInput(f"--from {start.isoformat()} must come before --to {end.isoformat()}")
    step = _step(endpoint, start, end, store)
    profiles = [
        p
        for p in covering_profiles(endpoint, start, end, max_seconds=step, store=store)
        if p.key.role == role
    ]
    buckets = bucket_profiles(profiles, start, end, step)
    monitors_ = [m for m in list_monitors(endpoint, store=store) if m.rule.role == role]
    names = [name for name, _, _ in SERIES] + [
        m.metric for m in monitors_ if parse_metric(m.metric).family != "drift"
    ]
    series = {}
    for name in dict.fromkeys(names):
        spec = parse_metric(name)
        if spec.family in ("software", "input", "output"):
            series[name] = series_of(spec, buckets)
        else:  # feedback and custom metrics read the log step by step
            series[name] = _logged_series(endpoint, spec, start, end, step, role, store)
    alerts = [
        a.to_dict()
        for a in list_alerts(endpoint=endpoint, limit=1000, store=store)
        if a.started_at < end and (a.resolved_at is None or a.resolved_at >= start)
    ]
    out: dict[str, Any] = {
        "endpoint": endpoint,
        "role": role,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "step_s": step,
        "requests": sum(p.requests for p in profiles),
        "series": series,
        "monitors": [m.to_dict() for m in monitors_],
        "alerts": alerts,
        "drift": None,
        "drift_error": None,
    }
    if profiles:
        try:
            out["drift"] = _drift(endpoint, profiles, reference, store)
        except InprodError as exc:
            out["drift_error"] = exc.message
    return out


def _step(endpoint: str, start: datetime, end: datetime, store: Store) -> int:
    """Seconds per point: the span over MAX_POINTS, but never finer than the stored windows."""
    with store.session(write=False) as s:
        finest = s.scalar(
            select(func.min(WindowProfileRow.window_s)).where(
                WindowProfileRow.endpoint == endpoint,
                WindowProfileRow.window_start >= start,
                WindowProfileRow.window_start < end,
            )
        )
    span = (end - start).total_seconds()
    return max(math.ceil(span / MAX_POINTS), int(finest or 60))


def _drift(
    endpoint: str, profiles: list[WindowProfile], reference: str | None, store: Store
) -> dict[str, Any]:
    """The last quarter of the traffic in the span against the reference, with quantiles for
    the plots (the quarter is of the stored windows, so a span that ends now is not cut into
    the windows the writers have not stored yet)."""
    from .reference import reference_profile
    from .sketch_drift import profile_drift
    from .window_drift import explain

    described, ref = reference_profile(endpoint, reference=reference, store=store)
    first = min(p.key.start for p in profiles)
    last = max(p.key.end for p in profiles)
    cut = last - (last - first) / 4
    recent = [p for p in profiles if p.key.start >= cut] or profiles
    current = merge_versions(recent)
    report = profile_drift(ref, current)
    return {
        "reference": described,
        "current_from": min(p.key.start for p in recent).isoformat(),
        "report": report.to_dict(),
        "explanation": explain(report),
        "quantiles": {
            name: (
                sketch_quantiles(ref.features.get(name)),
                sketch_quantiles(current.features.get(name)),
            )
            for name in ref.features
            if name in current.features
        },
        "_report": report,
    }


def sketch_quantiles(sketch: Any) -> list[float]:
    from .sketches import NumericSketch

    if not isinstance(sketch, NumericSketch) or not sketch.count:
        return []
    qs = [(i + 0.5) / QUANTILE_POINTS for i in range(QUANTILE_POINTS)]
    return [float(v) for v in sketch.quantiles(qs) if v is not None]


def _logged_series(
    endpoint: str, spec: Any, start: datetime, end: datetime, step: int, role: str, store: Store
) -> list[tuple[str, float | None]]:
    """A feedback or custom metric's series; a custom function that fails leaves gaps (its
    monitor shows the error) rather than failing the report."""
    try:
        return metric_series(endpoint, spec, start, end, step, role=role, store=store)
    except Exception:
        return []


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    if out.get("drift"):
        out["drift"] = {k: v for k, v in out["drift"].items() if not k.startswith("_")}
    return out


def render_html(report: dict[str, Any]) -> str:
    marks = [
        (datetime.fromisoformat(a["started_at"]), f"alert {a['id']}") for a in report["alerts"]
    ]
    sections = [
        f'<p class="meta">{escape(report["from"][:19])} → {escape(report["to"][:19])} UTC · '
        f"role {escape(report['role'])} · {report['requests']:,} requests · one point per "
        f"{report['step_s']} s</p>"
    ]
    thresholds: dict[str, list[tuple[str, float]]] = {}
    for m in report["monitors"]:
        rule = m["rule"]
        for key in ("above", "below"):
            if rule.get(key) is not None:
                thresholds.setdefault(m["metric"], []).append((f"{m['name']}", rule[key]))
    sections.append("<h2>Metrics</h2>")
    for name, points in report["series"].items():
        data = {name: [(datetime.fromisoformat(t), v) for t, v in points]}
        unit = "ms" if name.startswith("latency.") else ""
        sections.append(
            html.time_series_svg(
                data, thresholds=thresholds.get(name, ()), marks=marks, title=name, unit=unit
            )
        )
    sections.append("<h2>Alerts</h2>")
    if report["alerts"]:
        rows = "".join(
            f"<tr><td>{a['id']}</td><td>{escape(a['monitor'])}</td><td>{escape(a['severity'])}</td>"
            f"<td>{escape(a['state'])}</td><td>{escape(a['started_at'][:19])}</td>"
            f"<td>{escape((a['resolved_at'] or '')[:19])}</td><td>{escape(a['message'])}</td></tr>"
            for a in report["alerts"]
        )
        sections.append(
            "<table><tr><th>id</th><th>monitor</th><th>severity</th><th>state</th>"
            f"<th>started</th><th>resolved</th><th>message</th></tr>{rows}</table>"
        )
    else:
        sections.append('<p class="note">no alerts in this span</p>')
    sections.append("<h2>Drift</h2>")
    drift = report.get("drift")
    if drift:
        sections.append(
            f'<p class="meta">from {escape(drift["current_from"][:19])} against '
            f"{escape(drift['reference'])}: {escape(drift['explanation'])}</p>"
        )
        sections.append(html.drift_section(drift["_report"], drift["quantiles"]))
    else:
        why = report.get("drift_error") or "no traffic in this span"
        sections.append(f'<p class="note">not computed: {escape(why)}</p>')
    return html.page(f"inprod monitoring report — {report['endpoint']}", sections)


def write_report(
    endpoint: str,
    *,
    out: Path,
    since: str | datetime = "24h",
    until: str | datetime | None = None,
    reference: str | None = None,
    store: Store | None = None,
) -> Path:
    report = build_report(endpoint, since=since, until=until, reference=reference, store=store)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out
