"""What a model takes and gives: named columns with dtypes, or a tensor with a shape and dtype.

Inferred from a sample at registration and stored as JSON in ``model_versions.signature``, so the
HTTP edge can refuse a bad request with a message naming the field before the model sees it,
and a loader can prove the stored model still takes what the signature says.

JSON form (``Signature.to_dict``)::

    {"inputs": {"kind": "columns", "columns": [{"name": "a", "dtype": "float64"}, ...]},
     "outputs": {"kind": "tensor", "dtype": "int64", "shape": [-1]},
     "classes": [0, 1]}

A dtype of ``null`` means "not known" and accepts anything; a shape entry of -1 means any size
(the first entry is always the batch). ``inputs: null`` means nothing is known about the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import InvalidInput

# dtype kind (numpy's one-letter code) a declared kind accepts: ints widen to floats, bools to
# ints; "O" (object) covers strings and pandas' string dtype
_ACCEPTS: dict[str, frozenset[str]] = {
    "f": frozenset("fiub"),
    "i": frozenset("iub"),
    "u": frozenset("iub"),
    "b": frozenset("b"),
    "c": frozenset("cfiub"),
    "O": frozenset("OUST"),
    "U": frozenset("OUST"),
    "S": frozenset("OUST"),
    "M": frozenset("M"),
    "m": frozenset("m"),
}


def dtype_kind(dtype: Any) -> str:
    """numpy's kind letter for a dtype or dtype name; pandas' string/categorical dtypes are "O"."""
    if dtype is None:
        return "?"
    text = str(dtype)
    if text in ("string", "str", "category", "object") or text.startswith("string["):
        return "O"
    try:
        return np.dtype(text).kind
    except TypeError:
        return "O"


def compatible(expected: str | None, actual: Any) -> bool:
    """Whether values of dtype ``actual`` may be given where ``expected`` is declared."""
    if expected is None:
        return True
    kind = dtype_kind(expected)
    return dtype_kind(actual) in _ACCEPTS.get(kind, frozenset(kind))


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str | None = None


@dataclass(frozen=True)
class Schema:
    """Either named ``columns`` (a DataFrame) or one ``tensor`` (an ndarray)."""

    kind: Literal["columns", "tensor"]
    columns: tuple[Column, ...] = ()
    dtype: str | None = None
    shape: tuple[int, ...] = ()

    @classmethod
    def of_columns(cls, columns: Sequence[tuple[str, str | None]]) -> Schema:
        return cls("columns", columns=tuple(Column(str(n), d) for n, d in columns))

    @classmethod
    def of_tensor(cls, dtype: str | None, shape: Sequence[int]) -> Schema:
        return cls("tensor", dtype=dtype, shape=tuple(int(d) for d in shape))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def width(self) -> int | None:
        """Number of features a row has, when known (columns, or a 2-D tensor's last dim)."""
        if self.kind == "columns":
            return len(self.columns)
        if len(self.shape) == 2 and self.shape[1] >= 0:
            return self.shape[1]
        return None

    def describe(self) -> str:
        if self.kind == "columns":
            return "columns " + ", ".join(f"{c.name}:{c.dtype or 'any'}" for c in self.columns)
        shape = ", ".join(
            "N" if i == 0 else ("?" if d < 0 else str(d)) for i, d in enumerate(self.shape)
        )
        return f"tensor {self.dtype or 'any'} [{shape}]"

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "columns":
            return {
                "kind": "columns",
                "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns],
            }
        return {"kind": "tensor", "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Schema:
        try:
            if value["kind"] == "columns":
                return cls.of_columns([(c["name"], c.get("dtype")) for c in value["columns"]])
            if value["kind"] == "tensor":
                return cls.of_tensor(value.get("dtype"), value["shape"])
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"signature schema {dict(value)!r} is missing {exc}") from None
        raise InvalidInput(
            f"signature schema kind {value.get('kind')!r} is not 'columns' or 'tensor'",
            field="signature",
        )


@dataclass(frozen=True)
class Signature:
    """Inputs (None: unknown), outputs (None: unknown) and class labels of a classifier."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    classes: tuple[Any, ...] | None = field(default=None)

    @classmethod
    def infer(
        cls, sample: Any, outputs: Any = None, classes: Sequence[Any] | None = None
    ) -> Signature:
        """From a sample batch (DataFrame or array) and, optionally, what the model returned."""
        return cls(
            inputs=schema_of(sample, what="sample"),
            outputs=None if outputs is None else schema_of(outputs, what="outputs"),
            classes=None if classes is None else tuple(_plain(c) for c in classes),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": None if self.inputs is None else self.inputs.to_dict(),
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
            "classes": None if self.classes is None else list(self.classes),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> Signature:
        if not value:
            return cls()
        if not isinstance(value, Mapping):
            raise InvalidInput(
                "signature must be a mapping with 'inputs' and 'outputs', not "
                f"{type(value).__name__}",
                field="signature",
            )
        inputs, outputs, classes = value.get("inputs"), value.get("outputs"), value.get("classes")
        return cls(
            inputs=None if inputs is None else Schema.from_dict(inputs),
            outputs=None if outputs is None else Schema.from_dict(outputs),
            classes=None if classes is None else tuple(classes),
        )

    def validate(self, batch: Any) -> Any:
        """Check a request batch against the inputs; return it ready for ``predict``.

        Columns are put in the signature's order when they arrive in another one (sklearn
        refuses reordered columns). Raises InvalidInput whose ``field`` names the column.
        """
        schema = self.inputs
        if schema is None:
            return batch
        if schema.kind == "columns":
            return _validate_columns(schema, batch)
        return _validate_tensor(schema, batch)


def schema_of(value: Any, *, what: str) -> Schema:
    """The schema of one batch: a DataFrame's columns, or an array's dtype and shape."""
    columns = getattr(value, "columns", None)
    dtypes = getattr(value, "dtypes", None)
    if columns is not None and dtypes is not None:
        return Schema.of_columns([(str(n), str(d)) for n, d in zip(columns, dtypes, strict=True)])
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.ndim == 0:
        raise InvalidInput(
            f"{what} is a single value; give a batch (one row per instance)", field=what
        )
    dtype = "object" if array.dtype.kind in "OUS" else str(array.dtype)
    return Schema.of_tensor(dtype, (-1, *array.shape[1:]))


def _validate_columns(schema: Schema, batch: Any) -> Any:
    names = schema.names
    got = getattr(batch, "columns", None)
    if got is None:
        raise InvalidInput(
            f"the model takes named columns ({', '.join(names)}); send records with those keys",
            field="inputs",
        )
    got_list = [str(c) for c in got]
    dtypes = dict(zip(got_list, batch.dtypes, strict=True))
    for col in schema.columns:
        actual = dtypes.get(col.name)
        if actual is None:
            raise InvalidInput(
                f"column {col.name!r} is missing; the model takes {', '.join(names)}",
                field=col.name,
            )
        if not compatible(col.dtype, actual):
            raise InvalidInput(
                f"column {col.name!r} has dtype {actual}, the model takes {col.dtype}",
                field=col.name,
            )
    if len(dtypes) != len(names):
        wanted = set(names)
        extra = next(c for c in got_list if c not in wanted)
        raise InvalidInput(
            f"unexpected column {extra!r}; the model takes {', '.join(names)}", field=extra
        )
    return batch if got_list == names else batch[names]


def _validate_tensor(schema: Schema, batch: Any) -> Any:
    if getattr(batch, "columns", None) is not None:
        batch = batch.to_numpy()
    array = batch if isinstance(batch, np.ndarray) else np.asarray(batch)
    if array.ndim != len(schema.shape):
        raise InvalidInput(
            f"inputs have {array.ndim} dimension(s) {list(array.shape)}, the model takes "
            f"{schema.describe()}",
            field="inputs",
        )
    for axis, (want, have) in enumerate(zip(schema.shape, array.shape, strict=True)):
        if axis > 0 and want >= 0 and want != have:
            raise InvalidInput(
                f"inputs have size {have} on axis {axis}, the model takes {schema.describe()}",
                field="inputs",
            )
    if not compatible(schema.dtype, array.dtype):
        raise InvalidInput(
            f"inputs have dtype {array.dtype}, the model takes {schema.dtype}", field="inputs"
        )
    return array


def _plain(value: Any) -> Any:
    """numpy scalars to JSON-able Python values (class labels are often np.int64)."""
    return value.item() if hasattr(value, "item") else value
