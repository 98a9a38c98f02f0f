"""Part 5 of the story: the inspectors' labels become a better model that ships safely.

Runs after part 4 (drift_story.py) against the same server and store, through the calls a team
would make:

1. **labels**: the inspectors decide the dark phones the drift alert queued for review, and
   label a shift of dark phones at the camera station (feedback);
2. **retraining**: the endpoint gets a retraining policy (manual approval, a canary short enough
   for the story); the request the drift alert opened is run: training data from the reference
   plus the new labels, a tracked training run, the candidate registered and gated against the
   champion overall and on the drifted (dark) slice;
3. **canary of v2**: approved, the candidate ramps while the camera keeps sending dark phones,
   until the rollout controller promotes it;
4. **blue-green, with rollback shown**: the old champion is switched back in at once, then the
   rollback puts v2 back instantly (it was kept loaded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from ..errors import Conflict
from ..store import Store
from ..store.tables import Prediction, ReviewTask
from . import phone_data
from .canary_watch import APPLY_TIMEOUT_S, narrate, ramp, wait_for_version
from .drift_story import DRIFT, FADE_TO
from .live import ENDPOINT

TRAIN = "inprod.quickstart.retrain_phone:train"
LABEL_MAP = {"0": "ok", "1": "scratch"}  # the model's classes as the reference's labels
# two strengths of regularisation trained side by side, the best by the runs' own validation
SWEEP = {"C": [0.3, 1.0]}
SELECT = "val_accuracy"
RESCORE = "1h"  # the candidate re-scores the story's logged phones before any canary…
MAX_CHANGED = 0.25  # …and is refused if it would change more than a quarter of the answers
CANARY = {
    "steps": "50,100",
    "interval": "2s",
    "min_requests": 20,
    # the gate judged accuracy on labelled phones already; under partial automation most dark
    # phones go to review, too few answers for an accuracy gate within the story's minute
    "gates": ["error_rate<=0.01", "latency_p99_ms<=300"],
}
LABELLED_PHONES = 300  # dark phones the inspectors label at the station
DARK_TEST_PHONES = 300  # dark phones neither model saw: accuracy before and after
# drift_story's camera draws each batch of 8 phones from seed + 5000 + batch
# the phones the story's cameras drew, as (seed offset, phones a draw, draws): part 2's
# (live.send_traffic), part 3's (rollout_story) and part 4's camera, 8 phones a batch
STORY_CAMERAS = ((1000, 1000, 1), (2000, 400, 1), (5000, 8, 150))
MATCH_RATIO = 0.6  # a phone is recognised when it fits this much better than the next best

Say = Callable[[str], None]


@dataclass
class RetrainSummary:
    request_id: int = 0
    status: str = ""
    candidate: str = ""
    gate: str = ""
    reviewed: int = 0  # the alert's review tasks the inspectors decided
    labelled: int = 0  # labels sent from the camera station
    dark_accuracy_before: float = 0.0
    dark_accuracy_after: float = 0.0
    canary_outcome: str = ""
    history: list[str] = field(default_factory=list)


def run_retrain_story(
    url: str, *, seed: int, store: Store, say: Say = lambda m: None
) -> RetrainSummary:
    """Part 5 against the server at ``url`` (the one parts 2-4 used, on ``store``); ``say``
    narrates. A request the gate rejects, or a canary a gate rolls back, ends the part early
    with that outcome in the summary; the champion keeps serving."""
    from .. import deploy, models
    from ..retraining import runner

    out = RetrainSummary()
    plan = deploy.get_plan(ENDPOINT, store=store)
    if plan.state in ("shadowing", "ramping", "paused"):  # left over from an interrupted run
        deploy.abort(ENDPOINT, reason="quickstart starts over", store=store)
    champion = models.get(plan.primary_ref, store=store).ref
    first_event = max((e.id for e in deploy.history(ENDPOINT, store=store)), default=0)
    dark = phone_data.generate(DARK_TEST_PHONES, seed=seed + 7000, dark_shift=FADE_TO)

    with httpx.Client(base_url=url, timeout=30) as client:
        camera = _DarkCamera(client, seed)
        out.reviewed = _decide(store, *_alert_tasks(store, seed))
        camera.send(LABELLED_PHONES, feedback=True)
        out.labelled = LABELLED_PHONES
        camera.flushed(store)
        queued = _open_tasks(store, ReviewTask.prediction_id.in_(list(camera.truth)))
        _decide(store, queued, camera.truth)  # what partial automation sent to review
        say(f"the inspectors decided {out.reviewed} phone(s) the drift alert queued for review "
            f"and labelled {out.labelled} dark phones at the station")  # fmt: skip

        request = _request(store)
        out.request_id = request.id
        _ensure_policy(store)
        say(f"retraining request {request.id} ({request.trigger}); policy: train {TRAIN} over "
            f"C={','.join(map(str, SWEEP['C']))} (best by {SELECT}), re-score the last "
            f"{RESCORE} (at most {MAX_CHANGED:.0%} changed), manual approval, canary "
            f"{CANARY['steps']}% every {CANARY['interval']}")  # fmt: skip
        request = runner.run_request(request.id, actor="quickstart", store=store)
        out.candidate = request.details.get("candidate", "")
        evaluation = request.details.get("evaluation") or {}
        out.gate = evaluation.get("summary") or request.details.get("message", "")
        for step in request.steps:
            say(f"  {step['name']}: {step.get('message', step['status'])}")
        if request.status == "awaiting_approval":
            request = runner.approve_deploy(request.id, actor="quickstart", store=store)
        out.status = request.status
        out.dark_accuracy_before = _accuracy(champion, dark, store)
        if out.candidate:
            out.dark_accuracy_after = _accuracy(out.candidate, dark, store)
            say(f"on {DARK_TEST_PHONES} dark phones neither model saw: {champion} "
                f"{out.dark_accuracy_before:.1%}, {out.candidate} "
                f"{out.dark_accuracy_after:.1%}")  # fmt: skip
        if request.status == "deployed":
            _ship(client, camera, champion, store, out, say)
        else:
            say(f"  request {request.id} is {request.status}: {request.details.get('message')}")
    out.history = [narrate(e) for e in deploy.history(ENDPOINT, store=store) if e.id > first_event]
    return out


def _ship(
    client: httpx.Client,
    camera: _DarkCamera,
    champion: str,
    store: Store,
    out: RetrainSummary,
    say: Say,
) -> None:
    """The canary ramps under dark traffic; once promoted, a blue-green switch to the old
    champion and the rollback that puts the candidate back."""
    from .. import deploy

    out.canary_outcome, _ = ramp(lambda: camera.send(20, feedback=True), store=store, say=say)
    if out.canary_outcome != "promoted":
        return
    wait_for_version(client, lambda v: v == out.candidate)
    deploy.blue_green(ENDPOINT, champion, reason="quickstart: the old champion back, all at once",
                      store=store)  # fmt: skip
    wait_for_version(client, lambda v: v == champion)
    say(f"blue-green: {champion} takes all traffic at once; {out.candidate} stays loaded")
    started = time.perf_counter()
    deploy.rollback(ENDPOINT, reason="quickstart: the candidate back, instantly", store=store)
    wait_for_version(client, lambda v: v == out.candidate)
    say(f"rollback: {out.candidate} serves again after {time.perf_counter() - started:.2f} s")


class _DarkCamera:
    """The camera station under the faded lamps; remembers each phone's inspected label."""

    def __init__(self, client: httpx.Client, seed: int) -> None:
        self.client, self.seed = client, seed
        self.truth: dict[str, int] = {}  # prediction id -> 1: scratch (the inspectors' majority)
        self.batch = self.sent = 0

    def send(self, n: int, *, feedback: bool) -> None:
        phones = phone_data.generate(n, seed=self.seed + 6000 + self.batch, dark_shift=FADE_TO)
        self.batch += 1
        for row, x in zip(phones.rows, phone_data.features(phones.images), strict=True):
            self.sent += 1
            r = self.client.post(
                f"/v1/endpoints/{ENDPOINT}/predict",
                json={"instances": [x.round(3).tolist()]},
                headers={"X-Request-Key": f"dark-phone-{self.sent}"},  # one a phone
            )
            if r.status_code != 200:
                continue
            pid = r.json()["prediction_ids"][0]
            self.truth[pid] = int(row["label"] == "scratch")
            if feedback:
                self.client.post(
                    f"/v1/predictions/{pid}/feedback",
                    json={"label": self.truth[pid], "source": "station-inspectors"},
                )

    def flushed(self, store: Store) -> None:
        """Wait for the server's log writer: the retraining data reads the logged inputs."""
        from sqlalchemy import func, select

        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            with store.session(write=False) as s:
                found = s.scalar(select(func.count()).where(Prediction.id.in_(list(self.truth))))
            if found == len(self.truth):
                return
            time.sleep(0.1)


