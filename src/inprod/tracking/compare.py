"""Two runs side by side: what changed in the inputs (params, data, code) and what it did to
the results (metrics overall and per slice), with ``delta = b - a``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import Store, get_store
from .queries import RunInfo, RunRef, get_run


@dataclass(frozen=True)
class RunComparison:
    """``a`` is the baseline, ``b`` the candidate; a missing value reads ``None``.

    ``params`` holds only the params that differ; ``metrics`` every metric either run has, as
    ``{"a": .., "b": .., "delta": b - a}``; ``slice_metrics`` the same per slice.
    """

    a: RunInfo
    b: RunInfo
    params: dict[str, dict[str, Any]]
    same_params: list[str]
    metrics: dict[str, dict[str, float | None]]
    slice_metrics: dict[str, dict[str, dict[str, float | None]]]
    datasets: dict[str, list[dict[str, Any]]]
    code: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": _summary(self.a),
            "b": _summary(self.b),
            "params": self.params,
            "same_params": self.same_params,
            "metrics": self.metrics,
            "slice_metrics": self.slice_metrics,
            "datasets": self.datasets,
            "code": self.code,
        }


def compare_runs(a: RunRef, b: RunRef, *, store: Store | None = None) -> RunComparison:
    """Compare run ``a`` (baseline) with run ``b``; ids or unique prefixes."""
    store = get_store(store)
    run_a, run_b = get_run(a, store=store), get_run(b, store=store)
    params: dict[str, dict[str, Any]] = {}
    same: list[str] = []
    for key in sorted(run_a.params.keys() | run_b.params.keys()):
        va, vb = run_a.params.get(key), run_b.params.get(key)
        if key in run_a.params and key in run_b.params and va == vb:
            same.append(key)
        else:
            params[key] = {"a": va, "b": vb}
    slices = sorted(run_a.slice_metrics.keys() | run_b.slice_metrics.keys())
    return RunComparison(
        a=run_a,
        b=run_b,
        params=params,
        same_params=same,
        metrics=_side_by_side(run_a.latest_metrics, run_b.latest_metrics),
        slice_metrics={
            name: _side_by_side(
                run_a.slice_metrics.get(name, {}), run_b.slice_metrics.get(name, {})
            )
            for name in slices
        },
        datasets={"a": run_a.datasets, "b": run_b.datasets},
        code={
            "a": {"sha": run_a.code_sha, "dirty": run_a.code_dirty},
            "b": {"sha": run_b.code_sha, "dirty": run_b.code_dirty},
            "same": run_a.code_sha == run_b.code_sha
            and run_a.code_sha is not None
            and not run_a.code_dirty
            and not run_b.code_dirty,
        },
    )


def _side_by_side(a: dict[str, float], b: dict[str, float]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for key in sorted(a.keys() | b.keys()):
        va, vb = a.get(key), b.get(key)
        out[key] = {
            "a": va,
            "b": vb,
            "delta": vb - va if va is not None and vb is not None else None,
        }
    return out


def _summary(run: RunInfo) -> dict[str, Any]:
    return {"id": run.id, "project": run.project, "name": run.name, "status": run.status}
