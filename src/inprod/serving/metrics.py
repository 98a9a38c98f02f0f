"""Prometheus metrics of one server process (text format at /metrics).

Each app gets its own registry so several servers in one process (tests) never share counters.
Children for (endpoint, version) are cached: ``labels()`` lookups cost more than the increments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series double the output and no dashboard reads them

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "inprod_requests", "Prediction requests by endpoint, version and HTTP status.",
            ["endpoint", "version", "code"], registry=r,
        )  # fmt: skip
        self.instances = Counter(
            "inprod_instances", "Instances predicted.", ["endpoint", "version"], registry=r
        )
        self.latency = Histogram(
            "inprod_request_latency_seconds", "Server time of a prediction request.",
            ["endpoint", "version"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.model_errors = Counter(
            "inprod_model_errors", "Model calls that raised.", ["endpoint", "version"], registry=r
        )
        self.batch_size = Histogram(
            "inprod_batch_size", "Rows per model call (micro-batching).", ["model"],
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "inprod_queue_depth", "Rows waiting for a model call.", ["model"], registry=r
        )
        self.log_buffer = Gauge(
            "inprod_log_buffer_rows", "Prediction records waiting to be written.", registry=r
        )
        self.log_capacity = Gauge(
            "inprod_log_buffer_capacity", "Size of the prediction log buffer.", registry=r
        )
        self.log_dropped = Counter(
            "inprod_log_dropped", "Prediction records dropped because the buffer was full.",
            registry=r,
        )  # fmt: skip
        self.log_written = Counter(
            "inprod_log_written", "Prediction records written to the store.", registry=r
        )
        self.shadow_requests = Counter(
            "inprod_shadow_requests", "Shadow copies answered, by endpoint and outcome (ok|error).",
            ["endpoint", "outcome"], registry=r,
        )  # fmt: skip
        self.shadow_skipped = Counter(
            "inprod_shadow_skipped", "Shadow copies skipped because too many were running.",
            ["endpoint"], registry=r,
        )  # fmt: skip
        self._children: dict[tuple, Any] = {}

    def for_version(self, endpoint: str, version: str) -> tuple:
        """(latency histogram, instances counter, 200-requests counter) children for one endpoint
        and version: the three a successful prediction updates."""
        key = (endpoint, version)
        child = self._children.get(key)
        if child is None:
            child = (
                self.latency.labels(endpoint, version),
                self.instances.labels(endpoint, version),
                self.requests.labels(endpoint, version, "200"),
            )
            self._children[key] = child
        return child

    def shadow_outcome(self, endpoint: str, ok: bool) -> Counter:
        """The shadow-copies counter child for ``endpoint`` and outcome (cached, as above)."""
        key = ("shadow", endpoint, ok)
        child = self._children.get(key)
        if child is None:
            child = self.shadow_requests.labels(endpoint, "ok" if ok else "error")
            self._children[key] = child
        return child

    def watch_queue(self, model: str, depth: Callable[[], float]) -> None:
        self.queue_depth.labels(model).set_function(depth)

    def batch_observer(self, model: str) -> Callable[[int], None]:
        return self.batch_size.labels(model).observe
