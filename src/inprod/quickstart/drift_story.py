"""Part 4 of the story: the factory's lighting darkens, monitors fire, the alert acts.

Runs against the server part 2 started, with short profile windows: every ``PROFILE_S``
seconds stands for an hour of the factory's day, so a day of slowly failing lamps plays out in
under a minute on the same code paths as a real deployment:

1. the endpoint derives ``brightness`` and ``contrast`` from every logged image (its
   ``features`` setting, set in part 2) and the server profiles them per window;
2. a stretch of normal light becomes the reference window; two monitors watch the endpoint:
   mean brightness more than 15% below the reference, and the brightness drift score (PSI)
   above 0.2, each for two windows in a row; the drift monitor's actions queue a sample of
   fresh images for the inspectors and open a retraining request;
3. the lamps fade; the monitors go pending, then fire; the alert, its history and the HTML
   report show what changed and when.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ..store import Store
from . import phone_data
from .live import ENDPOINT

PROFILE_S = 2  # one profile window; the story's "hour"
MONITOR_TICK_S = 0.5
NORMAL_S = 8.0  # normal light: the reference
FADE_S = 10.0  # the lamps fade over this long
ALERT_TIMEOUT_S = 60.0
BRIGHTNESS = "lighting: brightness 15% below normal"
DRIFT = "lighting: brightness drift"
FADE_TO = 0.35  # how much darker the images get (phone_data's dark_shift)

Say = Callable[[str], None]


@dataclass
class DriftSummary:
    reference: str = ""
    alerts: list[dict] = field(default_factory=list)
    report: str | None = None
    fired_after_s: float | None = None
    requests: int = 0


def run_drift_story(
    url: str, *, seed: int, store: Store, report_path: Path | None, say: Say = lambda m: None
) -> DriftSummary:
    from ..monitoring import monitors

    out = DriftSummary()
    for m in monitors.list_monitors(ENDPOINT, store=store):  # left over from an earlier run
        if m.name in (BRIGHTNESS, DRIFT):
            monitors.remove(m.id, store=store)
    with httpx.Client(base_url=url, timeout=30) as client:
        camera = _Camera(client, seed)
        say(f"the camera station sends phones in normal light ({NORMAL_S:g} s = a few 'hours')")
        began = _window_floor(datetime.now(UTC))
        camera.run(NORMAL_S, lambda progress: 0.0)
        ended = _window_floor(datetime.now(UTC))
        out.reference = f"window:{began.isoformat()}/{ended.isoformat()}"
        common = {"window": f"{3 * PROFILE_S}s", "for_": f"{2 * PROFILE_S}s",
                  "reference": out.reference, "store": store}  # fmt: skip
        monitors.add(ENDPOINT, "input.brightness.mean", change_pct="15%", name=BRIGHTNESS,
                     severity="warning", **common)  # fmt: skip
        monitors.add(ENDPOINT, "drift.brightness.psi", above=0.2, name=DRIFT, severity="critical",
                     actions=["review:20", "retrain"], **common)  # fmt: skip
        say(f"monitors: '{BRIGHTNESS}' and '{DRIFT}' (PSI > 0.2), against that reference")
        say("the lamps fade…")
        fade_start = time.monotonic()
        camera.run(FADE_S, lambda progress: FADE_TO * progress)
        deadline = time.monotonic() + ALERT_TIMEOUT_S
        while len(_open_alerts(client)) < 2 and time.monotonic() < deadline:
            camera.run(1.0, lambda progress: FADE_TO)
        out.alerts = _open_alerts(client)
        out.fired_after_s = time.monotonic() - fade_start
        out.requests = camera.sent
    for alert in out.alerts:
        say(f"  ALERT {alert['id']} ({alert['severity']}): {alert['message']}")
    if report_path is not None and out.alerts:
        out.report = _write_report(report_path, began, out.reference, store)
    return out


def _open_alerts(client: httpx.Client) -> list[dict]:
    found = client.get("/api/alerts", params={"endpoint": ENDPOINT, "state": "open"}).json()
    return [a for a in found if a["monitor"] in (BRIGHTNESS, DRIFT)]


def _window_floor(when: datetime) -> datetime:
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % PROFILE_S, tz=UTC)


class _Camera:
    """Sends one phone image per request at a steady pace; ``darkness(progress)`` says how
    much darker the lamps make the images as the phase goes on (0..1)."""

    PACE_S = 0.02

    def __init__(self, client: httpx.Client, seed: int) -> None:
        self.client = client
        self.seed = seed
        self.sent = 0

    def run(self, seconds: float, darkness: Callable[[float], float]) -> None:
        start = time.monotonic()
        batch = 0
        while (elapsed := time.monotonic() - start) < seconds:
            shift = darkness(min(elapsed / seconds, 1.0))
            images = phone_data.generate(8, seed=self.seed + 5000 + batch, dark_shift=shift)
            batch += 1
            for row in phone_data.features(images.images):
                self.client.post(
                    f"/v1/endpoints/{ENDPOINT}/predict",
                    json={"instances": [row.round(3).tolist()]},
                    headers={"X-Request-Key": f"station-{self.sent % 4}"},
                )
                self.sent += 1
                time.sleep(self.PACE_S)


def _write_report(path: Path, began: datetime, reference: str, store: Store) -> str:
    """From the start of normal light to now, drift against the normal-light window."""
    from ..monitoring.report import write_report

    return str(write_report(ENDPOINT, since=began, reference=reference, out=path, store=store))
