"""A labeling instruction as data: the classes, and the spellings that mean one of them.

The course's example is speech transcription, where "Um", "Umm" and "Ummm" are one filler word
written three ways; in the phone story "scratched" and "Scratch" mean "scratch". Writing the
decision down once (a YAML or JSON file next to the labeling guide) makes it repeatable: applying
it makes a new dataset version and a report of every label it changed, and agreement can be
measured after the merge to see how much disagreement was only spelling.

File format (YAML or JSON)::

    classes: [ok, scratch, dent]          # required: the labels allowed after standardizing
    merge:                                # a class and the variants that mean it
      scratch: [scratched, scratches]
    rename:                               # or variant: class, whichever reads better
      dinged: dent
    ignore_case: true                     # "OK" and "ok" are one label (default false)
    instructions: |                       # free text for the labelers, kept with the file
      A scratch is a line on the screen you can see at arm's length.

Labels are compared as text after trimming spaces (``1`` and ``"1"`` are one label).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvalidInput, NotFound
from ..store import Store, get_store
from ._annotations import SHOWN, fit_column, load_version, more, require_column
from .agreement import label_key
from .derive import add_derived
from .versions import DatasetVersionInfo

_KEYS = ("classes", "merge", "rename", "ignore_case", "instructions")


@dataclass(frozen=True)
class Taxonomy:
    """The classes of a labeling instruction and the variants (label text -> class) that mean
    them."""

    classes: tuple[Any, ...]
    variants: Mapping[str, Any] = field(default_factory=dict)
    ignore_case: bool = False
    instructions: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Taxonomy:
        """Read a taxonomy from a .yaml/.yml or .json file (see the module docs for the format)."""
        file = Path(path)
        if not file.is_file():
            raise NotFound(f"taxonomy file not found: {file}; check the path", field="taxonomy")
        import yaml

        try:
            text = file.read_text(encoding="utf-8")
            is_json = file.suffix.lower() == ".json"
            data = json.loads(text) if is_json else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:  # UnicodeDecodeError is a ValueError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInput(
                f"{file} is not a readable taxonomy ({first}); write it as YAML or JSON",
                field="taxonomy",
            ) from None
        return cls.from_dict(data, source=str(file))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "the taxonomy") -> Taxonomy:
        """Check and build a taxonomy from its file's content; errors name what to fix."""
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"{source} must be a mapping with 'classes' (and 'merge', 'rename', "
                "'ignore_case', 'instructions')",
                field="taxonomy",
            )
        unknown = sorted(str(k) for k in data if k not in _KEYS)
        if unknown:
            raise InvalidInput(
                f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}",
                field="taxonomy",
            )
        classes = data.get("classes")
        if not isinstance(classes, list) or not classes:
            raise InvalidInput(f"{source}: 'classes' must be a non-empty list", field="taxonomy")
        ignore_case = data.get("ignore_case", False)
        if not isinstance(ignore_case, bool):
            raise InvalidInput(f"{source}: 'ignore_case' must be true or false", field="taxonomy")
        pairs = list(_pairs(data.get("merge"), source, "merge", reverse=True))
        pairs += _pairs(data.get("rename"), source, "rename", reverse=False)
        taxonomy = cls(
            classes=tuple(classes),
            variants=dict(pairs),
            ignore_case=ignore_case,
            instructions=str(data.get("instructions") or ""),
        )
        taxonomy.check(pairs, source)
        return taxonomy

    def check(self, pairs: list[tuple[str, Any]], source: str) -> None:
        """Every target is a class; no text means two different classes."""
        seen: dict[str, Any] = {}
        for value in self.classes:
            _claim(seen, self._norm(value), value, source)
        shown = ", ".join(label_key(c) for c in self.classes)
        for variant, target in pairs:
            if self._norm(target) not in {self._norm(c) for c in self.classes}:
                raise InvalidInput(
                    f"{source}: {variant!r} maps to {label_key(target)!r}, which is not one of "
                    f"the classes ({shown}); add it to 'classes' or fix the spelling",
                    field="taxonomy",
                )
            _claim(seen, self._norm(variant), target, source)

    def standard(self, value: Any) -> Any | None:
        """The class ``value`` means, or None when the taxonomy does not know it."""
        return self._index.get(self._norm(value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "rename": dict(self.variants),
            "ignore_case": self.ignore_case,
            "instructions": self.instructions,
        }

    @cached_property
    def _index(self) -> dict[str, Any]:
        index = {self._norm(c): c for c in self.classes}
        by_key = {self._norm(c): c for c in self.classes}
        for variant, target in self.variants.items():
            index[self._norm(variant)] = by_key[self._norm(target)]
        return index

    def _norm(self, value: Any) -> str:
        text = label_key(value).strip()
        return text.casefold() if self.ignore_case else text


@dataclass(frozen=True)
class LabelChange:
    """``count`` labels of ``column`` read ``before``; standardized they read ``after`` (None:
    the taxonomy does not know ``before``)."""

    column: str
    before: Any
    after: Any
    count: int


@dataclass(frozen=True)
class StandardizeResult:
    version: DatasetVersionInfo  # the new version, or the given one when nothing changed
    changes: list[LabelChange]
    unknown: list[LabelChange]  # kept as they were (keep_unknown=True)

    @property
    def changed(self) -> int:
        return sum(c.count for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.ref,
            "created": self.version.created,
            "changed": self.changed,
            "changes": [asdict(c) for c in self.changes],
            "unknown": [asdict(c) for c in self.unknown],
        }


def standardize(
    dataset: str,
    taxonomy: Taxonomy,
    *,
    label_columns: Sequence[str] | None = None,
    keep_unknown: bool = False,
    store: Store | None = None,
) -> StandardizeResult:
    """Rewrite the label columns (default: all of the dataset's) to ``taxonomy``'s classes as the
    next version of ``dataset``, and report every change.

    A label the taxonomy does not know is an error naming it (nothing stored) unless
    ``keep_unknown``. When nothing needs changing no version is made: the result names ``dataset``.
    """
    store = get_store(store)
    info, frame = load_version(dataset, store)
    columns = list(label_columns) if label_columns else info.label_columns
    if not columns:
        raise InvalidInput(
            f"{info.ref} declares no label columns; name them with --label-column",
            field="label_columns",
        )
    changes, unknown = [], []
    for column in columns:
        require_column(frame, column, f"label column {column!r}", info.ref)
        counts = frame[column].dropna().map(label_key).value_counts(sort=False)
        for key, count in counts.items():
            after = taxonomy.standard(key)
            entry = LabelChange(column, key, after, int(count))
            if after is None:
                unknown.append(entry)
            elif label_key(after) != key:
                changes.append(entry)
    if unknown and not keep_unknown:
        shown = ", ".join(f"{c.before!r} ({c.count} in {c.column!r})" for c in unknown[:SHOWN])
        raise InvalidInput(
            f"{len(unknown)} label(s) of {info.ref} are not in the taxonomy: {shown}"
            f"{more(unknown)}; add them to its classes or its merge/rename map, or keep them "
            "as they are with --keep-unknown",
            field="taxonomy",
        )
    if not changes:
        return StandardizeResult(info, [], unknown)
    for column in {c.column for c in changes}:
        mapping = {c.before: c.after for c in changes if c.column == column}
        old = frame[column]
        values = [mapping.get(label_key(v), v) if pd.notna(v) else v for v in old]
        frame[column] = fit_column(values, old, column)
    total = sum(c.count for c in changes)
    classes = ", ".join(label_key(c) for c in taxonomy.classes)
    transform = (
        f"labels standardized to a taxonomy of {len(taxonomy.classes)} classes ({classes}): "
        f"{total} labels changed in {', '.join(sorted({c.column for c in changes}))}"
    )
    version = add_derived(info.name, frame, parents=[info.ref], transform=transform, store=store)
    return StandardizeResult(version, changes, unknown)


def _pairs(section: Any, source: str, name: str, *, reverse: bool) -> list[tuple[str, Any]]:
    """(variant, class) pairs from ``merge`` (class: [variants]) or ``rename`` (variant: class)."""
    if section is None:
        return []
    if not isinstance(section, Mapping):
        raise InvalidInput(f"{source}: '{name}' must be a mapping", field="taxonomy")
    if not reverse:
        return [(label_key(variant), target) for variant, target in section.items()]
    pairs = []
    for target, variants in section.items():
        if not isinstance(variants, list):
            raise InvalidInput(
                f"{source}: merge entry {label_key(target)!r} must list its variants, e.g. "
                f"{label_key(target)}: [variant-1, variant-2]",
                field="taxonomy",
            )
        pairs += [(label_key(v), target) for v in variants]
    return pairs


def _claim(seen: dict[str, Any], key: str, target: Any, source: str) -> None:
    if key in seen and label_key(seen[key]) != label_key(target):
        raise InvalidInput(
            f"{source}: {key!r} would mean both {label_key(seen[key])!r} and "
            f"{label_key(target)!r}; keep one",
            field="taxonomy",
        )
    seen[key] = target
