"""The lineage graph (model -> run -> datasets -> sources) drawn as SVG on the server.

A page shows where a model came from without any script: boxes laid out left to right, one column
per step back in time, each parent centred on what it came from, joined by arrows. Every text is
escaped; a long text is wrapped and cut, with the whole of it in the box's tooltip (``<title>``).
A lineage can be wide (a dataset merged from hundreds of versions): past ``MAX_BOXES`` the rest
of a branch is one box that says how many were left out, so the page stays small.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from ..registry.lineage import LineageNode

MAX_BOXES = 120
BOX_W = 240
COL_GAP = 56
ROW_GAP = 14
MARGIN = 8
PAD = 10
LINE_H = 16
TITLE_CHARS = 28  # 13 px bold system-ui in a 220 px line
TEXT_CHARS = 32  # 12 px
MAX_LINES = 3

# kind -> (caption, fill, stroke)
STYLE = {
    "model_version": ("model", "#dde6fb", "#2f5bd3"),
    "run": ("run", "#efe9fd", "#7a5af5"),
    "dataset_version": ("dataset", "#dcf2e4", "#1f8a4c"),
    "source": ("source", "#f1f2f5", "#667085"),
    "more": ("not drawn", "#ffffff", "#a0a8b8"),
}


@dataclass
class _Box:
    kind: str
    title: list[str]
    lines: list[str]
    tooltip: str
    href: str | None
    depth: int
    children: list[_Box] = field(default_factory=list)
    y: float = 0.0

    @property
    def height(self) -> float:
        return 2 * PAD + LINE_H * (1 + len(self.title) + len(self.lines))

    @property
    def x(self) -> float:
        return MARGIN + self.depth * (BOX_W + COL_GAP)


def lineage_svg(root: LineageNode) -> Markup:
    """The tree under ``root`` as an inline ``<svg>`` element, safe to put in a page as is."""
    budget = [MAX_BOXES]
    top = _box(root, 0, budget)
    bottom = _place(top, MARGIN)
    boxes = _flatten(top)
    width = MARGIN * 2 + (max(b.depth for b in boxes) + 1) * (BOX_W + COL_GAP) - COL_GAP
    height = bottom - ROW_GAP + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'width="{width}" height="{height:.0f}" viewBox="0 0 {width} {height:.0f}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12">',
        f"<title>Lineage of {escape(root.label)}</title>",
        '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#7a869a"/></marker></defs>',
    ]
    parts.extend(_arrow(b, c) for b in boxes for c in b.children)
    parts.extend(_draw(b) for b in boxes)
    parts.append("</svg>")
    return Markup("".join(parts))


def _box(node: LineageNode, depth: int, budget: list[int]) -> _Box:
    budget[0] -= 1
    box = _describe(node, depth)
    for i, child in enumerate(node.children):
        if budget[0] <= 0:
            left = sum(len(c.walk()) for c in node.children[i:])
            box.children.append(_more(left, depth + 1))
            break
        box.children.append(_box(child, depth + 1, budget))
    return box


def _describe(node: LineageNode, depth: int) -> _Box:
    """What a box says about each kind of node, and where it links."""
    d: dict[str, Any] = node.details
    lines: list[str]
    href = None
    if node.kind == "model_version":
        lines = [f"{d.get('flavor') or 'unknown'} flavor"]
        if d.get("aliases"):
            lines.append("aliases: " + ", ".join(d["aliases"]))
        href = f"/ui/models/{quote(str(d['name']), safe='')}/{d['version']}"
    elif node.kind == "run":
        lines = [f"{d.get('status')}; code {_code(d.get('code_version'))}"]
        metrics = sorted((d.get("metrics") or {}).items())[:2]
        lines.extend(f"{k} = {v:.4g}" for k, v in metrics)
    elif node.kind == "dataset_version":
        if d.get("missing"):
            lines = ["missing from the store"]
        else:
            lines = [f"{d.get('rows', 0):,} rows", f"hash {str(d.get('content_hash'))[:12]}"]
            if d.get("cycle") or d.get("truncated"):
                lines.append("cycle: not followed" if d.get("cycle") else "too deep: cut here")
    else:
        lines = _wrap(str(d.get("transform") or ""), TEXT_CHARS) if d.get("transform") else []
    title = _wrap(node.label, TITLE_CHARS)
    tooltip = "\n".join([node.label, *_facts(node)])
    return _Box(node.kind, title, lines[:MAX_LINES], tooltip, href, depth)


def _more(count: int, depth: int) -> _Box:
    text = f"{count:,} more node{'s' if count != 1 else ''}"
    return _Box("more", [text], ["see 'inprod lineage'"], text, None, depth)


def _facts(node: LineageNode) -> list[str]:
    d = node.details
    if node.kind == "dataset_version" and not d.get("missing"):
        return [f"hash {d.get('content_hash')}", f"{d.get('rows', 0):,} rows"]
    if node.kind == "run":
        return [f"run id {d.get('id')}", f"project {d.get('project')}"]
    if node.kind == "source" and d.get("transform"):
        return [f"transform: {d['transform']}"]
    return []


def _code(version: dict[str, Any] | None) -> str:
    if not version or not version.get("sha"):
        return "unknown"
    return str(version["sha"])[:10] + (" (dirty)" if version.get("dirty") else "")


def _wrap(text: str, width: int) -> list[str]:
    lines = textwrap.wrap(text, width, break_long_words=True) or [""]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: width - 1] + "…"
    return lines


def _place(box: _Box, top: float) -> float:
    """Lay the subtree out from ``top`` down; each parent centred on its children. Returns the
    y where the next sibling's subtree may start."""
    if not box.children:
        box.y = top
        return top + box.height + ROW_GAP
    cursor = top
    for child in box.children:
        cursor = _place(child, cursor)
    first, last = box.children[0], box.children[-1]
    box.y = max(top, (first.y + last.y + last.height - box.height) / 2)
    return max(cursor, box.y + box.height + ROW_GAP)


