"""``inprod monitor report``: time series with thresholds and alert marks, the alerts, and
per-feature drift against the reference, in one self-contained page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from monitor_helpers import (
    ENDPOINT,
    T0,
    give_labels,
    log_predictions,
    minute,
    two_versions,
    write_minutes,
)

from inprod.errors import InvalidInput, NotFound
from inprod.monitoring import monitors
from inprod.monitoring.evaluator import evaluate
from inprod.monitoring.report import build_report, render_html
from inprod.store import Store

REFERENCE = f"window:{T0.isoformat()}/{minute(20).isoformat()}"


@pytest.fixture
def darkened(store: Store) -> Store:
    """20 minutes of normal light, then 10 dark ones; a brightness monitor that fired."""
    two_versions(store)
    write_minutes(store, T0, 20, brightness=0.5)
    write_minutes(store, minute(20), 10, brightness=0.3)
    monitors.add(ENDPOINT, "input.brightness.mean", below=0.4, window="1m", store=store)
    monitors.add(ENDPOINT, "accuracy", below=0.9, window="1h", store=store)
    ids = log_predictions(store, n=4, version=1, role="primary", at=minute(25))
    give_labels(store, ids, ["ok", "ok", "ok", "scratch"])
    for m in range(1, 31):
        evaluate(now=minute(m) + timedelta(seconds=15), store=store)
    return store


def test_the_report_holds_series_alerts_and_drift(darkened: Store) -> None:
    report = build_report(ENDPOINT, since=T0, until=minute(30), reference=REFERENCE,
                          store=darkened)  # fmt: skip
    assert report["requests"] == 30 * 40 and report["step_s"] == 60
    brightness = [v for _, v in report["series"]["input.brightness.mean"]]
    assert len(brightness) == 30
    assert brightness[0] == pytest.approx(0.5, abs=0.03)
    assert brightness[-1] == pytest.approx(0.3, abs=0.03)
    accuracy = dict(report["series"]["accuracy"])
    assert accuracy[minute(25).isoformat()] == 0.75 and accuracy[T0.isoformat()] is None
    [alert] = report["alerts"]
    assert alert["state"] == "firing"
    drift = report["drift"]
    assert drift["reference"].startswith("window:")
    assert "brightness" in drift["report"]["summary"]["drifted"]
    assert "factory" not in drift["report"]["summary"]["drifted"]
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 6
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    assert f"alert {alert['id']}" in page and "brightness" in page


def test_report_on_the_command_line(cli, darkened: Store, tmp_path) -> None:
    out = tmp_path / "report.html"
    cli.ok("monitor", "report", ENDPOINT, "--from", T0.isoformat(), "--to",
           minute(30).isoformat(), "--reference", REFERENCE, "--out", str(out))  # fmt: skip
    assert "<svg" in out.read_text()
    data = json.loads(cli.ok("monitor", "report", ENDPOINT, "--from", T0.isoformat(), "--to",
                             minute(30).isoformat(), "--reference", REFERENCE,
                             "--json").stdout)  # fmt: skip
    assert data["drift"]["report"]["summary"]["drifted"] == ["brightness"]
    cli.fails("monitor", "report", ENDPOINT, match="--out")
    cli.fails("monitor", "report", "nope", "--json", match="no endpoint 'nope'")


def test_bad_spans_and_missing_references_are_explained(darkened: Store) -> None:
    with pytest.raises(InvalidInput, match="must come before"):
        build_report(ENDPOINT, since=minute(30), until=T0, store=darkened)
    with pytest.raises(InvalidInput, match="neither an ISO time"):
        build_report(ENDPOINT, since="yesterday", store=darkened)
    with pytest.raises(NotFound):
        build_report("nope", store=darkened)
    # without a usable reference the page still renders, saying why drift is missing
    report = build_report(ENDPOINT, since=T0, until=minute(30), store=darkened)
    assert report["drift"] is None and report["drift_error"]
    assert "not computed" in render_html(report)
