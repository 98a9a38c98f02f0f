"""Detection delay and false alarms of inprod's monitors on a seeded synthetic stream.

Run: .venv/bin/python benchmarks/monitoring/detection.py [--windows 1000] [--per-window 200]
     [--seed 0] [--json PATH]

The stream (issue 6, detection): one endpoint (``phone-inspector`` serving a tiny scikit-learn
classifier) on a fresh SQLite store in a temporary folder, one-minute windows of ``--per-window``
requests of one instance each: ``brightness`` ~ Normal(0.5, 0.1), ``contrast`` ~ Normal(0.2, 0.05),
``factory`` A (60%) / B (40%); the answers are the model's class ("ok" / "scratch") and its
confidence. Phase 1: ``--windows`` stable windows. Phase 2, two variants run from the same
stable history (the store is copied after phase 1): *abrupt*, brightness's mean falls by 0.5 σ
(0.05) from the first shifted window on; *gradual*, it falls linearly by 1 σ over 60 windows
(window k of the shift, counting from 0, has mean 0.5 − 0.1·min(k + 1, 60)/60) and stays there.
Each variant runs for up to 120 windows.

Monitors (what a user would set for this feature): see :data:`MONITORS`. The reference of the
two that need one is the endpoint's own first hour of traffic.

Replay: ``evaluate(now=window end + 15 s)`` once per window, from the first window to the last, so
each pass judges every window up to the one that just closed (the evaluator leaves out windows
closed less than 8 s before ``now``). Profiles are written before the replay (one bulk insert per
phase); a pass never reads a window later than the one it judges, and the reference hour holds
the same distribution throughout, so writing them early changes nothing that is measured.

Figures per monitor: alerts fired during the stable windows (and per 1,000 windows); the value
closest to the threshold seen there; and the detection delay = shifted windows closed when the
first alert fired after the shift began (1 = fired at the pass right after the first shifted
window). Plus where the time went.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sqlalchemy import insert

from inprod import endpoints, models
from inprod.monitoring import ProfileBuilder, ProfileKey, WindowProfile
from inprod.monitoring import monitors as monitor_rules
from inprod.monitoring.evaluator import evaluate
from inprod.store import Store
from inprod.store.tables import WindowProfileRow, utcnow

ENDPOINT = "phone-inspector"
MODEL = "inspector"
REPLICA = "detection-bench"
T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a minute boundary
WINDOW_S = 60
EVALUATE_AFTER_S = 15  # each pass runs this long after its window closed
BRIGHTNESS = (0.5, 0.1)  # mean, standard deviation
CONTRAST = (0.2, 0.05)
FACTORIES = (("A", 0.6), ("B", 0.4))
SHIFT_WINDOWS = 120
GRADUAL_WINDOWS = 60
REFERENCE_MINUTES = 60
REFERENCE = f"window:{T0.isoformat()}/{(T0 + timedelta(minutes=REFERENCE_MINUTES)).isoformat()}"


@dataclass(frozen=True)
class Watch:
    """One monitor of the benchmark: its ``inprod monitor add`` options and why they are set."""

    name: str
    metric: str
    rule: dict[str, Any]
    why: str


MONITORS = (
    Watch(
        "mean-below",
        "input.brightness.mean",
        {"below": 0.47, "window": "5m", "for_": "3m"},
        "a floor 0.3 σ under the normal mean; 5 minutes of 200 requests put the mean's noise "
        "at 0.003, and 3 minutes held keeps one odd stretch from paging",
    ),
    Watch(
        "psi-above",
        "drift.brightness.psi",
        {"above": 0.2, "window": "15m", "for_": "5m", "reference": REFERENCE},
        "PSI 0.2 is the textbook 'significant shift'; 15 minutes give both sides enough values "
        "for ten decile bins, 5 minutes held",
    ),
    Watch(
        "mean-change",
        "input.brightness.mean",
        {"change_pct": "5%", "window": "10m", "reference": REFERENCE},
        "5% off the first hour's mean (0.025, a quarter σ), nothing held",
    ),
)


@dataclass(frozen=True)
class Shift:
    name: str
    mean_at: Callable[[int], float]  # brightness mean of the k-th shifted window (from 0)


SHIFTS = (
    Shift("abrupt", lambda k: BRIGHTNESS[0] - 0.5 * BRIGHTNESS[1]),
    Shift(
        "gradual",
        lambda k: BRIGHTNESS[0] - BRIGHTNESS[1] * min(k + 1, GRADUAL_WINDOWS) / GRADUAL_WINDOWS,
    ),
)


def fit_model(seed: int) -> LogisticRegression:
    """A classifier calling dark, flat images "scratch": answers move with the inputs."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(*BRIGHTNESS, 500), rng.normal(*CONTRAST, 500)])
    y = np.where(X[:, 0] + rng.normal(0, 0.05, 500) < 0.4, "scratch", "ok")
    return LogisticRegression().fit(X, y)


def open_store(folder: Path, db: str) -> Store:
    return Store(f"sqlite:///{folder / db}", str(folder / "artifacts"))


