"""Window profiles: built from calls, merged across replicas and windows, stored as JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inprod.errors import InvalidInput
from inprod.monitoring import (
    CategorySketch,
    NumericSketch,
    ProfileBuilder,
    ProfileKey,
    WindowProfile,
    merge_all,
)

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _key(start: datetime = START, seconds: float = 60.0, **over: object) -> ProfileKey:
    fields = {"endpoint": "phone-inspector", "model_name": "tiny", "model_version": 1}
    fields.update(over)
    return ProfileKey(role="primary", start=start, seconds=seconds, **fields)  # type: ignore[arg-type]


def _stream(n: int, seed: int = 7) -> list[tuple[list[dict], list[dict] | None, float, str]]:
    """``n`` seeded calls of one instance: numeric + categorical features, some NaN, errors."""
    rng = np.random.default_rng(seed)
    calls = []
    for i in range(n):
        brightness = float(rng.normal(0.5, 0.1))
        if i % 97 == 0:
            brightness = math.nan
        row = {
            "brightness": brightness,
            "size": int(rng.integers(1, 1000)),
            "factory": ["A", "B", "C"][int(rng.integers(0, 3))],
        }
        if i % 53 == 0:
            row["size"] = None
        failed = rng.random() < 0.03
        label = int(rng.integers(0, 2))
        outputs = None if failed else [{"output": label, "confidence": float(rng.random())}]
        calls.append(([row], outputs, float(rng.gamma(2.0, 5.0)), "error" if failed else "ok"))
    return calls


def _feed(key: ProfileKey, calls: list) -> WindowProfile:
    builder = ProfileBuilder(key)
    for instances, outputs, latency, status in calls:
        builder.add(instances, outputs, latency, status)
    return builder.build()


def _counts(p: WindowProfile) -> dict:
    def sketch_counts(s: NumericSketch | CategorySketch) -> tuple:
        extra = (s.nonfinite, s.sum) if isinstance(s, NumericSketch) else (s.top(50),)
        return (type(s).__name__, s.count, s.missing, s.out_of_schema, *extra)

    return {
        "totals": (p.requests, p.instances, p.errors, p.null_outputs, p.needs_review),
        "latency": (p.latency_ms.count, p.latency_ms.min, p.latency_ms.max),
        "features": {name: sketch_counts(s) for name, s in p.features.items()},
        "classes": p.output_classes.top(10),
        "confidence": (p.confidence.count, p.confidence.min, p.confidence.max),
    }


def _exact_rank(data: list[float], value: float) -> float:
    return float(np.searchsorted(np.sort(data), value, side="right")) / len(data)


def test_two_replicas_merged_equal_one_process_fed_everything() -> None:
    calls = _stream(20_000)
    one = _feed(_key(), calls)
    replicas = [_feed(_key(), calls[0::2]), _feed(_key(), calls[1::2])]
    merged = merge_all(replicas)

    got, want = _counts(merged), _counts(one)
    for name in ("brightness", "size"):  # float sums add in another order: equal to rounding
        assert got["features"][name][-1] == pytest.approx(want["features"][name][-1], rel=1e-12)
        got["features"][name] = got["features"][name][:-1]
        want["features"][name] = want["features"][name][:-1]
    assert got == want
    assert merged.requests == 20_000 and 0 < merged.errors < 1_000
    assert merged.features["brightness"].missing == len(range(0, 20_000, 97))

    latencies = [c[2] for c in calls]
    brightness = [c[0][0]["brightness"] for c in calls if not math.isnan(c[0][0]["brightness"])]
    for sketch, data in (
        (merged.latency_ms, latencies),
        (merged.features["brightness"], brightness),
    ):
        for q in (0.5, 0.95, 0.99):
            assert abs(_exact_rank(data, sketch.quantile(q)) - q) <= sketch.rank_error


def test_sixty_minutes_merge_into_the_hour_profile() -> None:
    calls = _stream(6_000, seed=11)
    minutes = [
        _feed(_key(START + timedelta(minutes=m)), calls[m * 100 : (m + 1) * 100]) for m in range(60)
    ]
    hour = merge_all(minutes)
    direct = _feed(_key(seconds=3600.0), calls)
    assert hour.key == direct.key
    assert hour.key.end == START + timedelta(hours=1)
    got, want = _counts(hour), _counts(direct)
    assert got["totals"] == want["totals"] and got["classes"] == want["classes"]
    assert got["features"]["factory"] == want["features"]["factory"]
    assert hour.summary()["qps"] == pytest.approx(6_000 / 3600)


def test_merging_an_empty_profile_is_the_identity() -> None:
    profile = _feed(_key(), _stream(500))
    empty = ProfileBuilder(_key()).build()
    assert merge_all([empty, profile]) == profile
    assert profile.merge(empty) == profile
    assert merge_all([profile]) == profile


def test_profiles_of_other_streams_are_not_merged() -> None:
    a = ProfileBuilder(_key()).build()
    b = ProfileBuilder(_key(model_version=2)).build()
    with pytest.raises(InvalidInput, match=r"tiny@1 \(primary\) and .*tiny@2"):
        a.merge(b)
    with pytest.raises(InvalidInput, match="at least one"):
        merge_all([])


def test_to_dict_is_json_and_round_trips() -> None:
    profile = _feed(_key(), _stream(2_000))
    stored = json.loads(json.dumps(profile.to_dict()))
    again = WindowProfile.from_dict(stored)
    assert again == profile
    assert again.summary() == profile.summary()


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda d: d.update(format=99), "format 99"),
        (lambda d: d.pop("requests"), "damaged"),
        (lambda d: d.update(latency_ms="bm90IGEgc2tldGNo"), "not a serialized NumericSketch"),
        (lambda d: d.update(start="2024-05-01T12:00:00"), "time zone"),
    ],
)
def test_damaged_dicts_are_refused_with_a_message(damage, match: str) -> None:
    data = _feed(_key(), _stream(10)).to_dict()
    damage(data)
    with pytest.raises(InvalidInput, match=match):
        WindowProfile.from_dict(data)


def test_summary_gives_plain_numbers() -> None:
    builder = ProfileBuilder(_key(seconds=10.0))
    builder.add([{"a": 1.0, "c": "x"}, {"a": 3.0}], [{"output": "cat", "confidence": 0.5}] * 2, 10)
    builder.add([{"a": None, "c": "y"}], [{"output": None}], 30)
    builder.add([{"a": 2.0}], [{"decision": "needs_review", "output": "needs_review"}], 20)
    builder.add([{"a": 5.0}], None, 40, status="error")
    s = builder.build().summary()
    assert (s["requests"], s["instances"], s["errors"]) == (4, 5, 1)
    assert s["qps"] == 0.4 and s["error_rate"] == 0.25
    assert s["latency_ms"]["p50"] == 20.0 and s["latency_ms"]["max"] == 40.0
    assert s["features"]["a"]["mean"] == pytest.approx(11 / 4)
    assert s["features"]["a"]["missing_fraction"] == 0.2
    assert s["features"]["c"]["kind"] == "categorical"
    assert s["features"]["c"]["missing_fraction"] == 0.6  # absent keys count as missing
    assert s["features"]["c"]["top"] == {"x": 0.5, "y": 0.5}
    assert s["outputs"]["classes"] == {"cat": 1.0}
    assert s["outputs"]["mean_confidence"] == 0.5
    assert (s["outputs"]["null_fraction"], s["outputs"]["needs_review_fraction"]) == (0.2, 0.2)
    json.dumps(s, allow_nan=False)


def test_a_feature_with_numbers_and_strings_stays_numeric_in_any_order() -> None:
    rows = [{"f": "a"}, {"f": None}, {"f": 2.0}, {"f": "b"}, {"f": {"x": 1}}]
    profiles = []
    for order in (rows, rows[::-1]):
        builder = ProfileBuilder(_key())
        for row in order:
            builder.add([row], [{"output": 1}], 1.0)
        profiles.append(builder.build())
    split = merge_all(
        [_feed(_key(), [([r], None, 1.0, "ok")]) for r in rows]  # one profile per row
    )
    for p in (*profiles, split):
        f = p.features["f"]
        assert isinstance(f, NumericSketch)
        assert (f.count, f.missing, f.out_of_schema) == (1, 1, 3)
    strings = _feed(_key(), [([{"f": None}], None, 1.0, "ok"), ([{"f": "a"}], None, 1.0, "ok")])
    assert isinstance(strings.features["f"], CategorySketch)
    assert strings.features["f"].missing == 1


def test_rows_become_positional_or_summary_features() -> None:
    builder = ProfileBuilder(_key())
    builder.add([[1.0, 2.0, 3.0]], [{"output": 0.7}], 1.0)  # regression output
    image = np.arange(32 * 32, dtype=np.float64).reshape(32, 32) / 1023
    builder.add([image, list(range(65))], None, 1.0)
    builder.add(["just text"], [{"output": [1, 2]}], 1.0)
    p = builder.build()
    assert {"x0", "x1", "x2", "mean", "std", "min", "max"} <= set(p.features)
    assert "x64" not in p.features
    assert p.features["mean"].count == 2
    assert p.features["mean"].min == pytest.approx(0.5)
    assert p.features["max"].max == 64.0
    assert isinstance(p.features["x0"], NumericSketch)
    assert p.features["x0"].out_of_schema == 1  # the text beside numbers
    assert p.output_values.mean == 0.7
    assert p.output_classes.top(5) == [("[1, 2]", 1, 1, 1)]
    assert p.null_outputs == 2  # the call whose rows were None


def test_bad_values_never_raise() -> None:
    builder = ProfileBuilder(_key())
    odd = [
        None,
        {"a": object(), "b": [1, [2]], "c": math.inf, 3: "x"},
        [None, "x", {"y": 1}],
        [[1, 2], [3]],
        float("nan"),
        b"bytes",
        np.array(["a", "b"]),
    ]
    builder.add(odd, [None, {"output": object()}, {"confidence": "high"}, 5], "slow")
    builder.add(object(), None, math.nan, status="error")  # type: ignore[arg-type]
    p = builder.build()
    assert p.requests == 2 and p.errors == 1
    assert p.latency_ms.count == 0 and p.latency_ms.out_of_schema == 1
    assert p.features["c"].nonfinite == 1
    assert p.confidence.out_of_schema == 1
    json.dumps(p.summary(), allow_nan=False)
    assert WindowProfile.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_window_start_must_be_aware() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ProfileBuilder(_key(start=datetime(2024, 1, 1)))
