"""What a batch job reads and gives the model, decided and checked once before any row is scored.

The model's signature says which columns it takes: a columns signature names them (extra file
columns such as ids are simply not read); a tensor signature only has a width, so the file's
columns are used in order unless ``columns`` picks them. Every check runs on the file's schema
(an empty table of the right types) so that a wrong file is refused before a job is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import InvalidInput, suggest
from ..flavors import Signature
from ..flavors.signature import dtype_kind

OUTPUT_COLUMNS = ("prediction", "confidence")
PROBA_PREFIX = "proba_"


@dataclass(frozen=True)
class ScoringPlan:
    """The feature columns (model order), the columns kept in the output, and for messages."""

    model_ref: str
    input_name: str
    signature: Signature
    features: tuple[str, ...]
    keep: tuple[str, ...]

    @property
    def read_columns(self) -> list[str]:
        """Every column to read from the file, each once."""
        return list(dict.fromkeys((*self.features, *self.keep)))

    def column_types(self) -> dict[str, pa.DataType]:
        """Arrow types the signature declares for the features, to pin while parsing CSV."""
        schema = self.signature.inputs
        if schema is None:
            return {}
        if schema.kind == "columns":
            declared = {c.name: c.dtype for c in schema.columns}
        else:
            declared = dict.fromkeys(self.features, schema.dtype)
        out = {}
        for name, dtype in declared.items():
            arrow = _arrow_type(dtype)
            if arrow is not None:
                out[name] = arrow
        return out

    def check_schema(self, schema: pa.Schema) -> None:
        """Validate an empty table of the file's types against the signature."""
        empty = schema.empty_table().select(list(self.features)).to_pandas()
        try:
            self.signature.validate(empty)
        except InvalidInput as exc:
            raise InvalidInput(
                f"input {self.input_name} does not fit model {self.model_ref}: {exc.message}",
                field=exc.field,
            ) from None


def make_plan(
    *,
    model_ref: str,
    signature: Signature,
    input_path: Path,
    input_columns: Sequence[str],
    columns: Sequence[str] | None,
    keep: Sequence[str],
) -> ScoringPlan:
    """Choose the feature and kept columns; raise InvalidInput naming what is missing."""
    name = str(input_path)
    keep = tuple(dict.fromkeys(keep))
    _check_present(keep, input_columns, name, what="--keep column", field="keep")
    for column in keep:
        if column in OUTPUT_COLUMNS or column.startswith(PROBA_PREFIX):
            raise InvalidInput(
                f"--keep column {column!r} would clash with the output column of that name "
                f"(outputs are {', '.join(OUTPUT_COLUMNS)} and {PROBA_PREFIX}<class>); rename it "
                "in the input",
                field="keep",
            )
    if columns is not None:
        features = tuple(dict.fromkeys(columns))
        if not features:
            raise InvalidInput("--columns is empty; name the feature columns", field="columns")
        _check_present(features, input_columns, name, what="--columns entry", field="columns")
    else:
        features = _default_features(model_ref, signature, name, input_columns)
    return ScoringPlan(model_ref, name, signature, features, keep)


def _default_features(
    model_ref: str, signature: Signature, name: str, input_columns: Sequence[str]
) -> tuple[str, ...]:
    schema = signature.inputs
    if schema is not None and schema.kind == "columns":
        missing = [c for c in schema.names if c not in input_columns]
        if missing:
            raise InvalidInput(
                f"input {name} lacks {_plural(len(missing), 'column')} "
                f"{', '.join(repr(c) for c in missing)} that model {model_ref} takes (it takes "
                f"{', '.join(schema.names)}); add them to the file or score it with a model that "
                "takes these columns",
                field=missing[0],
            )
        return tuple(schema.names)
    width = None if schema is None else schema.width
    if width is not None and width != len(input_columns):
        shown = ", ".join(input_columns[:10]) + (", ..." if len(input_columns) > 10 else "")
        raise InvalidInput(
            f"model {model_ref} takes {_plural(width, 'feature')} ({schema.describe()}) but input "
            f"{name} has {_plural(len(input_columns), 'column')} ({shown}); pick the "
            f"{width} feature columns in the model's order with --columns a,b,...",
            field="columns",
        )
    return tuple(input_columns)


def _check_present(
    wanted: Sequence[str], have: Sequence[str], name: str, *, what: str, field: str
) -> None:
    for column in wanted:
        if column not in have:
            raise InvalidInput(
                f"{what} {column!r} is not a column of input {name}; "
                f"{suggest(column, have, what='columns')}",
                field=field,
            )


def _arrow_type(dtype: str | None) -> pa.DataType | None:
    kind = dtype_kind(dtype)
    if kind in ("O", "U", "S"):
        return pa.string()
    if kind in ("f", "i", "u", "b"):
        return pa.from_numpy_dtype(np.dtype(dtype))
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