def _flatten(box: _Box) -> list[_Box]:
    out = [box]
    for child in box.children:
        out.extend(_flatten(child))
    return out


def _arrow(source: _Box, target: _Box) -> str:
    x1, y1 = source.x + BOX_W, source.y + source.height / 2
    x2, y2 = target.x - 2, target.y + target.height / 2
    bend = COL_GAP / 2
    return (
        f'<path d="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} '
        f'{x2:.0f},{y2:.0f}" fill="none" stroke="#7a869a" stroke-width="1.5" '
        f'marker-end="url(#lineage-arrow)"/>'
    )


def _draw(box: _Box) -> str:
    caption, fill, stroke = STYLE[box.kind]
    x, y = box.x, box.y
    dash = ' stroke-dasharray="4 3"' if box.kind == "more" else ""
    out = [
        f'<g class="node {box.kind}"><title>{escape(box.tooltip)}</title>',
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{box.height:.0f}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>',
    ]
    baseline = y + PAD + 11
    out.append(
        f'<text x="{x + PAD:.0f}" y="{baseline:.0f}" font-size="10" fill="{stroke}" '
        f'letter-spacing="0.6">{escape(caption.upper())}</text>'
    )
    for line in box.title:
        baseline += LINE_H
        out.append(
            f'<text x="{x + PAD:.0f}" y="{baseline:.0f}" font-size="13" font-weight="600" '
            f'fill="#1d2330">{escape(line)}</text>'
        )
    for line in box.lines:
        baseline += LINE_H
        out.append(
            f'<text x="{x + PAD:.0f}" y="{baseline:.0f}" fill="#4a5468">{escape(line)}</text>'
        )
    out.append("</g>")
    group = "".join(out)
    if box.href is None:
        return group
    return f'<a href="{escape(box.href)}">{group}</a>'