def prepare(store: Store, model: LogisticRegression) -> None:
    """The model, its endpoint and the monitors, as a user would create them."""
    sample = np.array([[0.5, 0.2], [0.3, 0.1]])
    models.register(MODEL, model, sample=sample, store=store)
    endpoints.create(ENDPOINT, f"{MODEL}@1", store=store)
    for watch in MONITORS:
        monitor_rules.add(ENDPOINT, watch.metric, name=watch.name, store=store, **watch.rule)


def window_profile(
    index: int,
    brightness: float,
    per_window: int,
    model: LogisticRegression,
    rng: np.random.Generator,
) -> WindowProfile:
    """Window ``index`` (minutes after T0): ``per_window`` requests, one instance each."""
    start = T0 + timedelta(minutes=index)
    builder = ProfileBuilder(ProfileKey(ENDPOINT, MODEL, 1, "primary", start, WINDOW_S))
    X = np.column_stack(
        [rng.normal(brightness, BRIGHTNESS[1], per_window), rng.normal(*CONTRAST, per_window)]
    )
    names, shares = zip(*FACTORIES, strict=True)
    factories = rng.choice(names, size=per_window, p=shares).tolist()
    proba = model.predict_proba(X)
    answers = model.classes_[proba.argmax(axis=1)].tolist()
    confidence = proba.max(axis=1).tolist()
    latency = rng.gamma(2.0, 3.0, per_window).tolist()
    for i, (b, c) in enumerate(X.tolist()):
        row = {"brightness": b, "contrast": c, "factory": factories[i]}
        builder.add([row], [{"output": answers[i], "confidence": confidence[i]}], latency[i])
    return builder.build()


def write_profiles(store: Store, profiles: list[WindowProfile]) -> None:
    """One bulk insert of the rows the server's log writer would have stored one by one."""
    now = utcnow()
    rows = [
        {
            "endpoint": p.key.endpoint, "model_name": p.key.model_name,
            "model_version": p.key.model_version, "role": p.key.role,
            "window_start": p.key.start, "window_s": WINDOW_S, "replica": REPLICA,
            "instances": p.instances, "profile": p.to_dict(), "updated_at": now,
        }
        for p in profiles
    ]  # fmt: skip
    with store.session() as s:
        s.execute(insert(WindowProfileRow), rows)


@dataclass
class Outcome:
    """What the replay of one span of windows saw, per monitor name."""

    fired_at: dict[str, list[int]]  # window indexes whose pass fired an alert
    values: dict[str, list[tuple[float | None, float | None]]]  # (value, reference value)
    states: dict[str, str]  # state after the last pass
    errors: list[str]


def replay(store: Store, first: int, last: int) -> Outcome:
    """One evaluator pass per window in [first, last), EVALUATE_AFTER_S after it closed."""
    out = Outcome({w.name: [] for w in MONITORS}, {w.name: [] for w in MONITORS}, {}, [])
    for index in range(first, last):
        now = T0 + timedelta(seconds=(index + 1) * WINDOW_S + EVALUATE_AFTER_S)
        for e in evaluate(now=now, store=store):
            out.values[e.name].append((e.value, e.reference_value))
            out.states[e.name] = e.state
            if e.change == "fired":
                out.fired_at[e.name].append(index)
            if e.error is not None:
                out.errors.append(f"window {index}: {e.name}: {e.error}")
    return out


def closest(watch: Watch, values: list[tuple[float | None, float | None]]) -> float | None:
    """The stable value nearest the threshold: the lowest mean, the highest PSI, or the
    largest change from the reference in percent."""
    seen = [(v, r) for v, r in values if v is not None]
    if not seen:
        return None
    if "change_pct" in watch.rule:
        return max((abs(v - r) / abs(r) * 100 for v, r in seen if r), default=None)
    pick = min if "below" in watch.rule else max
    return pick(v for v, _ in seen)


@dataclass
class Stream:
    """Writes and replays the windows of one phase, adding up where the time goes."""

    model: LogisticRegression
    per_window: int
    timing: dict[str, float] = field(
        default_factory=lambda: {"build_s": 0.0, "insert_s": 0.0, "replay_s": 0.0}
    )

    def run(
        self, store: Store, first: int, means: list[float], rng: np.random.Generator
    ) -> Outcome:
        """Windows ``first``, ``first + 1``, … with these brightness means, then their passes."""
        t = time.perf_counter()
        profiles = [
            window_profile(first + k, mean, self.per_window, self.model, rng)
            for k, mean in enumerate(means)
        ]
        self.timing["build_s"] += time.perf_counter() - t
        t = time.perf_counter()
        write_profiles(store, profiles)
        self.timing["insert_s"] += time.perf_counter() - t
        t = time.perf_counter()
        outcome = replay(store, first, first + len(means))
        self.timing["replay_s"] += time.perf_counter() - t
        return outcome


