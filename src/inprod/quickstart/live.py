"""Part 2 of the story: serve the champion, send the camera station's requests, read the log.

The server runs in a background thread of the quickstart command (a real uvicorn server on a
loopback port, the same app as ``inprod serve``), so the newcomer sees real HTTP latencies and
the prediction log filling up, with nothing else to start.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import Conflict, InvalidInput
from ..store import Store
from . import phone_data

ENDPOINT = "phone-inspector"
FEATURES = "inprod.quickstart.phone_data:image_features"
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class TrafficSummary:
    url: str
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    feedback: int
    logged: int
    agreement: float  # model decisions that match the inspectors' majority label
    reviewed: int = 0  # answered "needs_review" (partial automation from an earlier run)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the story's canary ramps in seconds, so its controller judges often; its day of lighting
# plays out in short profile windows (drift_story.py)
ROLLOUT_TICK_S = 0.5


@contextmanager
def background_server(store: Store, port: int) -> Iterator[tuple[str, Callable[[], None]]]:
    """A real server on 127.0.0.1:port in a thread; yields (url, stop). Always stopped."""
    import dataclasses

    import uvicorn

    from ..config import load_settings
    from ..serving.app import create_app
    from .drift_story import MONITOR_TICK_S, PROFILE_S

    settings = dataclasses.replace(
        load_settings(),
        rollout_tick_seconds=ROLLOUT_TICK_S,
        profile_seconds=PROFILE_S,
        monitor_tick_seconds=MONITOR_TICK_S,
    )
    app = create_app(store, settings=settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="inprod-quickstart-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise InvalidInput(
                f"the server could not start on 127.0.0.1:{port}; is the port taken? "
                "try another with --port"
            )
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=60)

    try:
        yield f"http://127.0.0.1:{port}", stop
    finally:
        stop()


def ensure_endpoint(store: Store) -> None:
    """The endpoint serving the champion, with its monitored image features (brightness,
    contrast) derived by ``phone_data.image_features``."""
    from .. import endpoints
    from .story import MODEL

    settings = {"features": FEATURES}
    try:
        endpoints.create(ENDPOINT, f"{MODEL}@champion", settings=settings, store=store)
    except Conflict:
        endpoints.update(ENDPOINT, model=f"{MODEL}@champion", settings=settings, store=store)


def send_traffic(
    url: str,
    *,
    requests: int,
    seed: int,
    progress: Callable[[int], None] = lambda n: None,
) -> tuple[list[float], int, int, int, int]:
    """One image per request, like the camera station; every 5th gets an inspector's label.

    Returns (latencies in ms, errors, feedback sent, model decisions agreeing with the
    inspectors, answers sent to review instead).
    """
    import httpx

    fresh = phone_data.generate(requests, seed=seed + 1000)  # new phones, not the training set
    X = phone_data.features(fresh.images)
    labels = [r["label"] for r in fresh.rows]
    latencies, errors, feedback, agree, reviewed = [], 0, 0, 0, 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(requests):
            start = time.perf_counter()
            r = client.post(
                f"/v1/endpoints/{ENDPOINT}/predict",
                json={"instances": [X[i].round(4).tolist()]},
                headers={"X-Request-Key": f"station-{i % 4}"},
            )
            latencies.append(1000 * (time.perf_counter() - start))
            progress(1)
            if r.status_code != 200:
                errors += 1
                continue
            body = r.json()
            answer = body["predictions"][0]
            if "output" in answer:
                agree += ("scratch" if answer["output"] == 1 else "ok") == labels[i]
            else:  # sent to review by partial automation
                reviewed += 1
            if i % 5 == 0:
                pid = body["prediction_ids"][0]
                fb = client.post(
                    f"/v1/predictions/{pid}/feedback",
                    json={"label": labels[i], "source": fresh.rows[i]["factory"] + "-inspectors"},
                )
                feedback += fb.status_code == 201
    return latencies, errors, feedback, agree, reviewed


def summarize(
    url: str,
    latencies: list[float],
    errors: int,
    feedback: int,
    agree: int,
    logged: int,
    reviewed: int = 0,
) -> TrafficSummary:
    arr = np.asarray(latencies)
    return TrafficSummary(
        url=url,
        requests=len(latencies),
        errors=errors,
        p50_ms=float(np.percentile(arr, 50)),
        p99_ms=float(np.percentile(arr, 99)),
        feedback=feedback,
        logged=logged,
        agreement=agree / max(1, len(latencies) - errors - reviewed),
        reviewed=reviewed,
    )


def wait_until_logged(store: Store, total: int, *, timeout_s: float = 10.0) -> int:
    """The endpoint's logged predictions once they reach ``total`` (or after ``timeout_s``)."""
    from .. import predictions

    deadline = time.monotonic() + timeout_s
    while (count := predictions.count(ENDPOINT, store=store)) < total:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return count
