"""inprod's side of the benchmark: a fresh store with the models, and the log-keeps-up check.

Each ``inprod serve`` run gets its own store under the run's temp folder, so every row in its
``predictions`` table came from that run and can be compared with what the server answered.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _servers import get
from model_data import FEATURES, fit_logistic, fit_mlp, training_data
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).parent
INPROD = Path(sys.executable).with_name("inprod")
LR_ENDPOINT = "lr"
BATCH_ON, BATCH_OFF = 64, 1
BATCHING_MODELS = ("mlp", "fixed-cost")


@dataclass(frozen=True)
class InprodHome:
    home: Path
    store_url: str
    artifacts: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
        env.update(
            INPROD_HOME=str(self.home),
            INPROD_STORE_URL=self.store_url,
            INPROD_ARTIFACTS=self.artifacts,
            PYTHONPATH=os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p),
        )
        return env

    def command(self, port: int) -> list[str]:
        return [str(INPROD), "serve", "--port", str(port), "--log-level", "warning"]

    def store(self):
        from inprod.store import Store

        return Store(self.store_url, self.artifacts)


def batching_endpoint(model: str, batch: int) -> str:
    return f"{model}-b{batch}"


def prepare(home: Path, *, batching: bool = False) -> InprodHome:
    """A fresh SQLite store with the LR endpoint, or the batching test's four endpoints."""
    from inprod import endpoints, models

    home.mkdir(parents=True)
    where = InprodHome(home, f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    store = where.store()
    X, _ = training_data()
    try:
        if not batching:
            models.register(LR_ENDPOINT, fit_logistic(), sample=X[:5], store=store)
            endpoints.create(LR_ENDPOINT, f"{LR_ENDPOINT}@1", store=store)
            return where
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        onnx_model = to_onnx(
            fit_mlp(),
            initial_types=[("input", FloatTensorType([None, FEATURES]))],
            options={"zipmap": False},
        )
        if str(HERE) not in sys.path:
            sys.path.insert(0, str(HERE))
        signature = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, FEATURES]}}
        # one model name per endpoint, so that each has its own batch-size histogram
        for batch in (BATCH_ON, BATCH_OFF):
            mlp, fixed = batching_endpoint("mlp", batch), batching_endpoint("fixed-cost", batch)
            models.register(mlp, onnx_model, flavor="onnx", sample=X[:5], store=store)
            models.register(
                fixed,
                flavor="python",
                callable_ref="bench_models:fixed_cost",
                signature=signature,
                store=store,
            )
            for name in (mlp, fixed):
                endpoints.create(name, f"{name}@1", settings={"max_batch_size": batch}, store=store)
        return where
    finally:
        store.close()


def predict_url(port: int, endpoint: str) -> str:
    return f"http://127.0.0.1:{port}/v1/endpoints/{endpoint}/predict"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    text = get(f"http://127.0.0.1:{port}/metrics").decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def settled_scrape(port: int, *, timeout_s: float = 30.0) -> dict:
    """/metrics once the requests wrk left in flight are answered (totals stop moving).

    wrk stops by closing its connections; requests already queued at the model are still
    answered and logged, so a scrape taken at once would count fewer than the table gets.
    """
    deadline = time.monotonic() + timeout_s
    last = scrape(port)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = scrape(port)
        if metric_sum(now, "inprod_requests_total") == metric_sum(last, "inprod_requests_total"):
            return now
        last = now
    return last


def metric_sum(metrics: dict, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        value
        for (sample, sample_labels), value in metrics.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


@dataclass(frozen=True)
class LogCheck:
    """Whether every prediction answered reached the predictions table."""

    logged_requests: int  # requests the server counted as answered (200) or failed in the model
    rows: int  # rows in the predictions table after the graceful stop
    dropped: int  # inprod_log_dropped_total just before the stop
    buffered_at_end: int  # rows still waiting in the buffer when the load stopped

    @property
    def missing(self) -> int:
        return self.logged_requests - self.rows


def buffered(metrics: dict) -> int:
    return int(metric_sum(metrics, "inprod_log_buffer_rows"))


def requests_to_log(metrics: dict, endpoint: str) -> int:
    # one instance per request: 200s and model errors (500) are logged, 4xx are not
    return int(
        metric_sum(metrics, "inprod_requests_total", endpoint=endpoint, code="200")
        + metric_sum(metrics, "inprod_requests_total", endpoint=endpoint, code="500")
    )


def check_log(
    where: InprodHome, last_metrics: dict, endpoints: list[str], *, buffered_at_end: int
) -> LogCheck:
    """Compare the server's settled /metrics (scraped just before the stop) with the table."""
    from sqlalchemy import func, select

    from inprod.store.tables import Prediction

    store = where.store()
    try:
        with store.session(write=False) as s:
            rows = s.scalar(
                select(func.count())
                .select_from(Prediction)
                .where(Prediction.endpoint.in_(endpoints))
            )
    finally:
        store.close()
    return LogCheck(
        logged_requests=sum(requests_to_log(last_metrics, e) for e in endpoints),
        rows=int(rows or 0),
        dropped=int(metric_sum(last_metrics, "inprod_log_dropped_total")),
        buffered_at_end=buffered_at_end,
    )


def mean_batch(before: dict, after: dict, endpoint: str) -> float:
    """Mean rows per model call between two scrapes (the endpoint's model is named like it)."""
    model_ref = f"{endpoint}@1"
    rows = metric_sum(after, "inprod_batch_size_sum", model=model_ref) - metric_sum(
        before, "inprod_batch_size_sum", model=model_ref
    )
    calls = metric_sum(after, "inprod_batch_size_count", model=model_ref) - metric_sum(
        before, "inprod_batch_size_count", model=model_ref
    )
    return rows / calls if calls else 0.0
