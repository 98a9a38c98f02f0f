"""Round-robin load on several replicas, with labels sent back for the first answers: the
traffic of the scale-out test (``test_scale_out.py``).

Client threads send one instance a request to the replicas in turn and count what was answered;
a labeller posts a feedback label for each of the first ``len(labels)`` answers once it is
``LABEL_DELAY_S`` old, like an inspector who looks at the phone afterwards. The delay matters:
the new-labels trigger counts feedback whose prediction is already in the store, and a replica
writes its predictions about once a second.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import httpx

LABEL_DELAY_S = 2.0
PAUSE_S = 0.02  # between two requests of one client thread: bounds the load on 2 cores


def wait_for(check: Callable[[], Any], what: str, timeout: float) -> Any:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
    return found


class RoundRobinLoad:
    """``threads`` clients predicting ``endpoint`` on ``urls`` in turn until stopped or
    ``max_requests`` were sent. Any answer but 200 (201 for feedback) or a transport error is
    kept in ``failures``. ``last_version[url]`` is the version that answered there last."""

    def __init__(
        self,
        urls: Sequence[str],
        endpoint: str,
        instances: Sequence[list[float]],
        labels: Sequence[str],
        *,
        threads: int = 2,
        max_requests: int = 20_000,
    ) -> None:
        self.urls = list(urls)
        self.endpoint = endpoint
        self.instances = instances
        self.labels = labels
        self.max_requests = max_requests
        self.served = 0
        self.served_by: dict[str, int] = dict.fromkeys(self.urls, 0)
        self.last_version: dict[str, str] = {}
        self.labelled = 0
        self.failures: list[str] = []
        self._sent = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._to_label: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._predict, args=(i,), name=f"load-{i}")
            for i in range(threads)
        ]
        self._threads.append(threading.Thread(target=self._label, name="labeller"))

    def __enter__(self) -> RoundRobinLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _predict(self, start: int) -> None:
        turn = itertools.cycle(self.urls[start:] + self.urls[:start])
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                n = next(self._sent)
                if n >= self.max_requests:
                    return
                url = next(turn)
                i = n % len(self.instances)
                body = {"instances": [self.instances[i]]}
                try:
                    r = client.post(f"{url}/v1/endpoints/{self.endpoint}/predict", json=body)
                except httpx.TransportError as exc:
                    self.failures.append(f"predict on {url}: {exc!r}")
                    continue
                if r.status_code != 200:
                    self.failures.append(f"predict on {url}: {r.status_code} {r.text}")
                    continue
                answer = r.json()
                with self._lock:
                    self.served += 1
                    self.served_by[url] += 1
                    self.last_version[url] = answer["model_version"]
                if n < len(self.labels):
                    self._to_label.put(
                        (time.monotonic(), answer["prediction_ids"][0], self.labels[i])
                    )
                time.sleep(PAUSE_S)

    def _label(self) -> None:
        turn = itertools.cycle(self.urls)
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    answered, prediction_id, label = self._to_label.get(timeout=0.1)
                except queue.Empty:
                    continue
                time.sleep(max(0.0, answered + LABEL_DELAY_S - time.monotonic()))
                url = next(turn)
                feedback = {"label": label, "source": "inspector"}
                try:
                    r = client.post(f"{url}/v1/predictions/{prediction_id}/feedback", json=feedback)
                except httpx.TransportError as exc:
                    self.failures.append(f"feedback on {url}: {exc!r}")
                    continue
                if r.status_code != 201:
                    self.failures.append(f"feedback on {url}: {r.status_code} {r.text}")
                    continue
                self.labelled += 1
