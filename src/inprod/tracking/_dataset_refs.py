"""Resolve what ``run.use_dataset`` is given — a version object or ``"name@3"`` — to a row id.

Queries the dataset tables directly so that tracking does not depend on the datasets module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound, suggest
from ..refs import parse_ref
from ..store.tables import Dataset, DatasetVersion


def resolve_dataset_version(s: Session, version: Any) -> tuple[int, str]:
    """Return ``(dataset_versions.id, "name@N")`` for a version object or a ref string."""
    if isinstance(version, str):
        return _from_ref(s, version)
    version_id = getattr(version, "id", None)
    if isinstance(version_id, bool) or not isinstance(version_id, int):
        raise InvalidInput(
            f"use_dataset got {type(version).__name__}; give a dataset version (the object "
            "inprod.datasets.add returns) or a reference like 'phone-images@3'",
            field="dataset",
        )
    row = s.execute(
        select(Dataset.name, DatasetVersion.version)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetVersion.id == version_id)
    ).first()
    if row is None:
        raise NotFound(
            f"dataset version id {version_id} is not in this store; was it added to another "
            "store? Pass a reference like 'phone-images@3' instead"
        )
    return version_id, f"{row.name}@{row.version}"


def _from_ref(s: Session, text: str) -> tuple[int, str]:
    ref = parse_ref(text, what="dataset reference")
    dataset_id = s.scalar(select(Dataset.id).where(Dataset.name == ref.name))
    if dataset_id is None:
        known = s.scalars(select(Dataset.name)).all()
        raise NotFound(f"no dataset {ref.name!r}; {suggest(ref.name, known, what='datasets')}")
    latest = s.scalar(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset_id)
    )
    if latest is None:
        raise NotFound(f"dataset {ref.name!r} has no versions yet; add one first")
    if ref.alias is not None:
        raise NotFound(
            f"datasets have no alias {ref.alias!r}; use {ref.name}@VERSION or {ref.name}@latest "
            f"(latest is {latest})"
        )
    number = latest if ref.version is None else ref.version
    version_id = s.scalar(
        select(DatasetVersion.id).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == number
        )
    )
    if version_id is None:
        raise NotFound(f"dataset {ref.name!r} has no version {number} (latest is {latest})")
    return version_id, f"{ref.name}@{number}"
