"""Retraining policies: how an endpoint's model is retrained — the training function
(``module:function``), what triggers a request (:mod:`.triggers`), who approves (``manual``: a
person approves the run and the canary; ``auto``: the server's worker does both, gated by the
evaluation), and the settings of the run's data, gate and canary.

One policy an endpoint. Everything is checked when the policy is written, so a trigger that can
never fire or a training function that cannot be imported is refused then, not at 3 a.m.; every
change is an audit event on ``retraining-policy:N`` with the policy before and after.

Settings (JSON), all optional::

    data            dataset ref to start from (default: the champion's training dataset)
    eval_data       dataset ref the gate judges on (default: see docs/retraining.md)
    require         overall requirements, e.g. ["accuracy>=champion"]
    require_slices  per-slice requirements, e.g. ["accuracy>=champion-0.02"]
    tags            slices for the gate (inprod.data.slices), e.g. ["brightness<0.3"]
    label_map       model output -> label, e.g. {"0": "ok", "1": "scratch"}
    canary          {"steps": "5,25,50,100", "interval": "2m", "gates": [...],
                     "min_requests": 50}
    timeout_s       how long training may take (default 1800; "30m" is accepted)
    min_labels      new labels needed before a scheduled run (default 1)
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, suggest
from ..provenance import current_user
from ..refs import parse_ref
from ..rollout.plan import parse_duration, parse_steps
from ..store import Store, get_store
from ..store.audit import subject_events
from ..store.tables import (
    AuditEvent,
    Monitor,
    RetrainingPolicy,
    RetrainingRequest,
    utcnow,
)
from .requests import FINISHED, check_endpoint
from .triggers import DEFAULT_MIN_LABELS as DEFAULT_MIN_LABELS
from .triggers import find_monitor, parse_triggers

APPROVALS = ("manual", "auto")
SETTING_KEYS = (
    "data", "eval_data", "require", "require_slices", "tags", "label_map", "canary",
    "timeout_s", "min_labels", "sweep", "select", "parallel", "ray", "rescore", "max_changed",
)  # fmt: skip
CANARY_KEYS = ("steps", "interval", "gates", "min_requests")
DEFAULT_TIMEOUT_S = 1800.0
SUBJECT_PREFIX = "retraining-policy:"


@dataclass(frozen=True)
class PolicyInfo:
    id: int
    endpoint: str
    train: str
    triggers: list[str]
    approve: str
    settings: dict[str, Any]
    enabled: bool
    marks: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        out["updated_at"] = self.updated_at.isoformat()
        return out


def info(row: RetrainingPolicy) -> PolicyInfo:
    return PolicyInfo(
        id=row.id, endpoint=row.endpoint, train=row.train, triggers=list(row.triggers or []),
        approve=row.approve, settings=dict(row.settings or {}), enabled=row.enabled,
        marks=dict(row.marks or {}), created_by=row.created_by, created_at=row.created_at,
        updated_at=row.updated_at,
    )  # fmt: skip


# -- checks -------------------------------------------------------------------------------------
def check_train(train: str) -> str:
    """``module:function`` that imports here (the runner imports it again in a subprocess)."""
    from ..flavors.python_callable import import_callable

    try:
        import_callable(train)
    except InvalidInput as exc:
        raise InvalidInput(
            f"training function: {exc.message} (--train takes module:function, e.g. "
            "examples.phone:train)",
            field="train",
        ) from None
    return train.strip()


def check_approve(approve: str) -> str:
    if approve not in APPROVALS:
        raise InvalidInput(
            f"approve {approve!r} is not manual (a person approves the run and the canary) or "
            "auto (the server's worker does, gated by the evaluation)",
            field="approve",
        )
    return approve


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings checked and normalised (durations in seconds, lists as lists)."""
    if not isinstance(settings, dict):
        raise InvalidInput("settings must be an object", field="settings")
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(SETTING_KEYS)}",
            field="settings",
        )
    out: dict[str, Any] = {}
    for key in ("data", "eval_data"):
        if settings.get(key) is not None:
            out[key] = str(parse_ref(settings[key], what=key))
    if settings.get("require") is not None:
        out["require"] = _requirements(settings["require"], "require")
    if settings.get("require_slices") is not None:
        out["require_slices"] = _requirements(settings["require_slices"], "require_slices")
    if settings.get("tags") is not None:
        from ..data.slices import split_tag_list

        out["tags"] = split_tag_list(_texts(settings["tags"], "tags"))
    if settings.get("label_map") is not None:
        if not isinstance(settings["label_map"], dict):
            raise InvalidInput(
                'label_map must map model outputs to labels, e.g. {"0": "ok"}', field="label_map"
            )
        out["label_map"] = {str(k): v for k, v in settings["label_map"].items()}
    if settings.get("canary") is not None:
        out["canary"] = _canary(settings["canary"])
    if settings.get("timeout_s") is not None:
        timeout = parse_duration(settings["timeout_s"], what="timeout")
        if timeout <= 0:
            raise InvalidInput("timeout must be more than 0 (e.g. 30m)", field="timeout_s")
        out["timeout_s"] = timeout
    if settings.get("min_labels") is not None:
        out["min_labels"] = _whole(settings["min_labels"], "min_labels", least=0)
    out.update(_distributed(settings))
    return out