def _open_tasks(store: Store, *where: Any) -> list[tuple[str, str, Any]]:
    """The endpoint's open review tasks matching ``where``: (task id, prediction id, inputs)."""
    from sqlalchemy import select

    query = select(ReviewTask.id, ReviewTask.prediction_id, ReviewTask.inputs).where(
        ReviewTask.endpoint == ENDPOINT, ReviewTask.status == "open", *where
    )
    with store.session(write=False) as s:
        return [tuple(row) for row in s.execute(query.order_by(ReviewTask.created_at))]


def _alert_tasks(store: Store, seed: int) -> tuple[list[tuple[str, str, Any]], dict[str, int]]:
    """The drift alert's sample waiting for review, and the inspectors' label of each phone.

    The lamps' darkening changes the light, not the phone: each queued image is matched to the
    phone the story's cameras drew (the same scratch, the same sensor noise) by how smooth the
    difference between the two images is, and gets that phone's label.
    """
    tasks = _open_tasks(store, ReviewTask.reason == "monitor")
    if not tasks:
        return [], {}
    drawn = [
        phone_data.generate(n, seed=seed + offset + draw)
        for offset, n, draws in STORY_CAMERAS
        for draw in range(draws)
    ]
    images = phone_data.features(np.concatenate([d.images for d in drawn]))
    labels = [int(row["label"] == "scratch") for d in drawn for row in d.rows]
    truth = {}
    for _, pid, inputs in tasks:
        instance = np.asarray(inputs, dtype=np.float32).reshape(-1)
        if instance.size != images.shape[1]:
            continue
        roughness = _roughness(instance - images)
        best, second = np.partition(roughness, 1)[:2]
        if best < MATCH_RATIO * second:
            truth[pid] = labels[int(np.argmin(roughness))]
    return tasks, truth


