"""The phone-inspection lifecycle, top to bottom, through inprod's public API and plain HTTP.

The story of ``inprod quickstart``, written out so you can copy the calls: scope a project, add
labelled images and measure the inspectors, train a champion in a tracked run, serve it with
``inprod serve``, work beside the inspectors (shadow, then partial automation with the review
queue), ship a challenger by a gated canary, watch the lamps fade until the drift monitor fires,
retrain on the inspectors' labels and ship that by canary too, then switch blue-green to the old
version and roll back in an instant.

Run ``python examples/phone_story.py`` (about 80 s on two cores) or ``--short`` (about 60 s;
what tests/test_story_example.py runs). The store, the images and the server's files live in a
temporary folder, deleted at the end; the server listens on a free loopback port and is always
stopped. docs/example-story.md walks through the output.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import inprod
from inprod.monitoring import monitors
from inprod.quickstart import phone_data
from inprod.retraining import policies, runner

PROJECT, DATASET, MODEL = "phone-inspection", "phone-images", "phone-inspector"
ENDPOINT = MODEL  # the endpoint is named after the model it serves
SEED = 7
INSPECTORS = list(phone_data.INSPECTORS)
PROFILE_S = 2  # one monitoring window of the server: the story's "hour" of the factory's day
DARK = 0.35  # how much darker the failing lamps make the images (phone_data's dark_shift)
TIMEOUT_S = 90.0  # the longest any wait below may take on a loaded machine
SERVER_ENV = {  # a server that reacts in seconds: windows, monitors and canary gates
    "INPROD_PROFILE_SECONDS": str(PROFILE_S),
    "INPROD_MONITOR_TICK_SECONDS": "0.5",
    "INPROD_ROLLOUT_TICK_SECONDS": "0.5",
    "INPROD_RETRAIN_TICK_SECONDS": "0",  # this script runs the retraining request itself
}


@dataclass(frozen=True)
class Size:
    images: int  # labelled phones in the dataset
    shadow: int  # phones the inspectors decide while the model shadows them
    partial: int  # phones under partial automation
    canary_min: int  # canary requests each canary step needs
    normal_s: float  # seconds of normal light: the drift reference
    fade_s: float  # seconds the lamps take to fade
    dark_labelled: int  # dark phones the inspectors label at the station


FULL = Size(
    images=1200, shadow=60, partial=100, canary_min=40, normal_s=8, fade_s=10, dark_labelled=500
)
SHORT = Size(
    images=400, shadow=40, partial=60, canary_min=20, normal_s=6, fade_s=6, dark_labelled=200
)


def story(size: Size, store: inprod.Store, env: dict[str, str], tmp: Path) -> None:
    """The nine steps on ``store``; ``env`` is the server's environment (the same store)."""
    # -- 1. scoping ------------------------------------------------------------------------------
    project = inprod.projects.create(
        PROJECT,
        metrics=["accuracy>=0.95", "latency_p99_ms<=300"],
        description="Detect scratches on phones from the inspection camera.",
        store=store,
    )
    print(f"1. project {project.name}: {', '.join(str(m) for m in project.metrics)}")

    # -- 2. data: three inspectors label every phone; how far do they agree? --------------------
    phones = phone_data.generate(size.images, seed=SEED)
    version = inprod.datasets.add(
        DATASET,
        phone_data.write_image_folder(phones, tmp / "phones"),  # PNGs and a manifest.csv
        image_column="image",
        label_columns=["label", *INSPECTORS],  # the majority, then each inspector's
        metadata_columns=["factory", "brightness", "blurry", "scratch_contrast"],
        store=store,
    )
    slices = ["factory=A", "factory=B", "blurry", "scratch_contrast=0.12"]  # 0.12: faint ones
    agreement = inprod.labels.agreement(
        version.ref, labeler_columns=INSPECTORS, slices=slices, store=store
    )
    alphas = ", ".join(f"{s.name} {s.alpha:.2f}" for s in [agreement.overall, *agreement.slices])
    print(f"2. {version.ref}: {version.row_count} phones; inspectors' agreement α {alphas}")
    hlp = inprod.analysis.dataset_hlp(version.ref, labelers=INSPECTORS, tags=slices, store=store)
    print("   human-level performance: " + ", ".join(f"{s.tag} {s.hlp:.1%}" for s in hlp.slices))

    # -- 3. a tracked training run, error analysis, the champion --------------------------------
    table = inprod.datasets.load(version.ref, store=store)
    X = phone_data.features(inprod.datasets.load_images(version.ref, store=store))
    y = (table["label"] == "scratch").to_numpy().astype(int)
    train, test = train_test_split(np.arange(len(y)), test_size=0.25, random_state=SEED, stratify=y)
    with inprod.start_run(project=PROJECT, name="baseline-logreg", store=store) as run:
        run.use_dataset(version, role="train")
        run.log_params({"model": "LogisticRegression", "C": 1.0, "test_size": 0.25})
        model = LogisticRegression(C=1.0, max_iter=1000).fit(X[train], y[train])
        run.log_metrics({"accuracy": model.score(X[test], y[test])})
        champion = inprod.models.register(
            MODEL, model, run=run, sample=X[test[:5]], alias="champion", store=store
        )
    accuracy = champion.metrics["accuracy"]
    print(f"3. run {run.id[:8]}: test accuracy {accuracy:.3f}; {champion.ref} is the champion")
    # the test phones re-inspected under a microscope (a scratch of any contrast is one), so the
    # model and a typical inspector (human-level performance) are judged alike
    frame = table.iloc[test].assign(
        label=np.where(table["scratch_contrast"].iloc[test] > 0, "scratch", "ok"),
        prediction=np.where(model.predict(X[test]) == 1, "scratch", "ok"),
    )
    errors = inprod.analysis.analyze_errors(frame, baseline_col="inspector-1", tags=slices)
    for r in sorted(errors.table, key=lambda r: -(r.potential or 0))[:2]:
        print(f"   work on {r.tag} ({r.share:.0%} of phones): accuracy {r.accuracy:.1%}, "
              f"inspector {r.baseline:.1%}")  # fmt: skip

    # -- 4. serve: `inprod serve` on a free loopback port, always stopped -----------------------
    features = "inprod.quickstart.phone_data:image_features"  # monitored: brightness, contrast
    inprod.endpoints.create(
        ENDPOINT, f"{MODEL}@champion", settings={"features": features}, store=store
    )
    with (
        serve(env) as url,
        inprod.Client(url) as client,
        httpx.Client(base_url=url, timeout=10) as api,
    ):
        print(f"4. serving {serving(api)} at {url}")
        station = Station(client, api)

        # -- 5. shadow, then partial automation with the review queue ---------------------------
        set_automation(api, "shadow")
        station.send(size.shadow)
        decided = inspectors_decide(store, station)
        reviewers = inprod.review.stats(endpoint=ENDPOINT, store=store).reviewers
        agree = sum(r.agreed for r in reviewers) / sum(r.compared for r in reviewers)
        print(f"5. shadow: inspectors decided {decided} of {size.shadow} phones; the model "
              f"agreed on {agree:.0%}")  # fmt: skip
        suggested = inprod.deploy.suggest_threshold(ENDPOINT, target_precision=0.97, store=store)
        threshold = suggested.threshold or 0.9  # none reaches the target: a cautious one
        set_automation(api, "partial", threshold=threshold)
        by_model = station.send(size.partial)["decided"]
        decided = inspectors_decide(store, station)
        print(f"   partial, confidence >= {threshold:.2f}: the model decided {by_model} of "
              f"{size.partial} phones, the inspectors {decided}")  # fmt: skip

        # -- 6. a challenger earns its traffic: a canary with gates -----------------------------
        with inprod.start_run(project=PROJECT, name="challenger-logreg", store=store) as run:
            run.use_dataset(version, role="train")
            run.log_params({"model": "LogisticRegression", "C": 0.3, "class_weight": "balanced"})
            model = LogisticRegression(C=0.3, class_weight="balanced", max_iter=1000)
            model.fit(X[train], y[train])
            run.log_metrics({"accuracy": model.score(X[test], y[test])})
            challenger = inprod.models.register(
                MODEL, model, run=run, sample=X[test[:5]], store=store
            )
        # a step's accuracy rests on a few dozen labels: a 10-point margin keeps chance from
        # rolling back a challenger as good as the champion
        gates = ["error_rate<=0.01", "latency_p99_ms<=300", "accuracy>=champion-0.1"]
        print(f"6. canary of {challenger.ref}: 25, 50, 100% every 2 s; gates {', '.join(gates)}")
        inprod.deploy.canary(
            ENDPOINT,
            challenger.ref,
            steps="25,50,100",
            interval="2s",
            gates=gates,
            min_requests=size.canary_min,
            store=store,
        )
        outcome = watch_canary(store, api, station)
        print(f"   canary {outcome}: {serving(api)} serves")

        # -- 7. the lamps fade: a reference window, two monitors, the alert ---------------------
        began = window_start()
        drive(station, size.normal_s, lambda progress: 0.0)
        reference = f"window:{began.isoformat()}/{window_start().isoformat()}"
        rule = {"window": f"{3 * PROFILE_S}s", "for_": f"{2 * PROFILE_S}s", "reference": reference}
        brightness = monitors.add(
            ENDPOINT, "input.brightness.mean", change_pct="15%", store=store, **rule
        )
        drift = monitors.add(
            ENDPOINT,
            "drift.brightness.psi",
            above=0.2,
            severity="critical",
            actions=["review:20", "retrain"],
            store=store,
            **rule,
        )
        print(f"7. monitors '{brightness.name}', '{drift.name}' (reference: {size.normal_s:g} s)")
        fading = time.monotonic()
        drive(station, size.fade_s, lambda progress: DARK * progress)
        while not (alert := open_alert(api, drift.name)):
            check_deadline(fading, "the drift alert")
            drive(station, 1.0, lambda progress: DARK)
        print(f"   the lamps fade; {time.monotonic() - fading:.0f} s later: ALERT {alert['id']} "
              f"({alert['severity']}) {alert['message']}")  # fmt: skip
        done = alert_actions(api, alert["id"])
        request_id = done["retraining_request"]
        print(f"   it sent {done['review_tasks']} phones to review, opened retraining request "
              f"{request_id}")  # fmt: skip

        # -- 8. labels, a retraining policy, the alert's request, the new model's canary --------
        reviewed = inspectors_decide(store, station, reason="monitor")
        station.send(size.dark_labelled, dark=DARK, feedback=True)
        station.wait_logged()  # the training data reads the logged inputs
        print(f"8. the inspectors decided the {reviewed} phones and labelled "
              f"{size.dark_labelled} dark ones at the station")  # fmt: skip
        policies.add(
            ENDPOINT,
            train="inprod.quickstart.retrain_phone:train",
            triggers=[],  # requests come from alerts' retrain actions (and people)
            approve="manual",
            settings={
                "label_map": {"0": "ok", "1": "scratch"},  # the model's classes as labels
                "canary": {"steps": "50,100", "interval": "2s", "min_requests": size.canary_min},
            },
            store=store,
        )
        old = serving(api)
        request = runner.run_request(request_id, store=store)
        for step in request.steps:
            start, end = (datetime.fromisoformat(step[k]) for k in ("started_at", "finished_at"))
            print(f"   {step['name']} ({(end - start).total_seconds():.1f} s): {step['message']}")
        if request.status != "awaiting_approval":
            raise SystemExit(f"request {request_id} {request.status}: {request.details['message']}")
        candidate = request.details["candidate"]
        dark = phone_data.generate(300, seed=SEED + 7000, dark_shift=DARK)  # neither model saw
        scores = [
            f"{ref} {np.mean(predict(ref, dark.images, store) == dark.truth):.1%}"
            for ref in (old, candidate)
        ]
        print(f"   accuracy on {len(dark.truth)} new dark phones: {', '.join(scores)}")
        request = runner.approve_deploy(request_id, store=store)
        print(f"   approved: request {request_id} is {request.status}, a canary of {candidate}")
        outcome = watch_canary(store, api, station, dark=DARK)
        print(f"   canary {outcome}: {serving(api)} serves")

        # -- 9. blue-green to the old version, and the instant way back -------------------------
        started = time.perf_counter()
        inprod.deploy.blue_green(ENDPOINT, old, reason="the old one, all at once", store=store)
        wait_for(lambda: serving(api) == old, f"{old} to serve")
        print(f"9. blue-green: {old} takes all traffic in {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        inprod.deploy.rollback(ENDPOINT, reason="back to the retrained one", store=store)
        wait_for(lambda: serving(api) == candidate, f"{candidate} to serve")
        took = time.perf_counter() - started
        answer = client.predict(ENDPOINT, [station.last_phone], request_key="one-more")
        print(f"   rollback: {candidate} serves again in {took:.2f} s (it was kept loaded); "
              f"the next phone is answered by {answer.model_version}")  # fmt: skip


class Station:
    """The camera station: one phone a request, each with its own ``X-Request-Key`` (the canary
    split hashes the key: a handful of keys could all land on one side), remembering the
    inspectors' label of every phone it sent (1: scratch) by prediction id."""

    def __init__(self, client: inprod.Client, api: httpx.Client) -> None:
        self.client, self.api = client, api
        self.truth: dict[str, int] = {}
        self.last_id, self.last_phone = "", []

    def send(self, n: int, *, dark: float = 0.0, feedback: bool = False) -> dict[str, int]:
        """``n`` new phones, darkened by ``dark``; with ``feedback`` each label goes back too.
        Returns how many the model decided and how many it sent to the review queue."""
        phones = phone_data.generate(n, seed=SEED + 1000 + len(self.truth), dark_shift=dark)
        counts = {"decided": 0, "needs_review": 0}
        for row, x in zip(phones.rows, phone_data.features(phones.images), strict=True):
            self.last_phone = x.round(3).tolist()
            key = f"phone-{len(self.truth)}"
            result = self.client.predict(ENDPOINT, [self.last_phone], request_key=key)
            self.last_id = pid = result.prediction_ids[0]
            self.truth[pid] = int(row["label"] == "scratch")
            counts[result.predictions[0].get("decision", "decided")] += 1
            if feedback:
                self.client.feedback(pid, label=self.truth[pid], source="station-inspectors")
        return counts

    def wait_logged(self) -> None:
        """Until the server's log writer stored the last answer, and so every one before it
        (it writes in order; review tasks go with their predictions)."""

        def stored() -> bool:
            latest = self.api.get("/api/predictions", params={"endpoint": ENDPOINT, "limit": 5})
            return self.last_id in {p["id"] for p in latest.raise_for_status().json()}

        wait_for(stored, "the prediction log")


def drive(station: Station, seconds: float, darkness: Callable[[float], float]) -> None:
    """Phones at a steady pace for ``seconds``; ``darkness(progress 0..1)`` is the lamps'."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        station.send(4, dark=darkness(elapsed / seconds))
        time.sleep(0.1)


def inspectors_decide(store: inprod.Store, station: Station, *, reason: str | None = None) -> int:
    """The three inspectors take turns on the review queue (tasks of one ``reason``, or all)
    until it is empty; the station knows each phone's label."""
    station.wait_logged()
    decided = 0
    while task := inprod.review.next_task(
        reviewer=INSPECTORS[decided % len(INSPECTORS)],
        endpoint=ENDPOINT,
        reason=reason,
        store=store,
    ):
        label = station.truth[task.prediction_id]
        inprod.review.decide(task.id, label, reviewer=task.claimed_by, store=store)
        decided += 1
    return decided


def set_automation(api: httpx.Client, mode: str, *, threshold: float | None = None) -> None:
    """The degree of automation, over the control plane; waits until the server applies it."""
    body = {"mode": mode, "threshold": threshold}
    api.put(f"/api/endpoints/{ENDPOINT}/automation", json=body).raise_for_status()
    wait_for(lambda: live(api)["automation"] == mode, f"automation {mode}")


def watch_canary(
    store: inprod.Store, api: httpx.Client, station: Station, *, dark: float = 0.0
) -> str:
    """Labelled phones (an accuracy gate compares on labels) until the rollout controller
    promotes or rolls back the canary, printing each step it takes with the gates' values;
    returns the outcome once the server applied it."""
    seen = max(e.id for e in inprod.deploy.history(ENDPOINT, store=store))
    started = time.monotonic()
    while (plan := inprod.deploy.get_plan(ENDPOINT, store=store)).state == "ramping":
        check_deadline(started, "the canary")
        station.send(20, dark=dark, feedback=True)
        time.sleep(0.1)  # a steady station, not a flood: the steps are timed, not counted
        for event in inprod.deploy.history(ENDPOINT, store=store):
            if event.id > seen:
                gates = event.details.get("gates") or []
                values = [
                    f"{g['gate']} ({g['value']:.3g})" for g in gates if g.get("value") is not None
                ]
                to = ((event.details.get("to") or {}).get("candidate") or {}).get("weight")
                weight = f" at {to:.0%}" if event.to_state == "ramping" else ""
                print(
                    f"   {event.actor}: {event.action} -> {event.to_state}{weight}; "
                    + (", ".join(values) or event.reason)
                )
                seen = event.id
    wait_for(lambda: live(api)["revision"] >= plan.revision, "the server to apply the plan")
    return plan.state


def predict(ref: str, images: np.ndarray, store: inprod.Store) -> np.ndarray:
    """A registered version's answers (1: scratch), here in this process."""
    model = inprod.models.load(ref, store=store)
    return np.asarray(model.predict(phone_data.features(images)).outputs).astype(int)


def live(api: httpx.Client) -> dict:
    """What the server applies now (the plan in the store, a moment later)."""
    return api.get(f"/api/endpoints/{ENDPOINT}").raise_for_status().json()["live"]


def serving(api: httpx.Client) -> str:
    return live(api)["primary"]


def open_alert(api: httpx.Client, monitor: str) -> dict | None:
    found = api.get("/api/alerts", params={"endpoint": ENDPOINT, "state": "open"}).json()
    return next((a for a in found if a["monitor"] == monitor), None)


def alert_actions(api: httpx.Client, alert_id: int) -> dict:
    """What the alert's actions did, once they all ran: ``review_tasks`` (how many phones went
    to the review queue) and ``retraining_request`` (the request's id)."""
    outcome: dict = {}

    def done() -> bool:
        actions = api.get(f"/api/alerts/{alert_id}").raise_for_status().json()["actions"]
        for action in actions:
            outcome.update((action["result"] or {}).get("outcome") or {})
        return bool(actions) and all(a["status"] == "done" for a in actions)

    wait_for(done, f"the actions of alert {alert_id}")
    return outcome


def window_start() -> datetime:
    """Now, floored to the server's monitoring window."""
    now = int(time.time())
    return datetime.fromtimestamp(now - now % PROFILE_S, tz=UTC)


def wait_for(check: Callable[[], bool], what: str) -> None:
    started = time.monotonic()
    while not check():
        check_deadline(started, what)
        time.sleep(0.05)


def check_deadline(started: float, what: str) -> None:
    if time.monotonic() - started > TIMEOUT_S:
        raise SystemExit(f"timed out after {TIMEOUT_S:g} s waiting for {what}")


# -- plumbing: settings in a temporary folder, `inprod serve` as a child process --------------


def environment(tmp: Path) -> dict[str, str]:
    """This process's environment with every INPROD_ setting replaced: the store in ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    return {**env, **SERVER_ENV, "INPROD_HOME": str(tmp)}


@contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    """``inprod serve`` (of this Python) on a free loopback port: yields its URL once
    ``/readyz`` says 200, and stops it on the way out, whatever happened."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inprod_cli = [sys.executable, "-c", "from inprod.cli import main; main()"]
    command = [*inprod_cli, "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=env["INPROD_HOME"])
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if server.poll() is not None:
            raise SystemExit(f"inprod serve exited with status {server.returncode}")
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(ready, "inprod serve to be ready")
        yield url
    finally:
        stop(server)


def stop(server: subprocess.Popen) -> None:
    """Gracefully (the server writes what its log holds); killed if that takes over 30 s."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="fewer phones: a run for CI")
    size = SHORT if parser.parse_args().short else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inprod-phone-story-") as tmp:
        env = environment(Path(tmp))
        store = inprod.Store.from_settings(inprod.load_settings(environ=env))
        try:
            story(size, store, env, Path(tmp))
        finally:
            store.close()
    print(f"the whole story took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
