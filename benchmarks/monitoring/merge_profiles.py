"""Merging 1,440 one-minute window profiles into a day profile.

Run: .venv/bin/python benchmarks/monitoring/merge_profiles.py [--minutes 1440] [--per-minute 100]

Goal (issue 6, speed): ``merge_all`` of a day's one-minute profiles under 100 ms (best of 5).
Each profile is realistic for one endpoint version: 20 numeric features, 2 categorical ones,
class outputs with a confidence, latencies and ~2% errors, ~100 predictions a minute. Also timed,
without a goal: rebuilding the 1,440 profiles from their ``to_dict`` form (what the store keeps)
and then merging, which is what a day query on stored minutes costs.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from inprod.monitoring import ProfileBuilder, ProfileKey, WindowProfile, merge_all

GOAL_S = 0.100
REPEATS = 5
START = datetime(2024, 5, 1, tzinfo=UTC)


def build_minutes(minutes: int, per_minute: int, seed: int = 0) -> list[WindowProfile]:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(20)]
    profiles = []
    for m in range(minutes):
        key = ProfileKey("phone-inspector", "tiny", 1, "primary", START + timedelta(minutes=m), 60)
        builder = ProfileBuilder(key)
        n = int(rng.poisson(per_minute))
        numbers = rng.normal(size=(n, 20))
        factories = rng.choice(["A", "B"], size=n)
        lines = rng.integers(0, 12, size=n)
        labels = rng.integers(0, 3, size=n)
        confidence = rng.random(n)
        latency = rng.gamma(2.0, 3.0, size=n)
        failed = rng.random(n) < 0.02
        for i in range(n):
            row = dict(zip(names, numbers[i].tolist(), strict=True))
            row["factory"] = str(factories[i])
            row["line"] = f"line-{lines[i]}"
            out = None if failed[i] else [{"output": int(labels[i]), "confidence": confidence[i]}]
            builder.add([row], out, float(latency[i]), "error" if failed[i] else "ok")
        profiles.append(builder.build())
    return profiles


def best_of(fn, repeats: int = REPEATS) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--per-minute", type=int, default=100)
    args = parser.parse_args()

    t0 = time.perf_counter()
    profiles = build_minutes(args.minutes, args.per_minute)
    built_s = time.perf_counter() - t0
    stored = [json.loads(json.dumps(p.to_dict())) for p in profiles]
    size = sum(len(json.dumps(d)) for d in stored)

    merge_s, day = best_of(lambda: merge_all(profiles))
    load_s, _ = best_of(lambda: [WindowProfile.from_dict(d) for d in stored])
    both_s, _ = best_of(lambda: merge_all(WindowProfile.from_dict(d) for d in stored))
    # what a day query costs when the flusher keeps hourly rollups (each made once per hour)
    hours = [merge_all(profiles[h : h + 60]) for h in range(0, len(profiles), 60)]
    rollup_s, _ = best_of(lambda: merge_all(hours))

    summary = day.summary()
    predictions = sum(p.requests for p in profiles)
    print(
        f"{args.minutes} one-minute profiles, {predictions:,} predictions "
        f"(built in {built_s:.1f} s; to_dict JSON {size / args.minutes / 1024:.1f} KiB each)"
    )
    print(
        f"day profile: {summary['requests']:,} requests, {summary['errors']} errors, "
        f"{len(summary['features'])} features, latency p99 {summary['latency_ms']['p99']:.1f} ms"
    )
    print(f"merge_all into a day:           best {merge_s * 1000:7.1f} ms of {REPEATS}")
    print(f"from_dict of all profiles:      best {load_s * 1000:7.1f} ms of {REPEATS}")
    print(f"from_dict + merge_all:          best {both_s * 1000:7.1f} ms of {REPEATS}")
    print(f"day from {len(hours)} hourly rollups:     best {rollup_s * 1000:7.1f} ms of {REPEATS}")
    ok = merge_s < GOAL_S
    print(
        f"{'PASS' if ok else 'FAIL'}: merge {merge_s * 1000:.1f} ms (goal < {GOAL_S * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