def copy_store(folder: Path, source: str, target: str) -> None:
    """A consistent copy of a SQLite store through SQLite's own backup."""
    with sqlite3.connect(folder / source) as src, sqlite3.connect(folder / target) as dst:
        src.backup(dst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1000, help="stable one-minute windows")
    parser.add_argument("--per-window", type=int, default=200, help="requests per window")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    if args.windows < REFERENCE_MINUTES or args.per_window < 1:
        parser.error(f"--windows must be at least {REFERENCE_MINUTES} and --per-window 1 or more")

    started = time.perf_counter()
    stream = Stream(fit_model(args.seed), args.per_window)
    with tempfile.TemporaryDirectory(prefix="inprod-detection-") as tmp:
        folder = Path(tmp)
        store = open_store(folder, "stable.db")
        prepare(store, stream.model)
        means = [BRIGHTNESS[0]] * args.windows
        stable = stream.run(store, 0, means, np.random.default_rng([args.seed, 0]))
        store.close()
        shifted: dict[str, Outcome] = {}
        for shift in SHIFTS:
            copy_store(folder, "stable.db", f"{shift.name}.db")
            store = open_store(folder, f"{shift.name}.db")
            means = [shift.mean_at(k) for k in range(SHIFT_WINDOWS)]
            # the same noise for every variant: they differ only in the shift itself
            rng = np.random.default_rng([args.seed, 1])
            shifted[shift.name] = stream.run(store, args.windows, means, rng)
            store.close()

    stream.timing["total_s"] = time.perf_counter() - started
    result = summarize(args, stable, shifted, stream.timing)
    report(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def summarize(
    args: argparse.Namespace,
    stable: Outcome,
    shifted: dict[str, Outcome],
    timing: dict[str, float],
) -> dict[str, Any]:
    shift_means = {s.name: s.mean_at for s in SHIFTS}
    rows = []
    for watch in MONITORS:
        fired = stable.fired_at[watch.name]
        row: dict[str, Any] = {
            "monitor": watch.name,
            "metric": watch.metric,
            "rule": {k: v for k, v in watch.rule.items() if k != "reference"},
            "why": watch.why,
            "false_alarms": len(fired),
            "false_alarm_windows": fired,
            "false_alarms_per_1000": len(fired) / args.windows * 1000,
            "closest_stable_value": closest(watch, stable.values[watch.name]),
            "state_at_shift": stable.states.get(watch.name),
        }
        for name, outcome in shifted.items():
            after = outcome.fired_at[watch.name]
            delay = after[0] - args.windows + 1 if after else None
            row[f"delay_{name}"] = delay
            row[f"mean_at_detection_{name}"] = (
                round(shift_means[name](delay - 1), 4) if delay else None
            )
        rows.append(row)
    return {
        "stream": {
            "stable_windows": args.windows,
            "shift_windows": SHIFT_WINDOWS,
            "per_window": args.per_window,
            "seed": args.seed,
            "reference": REFERENCE,
        },
        "monitors": rows,
        "errors": stable.errors + [e for o in shifted.values() for e in o.errors],
        "timing": {k: round(v, 2) for k, v in timing.items()},
        "passes": args.windows + SHIFT_WINDOWS * len(SHIFTS),
    }


def report(result: dict[str, Any]) -> None:
    stream = result["stream"]
    print(
        f"{stream['stable_windows']:,} stable one-minute windows of {stream['per_window']} "
        f"requests, then {stream['shift_windows']} shifted (abrupt −0.5 σ; gradual −1 σ over "
        f"{GRADUAL_WINDOWS}); seed {stream['seed']}"
    )
    header = ("monitor", "false alarms", "per 1,000", "closest stable", "delay abrupt",
              "delay gradual")  # fmt: skip
    print(" | ".join(header))
    for row in result["monitors"]:
        closest_value = row["closest_stable_value"]
        print(
            " | ".join(
                [
                    f"{row['metric']} {_rule_text(row['rule'])}",
                    f"{row['false_alarms']} {row['false_alarm_windows'] or ''}".strip(),
                    f"{row['false_alarms_per_1000']:.1f}",
                    "-" if closest_value is None else f"{closest_value:.4g}",
                    _delay_text(row["delay_abrupt"], None),
                    _delay_text(row["delay_gradual"], row["mean_at_detection_gradual"]),
                ]
            )
        )
        if row["state_at_shift"] == "firing":
            print(f"  note: {row['monitor']} was still firing when the shift began")
    timing = result["timing"]
    print(
        f"time: building profiles {timing['build_s']:.1f} s, inserting {timing['insert_s']:.1f} s,"
        f" replay {timing['replay_s']:.1f} s ({result['passes']:,} evaluator passes, "
        f"{timing['replay_s'] / result['passes'] * 1000:.0f} ms each); "
        f"{timing['total_s']:.1f} s in all"
    )
    for error in result["errors"]:
        print(f"ERROR {error}")


def _rule_text(rule: dict[str, Any]) -> str:
    options = {"for_": "for"}
    text = []
    for key, value in rule.items():
        flag = "change-from-reference" if key == "change_pct" else options.get(key, key)
        text.append(f"--{flag} {value}")
    return " ".join(text)


def _delay_text(delay: int | None, mean: float | None) -> str:
    if delay is None:
        return f"not within {SHIFT_WINDOWS}"
    drop = "" if mean is None else f" (mean {mean:.3f})"
    return f"{delay} windows{drop}"


if __name__ == "__main__":
    main()