def _distributed(settings: dict[str, Any]) -> dict[str, Any]:
    """The sweep, where training runs (``parallel`` children or a Ray address) and the
    re-scoring of a logged window for the gate."""
    from .sweeps import check_select, check_sweep

    out: dict[str, Any] = {}
    if settings.get("sweep") is not None:
        out["sweep"] = check_sweep(settings["sweep"])
        if settings.get("select") is None:
            raise InvalidInput(
                "a sweep needs select: the metric its runs log that picks the best, e.g. "
                "--select val_accuracy (or val_loss:min)",
                field="select",
            )
    if settings.get("select") is not None:
        out["select"] = check_select(settings["select"])
    if settings.get("parallel") is not None:
        out["parallel"] = _whole(settings["parallel"], "parallel", least=1)
    if settings.get("ray") is not None:
        if not isinstance(settings["ray"], str) or not settings["ray"].strip():
            raise InvalidInput(
                "ray is a Ray address (ray://head:10001, auto) or local (a Ray started on this "
                "machine for the run)",
                field="ray",
            )
        if importlib.util.find_spec("ray") is None:
            raise InvalidInput(
                "ray: training on Ray needs the 'ray' package, which is not installed here; "
                "install it with: pip install 'inprod[ray]'",
                field="ray",
            )
        out["ray"] = settings["ray"].strip()
    if settings.get("rescore") is not None:
        window = parse_duration(settings["rescore"], what="rescore window")
        if window <= 0:
            raise InvalidInput("the rescore window must be more than 0 (e.g. 24h)", field="rescore")
        out["rescore"] = window
    if settings.get("max_changed") is not None:
        value = settings["max_changed"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InvalidInput(
                f"max_changed {value!r} must be a share between 0 and 1 (e.g. 0.2: at most 20% "
                "of the window's answers may change)",
                field="max_changed",
            )
        out["max_changed"] = float(value)
    return out


def _texts(value: Any, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        raise InvalidInput(f"{key} must be a list of non-empty strings", field=key)
    return [v.strip() for v in items]


def _requirements(value: Any, key: str) -> list[str]:
    from ..analysis.evaluate import parse_requirement

    texts = _texts(value, key)
    for text in texts:
        try:
            parse_requirement(text)
        except InvalidInput as exc:
            raise InvalidInput(f"{key}: {exc.message}", field=key) from None
    return texts


def _canary(value: Any) -> dict[str, Any]:
    from ..rollout.gates import parse_gates

    if not isinstance(value, dict):
        raise InvalidInput(
            'canary must be an object like {"steps": "5,25,50,100", "interval": "2m"}',
            field="canary",
        )
    unknown = sorted(set(value) - set(CANARY_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown canary setting(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(CANARY_KEYS)}",
            field="canary",
        )
    out: dict[str, Any] = {}
    if value.get("steps") is not None:
        out["steps"] = ",".join(f"{s:g}" for s in parse_steps(value["steps"]))
    if value.get("interval") is not None:
        out["interval"] = parse_duration(value["interval"], what="canary interval")
    if value.get("gates") is not None:
        out["gates"] = _texts(value["gates"], "canary gates")
        parse_gates(out["gates"])
    if value.get("min_requests") is not None:
        out["min_requests"] = _whole(value["min_requests"], "canary min_requests", least=1)
    return out


def _whole(value: Any, key: str, *, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise InvalidInput(f"{key} {value!r} must be a whole number", field=key)
    if int(value) < least:
        raise InvalidInput(f"{key} {value!r} must be {least} or more", field=key)
    return int(value)


def _check_triggers(s: Session, endpoint: str, triggers: list[str]) -> list[str]:
    parsed = parse_triggers(triggers)
    for t in parsed:
        if t.monitor is not None and find_monitor(s, endpoint, t.monitor) is None:
            names = s.scalars(select(Monitor.name).where(Monitor.endpoint == endpoint)).all()
            raise NotFound(
                f"trigger {t.text!r}: endpoint {endpoint!r} has no monitor {t.monitor!r}; "
                f"{suggest(t.monitor, names, what='monitors of this endpoint')} (add one with "
                "'inprod monitor add')"
            )
    return [t.text for t in parsed]


# -- changes ------------------------------------------------------------------------------------
def add(
    endpoint: str,
    *,
    train: str,
    triggers: list[str],
    approve: str = "manual",
    settings: dict[str, Any] | None = None,
    actor: str | None = None,
    store: Store | None = None,
) -> PolicyInfo:
    """Make the endpoint's retraining policy (audited). With no trigger, requests come only
    from people and alert actions."""
    train = check_train(train)
    approve = check_approve(approve)
    checked = check_settings(settings or {})
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        check_endpoint(s, endpoint)
        stored = _check_triggers(s, endpoint, triggers)
        clash = s.scalar(select(RetrainingPolicy.id).where(RetrainingPolicy.endpoint == endpoint))
        if clash is not None:
            raise Conflict(
                f"endpoint {endpoint!r} already has a retraining policy (id {clash}); change it "
                f"with 'inprod retrain policy update {endpoint}'"
            )
        now = utcnow()
        row = RetrainingPolicy(
            endpoint=endpoint, train=train, triggers=stored, approve=approve, settings=checked,
            enabled=True, marks={}, created_by=actor, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(row)
        s.flush()
        _audit(s, actor, "retraining.policy.created", row, {"policy": _state(row)})
        return info(row)


def get_policy(ref: str | int, *, store: Store | None = None) -> PolicyInfo:
    """By endpoint name or id."""
    store = get_store(store)
    with store.session(write=False) as s:
        return info(_find(s, ref))


def list_policies(*, store: Store | None = None) -> list[PolicyInfo]:
    store = get_store(store)
    with store.session(write=False) as s:
        return [info(r) for r in s.scalars(select(RetrainingPolicy).order_by(RetrainingPolicy.id))]


def update(
    ref: str | int,
    *,
    train: str | None = None,
    triggers: list[str] | None = None,
    approve: str | None = None,
    settings: dict[str, Any] | None = None,
    enabled: bool | None = None,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
) -> PolicyInfo:
    """Change what is given; ``settings`` keys replace those keys (a None value removes one:
    back to its default). Audited with before and after."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = _find(s, ref, lock=True)
        before = _state(row)
        if train is not None:
            row.train = check_train(train)
        if triggers is not None:
            row.triggers = _check_triggers(s, row.endpoint, triggers)
        if approve is not None:
            row.approve = check_approve(approve)
        if settings is not None:
            row.settings = check_settings(_merge(row.settings or {}, settings))
        if enabled is not None:
            row.enabled = enabled
        after = _state(row)
        if after == before:
            raise InvalidInput(
                "nothing to change: give --train, --on, --approve, a setting, --enable or --disable"
            )
        row.updated_at = utcnow()
        _audit(s, actor, "retraining.policy.updated", row,
               {"before": before, "after": after, "reason": reason})  # fmt: skip
        return info(row)


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over ``current``, one level into ``canary``; None removes a key."""
    merged = {**current, **changes}
    if isinstance(changes.get("canary"), dict) and isinstance(current.get("canary"), dict):
        merged["canary"] = {**current["canary"], **changes["canary"]}
    if isinstance(merged.get("canary"), dict):
        merged["canary"] = {k: v for k, v in merged["canary"].items() if v is not None}
    return {k: v for k, v in merged.items() if v is not None}


def remove(ref: str | int, *, actor: str | None = None, store: Store | None = None) -> PolicyInfo:
    """Delete a policy (the audit event keeps it); Conflict while it has a live request. Its
    finished requests stay, for their story."""
    store = get_store(store)
    actor = actor or current_user()
    with store.session() as s:
        row = _find(s, ref, lock=True)
        live = s.scalar(
            select(RetrainingRequest).where(
                RetrainingRequest.policy_id == row.id,
                RetrainingRequest.status.not_in(FINISHED),
            )
        )
        if live is not None:
            raise Conflict(
                f"the retraining policy of {row.endpoint!r} has a live request ({live.id}, "
                f"{live.status}); cancel it first: 'inprod retrain cancel {live.id}'"
            )
        gone = info(row)
        _audit(s, actor, "retraining.policy.removed", row, {"policy": _state(row)})
        s.delete(row)
        return gone


def history(ref: str | int, *, store: Store | None = None) -> list[dict[str, Any]]:
    """The policy's audit events: created, updated (before/after), removed."""
    store = get_store(store)
    with store.session(write=False) as s:
        row = _find(s, ref)
        return subject_events(s, f"{SUBJECT_PREFIX}{row.id}")


def _find(s: Session, ref: str | int, *, lock: bool = False) -> RetrainingPolicy:
    query = select(RetrainingPolicy).with_for_update() if lock else select(RetrainingPolicy)
    if isinstance(ref, int) or str(ref).isdigit():
        row = s.scalar(query.where(RetrainingPolicy.id == int(ref)))
    else:
        row = s.scalar(query.where(RetrainingPolicy.endpoint == ref))
    if row is None:
        names = s.scalars(select(RetrainingPolicy.endpoint)).all()
        raise NotFound(
            f"no retraining policy for {ref!r}; "
            f"{suggest(str(ref), names, what='endpoints with a policy')} (make one with "
            "'inprod retrain policy add ENDPOINT --train module:function')"
        )
    return row


def _state(row: RetrainingPolicy) -> dict[str, Any]:
    return {"train": row.train, "triggers": list(row.triggers or []), "approve": row.approve,
            "settings": dict(row.settings or {}), "enabled": row.enabled}  # fmt: skip


def _audit(
    s: Session, actor: str, kind: str, row: RetrainingPolicy, details: dict[str, Any]
) -> None:
    s.add(
        AuditEvent(
            time=utcnow(), actor=actor, kind=kind, subject=f"{SUBJECT_PREFIX}{row.id}",
            details={"endpoint": row.endpoint, **details},
        )
    )  # fmt: skip
