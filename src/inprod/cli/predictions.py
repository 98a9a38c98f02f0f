"""``inprod predictions``: what the server logged."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer

from ._output import JSON_OPTION_HELP, console, err_console, print_json, print_table

app = typer.Typer(help="Look at logged predictions.", no_args_is_help=True)


def _when(value: str | None, option: str) -> datetime | None:
    from datetime import UTC

    from ..errors import InvalidInput

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{option} {value!r} is not an ISO date or time, e.g. 2026-11-25 or 2026-11-25T14:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(records):  # -> table rows
    return [
        (
            r.time.strftime("%H:%M:%S.%f")[:-3],
            r.id[:8],
            r.model_version,
            str((r.outputs or {}).get("output", "")) if isinstance(r.outputs, dict) else "",
            "" if r.confidence is None else f"{r.confidence:.3f}",
            f"{r.latency_ms:.1f}",
            r.status,
        )
        for r in records
    ]


@app.command("tail")
def tail(
    endpoint: str = typer.Argument(..., help="Endpoint name."),
    lines: int = typer.Option(20, "--lines", "-n", min=1, max=10_000),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new predictions."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Print the latest predictions of an endpoint (oldest first)."""
    from .. import endpoints, predictions

    endpoints.get(endpoint)  # NotFound with suggestions
    records = predictions.recent(endpoint, limit=lines)
    columns = ["time", "id", "version", "output", "confidence", "ms", "status"]
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        print_table(columns, _rows(records))
    while follow:
        time.sleep(1.0)
        after = records[-1].time if records else None
        new = predictions.recent(endpoint, limit=1000, after=after)
        if new:
            records = new
            for row in _rows(new):
                console.print("  ".join(row))


@app.command("export")
def export(
    endpoint: str = typer.Argument(..., help="Endpoint name."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    fmt: str = typer.Option("parquet", "--format", help="parquet, csv or jsonl."),
    since: str | None = typer.Option(None, "--since", help="ISO date/time (UTC if no zone)."),
    until: str | None = typer.Option(None, "--until", help="ISO date/time (UTC if no zone)."),
) -> None:
    """Write an endpoint's logged predictions to a file, in time order."""
    from .. import endpoints, predictions

    endpoints.get(endpoint)
    n = predictions.export(
        endpoint, output, format=fmt, since=_when(since, "--since"), until=_when(until, "--until")
    )
    err_console.print(f"wrote {n} prediction(s) to {output}")
