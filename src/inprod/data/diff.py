"""What changed between two dataset versions: columns, types, row count, summary statistics and
categories — read from the stored schemas and profiles, so a diff never reads the data again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .schema import columns_of

# Statistics compared per column kind; "a.b" reaches into a nested profile entry.
STATS: dict[str, tuple[str, ...]] = {
    "numeric": ("mean", "std", "null_fraction", "min", "max"),
    "boolean": ("mean", "null_fraction"),
    "string": ("null_fraction", "distinct"),
    "temporal": ("min", "max", "null_fraction"),
    "image": ("brightness.mean", "brightness.std", "contrast.mean", "width.mean", "height.mean"),
    "other": ("null_fraction",),
}


class _Version(Protocol):
    ref: str
    content_hash: str
    row_count: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    label_columns: list[str]
    metadata_columns: list[str]
    image_column: str | None


@dataclass(frozen=True)
class TypeChange:
    column: str
    a: str
    b: str


@dataclass(frozen=True)
class StatChange:
    """One summary statistic of one column that differs; ``change`` is b - a for numbers."""

    column: str
    stat: str
    a: Any
    b: Any

    @property
    def change(self) -> float | None:
        if _is_number(self.a) and _is_number(self.b):
            return self.b - self.a
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "change": self.change}


@dataclass(frozen=True)
class RoleChange:
    """A column declared differently: ``label``, ``metadata``, ``image`` or None (plain)."""

    column: str
    a: str | None
    b: str | None


@dataclass(frozen=True)
class CategoryChange:
    column: str
    added: list[Any]
    removed: list[Any]


@dataclass(frozen=True)
class DatasetDiff:
    """Differences from version ``a`` to version ``b`` (added means: in b, not in a)."""

    a: str
    b: str
    same_content: bool
    row_count_a: int
    row_count_b: int
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    type_changes: list[TypeChange] = field(default_factory=list)
    stat_changes: list[StatChange] = field(default_factory=list)
    category_changes: list[CategoryChange] = field(default_factory=list)
    role_changes: list[RoleChange] = field(default_factory=list)

    @property
    def row_count_change(self) -> int:
        return self.row_count_b - self.row_count_a

    @property
    def changed(self) -> bool:
        return bool(
            self.row_count_change
            or self.columns_added
            or self.columns_removed
            or self.type_changes
            or self.stat_changes
            or self.category_changes
            or self.role_changes
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["row_count_change"] = self.row_count_change
        out["changed"] = self.changed
        out["stat_changes"] = [s.to_dict() for s in self.stat_changes]
        return out


def compare(a: _Version, b: _Version) -> DatasetDiff:
    cols_a, cols_b = columns_of(a.schema), columns_of(b.schema)
    roles_a, roles_b = _roles(a), _roles(b)
    stats_a = a.profile.get("columns", {})
    stats_b = b.profile.get("columns", {})
    types: list[TypeChange] = []
    stats: list[StatChange] = []
    categories: list[CategoryChange] = []
    for name, entry_b in cols_b.items():
        entry_a = cols_a.get(name)
        if entry_a is None:
            continue
        if entry_a["type"] != entry_b["type"]:
            types.append(TypeChange(name, entry_a["type"], entry_b["type"]))
        keys = dict.fromkeys(STATS.get(entry_a["kind"], ()) + STATS.get(entry_b["kind"], ()))
        for key in keys:
            va, vb = _lookup(stats_a.get(name, {}), key), _lookup(stats_b.get(name, {}), key)
            if va != vb:
                stats.append(StatChange(name, key, va, vb))
        cats_a, cats_b = entry_a.get("categories"), entry_b.get("categories")
        if cats_a is not None and cats_b is not None:
            added = [c for c in cats_b if c not in cats_a]
            removed = [c for c in cats_a if c not in cats_b]
            if added or removed:
                categories.append(CategoryChange(name, added, removed))
    return DatasetDiff(
        a=a.ref,
        b=b.ref,
        same_content=a.content_hash == b.content_hash,
        row_count_a=a.row_count,
        row_count_b=b.row_count,
        columns_added=[c for c in cols_b if c not in cols_a],
        columns_removed=[c for c in cols_a if c not in cols_b],
        type_changes=types,
        stat_changes=stats,
        category_changes=categories,
        role_changes=[
            RoleChange(c, roles_a.get(c), roles_b.get(c))
            for c in dict.fromkeys([*cols_a, *cols_b])
            if c in cols_a and c in cols_b and roles_a.get(c) != roles_b.get(c)
        ],
    )


def _roles(v: _Version) -> dict[str, str]:
    roles = {c: "label" for c in v.label_columns}
    roles.update({c: "metadata" for c in v.metadata_columns})
    if v.image_column:
        roles[v.image_column] = "image"
    return roles


def _lookup(stats: dict[str, Any], key: str) -> Any:
    value: Any = stats
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
