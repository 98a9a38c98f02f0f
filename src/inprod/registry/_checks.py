"""Validation of what callers pass to the registry, done once before anything is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..store.tables import Run

_ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_RUN_ID_LEN = 32
_HEX = set("0123456789abcdef")


def check_alias(alias: str) -> str:
    """Letters, digits, '-' and '_'; not a number (or vN) and not 'latest', which mean versions."""
    if (
        not isinstance(alias, str)
        or not _ALIAS_RE.match(alias)
        or alias.lstrip("v").isdigit()
        or alias == "latest"
    ):
        raise InvalidInput(
            f"alias {alias!r} is not allowed; use letters, digits, '-' and '_' (e.g. champion), "
            "not a number or 'v3' (those name versions) and not 'latest'",
            field="alias",
        )
    return alias


def run_id_of(run: Any) -> str | None:
    if run is None:
        return None
    run_id = run if isinstance(run, str) else getattr(run, "id", None)
    if not isinstance(run_id, str) or not run_id.strip():
        raise InvalidInput(
            f"run {run!r} is not a run: give an active run, a run info or a run id", field="run"
        )
    return run_id.strip().lower()


def flush_run(run: Any) -> None:
    """Write an active run's buffered metrics so the version copies their latest values."""
    flush = getattr(run, "flush", None)
    if callable(flush):
        flush()


def resolve_run(s: Session, run_id: str) -> tuple[str, dict[str, float]]:
    hint = "see the ids with 'inprod runs list'"
    if len(run_id) > _RUN_ID_LEN or not set(run_id) <= _HEX:
        raise NotFound(f"no run {run_id!r}: run ids are 32 hex characters; {hint}", field="run")
    query = select(Run.id, Run.latest_metrics)
    if len(run_id) == _RUN_ID_LEN:
        query = query.where(Run.id == run_id)
    else:
        query = query.where(Run.id.like(run_id + "%")).order_by(Run.id).limit(2)
    found = s.execute(query).all()
    if not found:
        raise NotFound(f"no run with id {run_id!r}; {hint}", field="run")
    if len(found) > 1:
        raise InvalidInput(
            f"run id prefix {run_id!r} matches several runs; give more characters", field="run"
        )
    return found[0].id, dict(found[0].latest_metrics or {})


def check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInput("tags must be a mapping of name to value", field="tags")
    out = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 250:
            raise InvalidInput(f"tag name {key!r} must be a non-empty string", field="tags")
        out[key] = str(value)
    return out


def check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise InvalidInput("metrics must be a mapping of name to number", field="metrics")
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"metric {key!r} = {value!r} is not a number", field="metrics"
            ) from None
        if not isinstance(key, str) or not key or not math.isfinite(number):
            raise InvalidInput(
                f"metric {key!r} = {value!r} is not a finite number", field="metrics"
            )
        out[key] = number
    return out


def check_trusted(trusted: Sequence[str] | None) -> tuple[str, ...]:
    if trusted is None:
        return ()
    if isinstance(trusted, str):
        trusted = [trusted]
    bad = [t for t in trusted if not isinstance(t, str) or not t.strip()]
    if bad:
        raise InvalidInput(
            f"trusted types must be dotted type names like 'mypkg.MyTransformer', not {bad[0]!r}",
            field="trusted",
        )
    return tuple(t.strip() for t in trusted)
