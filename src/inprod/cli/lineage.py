"""``inprod lineage REF``: model version -> run -> dataset versions -> parents -> sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ._output import JSON_OPTION_HELP, console, fmt_num, print_json

if TYPE_CHECKING:
    from ..registry.lineage import LineageNode

MAX_METRICS_SHOWN = 4


def lineage(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS"),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Print model version -> run -> datasets -> sources."""
    from ..registry.lineage import lineage as lineage_of

    node = lineage_of(ref)
    if as_json:
        print_json(node.to_dict())
        return
    print_lineage(node)


def print_lineage(node: LineageNode) -> None:
    """The lineage as a Rich tree, one line per node."""
    from rich.tree import Tree

    tree = Tree(_line(node))
    _add_children(tree, node)
    console.print(tree)


def _add_children(tree: Any, node: LineageNode) -> None:
    for child in node.children:
        _add_children(tree.add(_line(child)), child)


def _line(node: LineageNode) -> str:
    from rich.markup import escape

    d = node.details
    if node.kind == "model_version":
        aliases = f"; {', '.join(d['aliases'])}" if d.get("aliases") else ""
        return f"[bold]model[/] {escape(node.label)} ({d.get('flavor')}{aliases})"
    if node.kind == "run":
        metrics = ", ".join(
            f"{escape(k)}={fmt_num(v)}"
            for k, v in sorted(d.get("metrics", {}).items())[:MAX_METRICS_SHOWN]
        )
        return (
            f"[bold]run[/] {escape(node.label)} {d.get('status')}; "
            f"code {_code(d.get('code_version'))}" + (f"; {metrics}" if metrics else "")
        )
    if node.kind == "dataset_version":
        if d.get("missing"):
            return f"[bold]dataset[/] {escape(node.label)} [red](missing)[/]"
        flags = " [yellow](cycle)[/]" if d.get("cycle") else ""
        return (
            f"[bold]dataset[/] {escape(node.label)} {d.get('rows')} rows; "
            f"hash {str(d.get('content_hash'))[:12]}{flags}"
        )
    transform = d.get("transform")
    return f"[bold]source[/] {escape(node.label)}" + (
        f" [dim]({escape(transform)})[/]" if transform else ""
    )


def _code(version: dict[str, Any] | None) -> str:
    if not version or not version.get("sha"):
        return "unknown"
    return str(version["sha"])[:12] + (" (dirty)" if version.get("dirty") else "")
