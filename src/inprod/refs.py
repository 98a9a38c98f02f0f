"""References to versioned things: ``NAME``, ``NAME@3``, ``NAME@champion``, ``NAME@latest``.

One parser for datasets and models, so the same spelling works everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput


@dataclass(frozen=True)
class Ref:
    name: str
    version: int | None = None  # NAME@3
    alias: str | None = None  # NAME@champion; "latest" is an alias every name has

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str, *, what: str = "reference") -> Ref:
    """Split ``NAME[@VERSION|@ALIAS]``; a bare NAME or NAME@latest means the newest version."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(f"empty {what}; use NAME, NAME@VERSION or NAME@ALIAS", field=what)
    name, sep, selector = ref.strip().partition("@")
    if not name or (sep and not selector) or "@" in selector:
        raise InvalidInput(
            f"{what} {ref!r} is not NAME, NAME@VERSION or NAME@ALIAS (e.g. phone-inspector@3)",
            field=what,
        )
    if not sep or selector == "latest":
        return Ref(name)
    if selector.lstrip("v").isdigit():
        version = int(selector.lstrip("v"))
        if version < 1:
            raise InvalidInput(f"{what} {ref!r}: versions start at 1", field=what)
        return Ref(name, version=version)
    return Ref(name, alias=selector)
