"""Hyperparameter sweeps in a retraining policy.

A policy's ``sweep`` setting is a grid, ``{"C": [0.1, 0.3, 1.0], "max_iter": [500]}``: every
point trains in its own tracked run (in parallel: child processes, or Ray tasks with the
policy's ``ray`` setting), with the point in ``data.params`` and in the run's params. Every
point that trains is registered (so each stays inspectable, with its run), and the best by the
policy's ``select`` metric — one the training function logs on its run, e.g. a validation
score — becomes the candidate the gate judges. Selection never looks at the gate's evaluation
data: picking on it would make the gate judge a model chosen to pass it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput

MAX_POINTS = 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Select:
    """Which logged metric picks the sweep's best, and whether higher (``max``) is better."""

    metric: str
    direction: str = "max"

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "max" else a < b


def check_sweep(value: Any) -> dict[str, list[Any]]:
    """The grid checked: parameter names to non-empty lists of JSON scalars, at most
    ``MAX_POINTS`` points in all."""
    if not isinstance(value, dict) or not value:
        raise InvalidInput(
            'sweep must map parameter names to lists of values, e.g. {"C": [0.1, 1.0]}',
            field="sweep",
        )
    grid: dict[str, list[Any]] = {}
    for name, values in value.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(f"sweep parameter name {name!r} is not a plain name", field="sweep")
        if not isinstance(values, list) or not values:
            raise InvalidInput(
                f"sweep parameter {name!r} needs a non-empty list of values", field="sweep"
            )
        for v in values:
            if not _scalar(v):
                raise InvalidInput(
                    f"sweep parameter {name!r}: {v!r} is not a number, string or true/false",
                    field="sweep",
                )
        grid[name] = list(values)
    count = math.prod(len(v) for v in grid.values())
    if count > MAX_POINTS:
        raise InvalidInput(
            f"the sweep has {count} points; at most {MAX_POINTS} (each is a training run)",
            field="sweep",
        )
    return grid


def parse_sweep_options(texts: list[str]) -> dict[str, list[Any]]:
    """``--sweep C=0.1,0.3,1`` (repeatable) as a grid; values read as JSON where they parse
    (numbers, true/false), else as text."""
    grid: dict[str, list[Any]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise InvalidInput(
                f"--sweep {text!r} is not NAME=VALUE,VALUE, e.g. C=0.1,0.3,1", field="sweep"
            )
        grid[name.strip()] = [_value(v.strip()) for v in values.split(",") if v.strip()]
    return check_sweep(grid)


def check_select(text: Any) -> str:
    """``metric`` or ``metric:max`` / ``metric:min``, normalised to ``metric:direction``."""
    return str(parse_select(text))


def parse_select(text: Any) -> Select:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            "select names the metric the sweep's runs log that picks the best, e.g. "
            "val_accuracy or val_loss:min",
            field="select",
        )
    metric, _, direction = text.strip().partition(":")
    direction = direction.strip() or "max"
    if direction not in _DIRECTIONS or not _NAME.match(metric.strip()):
        raise InvalidInput(
            f"select {text!r} is not METRIC or METRIC:max|min (e.g. val_loss:min)", field="select"
        )
    return Select(metric.strip(), direction)


def points(grid: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """Every combination, in the grid's order; one empty point without a sweep."""
    if not grid:
        return [{}]
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _scalar(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, str | int | bool)


def _value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if _scalar(value) else text
