"""Column types and roles: the part of a dataset's description that code may rely on.

Type names are normalised (``string`` for Arrow's string, large_string and string dictionaries;
``float64`` for double; ``timestamp`` whatever the unit) so that the same data read from CSV or
from Parquet has the same schema, and a diff reports only real type changes.

A schema is ``{"columns": [entry, ...], "image_column": name | None}`` — a list, because
PostgreSQL's JSONB does not keep the order of object keys. Each entry holds ``name``, ``type``,
``kind`` (numeric | boolean | string | temporal | image | other), ``nullable``, ``null_count``,
``min``/``max`` for numbers and times, ``categories`` (at most 50 distinct values) for strings,
booleans and integer label/metadata columns, and ``role`` (label | metadata | image) when declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, suggest

if TYPE_CHECKING:
    import pyarrow as pa

MAX_CATEGORIES = 50
ROLES = ("label", "metadata", "image")
_FLOAT_NAMES = {"halffloat": "float16", "float": "float32", "double": "float64"}


def type_name(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        return type_name(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is_view(t, "string"):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or _is_view(t, "binary"):
        return "binary"
    if pa.types.is_timestamp(t):
        return f"timestamp[tz={t.tz}]" if t.tz else "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_boolean(t):
        return "bool"
    return _FLOAT_NAMES.get(str(t), str(t))


def _is_view(t: pa.DataType, kind: str) -> bool:
    import pyarrow as pa

    check = getattr(pa.types, f"is_{kind}_view", None)
    return bool(check and check(t))


def column_kind(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if type_name(t) == "string":
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return "temporal"
    return "other"


def declare_roles(
    columns: Sequence[str],
    *,
    labels: Sequence[str],
    metadata: Sequence[str],
    image: str | None,
    source: str,
) -> dict[str, str]:
    """``{column: role}`` after checking each declared column exists and has one role only."""
    roles: dict[str, str] = {}
    options = (("label", "--label", labels), ("metadata", "--meta", metadata))
    for role, option, names in options:
        for name in names:
            check_column(name, columns, option=option, source=source)
            if roles.get(name, role) != role:
                raise InvalidInput(
                    f"column {name!r} is declared both as {roles[name]} and as {role}; "
                    "give each column one role",
                    field=role,
                )
            roles[name] = role
    if image is not None:
        if image in roles:
            raise InvalidInput(
                f"column {image!r} is the image column and cannot also be a {roles[image]} column",
                field="image_column",
            )
        roles[image] = "image"
    return roles


def check_column(name: str, columns: Sequence[str], *, option: str, source: str) -> None:
    if name not in columns:
        hint = suggest(name, columns, what="columns")
        shown = ", ".join(repr(c) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
        raise InvalidInput(
            f"{option} {name!r}: {source} has no such column ({hint}); its columns are {shown}",
            field=option.lstrip("-"),
        )


def columns_of(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Schema entries by column name (in the schema's order)."""
    return {entry["name"]: entry for entry in schema.get("columns", [])}
