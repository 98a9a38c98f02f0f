"""Validation at the edge of the tracking API: every value is checked once, before anything is
written, so that a bad argument never leaves half a batch in the store."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput

MAX_KEY_LEN = 250  # run_metrics.key, run_slice_metrics.slice/key
MAX_NAME_LEN = 200  # runs.name
MAX_ROLE_LEN = 50  # run_datasets.role
STATUSES = ("running", "finished", "failed", "killed")
END_STATUSES = ("finished", "failed", "killed")


def check_key(key: object, what: str) -> str:
    """A metric, param, tag or slice name: a non-empty string that fits its column."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"{what} name {key!r} must be a non-empty string", field=what)
    if len(key) > MAX_KEY_LEN:
        raise InvalidInput(
            f"{what} name {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LEN}",
            field=what,
        )
    return key


def check_mapping(value: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{what} must be a dict, got {type(value).__name__}; e.g. {{'lr': 0.01}}", field=what
        )
    return value


def _plain(value: Any) -> Any:
    """NumPy scalars (``np.float32(0.1)``, ``np.int64(3)``) become their Python value."""
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "ndim", 1) == 0
    ):
        return value.item()
    return value


def check_param(key: object, value: Any) -> tuple[str, Any]:
    """Params are JSON values; return the value as it will read back (tuples become lists)."""
    key = check_key(key, "param")
    value = _plain(value)
    try:
        text = json.dumps(value, allow_nan=False, default=_refuse)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"param {key!r} = {_short(value)} is not a JSON value ({exc}); log a string, number, "
            "bool, None, or a list/dict of those (e.g. str(value))",
            field="param",
        ) from None
    return key, json.loads(text)


def _refuse(value: Any) -> Any:
    value = _plain(value)
    if value is not None and isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON")


def check_metric(key: object, value: Any) -> tuple[str, float]:
    key = check_key(key, "metric")
    if isinstance(value, str | bytes) or not isinstance(_plain(value), numbers.Real):
        raise InvalidInput(
            f"metric {key!r} = {_short(value)} is not a number; log a float "
            "(float(x), or tensor.item() for a one-element tensor)",
            field="metric",
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(
            f"metric {key!r} is {number}; metrics must be finite numbers — check the "
            "computation (a division by zero, an empty batch, a diverged loss)",
            field="metric",
        )
    return key, number


def check_step(step: Any, key: str | None = None) -> int:
    if isinstance(step, bool) or not isinstance(_plain(step), numbers.Integral) or step < 0:
        of = f" of metric {key!r}" if key else ""
        raise InvalidInput(f"step {step!r}{of} must be an integer >= 0", field="step")
    return int(step)


def check_tag(key: object, value: Any) -> tuple[str, str]:
    key = check_key(key, "tag")
    if value is None or not isinstance(value, str | int | float | bool):
        raise InvalidInput(
            f"tag {key!r} = {_short(value)} must be a string (or a number, kept as text)",
            field="tag",
        )
    return key, str(value)


def check_run_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput(f"run name {name!r} must be a string", field="name")
    if len(name) > MAX_NAME_LEN:
        raise InvalidInput(
            f"run name is {len(name)} characters; the limit is {MAX_NAME_LEN}", field="name"
        )
    return name


def check_role(role: object) -> str:
    if not isinstance(role, str) or not role.strip() or len(role) > MAX_ROLE_LEN:
        raise InvalidInput(
            f"dataset role {role!r} must be a non-empty string of at most {MAX_ROLE_LEN} "
            "characters, e.g. 'train', 'validation' or 'test'",
            field="role",
        )
    return role


def check_status(status: object, allowed: tuple[str, ...] = STATUSES) -> str:
    if status not in allowed:
        raise InvalidInput(
            f"run status {status!r} is not one of {', '.join(allowed)}", field="status"
        )
    return str(status)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
