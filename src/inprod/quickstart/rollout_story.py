"""Part 3 of the story: from the model beside the inspectors to a gated canary and a rollback.

Runs against the server that part 2 started, through the same calls a team would make:

1. **shadow automation**: the champion answers every phone, but a person decides; the
   inspectors work through the review queue and their decisions become labels;
2. **partial automation**: the threshold that keeps 97% precision on those labels is suggested
   and set; confident answers are decisions now, the rest go to the queue;
3. **a canary of a challenger**: a second model, trained in its own run, takes a growing share
   of traffic while the rollout controller checks error rate, latency and accuracy on feedback
   against the champion at every step;
4. **a rollback**: the previous version was kept loaded, so going back is instant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np

from ..store import Store
from . import phone_data
from .canary_watch import APPLY_TIMEOUT_S, live, ramp, wait, wait_for_version
from .live import ENDPOINT
from .story import MODEL, PROJECT, training_data

TARGET_PRECISION = 0.97
FALLBACK_THRESHOLD = 0.9
CANARY_STEPS = "25,50,100"
CANARY_INTERVAL = "2s"
CANARY_MIN_REQUESTS = 40
CANARY_GATES = ("error_rate<=0.01", "latency_p99_ms<=300", "accuracy>=champion-0.05")
REVIEWERS = phone_data.INSPECTORS

Say = Callable[[str], None]


@dataclass
class RolloutSummary:
    shadow_requests: int = 0
    human_model_agreement: float | None = None
    threshold: float | None = None
    coverage: float | None = None
    partial_requests: int = 0
    sent_to_review: int = 0
    decided: int = 0
    challenger: str = ""
    canary_outcome: str = ""
    canary_events: list[str] = field(default_factory=list)
    rollback_s: float | None = None


def run_rollout_story(
    url: str, *, dataset_ref: str, seed: int, store: Store, say: Say = lambda m: None
) -> RolloutSummary:
    from .. import deploy

    out = RolloutSummary()
    fresh = phone_data.generate(400, seed=seed + 2000)  # phones the models have not seen
    X = phone_data.features(fresh.images)
    labels = [r["label"] for r in fresh.rows]
    plan = deploy.get_plan(ENDPOINT, store=store)
    if plan.state in ("shadowing", "ramping", "paused"):  # left over from an interrupted run
        deploy.abort(ENDPOINT, reason="quickstart starts over", store=store)

    with httpx.Client(base_url=url, timeout=30) as client:
        traffic = _Traffic(client, X, labels)

        say("degree of automation: shadow — the model answers, the inspectors decide")
        _set_automation(client, store, "shadow")
        traffic.send(60, label_every=0)
        out.shadow_requests = 60
        out.decided += _review_all(store, traffic.truth, 60)
        agreement = _agreement(store)
        out.human_model_agreement = agreement
        say(f"  the inspectors decided 60 phones; the model agreed with them on {agreement:.0%}")

        suggestion = deploy.suggest_threshold(
            ENDPOINT, target_precision=TARGET_PRECISION, store=store
        )
        threshold = suggestion.threshold or FALLBACK_THRESHOLD
        out.threshold = threshold
        _set_automation(client, store, "partial", threshold=threshold)
        answered, reviewed = traffic.send(100, label_every=0)
        out.partial_requests, out.sent_to_review = 100, reviewed
        out.coverage = (100 - reviewed) / 100
        out.decided += _review_all(store, traffic.truth, reviewed)
        say(
            f"degree of automation: partial at confidence ≥ {threshold:.2f} (precision "
            f"{TARGET_PRECISION:.0%} on their labels) — {answered} of 100 phones decided by "
            f"the model, {reviewed} sent to the review queue and decided"
        )

        challenger = _train_challenger(dataset_ref, seed=seed, store=store)
        out.challenger = challenger
        say(f"challenger {challenger} trained in its own run; canary {CANARY_STEPS}% with gates "
            + ", ".join(CANARY_GATES))  # fmt: skip
        deploy.canary(
            ENDPOINT, challenger, steps=CANARY_STEPS, interval=CANARY_INTERVAL,
            gates=list(CANARY_GATES), min_requests=CANARY_MIN_REQUESTS,
            reason="quickstart: the challenger earns its traffic", store=store,
        )  # fmt: skip
        before = out.sent_to_review

        def camera() -> None:  # labelled phones: the accuracy gate compares on feedback
            out.sent_to_review += traffic.send(20, label_every=1)[1]

        out.canary_outcome, out.canary_events = ramp(camera, store=store, say=say)
        out.decided += _review_all(store, traffic.truth, out.sent_to_review - before)

        if out.canary_outcome == "promoted":
            started = time.perf_counter()
            deploy.rollback(ENDPOINT, reason="quickstart: shows the instant way back", store=store)
            previous = wait_for_version(client, lambda v: v != challenger)
            out.rollback_s = time.perf_counter() - started
            say(f"rollback: {previous} serves again after {out.rollback_s:.2f} s (it was kept "
                "loaded)")  # fmt: skip
    return out


class _Traffic:
    """The camera station: one phone per request, each with a request key (a station id)."""

    def __init__(self, client: httpx.Client, X: np.ndarray, labels: list[str]) -> None:
        self.client, self.X, self.labels = client, X, labels
        self.i = 0
        self.truth: dict[str, int] = {}  # prediction id -> the inspectors' label (1: scratch)

    def send(self, n: int, *, label_every: int) -> tuple[int, int]:
        """Send ``n`` phones; returns (answered by the model, sent to review). With
        ``label_every`` > 0, every such request's true label goes back as feedback."""
        answered = reviewed = 0
        for _ in range(n):
            i = self.i % len(self.X)
            self.i += 1
            r = self.client.post(
                f"/v1/endpoints/{ENDPOINT}/predict",
                json={"instances": [self.X[i].round(4).tolist()]},
                headers={"X-Request-Key": f"phone-{self.i}"},
            )
            if r.status_code != 200:
                continue
            body = r.json()
            truth = int(self.labels[i] == "scratch")
            self.truth[body["prediction_ids"][0]] = truth
            if body["predictions"][0].get("decision") == "needs_review":
                reviewed += 1
            else:
                answered += 1
            if label_every and self.i % label_every == 0:
                self.client.post(
                    f"/v1/predictions/{body['prediction_ids'][0]}/feedback",
                    json={"label": truth, "source": "inspectors"},
                )
        return answered, reviewed


