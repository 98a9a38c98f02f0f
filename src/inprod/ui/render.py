"""Pages from Jinja2 templates: one environment, the viewer and CSRF token in every page, and the
filters every page formats numbers and times with."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .session import viewer_of

TEMPLATES = Path(__file__).parent / "templates"
T = TypeVar("T")


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails its test, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_num, pct=fmt_pct, ms=fmt_ms, when=fmt_when, ago=fmt_ago)
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` with ``context``, the viewer (``viewer``), the page's path (``path``) and the
    CSRF token (``csrf``). The viewer must be resolvable (pages check their role first)."""
    viewer = viewer_of(request)
    html = (
        environment()
        .get_template(template)
        .render(viewer=viewer, csrf=viewer.csrf, path=request.url.path, **context)
    )
    return HTMLResponse(html, status_code=status)


def render_bare(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page for someone not logged in (the login form, its errors)."""
    html = environment().get_template(template).render(viewer=None, csrf="", path="", **context)
    return HTMLResponse(html, status_code=status)


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Store reads run in a worker thread so a page never stalls the prediction server's loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def fmt_num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number:
        return "–"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * float(value):.{digits}f}%"


def fmt_ms(value: Any) -> str:
    if value is None:
        return "–"
    ms = float(value)
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def _aware(value: datetime | str) -> datetime:
    """Stored times are UTC; SQLite gives them back naive."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fmt_when(value: datetime | str | None) -> str:
    """UTC, to the second: every replica and every reader sees the same time."""
    if value is None:
        return "–"
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_ago(value: datetime | str | None, now: datetime | None = None) -> str:
    if value is None:
        return "–"
    seconds = ((now or datetime.now(UTC)) - _aware(value)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{max(seconds, 0):.0f} s ago"
