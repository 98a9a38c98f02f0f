"""The store's side of datasets: version rows, refs, parent links and the records built from them.

Versions are numbered per dataset under a lock on the dataset's row (PostgreSQL), or inside
SQLite's single writer; see :func:`insert_version` for what happens when two writers race.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound, suggest
from ..refs import parse_ref
from ..store import Store
from ..store.tables import Dataset, DatasetParent, DatasetVersion, utcnow


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One stored version. ``id`` is the store's row id (runs link datasets by it);
    ``created`` says whether this call made the version or found it already stored."""

    id: int
    name: str
    version: int
    ref: str
    content_hash: str
    kind: str
    format: str
    row_count: int
    size_bytes: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    label_columns: list[str]
    metadata_columns: list[str]
    image_column: str | None
    artifacts: dict[str, str]
    source: str
    parents: list[str]
    transform: str
    description: str
    code_sha: str | None
    code_dirty: bool | None
    created_by: str
    created_at: datetime
    created: bool = False

    @property
    def columns(self) -> list[str]:
        return [entry["name"] for entry in self.schema.get("columns", [])]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        return out


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset with its newest version, for listings."""

    name: str
    description: str
    versions: int
    latest: DatasetVersionInfo
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        v = self.latest
        return {
            "name": self.name,
            "description": self.description,
            "versions": self.versions,
            "latest": v.ref,
            "latest_version": v.version,
            "kind": v.kind,
            "format": v.format,
            "row_count": v.row_count,
            "size_bytes": v.size_bytes,
            "content_hash": v.content_hash,
            "created_at": self.created_at.isoformat(),
            "updated_at": v.created_at.isoformat(),
        }


def insert_version(
    store: Store, name: str, fields: dict[str, Any], parent_ids: list[int]
) -> DatasetVersionInfo:
    """Store the next version of ``name`` (creating the dataset), or return the version that
    already has ``fields["content_hash"]`` with ``created=False``.

    Two writers creating one dataset at once (PostgreSQL) collide on its unique name; the loser
    retries once and then finds the winner's rows. Existing datasets are locked FOR UPDATE, so
    version numbers never collide.
    """
    for attempt in range(2):
        try:
            with store.session() as s:
                return _insert_once(s, name, fields, parent_ids)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _insert_once(
    s: Session, name: str, fields: dict[str, Any], parent_ids: list[int]
) -> DatasetVersionInfo:
    dataset = s.scalar(select(Dataset).where(Dataset.name == name).with_for_update())
    if dataset is None:
        dataset = Dataset(name=name, description=fields["description"], created_at=utcnow())
        s.add(dataset)
        s.flush()
    existing = s.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id,
            DatasetVersion.content_hash == fields["content_hash"],
        )
    )
    if existing is not None:
        return record(existing, name, parent_refs(s, [existing.id])[existing.id], created=False)
    latest = s.scalar(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)
    )
    row = DatasetVersion(
        dataset_id=dataset.id, version=(latest or 0) + 1, created_at=utcnow(), **fields
    )
    s.add(row)
    s.flush()
    s.add_all(DatasetParent(child_id=row.id, parent_id=parent_id) for parent_id in parent_ids)
    s.flush()
    return record(row, name, parent_refs(s, [row.id])[row.id], created=True)


def resolve_parents(store: Store, refs: list[str]) -> list[int]:
    """The version ids that parent refs name ("raw", "raw@2"); unknown ones are refused."""
    resolved: dict[int, None] = {}
    if not refs:
        return []
    with store.session(write=False) as s:
        for ref in refs:
            try:
                row, _ = resolve(s, ref)
            except NotFound as exc:
                raise NotFound(f"parent {ref!r}: {exc.message}", field="parents") from None
            resolved[row.id] = None
    return list(resolved)


def resolve(s: Session, ref: str) -> tuple[DatasetVersion, str]:
    parsed = parse_ref(ref, what="dataset reference")
    if parsed.alias is not None:
        raise InvalidInput(
            f"dataset reference {ref!r}: datasets have no aliases; use NAME, NAME@VERSION or "
            "NAME@latest",
            field="ref",
        )
    dataset = s.scalar(select(Dataset).where(Dataset.name == parsed.name))
    if dataset is None:
        known = s.scalars(select(Dataset.name)).all()
        raise NotFound(
            f"no dataset {parsed.name!r}; {suggest(parsed.name, known, what='datasets')}",
            field="ref",
        )
    versions = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    if parsed.version is None:
        row = s.scalar(versions.order_by(DatasetVersion.version.desc()).limit(1))
    else:
        row = s.scalar(versions.where(DatasetVersion.version == parsed.version))
    if row is None:
        latest = s.scalar(
            select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)
        )
        raise NotFound(
            f"dataset {parsed.name!r} has no version {parsed.version} (latest is {latest}); "
            f"see 'inprod data list {parsed.name}'",
            field="ref",
        )
    return row, dataset.name


def parent_refs(s: Session, child_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in child_ids}
    if not child_ids:
        return out
    rows = s.execute(
        select(DatasetParent.child_id, Dataset.name, DatasetVersion.version)
        .join(DatasetVersion, DatasetVersion.id == DatasetParent.parent_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetParent.child_id.in_(child_ids))
        .order_by(Dataset.name, DatasetVersion.version)
    )
    for child_id, name, version in rows:
        out[child_id].append(f"{name}@{version}")
    return out


def record(
    row: DatasetVersion, name: str, parents: list[str], *, created: bool
) -> DatasetVersionInfo:
    return DatasetVersionInfo(
        id=row.id,
        name=name,
        version=row.version,
        ref=f"{name}@{row.version}",
        content_hash=row.content_hash,
        kind=row.kind,
        format=row.format,
        row_count=row.row_count,
        size_bytes=row.size_bytes,
        schema=row.schema,
        profile=row.profile,
        label_columns=list(row.label_columns),
        metadata_columns=list(row.metadata_columns),
        image_column=row.schema.get("image_column"),
        artifacts=dict(row.artifacts),
        source=row.source,
        parents=parents,
        transform=row.transform,
        description=row.description,
        code_sha=row.code_sha,
        code_dirty=row.code_dirty,
        created_by=row.created_by,
        created_at=row.created_at,
        created=created,
    )


def get_version(store: Store, ref: str) -> DatasetVersionInfo:
    with store.session(write=False) as s:
        row, name = resolve(s, ref)
        return record(row, name, parent_refs(s, [row.id])[row.id], created=False)


def list_versions(store: Store, name: str) -> list[DatasetVersionInfo]:
    """Every version of dataset ``name``, oldest first."""
    with store.session(write=False) as s:
        latest, name = resolve(s, name)
        rows = s.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == latest.dataset_id)
            .order_by(DatasetVersion.version)
        ).all()
        parents = parent_refs(s, [r.id for r in rows])
        return [record(r, name, parents[r.id], created=False) for r in rows]


def list_datasets(store: Store) -> list[DatasetSummary]:
    """Every dataset with its newest version, by name."""
    latest = (
        select(
            DatasetVersion.dataset_id,
            func.max(DatasetVersion.version).label("version"),
            func.count(DatasetVersion.id).label("versions"),
        )
        .group_by(DatasetVersion.dataset_id)
        .subquery()
    )
    with store.session(write=False) as s:
        rows = s.execute(
            select(Dataset, DatasetVersion, latest.c.versions)
            .join(latest, latest.c.dataset_id == Dataset.id)
            .join(
                DatasetVersion,
                (DatasetVersion.dataset_id == Dataset.id)
                & (DatasetVersion.version == latest.c.version),
            )
            .order_by(Dataset.name)
        ).all()
        parents = parent_refs(s, [v.id for _, v, _ in rows])
        return [
            DatasetSummary(
                name=d.name,
                description=d.description,
                versions=n,
                latest=record(v, d.name, parents[v.id], created=False),
                created_at=d.created_at,
            )
            for d, v, n in rows
        ]