def _set_automation(
    client: httpx.Client, store: Store, mode: str, *, threshold: float | None = None
) -> None:
    from .. import deploy

    deploy.set_automation(ENDPOINT, mode, threshold=threshold, reason="quickstart", store=store)
    wait(lambda: live(client).get("automation") == mode, f"automation {mode}")


def _review_all(store: Store, truth: dict[str, int], expected: int) -> int:
    """The inspectors take turns on this run's tasks until ``expected`` are decided (tasks reach
    the store with the server's next log flush); the truth is the generator's label."""
    from .. import review
    from ..review.queue import MAX_LIMIT

    decided = 0
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while decided < expected:
        waiting = review.list_tasks(status="open", endpoint=ENDPOINT, limit=MAX_LIMIT, store=store)
        mine = [t for t in waiting if t.prediction_id in truth]
        if not mine:
            if time.monotonic() > deadline:
                raise TimeoutError(f"quickstart: {expected - decided} review task(s) never came")
            time.sleep(0.1)
            continue
        for task in mine:
            reviewer = REVIEWERS[decided % len(REVIEWERS)]
            review.decide(task.id, truth[task.prediction_id], reviewer=reviewer, store=store)
            decided += 1
    return decided


def _agreement(store: Store) -> float:
    from .. import review

    reviewers = review.stats(endpoint=ENDPOINT, store=store).reviewers
    agree = [r.agreement for r in reviewers if r.agreement is not None]
    counts = [r.decided for r in reviewers if r.agreement is not None]
    return float(np.average(agree, weights=counts)) if agree else 0.0


def _train_challenger(dataset_ref: str, *, seed: int, store: Store) -> str:
    """A second model on the same data: stronger regularisation and balanced classes."""
    from sklearn.linear_model import LogisticRegression

    from ..registry import models
    from ..tracking.runs import start_run

    X, y, _, train_idx, test_idx = training_data(dataset_ref, seed=seed, store=store)
    params = {"model": "LogisticRegression", "C": 0.3, "class_weight": "balanced", "max_iter": 1000}
    with start_run(project=PROJECT, name="challenger-logreg", store=store) as run:
        run.log_params(params)
        model = LogisticRegression(C=0.3, class_weight="balanced", max_iter=1000)
        model.fit(X[train_idx], y[train_idx])
        run.log_metrics({"accuracy": float(model.score(X[test_idx], y[test_idx]))})
        version = models.register(
            MODEL, model, run=run, sample=X[test_idx[:5]],
            description="Logistic regression, C=0.3, balanced classes (challenger).", store=store,
        )  # fmt: skip
    return version.ref
