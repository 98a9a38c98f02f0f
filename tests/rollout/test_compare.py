"""Comparing a shadow or canary with the primary on hand-built logged predictions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from inprod import deploy, endpoints, models
from inprod.errors import InvalidInput, NotFound
from inprod.store import Store
from inprod.store.tables import Feedback, Prediction

EP = "phone-inspector"


@pytest.fixture
def versions(store: Store) -> None:
    """``tiny@1`` (champion) serves ``phone-inspector``; ``tiny@2`` and ``tiny@3`` wait."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    for c in (1.0, 0.1, 0.01):
        models.register("tiny", LogisticRegression(C=c).fit(X, y), sample=X[:3], store=store)
    models.set_alias("tiny@1", "champion", store=store)
    endpoints.create(EP, "tiny@champion", store=store)


def _pid() -> str:
    return uuid.uuid4().hex


def _log(store: Store, rows: list[dict[str, Any]]) -> None:
    with store.session() as s:
        for r in rows:
            failed = r.get("status") == "error"
            s.add(
                Prediction(
                    id=r["id"],
                    time=r.get("time", datetime.now(UTC)),
                    endpoint=r.get("endpoint", EP),
                    model_name="tiny",
                    model_version=r["version"],
                    role=r["role"],
                    latency_ms=r["latency"],
                    status="error" if failed else "ok",
                    outputs=None if failed else {"output": r["output"], "confidence": 0.9},
                    confidence=None if failed else 0.9,
                    primary_id=r.get("primary_id"),
                )
            )


def _label(store: Store, pid: str, label: Any = None, event: str | None = None) -> None:
    with store.session() as s:
        s.add(Feedback(prediction_id=pid, label=label, event=event, source="test"))


def test_shadow_comparison_counts_agreement_accuracy_latency_and_errors(
    store: Store, versions: None
) -> None:
    deploy.shadow(EP, "tiny@2", store=store)
    primary_ids = [_pid() for _ in range(10)]
    primary_out = ["scratch"] * 5 + ["ok"] * 5
    shadow_out = list(primary_out)
    shadow_out[3], shadow_out[7] = "ok", "scratch"  # the shadow disagrees on two requests
    _log(
        store,
        [
            {"id": p, "version": 1, "role": "primary", "output": o, "latency": 10.0 + i}
            for i, (p, o) in enumerate(zip(primary_ids, primary_out, strict=True))
        ],
    )
    shadow_rows = [
        {"id": _pid(), "version": 2, "role": "shadow", "output": o, "latency": 20.0 + i,
         "primary_id": primary_ids[i], "status": "error" if i == 9 else "ok"}
        for i, o in enumerate(shadow_out)
    ]  # fmt: skip
    # a shadow answer whose primary answer is not logged yet, and traffic that is not compared
    shadow_rows.append(
        {"id": _pid(), "version": 2, "role": "shadow", "output": "ok", "latency": 30.0,
         "primary_id": _pid()}
    )  # fmt: skip
    shadow_rows.append(
        {"id": _pid(), "version": 1, "role": "primary", "output": "ok", "latency": 1}
    )
    shadow_rows.append({"id": _pid(), "version": 3, "role": "shadow", "output": "x", "latency": 1})
    _log(store, shadow_rows)
    # labels are given on the primary prediction; request 3: the shadow was right, the primary
    # wrong. Request 1 was relabelled (the latest label counts); an event carries no label.
    for i in (0, 2, 4, 5):
        _label(store, primary_ids[i], primary_out[i])
    _label(store, primary_ids[1], "ok")
    _label(store, primary_ids[1], "scratch")
    _label(store, primary_ids[3], "ok")
    _label(store, primary_ids[0], event="redo")

    result = deploy.compare(EP, store=store)

    assert (result.mode, result.candidate) == ("shadow", "tiny@2")
    assert (result.pairs, result.agreements, result.disagreements) == (9, 7, 2)
    assert result.agreement == pytest.approx(7 / 9)
    primary, shadow = result.sides
    assert (primary.ref, primary.role, primary.n, primary.errors) == ("tiny@1", "primary", 10, 0)
    assert (shadow.ref, shadow.role, shadow.n, shadow.errors) == ("tiny@2", "shadow", 11, 1)
    assert shadow.error_rate == pytest.approx(1 / 11)
    assert (primary.labelled, shadow.labelled) == (6, 6)
    assert primary.accuracy == pytest.approx(5 / 6)
    assert shadow.accuracy == pytest.approx(1.0)
    assert primary.latency_p50_ms == pytest.approx(np.percentile(np.arange(10, 20.0), 50))
    assert primary.latency_p99_ms == pytest.approx(np.percentile(np.arange(10, 20.0), 99))
    ok_shadow = [20.0 + i for i in range(9)] + [30.0]
    assert shadow.latency_p50_ms == pytest.approx(np.percentile(ok_shadow, 50))
    assert shadow.latency_p99_ms == pytest.approx(np.percentile(ok_shadow, 99))
    as_dict = result.to_dict()
    assert as_dict["disagreements"] == 2 and as_dict["sides"][1]["accuracy"] == 1.0