def _roughness(diff: np.ndarray) -> np.ndarray:
    """Mean absolute second difference of each 32×32 image (a light change leaves it small)."""
    d = diff.reshape(len(diff), 32, 32)
    return np.abs(2 * d[:, 1:, 1:] - d[:, :-1, 1:] - d[:, 1:, :-1]).mean(axis=(1, 2))


def _decide(store: Store, tasks: list[tuple[str, str, Any]], truth: dict[str, int]) -> int:
    """The inspectors take turns on the tasks whose phones they know; returns how many."""
    from .. import review

    decided = 0
    for task_id, pid, _ in tasks:
        if pid not in truth:
            continue
        reviewer = phone_data.INSPECTORS[decided % len(phone_data.INSPECTORS)]
        try:
            review.decide(task_id, truth[pid], reviewer=reviewer, store=store)
        except Conflict:  # decided or held meanwhile
            continue
        decided += 1
    return decided


def _request(store: Store) -> Any:
    """The request the drift alert's ``retrain`` action opened (found by asking for it again:
    a request made for an alert is made once), or a person's when no alert fired."""
    from ..monitoring import alerts
    from ..retraining import requests

    fired = [a for a in alerts.list_alerts(endpoint=ENDPOINT, state="open", store=store)
             if a.monitor == DRIFT]  # fmt: skip
    if fired:
        return requests.open_request(
            ENDPOINT, trigger=f"alert:{fired[0].id}", alert_id=fired[0].id,
            reason=fired[0].message, actor="quickstart", store=store,
        )  # fmt: skip
    return requests.open_request(
        ENDPOINT, trigger="manual", reason="quickstart: the lamps changed", actor="quickstart",
        store=store,
    )  # fmt: skip


def _ensure_policy(store: Store) -> None:
    from ..retraining import policies

    policy = {"train": TRAIN, "triggers": [], "approve": "manual",
              "settings": {"label_map": LABEL_MAP, "canary": CANARY, "sweep": SWEEP,
                           "select": SELECT, "rescore": RESCORE,
                           "max_changed": MAX_CHANGED}}  # fmt: skip
    try:
        policies.add(ENDPOINT, **policy, actor="quickstart", store=store)
    except Conflict:  # made by an earlier run
        policies.update(
            ENDPOINT, **policy, enabled=True, reason="quickstart", actor="quickstart", store=store
        )


def _accuracy(ref: str, phones: phone_data.PhoneImages, store: Store) -> float:
    from .. import models

    outputs = np.asarray(models.load(ref, store=store).predict(
        phone_data.features(phones.images)).outputs).astype(int)  # fmt: skip
    return float(np.mean(outputs == phones.truth))
