"""The model registry: immutable, numbered versions of a named model, and aliases pointing at them.

``register`` accepts a fitted estimator (saved with skops), an ``onnx.ModelProto``, a function,
or a path (``.skops``, ``.onnx``, an MLflow model folder, a pickle when allowed). Before anything
is stored the staged files are loaded exactly as a later ``load`` will load them and checked
against the signature, so every stored version is known to load. The bytes are stored
content-addressed; the version keeps the tree's sha256 and every load verifies it.

Aliases (``champion``, ``challenger``) are the names deployments follow; moving one is recorded
as an audit event with who moved it, from which version, to which.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, IntegrityFailure, InvalidInput, NotFound, suggest
from ..flavors import Predictor, Signature, StoredFiles, load_predictor
from ..flavors.signature import schema_of
from ..projects import check_name
from ..provenance import current_user
from ..store import Store, get_store
from ..store.tables import AuditEvent, Model, ModelAlias, ModelVersion, utcnow
from ._checks import (
    check_alias,
    check_metrics,
    check_tags,
    check_trusted,
    flush_run,
    resolve_run,
    run_id_of,
)
from ._lookup import ModelVersionInfo, aliases_by_version, find_model, resolve, version_info
from ._staging import Staged, stage

__all__ = [
    "ModelInfo",
    "ModelVersionInfo",
    "check_alias",
    "convert_to_onnx",
    "delete_alias",
    "get",
    "list_models",
    "list_versions",
    "load",
    "register",
    "set_alias",
]

_REGISTER_ATTEMPTS = 3


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    latest_version: int
    versions: int
    flavor: str
    aliases: dict[str, int]
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def register(
    name: str,
    model: Any = None,
    *,
    path: str | Path | None = None,
    flavor: str | None = None,
    run: Any = None,
    sample: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    trusted: Sequence[str] | None = None,
    allow_pickle: bool = False,
    callable_ref: str | None = None,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
    alias: str | None = None,
    metrics: Mapping[str, float] | None = None,
    store: Store | None = None,
) -> ModelVersionInfo:
    """Register a new version of ``name`` (created on first use) and return it.

    ``sample`` (a few rows, DataFrame or array) gives the signature: its columns/shape and the
    model's outputs on it. ``run`` (an active run, a run info or a run id) links the version to
    its run; the run's latest metrics are copied when ``metrics`` is None. ``trusted`` names
    skops types to trust; ``allow_pickle`` allows pickles. Both are remembered for ``load``.
    Raises InvalidInput/UnsafeContent/NotFound before anything is stored.
    """
    check_name(name, "model")
    if alias is not None:
        check_alias(alias)
    tag_values = check_tags(tags)
    metric_values = None if metrics is None else check_metrics(metrics)
    trusted_types = check_trusted(trusted)
    wanted = _as_signature(signature)
    store = get_store(store)
    run_id = run_id_of(run)
    with tempfile.TemporaryDirectory(prefix="inprod-model-") as tmp:
        staged = stage(
            model,
            path=path,
            flavor=flavor,
            callable_ref=callable_ref,
            allow_pickle=allow_pickle,
            tmp=Path(tmp),
        )
        predictor = load_predictor(
            staged.flavor,
            staged.files,
            options=staged.options,
            signature=wanted if wanted is not None else _sample_signature(sample),
            trusted=trusted_types,
            allow_pickle=allow_pickle,
            mismatch=InvalidInput,
        )
        final = _final_signature(predictor, wanted, sample)
        options = _options(staged, predictor, allow_pickle)
        if run_id is not None:
            flush_run(run)
            with store.session(write=False) as s:
                run_id, run_metrics = resolve_run(s, run_id)
            if metric_values is None:
                metric_values = run_metrics
        artifact = store.artifacts.put_tree(staged.folder).sha256
    values = {
        "flavor": staged.flavor,
        "artifact": artifact,
        "options": options,
        "signature": final.to_dict(),
        "run_id": run_id,
        "metrics": metric_values or {},
        "tags": tag_values,
        "description": description or "",
        "created_by": current_user(),
    }
    return _insert_version(store, name, values, alias)


def get(ref: str, *, store: Store | None = None) -> ModelVersionInfo:
    """The version ``ref`` names: NAME (latest), NAME@3, NAME@alias or NAME@latest."""
    store = get_store(store)
    with store.session(write=False) as s:
        model, version = resolve(s, ref)
        return version_info(s, model, version)


def list_models(*, store: Store | None = None) -> list[ModelInfo]:
    store = get_store(store)
    with store.session(write=False) as s:
        return model_infos(s, s.scalars(select(Model).order_by(Model.name)).all(), every=True)


def model_infos(s: Session, rows: Sequence[Model], *, every: bool = False) -> list[ModelInfo]:
    """``ModelInfo`` for ``rows``, in their order. ``every``: they are all the models, so the
    per-model queries need no id filter; otherwise the queries are bounded by their ids (one
    page of a long list)."""
    ids = [m.id for m in rows]
    per_model = select(
        ModelVersion.model_id,
        func.max(ModelVersion.version).label("latest"),
        func.count().label("n"),
        func.max(ModelVersion.created_at).label("updated"),
    )
    alias_query = (
        select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .order_by(ModelAlias.alias)
    )
    if not every:
        per_model = per_model.where(ModelVersion.model_id.in_(ids))
        alias_query = alias_query.where(ModelAlias.model_id.in_(ids))
    latest = per_model.group_by(ModelVersion.model_id).subquery()
    stats = {
        r.model_id: r
        for r in s.execute(
            select(latest, ModelVersion.flavor).join(
                ModelVersion,
                (ModelVersion.model_id == latest.c.model_id)
                & (ModelVersion.version == latest.c.latest),
            )
        )
    }
    aliases: dict[int, dict[str, int]] = {}
    for alias_row in s.execute(alias_query):
        aliases.setdefault(alias_row.model_id, {})[alias_row.alias] = alias_row.version
    out = []
    for m in rows:
        st = stats.get(m.id)
        out.append(
            ModelInfo(
                name=m.name,
                description=m.description,
                latest_version=st.latest if st else 0,
                versions=st.n if st else 0,
                flavor=st.flavor if st else "",
                aliases=aliases.get(m.id, {}),
                created_at=m.created_at.isoformat(),
                updated_at=(st.updated if st else m.created_at).isoformat(),
            )
        )
    return out


def list_versions(name: str, *, store: Store | None = None) -> list[ModelVersionInfo]:
    store = get_store(store)
    with store.session(write=False) as s:
        model = find_model(s, name)
        versions = s.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(ModelVersion.version)
        ).all()
        aliases = aliases_by_version(s, model.id)
        return [version_info(s, model, v, aliases) for v in versions]


def set_alias(ref: str, alias: str, *, store: Store | None = None) -> ModelVersionInfo:
    """Point ``alias`` at the version ``ref`` names (moving it if it pointed elsewhere)."""
    check_alias(alias)
    store = get_store(store)
    with store.session() as s:
        model, version = resolve(s, ref, lock=True)
        _move_alias(s, model, version, alias)
        return version_info(s, model, version)


def delete_alias(name: str, alias: str, *, store: Store | None = None) -> None:
    store = get_store(store)
    with store.session() as s:
        model = find_model(s, name, lock=True)
        row = s.get(ModelAlias, (model.id, alias))
        if row is None:
            known = s.scalars(select(ModelAlias.alias).where(ModelAlias.model_id == model.id))
            raise NotFound(
                f"model {name!r} has no alias {alias!r}; {suggest(alias, known, what='aliases')}"
            )
        old = s.get(ModelVersion, row.version_id)
        s.delete(row)
        s.add(
            AuditEvent(
                actor=current_user(),
                kind="alias.deleted",
                subject=f"model:{name}",
                details={"alias": alias, "from": old.version if old else None},
            )
        )


def load(
    ref: str,
    *,
    trusted: Sequence[str] | None = None,
    allow_pickle: bool = False,
    store: Store | None = None,
) -> Predictor:
    """Load a version as a Predictor, after verifying its bytes and its signature.

    Raises IntegrityFailure when the stored bytes changed, UnsafeContent for types or pickles
    nobody allowed (at registration or here).
    """
    store = get_store(store)
    info = get(ref, store=store)
    files = StoredFiles(
        store.artifacts, info.artifact_sha, where=f"model {info.ref} ({info.artifact_sha[:12]})"
    )
    return load_predictor(
        info.flavor,
        files,
        options=info.options,
        signature=Signature.from_dict(info.signature),
        trusted=check_trusted(trusted),
        allow_pickle=allow_pickle,
        mismatch=IntegrityFailure,
    )


def convert_to_onnx(
    ref: str, *, trusted: Sequence[str] | None = None, store: Store | None = None
) -> ModelVersionInfo:
    """Convert a scikit-learn version with skl2onnx and register the result as a new version."""
    from ._convert import convert_to_onnx as _convert

    return _convert(ref, trusted=trusted, store=store)


# -- registration helpers ----------------------------------------------------------------------


def _as_signature(signature: Signature | Mapping[str, Any] | None) -> Signature | None:
    if signature is None or isinstance(signature, Signature):
        return signature
    return Signature.from_dict(signature)


def _sample_signature(sample: Any) -> Signature | None:
    return None if sample is None else Signature(inputs=schema_of(sample, what="sample"))


def _final_signature(predictor: Predictor, wanted: Signature | None, sample: Any) -> Signature:
    """Inputs from the signature or sample; outputs and classes from calling the model."""
    classes = getattr(predictor, "classes", None)
    if sample is None:
        base = wanted if wanted is not None else predictor.signature
        if base.classes is None and classes is not None:
            return Signature(base.inputs, base.outputs, tuple(classes))
        return base
    base = wanted if wanted is not None else Signature(schema_of(sample, what="sample"))
    batch = base.validate(sample)
    try:
        result = predictor.predict(batch)
    except Exception as exc:
        raise InvalidInput(
            f"calling the model on the sample failed: {type(exc).__name__}: {exc}", field="sample"
        ) from None
    outputs = base.outputs or schema_of(result.outputs, what="outputs")
    classes = result.classes if result.classes is not None else classes
    return Signature(
        base.inputs,
        outputs,
        base.classes if classes is None else tuple(_plain(c) for c in classes),
    )


def _options(staged: Staged, predictor: Predictor, allow_pickle: bool) -> dict[str, Any]:
    """The flavor options to store: trusted types and pickle consent that loading will need."""
    options = dict(staged.options)
    untrusted = getattr(predictor, "untrusted_types", ())
    if untrusted:
        options["trusted"] = sorted(untrusted)
    pickled = staged.flavor == "pickle"
    if staged.flavor == "mlflow":
        from ..flavors.mlflow import inner_model, read_mlmodel

        inner = inner_model(read_mlmodel(staged.files), staged.files.where)
        options["mlflow"] = inner
        pickled = inner["format"] in ("pickle", "cloudpickle")
    if allow_pickle and pickled:
        options["allow_pickle"] = True
    return options


def _insert_version(
    store: Store, name: str, values: dict[str, Any], alias: str | None
) -> ModelVersionInfo:
    """Number and insert the version; retried when a concurrent writer took the number/name."""
    for attempt in range(_REGISTER_ATTEMPTS):
        try:
            with store.session() as s:
                model = s.scalar(select(Model).where(Model.name == name).with_for_update())
                if model is None:
                    model = Model(name=name, description=values["description"], created_at=utcnow())
                    s.add(model)
                    s.flush()
                latest = s.scalar(
                    select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
                )
                version = ModelVersion(
                    model_id=model.id, version=(latest or 0) + 1, created_at=utcnow(), **values
                )
                s.add(version)
                s.flush()
                if alias is not None:
                    _move_alias(s, model, version, alias)
                return version_info(s, model, version)
        except IntegrityError:
            if attempt == _REGISTER_ATTEMPTS - 1:
                raise Conflict(
                    f"another process registered model {name!r} at the same time; retry"
                ) from None
    raise AssertionError("unreachable")


def _move_alias(s: Session, model: Model, version: ModelVersion, alias: str) -> None:
    row = s.get(ModelAlias, (model.id, alias))
    old_version = None
    if row is not None:
        if row.version_id == version.id:
            return
        old = s.get(ModelVersion, row.version_id)
        old_version = old.version if old else None
        row.version_id = version.id
        row.updated_at = utcnow()
    else:
        s.add(
            ModelAlias(model_id=model.id, alias=alias, version_id=version.id, updated_at=utcnow())
        )
    s.add(
        AuditEvent(
            actor=current_user(),
            kind="alias.moved",
            subject=f"model:{model.name}",
            details={"alias": alias, "from": old_version, "to": version.version},
        )
    )
    s.flush()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