def test_canary_comparison_summarises_each_version_over_the_rollout(
    store: Store, versions: None
) -> None:
    plan = deploy.canary(EP, "tiny@2", min_requests=10, store=store)
    assert plan.candidate is not None and plan.candidate.started_at is not None
    started = datetime.fromisoformat(plan.candidate.started_at)
    before = started - timedelta(hours=1)
    old = [{"id": _pid(), "version": 1, "role": "primary", "output": "ok", "latency": 99.0,
            "time": before, "status": "error"} for _ in range(5)]  # fmt: skip
    primary = [{"id": _pid(), "version": 1, "role": "primary", "output": "ok",
                "latency": float(i), "time": started + timedelta(seconds=i),
                "status": "error" if i < 2 else "ok"} for i in range(20)]  # fmt: skip
    canary = [{"id": _pid(), "version": 2, "role": "canary", "output": "ok",
               "latency": 50.0 + i, "time": started + timedelta(seconds=i),
               "status": "error" if i == 0 else "ok"} for i in range(10)]  # fmt: skip
    _log(store, old + primary + canary)
    for row in primary[2:6]:
        _label(store, row["id"], "ok")
    for row, label in zip(canary[1:5], ["ok", "ok", "ok", "scratch"], strict=True):
        _label(store, row["id"], label)

    result = deploy.compare(EP, store=store)

    assert (result.mode, result.pairs, result.agreement) == ("canary", 0, None)
    assert result.since == started.isoformat()
    p, c = result.sides
    assert (p.ref, p.role, p.n, p.errors, p.error_rate) == ("tiny@1", "primary", 20, 2, 0.1)
    assert (c.ref, c.role, c.n, c.errors, c.error_rate) == ("tiny@2", "canary", 10, 1, 0.1)
    assert (p.labelled, p.accuracy) == (4, 1.0)
    assert (c.labelled, c.accuracy) == (4, 0.75)
    assert p.latency_p50_ms == pytest.approx(np.percentile(np.arange(2, 20.0), 50))
    assert c.latency_p99_ms == pytest.approx(np.percentile(np.arange(51, 60.0), 99))


def test_compare_finds_the_last_shadow_in_the_log_after_the_plan_moved_on(
    store: Store, versions: None
) -> None:
    deploy.shadow(EP, "tiny@3", store=store)
    p = _pid()
    _log(
        store,
        [
            {"id": p, "version": 1, "role": "primary", "output": "ok", "latency": 1.0},
            {"id": _pid(), "version": 3, "role": "shadow", "output": "ok", "latency": 2.0,
             "primary_id": p},
        ],
    )  # fmt: skip
    deploy.abort(EP, store=store)
    result = deploy.compare(EP, store=store)
    assert (result.candidate, result.pairs, result.agreements) == ("tiny@3", 1, 1)
    # --model picks a version explicitly; one never logged is refused with how to fix it
    assert deploy.compare(EP, model="tiny@3", store=store).candidate == "tiny@3"
    with pytest.raises(InvalidInput, match="no shadow or canary predictions of tiny@2"):
        deploy.compare(EP, model="tiny@2", store=store)
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(InvalidInput, match="since"):
        deploy.compare(EP, since=later, store=store)


def test_compare_with_nothing_logged_says_how_to_start(store: Store, versions: None) -> None:
    with pytest.raises(InvalidInput) as info:
        deploy.compare(EP, store=store)
    assert "no shadow or canary predictions logged for 'phone-inspector' yet" in str(info.value)
    assert "inprod deploy phone-inspector --shadow MODEL@VERSION" in str(info.value)
    deploy.shadow(EP, "tiny@2", store=store)
    with pytest.raises(InvalidInput, match="deployed as shadow: send requests"):
        deploy.compare(EP, store=store)
    with pytest.raises(NotFound, match="no endpoint 'nope'"):
        deploy.compare("nope", store=store)
    with pytest.raises(NotFound, match="no version 9"):
        deploy.compare(EP, model="tiny@9", store=store)
