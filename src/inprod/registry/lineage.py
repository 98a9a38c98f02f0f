"""Where a model version came from: version -> run -> dataset versions -> their parents -> sources.

The answer to "which data and which code made the model that is serving now?", read straight
from the store's tables (runs, run_datasets, dataset_versions, dataset_parents), so it works for
runs and datasets made by any client. Shared parents appear under each child (a tree, not a DAG);
a cycle, which the data layer should never write, is cut and marked instead of looping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import Store, get_store
from ..store.tables import Dataset, DatasetParent, DatasetVersion, Run, RunDataset
from ._lookup import resolve, version_info

MAX_DEPTH = 50


@dataclass
class LineageNode:
    """kind is "model_version", "run", "dataset_version" or "source"."""

    kind: str
    label: str
    details: dict[str, Any] = field(default_factory=dict)
    children: list[LineageNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "details": self.details,
            "children": [c.to_dict() for c in self.children],
        }

    def walk(self) -> list[LineageNode]:
        """This node and every node below it, depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def lineage(ref: str, *, store: Store | None = None) -> LineageNode:
    """The lineage tree of the model version ``ref`` (NAME, NAME@3, NAME@champion)."""
    store = get_store(store)
    with store.session(write=False) as s:
        model, version = resolve(s, ref)
        info = version_info(s, model, version)
        root = LineageNode(
            "model_version",
            info.ref,
            {
                "name": info.name,
                "version": info.version,
                "flavor": info.flavor,
                "artifact_sha": info.artifact_sha,
                "aliases": info.aliases,
                "metrics": info.metrics,
                "tags": info.tags,
                "description": info.description,
                "created_by": info.created_by,
                "created_at": info.created_at,
                "run_id": info.run_id,
            },
        )
        if info.run_id is not None:
            run = s.get(Run, info.run_id)
            if run is not None:
                root.children.append(_run_node(s, run))
        return root


def _run_node(s: Session, run: Run) -> LineageNode:
    node = LineageNode(
        "run",
        f"{run.name or 'run'} ({run.id[:8]})",
        {
            "id": run.id,
            "name": run.name,
            "project": run.project,
            "status": run.status,
            "code_version": {"sha": run.code_sha, "dirty": run.code_dirty},
            "params": dict(run.params or {}),
            "metrics": dict(run.latest_metrics or {}),
            "start_time": run.start_time.isoformat() if run.start_time else None,
            "end_time": run.end_time.isoformat() if run.end_time else None,
        },
    )
    roles: dict[int, list[str]] = {}
    for row in s.execute(
        select(RunDataset.dataset_version_id, RunDataset.role)
        .where(RunDataset.run_id == run.id)
        .order_by(RunDataset.role)
    ):
        roles.setdefault(row.dataset_version_id, []).append(row.role)
    graph = _DatasetGraph(s, roles)
    for dv_id in sorted(roles, key=lambda i: (roles[i], graph.label(i))):
        child = graph.node(dv_id, ancestors=frozenset())
        child.details["role"] = ", ".join(roles[dv_id])
        child.label = f"{child.label} ({child.details['role']})"
        node.children.append(child)
    return node


class _DatasetGraph:
    """Dataset versions reachable from the run's, loaded breadth first (one query per level)."""

    def __init__(self, s: Session, start: Iterable[int]) -> None:
        self.versions: dict[int, tuple[DatasetVersion, str]] = {}
        self.parents: dict[int, list[int]] = {}
        frontier = set(start)
        depth = 0
        while frontier and depth <= MAX_DEPTH:
            for dv, name in s.execute(
                select(DatasetVersion, Dataset.name)
                .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                .where(DatasetVersion.id.in_(frontier))
            ).all():
                self.versions[dv.id] = (dv, name)
            for link in s.execute(
                select(DatasetParent.child_id, DatasetParent.parent_id).where(
                    DatasetParent.child_id.in_(frontier)
                )
            ):
                self.parents.setdefault(link.child_id, []).append(link.parent_id)
            seen = set(self.versions)
            frontier = {p for c in frontier for p in self.parents.get(c, ()) if p not in seen}
            depth += 1

    def label(self, dv_id: int) -> str:
        found = self.versions.get(dv_id)
        return f"{found[1]}@{found[0].version}" if found else f"dataset version {dv_id}"

    def node(self, dv_id: int, *, ancestors: frozenset[int]) -> LineageNode:
        found = self.versions.get(dv_id)
        if found is None:
            return LineageNode("dataset_version", self.label(dv_id), {"id": dv_id, "missing": True})
        dv, name = found
        node = LineageNode(
            "dataset_version",
            self.label(dv_id),
            {
                "id": dv.id,
                "name": name,
                "version": dv.version,
                "content_hash": dv.content_hash,
                "kind": dv.kind,
                "format": dv.format,
                "rows": dv.row_count,
                "size_bytes": dv.size_bytes,
                "label_columns": list(dv.label_columns or []),
                "source": dv.source,
                "transform": dv.transform,
                "code_version": {"sha": dv.code_sha, "dirty": dv.code_dirty},
                "created_by": dv.created_by,
                "created_at": dv.created_at.isoformat() if dv.created_at else None,
                "description": dv.description,
            },
        )
        if dv_id in ancestors or len(ancestors) >= MAX_DEPTH:
            node.details["cycle" if dv_id in ancestors else "truncated"] = True
            return node
        inner = ancestors | {dv_id}
        for parent_id in sorted(self.parents.get(dv_id, ()), key=self.label):
            parent = self.node(parent_id, ancestors=inner)
            parent.details["role"] = "parent"
            node.children.append(parent)
        if dv.source:
            node.children.append(
                LineageNode("source", dv.source, {"source": dv.source, "transform": dv.transform})
            )
        return node
