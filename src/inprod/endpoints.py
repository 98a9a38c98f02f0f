"""Endpoints: the stable names clients call. What an endpoint serves is a model reference such as
``phone-inspector@champion``; the server resolves it to a version and follows alias moves.

Per-endpoint serving settings live here too (batching, timeout, log sampling, redaction), so every
replica of the server reads the same values from the store.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from .errors import Conflict, InvalidInput, NotFound, suggest
from .projects import check_name
from .refs import parse_ref
from .store import Store, get_store
from .store.tables import Endpoint, utcnow

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 0.0
DEFAULT_TIMEOUT_MS = 10_000.0
DEFAULT_SAMPLE_RATE = 1.0
DEFAULT_MAX_INSTANCES = 1000
REDACTED = "[redacted]"  # what the prediction log holds in place of a redacted field


_FUNCTION_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class EndpointSettings:
    """How an endpoint serves.

    ``max_wait_ms`` 0 means adaptive batching: a lone request is never held; requests that arrive
    while the model is busy are grouped into its next call, up to ``max_batch_size`` rows.
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    timeout_ms: float = DEFAULT_TIMEOUT_MS
    sample_rate: float = DEFAULT_SAMPLE_RATE
    redact: tuple[str, ...] = ()
    max_instances: int = DEFAULT_MAX_INSTANCES
    features: str | None = None  # module:function deriving monitored features from an instance

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> EndpointSettings:
        value = dict(value or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidInput(
                f"unknown endpoint setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}",
                field=unknown[0],
            )
        if "redact" in value:
            redact = value["redact"]
            if isinstance(redact, str) or not all(isinstance(r, str) for r in redact):
                raise InvalidInput("redact must be a list of field names", field="redact")
            value["redact"] = tuple(redact)
        settings = cls(**value)
        settings.check()
        return settings

    def check(self) -> None:
        def bad(name: str, why: str) -> InvalidInput:
            return InvalidInput(
                f"endpoint setting {name}={getattr(self, name)!r}: {why}", field=name
            )

        if not isinstance(self.max_batch_size, int) or not 1 <= self.max_batch_size <= 100_000:
            raise bad("max_batch_size", "must be an integer from 1 to 100000")
        if not isinstance(self.max_instances, int) or not 1 <= self.max_instances <= 1_000_000:
            raise bad("max_instances", "must be an integer from 1 to 1000000")
        for name, low, high in (
            ("max_wait_ms", 0.0, 10_000.0),
            ("timeout_ms", 1.0, 3_600_000.0),
            ("sample_rate", 0.0, 1.0),
        ):
            v = getattr(self, name)
            if not isinstance(v, int | float) or math.isnan(v) or not low <= v <= high:
                raise bad(name, f"must be a number from {low:g} to {high:g}")
        if self.features is not None and (
            not isinstance(self.features, str) or not _FUNCTION_RE.match(self.features)
        ):
            raise bad("features", "must be module:function, e.g. myfeatures:brightness")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["redact"] = list(self.redact)
        return out


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    model_ref: str
    settings: EndpointSettings = field(default_factory=EndpointSettings)
    description: str = ""
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model_ref": self.model_ref,
            "settings": self.settings.to_dict(),
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _info(row: Endpoint) -> EndpointInfo:
    return EndpointInfo(
        name=row.name,
        model_ref=row.model_ref,
        settings=EndpointSettings.from_dict(row.settings),
        description=row.description,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
    )


def _check_model(model_ref: str, store: Store) -> str:
    from .registry import models

    parse_ref(model_ref, what="model reference")
    models.get(model_ref, store=store)  # NotFound with suggestions when it does not resolve
    return model_ref


def create(
    name: str,
    model: str,
    *,
    settings: dict[str, Any] | None = None,
    description: str = "",
    store: Store | None = None,
) -> EndpointInfo:
    """Create an endpoint serving ``model`` (``NAME@ALIAS`` follows the alias as it moves)."""
    check_name(name, "endpoint")
    store = get_store(store)
    parsed = EndpointSettings.from_dict(settings)
    _check_model(model, store)
    with store.session() as s:
        if s.scalar(select(Endpoint.id).where(Endpoint.name == name)) is not None:
            raise Conflict(
                f"endpoint {name!r} already exists; see it with 'inprod endpoints show {name}'"
            )
        row = Endpoint(
            name=name,
            model_ref=model,
            settings=parsed.to_dict(),
            description=description,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        s.add(row)
        s.flush()
        return _info(row)


def update(
    name: str,
    *,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    store: Store | None = None,
) -> EndpointInfo:
    """Point an endpoint at another model reference and/or change some of its settings.

    Repointing is a plan change like any other: audited in ``inprod deploy history`` and
    announced to every replica; it is refused while a shadow or canary is in flight (promote,
    abort or roll it back first), so the champion never changes under a running comparison.
    """
    from .provenance import current_user
    from .rollout.actions import SUBJECT_PREFIX, notify
    from .store.tables import AuditEvent

    store = get_store(store)
    if model is not None:
        _check_model(model, store)
    with store.session() as s:
        row = _row(s, name, lock=True)
        if settings:
            merged = {**row.settings, **settings}
            row.settings = EndpointSettings.from_dict(merged).to_dict()
        if model is not None and model != row.model_ref:
            if row.state in ("shadowing", "ramping", "paused"):
                raise Conflict(
                    f"endpoint {name!r} is {row.state}: finish the rollout first "
                    f"('inprod deploy promote|abort {name}' or 'inprod rollback {name}')"
                )
            s.add(
                AuditEvent(
                    actor=current_user(),
                    kind="deploy.repoint",
                    subject=SUBJECT_PREFIX + name,
                    details={
                        "from_state": row.state,
                        "to_state": row.state,
                        "reason": "endpoint repointed",
                        "from": {"primary": row.model_ref},
                        "to": {"primary": model},
                    },
                )
            )
            row.model_ref = model
            row.revision = (row.revision or 0) + 1
            notify(s, name)
        row.updated_at = utcnow()
        s.flush()
        return _info(row)


def get(name: str, *, store: Store | None = None) -> EndpointInfo:
    store = get_store(store)
    with store.session(write=False) as s:
        return _info(_row(s, name))


def list_endpoints(*, store: Store | None = None) -> list[EndpointInfo]:
    store = get_store(store)
    with store.session(write=False) as s:
        return [_info(r) for r in s.scalars(select(Endpoint).order_by(Endpoint.name))]


def delete(name: str, *, store: Store | None = None) -> None:
    store = get_store(store)
    with store.session() as s:
        s.delete(_row(s, name))


def _row(s: Any, name: str, *, lock: bool = False) -> Endpoint:
    query = select(Endpoint).where(Endpoint.name == name)
    row = s.scalar(query.with_for_update() if lock else query)
    if row is None:
        known = s.scalars(select(Endpoint.name)).all()
        raise NotFound(f"no endpoint {name!r}; {suggest(name, known, what='endpoints')}")
    return row
