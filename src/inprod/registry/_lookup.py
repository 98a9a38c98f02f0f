"""Finding models and versions by reference, with "not found" messages that say what exists."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import NotFound, suggest
from ..refs import parse_ref
from ..store.tables import Model, ModelAlias, ModelVersion


@dataclass(frozen=True)
class ModelVersionInfo:
    id: int
    name: str
    version: int
    ref: str
    flavor: str
    artifact_sha: str
    signature: dict[str, Any]
    run_id: str | None
    metrics: dict[str, float]
    tags: dict[str, str]
    aliases: list[str]
    description: str
    created_by: str
    created_at: str
    options: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_model(s: Session, name: str, *, lock: bool = False) -> Model:
    query = select(Model).where(Model.name == name)
    model = s.scalar(query.with_for_update() if lock else query)
    if model is None:
        known = s.scalars(select(Model.name)).all()
        raise NotFound(
            f"no model {name!r}; {suggest(name, known, what='models')} (see 'inprod models list')"
        )
    return model


def resolve(s: Session, ref: str, *, lock: bool = False) -> tuple[Model, ModelVersion]:
    parsed = parse_ref(ref, what="model reference")
    model = find_model(s, parsed.name, lock=lock)
    base = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if parsed.alias is not None:
        alias = s.get(ModelAlias, (model.id, parsed.alias))
        if alias is None:
            known = aliases_by_version(s, model.id)
            names = [a for names in known.values() for a in names]
            raise NotFound(
                f"model {model.name!r} has no alias {parsed.alias!r}; "
                f"{suggest(parsed.alias, names, what='aliases')} "
                f"(set it with 'inprod models alias {model.name}@VERSION {parsed.alias}')"
            )
        version = s.get(ModelVersion, alias.version_id)
    elif parsed.version is not None:
        version = s.scalar(base.where(ModelVersion.version == parsed.version))
        if version is None:
            latest = s.scalar(
                select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
            )
            raise NotFound(
                f"model {model.name!r} has no version {parsed.version} (latest is {latest}); "
                f"try 'inprod models list {model.name}'"
            )
    else:
        version = s.scalar(base.order_by(ModelVersion.version.desc()).limit(1))
    if version is None:
        raise NotFound(f"model {model.name!r} has no versions; register one")
    return model, version


def aliases_by_version(s: Session, model_id: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for row in s.execute(
        select(ModelAlias.version_id, ModelAlias.alias)
        .where(ModelAlias.model_id == model_id)
        .order_by(ModelAlias.alias)
    ):
        out.setdefault(row.version_id, []).append(row.alias)
    return out


def version_info(
    s: Session,
    model: Model,
    version: ModelVersion,
    aliases: dict[int, list[str]] | None = None,
) -> ModelVersionInfo:
    if aliases is None:
        aliases = aliases_by_version(s, model.id)
    return ModelVersionInfo(
        id=version.id,
        name=model.name,
        version=version.version,
        ref=f"{model.name}@{version.version}",
        flavor=version.flavor,
        artifact_sha=version.artifact,
        signature=dict(version.signature or {}),
        run_id=version.run_id,
        metrics=dict(version.metrics or {}),
        tags=dict(version.tags or {}),
        aliases=list(aliases.get(version.id, [])),
        description=version.description,
        created_by=version.created_by,
        created_at=version.created_at.isoformat(),
        options=dict(version.options or {}),
    )
