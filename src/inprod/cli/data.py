"""``inprod data``: add tables and image folders as immutable, profiled versions; list, show and
diff them; split, validate and augment them (each result a new version with its provenance)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ._output import (
    JSON_OPTION_HELP,
    console,
    fmt_num,
    fmt_time,
    print_json,
    print_table,
    progress_bar,
)

if TYPE_CHECKING:
    from ..data.datasets import DatasetVersionInfo
    from ..data.split import SplitReport
    from ..data.validate import ValidationReport

app = typer.Typer(
    help="Datasets: add immutable, profiled versions of tables and image folders; compare them.",
    no_args_is_help=True,
)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Dataset name, e.g. phone-images."),
    path: str = typer.Argument(
        ..., help="A .csv or .parquet file, an image manifest, or a folder with manifest.csv."
    ),
    label: list[str] = typer.Option([], "--label", help="Label column (repeatable)."),
    meta: list[str] = typer.Option(
        [], "--meta", help="Metadata column kept for slicing: factory, camera, ... (repeatable)."
    ),
    image_column: str | None = typer.Option(
        None,
        "--image-column",
        help="Manifest column listing image files (default: image/path/file).",
    ),
    parent: list[str] = typer.Option(
        [], "--parent", help="Dataset this one was made from, e.g. raw-images@2 (repeatable)."
    ),
    transform: str = typer.Option("", "--transform", help="How it was made from its parents."),
    source: str | None = typer.Option(None, "--source", help="Where it came from (default: PATH)."),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Add a version: hash and store the bytes, infer the schema, profile every column.

    Adding content that is already stored returns that version instead of a copy.
    """
    from ..data import datasets

    with progress_bar() as progress:
        info = datasets.add(
            name,
            path,
            label_columns=label,
            metadata_columns=meta,
            image_column=image_column,
            parents=parent,
            transform=transform,
            source=source,
            description=description,
            progress=progress,
        )
    if as_json:
        print_json(info.to_dict())
    elif info.created:
        console.print(
            f"added [bold]{escape(info.ref)}[/]: {info.row_count:,} rows, "
            f"{len(info.columns)} columns, {info.kind} ({info.format}), "
            f"{_size(info.size_bytes)}, hash {info.content_hash[:12]}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"already stored as [bold]{escape(info.ref)}[/] (same content, hash "
            f"{info.content_hash[:12]}); nothing added",
            highlight=False,
            soft_wrap=True,
        )


@app.command("list")
def list_(
    name: str | None = typer.Argument(None, help="A dataset name to list its versions."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List datasets with their latest version, or the versions of one dataset."""
    from ..data import datasets

    if name is not None:
        versions = datasets.list_versions(name)
        if as_json:
            print_json([_summary(v) for v in versions])
            return
        print_table(
            ["version", "kind", "rows", "hash", "parents", "created", "by"],
            [
                (
                    escape(v.ref),
                    v.kind,
                    f"{v.row_count:,}",
                    v.content_hash[:12],
                    escape(", ".join(v.parents)),
                    fmt_time(v.created_at),
                    escape(v.created_by),
                )
                for v in versions
            ],
        )
        return
    items = datasets.list_datasets()
    if as_json:
        print_json([d.to_dict() for d in items])
        return
    print_table(
        ["dataset", "latest", "kind", "rows", "versions", "updated"],
        [
            (
                escape(d.name),
                escape(d.latest.ref),
                d.latest.kind,
                f"{d.latest.row_count:,}",
                d.versions,
                fmt_time(d.latest.created_at),
            )
            for d in items
        ],
    )


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@latest."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show a version's schema, profile and provenance."""
    from ..data import datasets

    info = datasets.get(ref)
    if as_json:
        print_json(info.to_dict())
        return
    _print_provenance(info)
    _print_schema(info)
    _print_profile(info)


@app.command("diff")
def diff(
    ref_a: str = typer.Argument(..., help="The older version, e.g. phone-images@1."),
    ref_b: str = typer.Argument(..., help="The newer version, e.g. phone-images@2."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Compare two versions: columns, types, row count, summary statistics, categories."""
    from ..data import datasets

    d = datasets.diff(ref_a, ref_b)
    if as_json:
        print_json(d.to_dict())
        return
    console.print(
        f"[bold]{escape(d.a)}[/] -> [bold]{escape(d.b)}[/]: rows {d.row_count_a:,} -> "
        f"{d.row_count_b:,} ({d.row_count_change:+,})",
        highlight=False,
    )
    if d.same_content:
        console.print("same content")
    if not d.changed:
        console.print("no differences in schema or summary statistics")
        return
    if d.columns_added:
        console.print("columns added: " + escape(", ".join(d.columns_added)), highlight=False)
    if d.columns_removed:
        console.print("columns removed: " + escape(", ".join(d.columns_removed)), highlight=False)
    if d.role_changes:
        print_table(
            ["column", "role in a", "role in b"],
            [(escape(r.column), r.a or "-", r.b or "-") for r in d.role_changes],
            title="declared roles that changed",
        )
    if d.type_changes:
        print_table(
            ["column", "type in a", "type in b"],
            [(escape(t.column), t.a, t.b) for t in d.type_changes],
            title="type changes",
        )
    if d.stat_changes:
        print_table(
            ["column", "statistic", "a", "b", "change"],
            [
                (escape(c.column), c.stat, _cell(c.a), _cell(c.b), _cell(c.change))
                for c in d.stat_changes
            ],
            title="statistics",
        )
    if d.category_changes:
        print_table(
            ["column", "added", "removed"],
            [(escape(c.column), _cell(c.added), _cell(c.removed)) for c in d.category_changes],
            title="categories",
        )


@app.command("split")
def split(
    dataset: str = typer.Argument(..., help="The version to split, e.g. phone-images@2."),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Columns to stratify on, comma-separated, e.g. label,factory (default: the labels).",
    ),
    ratios: str = typer.Option("0.7,0.15,0.15", "--ratios", help="Share of rows per split."),
    names: str = typer.Option("train,dev,test", "--names", help="Split names, one per ratio."),
    group: str | None = typer.Option(
        None, "--group", help="Rows sharing this column's value stay in one split (phone_id)."
    ),
    seed: int = typer.Option(0, "--seed", help="Same data, options and seed: same splits."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Split into stratified, group-aware, balanced versions NAME-train, NAME-dev, NAME-test.

    Every class and slice of --by keeps its overall share in every split (within 2 points where
    the counts allow); rows of one --group value, or naming one image, never land in two.
    """
    from ..data.split import split as run_split

    with progress_bar() as progress:
        report = run_split(
            dataset,
            by=_list(by, "--by") if by is not None else None,
            ratios=_ratios(ratios),
            group=group,
            names=_list(names, "--names"),
            seed=seed,
            progress=progress,
        )
    if as_json:
        print_json(report.to_dict())
        return
    _print_split(report)


def _print_split(report: SplitReport) -> None:
    grouped = f", {report.groups:,} groups of {report.group}" if report.group else ""
    console.print(
        f"split [bold]{escape(report.source)}[/] by {escape(', '.join(report.by) or 'nothing')}"
        f"{escape(grouped)}, seed {report.seed}",
        highlight=False,
        soft_wrap=True,
    )
    print_table(
        ["split", "version", "rows", "share", "asked"],
        [
            (
                escape(p.name),
                _stored(p.dataset),
                f"{p.rows:,}",
                f"{p.share:.1%}",
                f"{p.ratio:.1%}",
            )
            for p in report.parts
        ],
    )
    names = [p.name for p in report.parts]
    print_table(
        ["column", "value", "overall", *names, "largest gap"],
        [
            (
                escape(b.column),
                escape(b.value),
                f"{b.overall:.1%}",
                *(f"{b.shares[n]:.1%} ({b.counts[n]:,})" for n in names),
                f"{100 * b.deviation:.1f} points",
            )
            for b in report.balance
        ],
        title="class and slice balance",
    )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def _stored(info: DatasetVersionInfo | None) -> str:
    if info is None:
        return ""
    return escape(info.ref) + ("" if info.created else " (already stored)")


@app.command("validate")
def validate(
    dataset: str | None = typer.Argument(
        None,
        help="The version to check, e.g. phone-images@3; with --endpoint, the training data "
        "to compare the traffic with (default: the served model's).",
    ),
    against: str | None = typer.Option(
        None, "--against", help="The version to compare with (default: the one before)."
    ),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Check this endpoint's logged inputs instead: serving skew."
    ),
    since: str = typer.Option("24h", "--since", help="With --endpoint: ISO time or 24h, 7d."),
    until: str | None = typer.Option(None, "--until", help="With --endpoint (default: now)."),
    role: str = typer.Option("primary", "--role", help="With --endpoint: whose traffic."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too, not only fails."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Check schema, ranges, missing values, categories and drift; exit 1 when a check fails.

    Compares a version with an earlier one (--against), or an endpoint's logged inputs with
    training data (--endpoint): training/serving skew.
    """
    from ..data import validate as checks
    from ..errors import InvalidInput

    if endpoint is not None:
        if against is not None:
            raise InvalidInput("give --against (two versions) or --endpoint (skew), not both")
        report = checks.serving_skew(dataset, endpoint, since=since, until=until, role=role)
    elif dataset is None:
        raise InvalidInput("name the version to check, e.g. phone-images@3, or give --endpoint")
    else:
        report = checks.validate(dataset, against=against)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_validation(report)
    if report.failures or (strict and report.warnings):
        raise typer.Exit(1)


def _print_validation(report: ValidationReport) -> None:
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}
    console.print(
        f"[bold]{escape(report.subject)}[/] ({report.rows:,} rows) against "
        f"[bold]{escape(report.reference)}[/] ({report.reference_rows:,} rows)",
        highlight=False,
        soft_wrap=True,
    )
    print_table(
        ["check", "column", "status", "finding"],
        [
            (
                c.check,
                escape(c.column or ""),
                f"[{colour[c.status]}]{c.status}[/]",
                escape(c.message),
            )
            for c in report.checks
        ],
    )
    if report.note:
        console.print(escape(report.note), highlight=False, soft_wrap=True)
    console.print(
        f"{report.status}: {len(report.failures)} failed, {len(report.warnings)} warning(s)",
        highlight=False,
    )


@app.command("augment")
def augment(
    dataset: str = typer.Argument(..., help="The image version to augment, e.g. phone-images@2."),
    recipe: str = typer.Option(
        "brightness,contrast,noise",
        "--recipe",
        help="Steps applied in order, comma-separated: brightness, contrast, noise, blur, rotate, "
        "flip; a step may give its range, e.g. brightness=0.6..0.9.",
    ),
    only_slice: list[str] = typer.Option(
        [],
        "--only-slice",
        help="Only rows where this holds: factory=B, brightness<0.22, blurry (repeatable: all).",
    ),
    factor: int = typer.Option(2, "--factor", help="The slice's new size as a multiple (2: x2)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same images."),
    name: str | None = typer.Option(
        None, "--name", help="Store as a version of this dataset (default: the same one)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Add augmented copies of a slice's images as a new version, with their provenance."""
    from ..data.augment import augment as run_augment

    with progress_bar() as progress:
        result = run_augment(
            dataset,
            recipe=_list(recipe, "--recipe"),
            only_slice=only_slice,
            factor=factor,
            seed=seed,
            name=name,
            progress=progress,
        )
    if as_json:
        print_json(result.to_dict())
        return
    where = " and ".join(result.only_slice) or "every row"
    steps = ", ".join(result.recipe)
    console.print(
        f"added [bold]{escape(result.dataset.ref)}[/]: {result.added:,} new image(s) from the "
        f"{result.slice_rows:,} rows where {escape(where)} (recipe {escape(steps)}, "
        f"seed {result.seed}); {result.dataset.row_count:,} rows in all",
        highlight=False,
        soft_wrap=True,
    )


def _list(text: str, option: str) -> list[str]:
    from ..errors import InvalidInput

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InvalidInput(f"{option} is empty; give comma-separated values", field=option[2:])
    return items


def _ratios(text: str) -> list[float]:
    from ..errors import InvalidInput

    try:
        return [float(t) for t in _list(text, "--ratios")]
    except ValueError:
        raise InvalidInput(
            f"--ratios {text!r} is not a list of numbers; e.g. --ratios 0.7,0.15,0.15",
            field="ratios",
        ) from None


def _print_provenance(info: DatasetVersionInfo) -> None:
    code = "unknown (not in a git repository)"
    if info.code_sha:
        code = info.code_sha[:12] + (" (dirty)" if info.code_dirty else "")
    lines = [
        f"[bold]{escape(info.ref)}[/]  {info.kind} ({info.format}), {info.row_count:,} rows, "
        f"{_size(info.size_bytes)}",
        f"content hash: {info.content_hash}",
        f"created:      {fmt_time(info.created_at)} by {escape(info.created_by)}",
        f"code:         {code}",
        f"source:       {escape(info.source)}",
    ]
    optional = (
        ("parents", ", ".join(info.parents)),
        ("transform", info.transform),
        ("description", info.description),
        ("labels", ", ".join(info.label_columns)),
        ("metadata", ", ".join(info.metadata_columns)),
    )
    lines += [f"{key + ':':<13} {escape(value)}" for key, value in optional if value]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _print_schema(info: DatasetVersionInfo) -> None:
    rows = []
    for c in info.schema.get("columns", []):
        if c["kind"] == "image":
            extra = f"{_span(c['width_range'])} x {_span(c['height_range'])} px, "
            extra += f"mode {', '.join(c['modes'])}"
        else:
            extra = _categories(c.get("categories"))
        rows.append(
            (
                escape(c["name"]),
                c["type"],
                c.get("role", ""),
                f"{c['null_count']:,}",
                _cell(c.get("min")),
                _cell(c.get("max")),
                escape(extra),
            )
        )
    print_table(
        ["column", "type", "role", "nulls", "min", "max", "categories"], rows, title="schema"
    )


def _print_profile(info: DatasetVersionInfo) -> None:
    kinds = {c["name"]: c["kind"] for c in info.schema.get("columns", [])}
    stats = info.profile.get("columns", {})
    numeric, counted, images = [], [], []
    for name, kind in kinds.items():
        s = stats.get(name, {})
        if kind == "numeric":
            q = s.get("quantiles") or {}
            numeric.append(
                (
                    escape(name),
                    _cell(s.get("mean")),
                    _cell(s.get("std")),
                    *(_cell(q.get(k)) for k in ("p05", "p50", "p95")),
                )
            )
        elif kind in ("string", "boolean"):
            top = ", ".join(f"{v} ({n:,})" for v, n in (s.get("top") or [])[:5])
            counted.append((escape(name), f"{s.get('distinct', 0):,}", escape(top)))
        elif kind == "image":
            b = s.get("brightness", {})
            images.append(
                (
                    escape(name),
                    _cell(b.get("mean")),
                    _cell(b.get("std")),
                    _cell(s.get("contrast", {}).get("mean")),
                    _cell(s.get("distinct")),
                )
            )
    if numeric:
        print_table(["column", "mean", "std", "p05", "p50", "p95"], numeric, title="numbers")
    if counted:
        print_table(["column", "distinct", "most frequent"], counted, title="categories")
    if images:
        print_table(
            ["column", "brightness mean", "brightness std", "contrast mean", "distinct images"],
            images,
            title="images",
        )


def _span(bounds: list[int]) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}-{high}"


def _categories(values: list[Any] | None, shown: int = 8) -> str:
    if not values:
        return ""
    text = ", ".join(str(v) for v in values[:shown])
    return text + (f", ... ({len(values)} in all)" if len(values) > shown else "")


def _summary(v: DatasetVersionInfo) -> dict[str, Any]:
    keys = ("id", "ref", "version", "kind", "format", "row_count", "size_bytes", "content_hash")
    out = {k: getattr(v, k) for k in keys}
    out.update(parents=v.parents, created_by=v.created_by, created_at=v.created_at.isoformat())
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    return escape(fmt_num(value))


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
