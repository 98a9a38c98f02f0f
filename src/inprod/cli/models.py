"""``inprod models``: register, list, show, alias and convert model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._output import JSON_OPTION_HELP, console, fmt_num, print_json, print_table

app = typer.Typer(help="Model registry: versions, aliases, conversion.", no_args_is_help=True)

SAMPLE_ROWS = 100


@app.command("register")
def register(
    name: str = typer.Argument(..., help="Model name, e.g. phone-inspector."),
    path: Path | None = typer.Argument(
        None, help="A .skops, .onnx or .pkl file, or an MLflow model folder."
    ),
    flavor: str | None = typer.Option(
        None, "--flavor", help="sklearn|onnx|mlflow|pickle|python (default: from the path)."
    ),
    callable_ref: str | None = typer.Option(
        None, "--callable", help="MODULE:FUNCTION for the python flavor."
    ),
    run: str | None = typer.Option(None, "--run", help="Run id (or its first characters)."),
    trust: list[str] = typer.Option(
        [], "--trust", help="A skops type to trust, e.g. mypkg.MyTransformer (repeatable)."
    ),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Allow pickle files: they run any code they contain."
    ),
    alias: str | None = typer.Option(None, "--alias", help="Point this alias at the new version."),
    sample: Path | None = typer.Option(
        None, "--sample", help="A .csv, .parquet or .npy file of inputs for the signature."
    ),
    tag: list[str] = typer.Option([], "--tag", help="KEY=VALUE (repeatable)."),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Register a new version of NAME from PATH (or --callable); checks that it loads first."""
    from ..registry import models

    with console.status(f"checking and storing {path or callable_ref or name}"):
        info = models.register(
            name,
            path=path,
            flavor=flavor,
            callable_ref=callable_ref,
            run=run,
            trusted=trust,
            allow_pickle=allow_pickle,
            alias=alias,
            sample=None if sample is None else _read_sample(sample),
            tags=_parse_tags(tag),
            description=description,
        )
    if as_json:
        print_json(info.to_dict())
        return
    extra = f" (alias {', '.join(info.aliases)})" if info.aliases else ""
    console.print(f"registered [bold]{info.ref}[/] ({info.flavor}){extra}", highlight=False)


@app.command("list")
def list_(
    name: str | None = typer.Argument(None, help="A model name: list its versions."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List models (latest version, aliases), or the versions of NAME."""
    from ..registry import models

    if name is None:
        items = models.list_models()
        if as_json:
            print_json([m.to_dict() for m in items])
            return
        print_table(
            ["model", "latest", "versions", "flavor", "aliases", "updated"],
            [
                (
                    m.name,
                    m.latest_version,
                    m.versions,
                    m.flavor,
                    ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                    m.updated_at[:19].replace("T", " "),
                )
                for m in items
            ],
        )
        return
    versions = models.list_versions(name)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    print_table(
        ["version", "flavor", "aliases", "run", "metrics", "created", "by"],
        [
            (
                v.version,
                v.flavor,
                ", ".join(v.aliases),
                (v.run_id or "")[:8],
                _metrics_text(v.metrics),
                v.created_at[:19].replace("T", " "),
                v.created_by,
            )
            for v in versions
        ],
        title=name,
    )


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show a version: flavor, signature, metrics, aliases, run and artifact hash."""
    from ..registry import models

    info = models.get(ref)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"[bold]{info.ref}[/]  {info.description}", highlight=False)
    console.print(
        f"flavor: {info.flavor}   aliases: {', '.join(info.aliases) or '-'}   "
        f"run: {info.run_id or '-'}",
        highlight=False,
    )
    console.print(f"artifact: {info.artifact_sha}", highlight=False)
    console.print(f"created: {info.created_at[:19]} by {info.created_by}", highlight=False)
    if info.tags:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(info.tags.items())))
    _print_signature(info.signature)
    if info.metrics:
        print_table(["metric", "value"], [(k, fmt_num(v)) for k, v in sorted(info.metrics.items())])


@app.command("alias")
def alias(
    ref: str = typer.Argument(..., help="The version: NAME@VERSION (or NAME@OTHER_ALIAS)."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="e.g. champion."),
) -> None:
    """Point ALIAS at a version (moves it if it pointed elsewhere; the move is audited)."""
    from ..registry import models

    info = models.set_alias(ref, alias_name)
    console.print(f"{info.name}@{alias_name} → version {info.version}", highlight=False)


@app.command("unalias")
def unalias(
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS"),
) -> None:
    """Remove an alias from a model."""
    from ..registry import models

    models.delete_alias(name, alias_name)
    console.print(f"removed alias {alias_name} from {name}", highlight=False)


@app.command("convert")
def convert(
    ref: str = typer.Argument(..., help="The scikit-learn version to convert."),
    to: str = typer.Option(..., "--to", help="Target format: onnx."),
    trust: list[str] = typer.Option([], "--trust", help="A skops type to trust (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Convert a version to ONNX and register the result as a new version."""
    from ..errors import InvalidInput
    from ..registry import models

    if to.lower() != "onnx":
        raise InvalidInput(f"cannot convert to {to!r}; the supported target is 'onnx'")
    with console.status(f"converting {ref} to ONNX"):
        info = models.convert_to_onnx(ref, trusted=trust)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(
        f"registered [bold]{info.ref}[/] (onnx, converted from {info.tags['converted_from']})",
        highlight=False,
    )


def _print_signature(signature: dict[str, Any]) -> None:
    rows = []
    for part in ("inputs", "outputs"):
        schema = signature.get(part)
        if not schema:
            rows.append((part, "-", "unknown", ""))
        elif schema["kind"] == "columns":
            rows.extend((part, c["name"], c.get("dtype") or "any", "") for c in schema["columns"])
        else:
            shape = ["N" if i == 0 else str(d) for i, d in enumerate(schema["shape"])]
            rows.append((part, "(tensor)", schema.get("dtype") or "any", f"[{', '.join(shape)}]"))
    print_table(["", "name", "dtype", "shape"], rows, title="signature")
    if signature.get("classes") is not None:
        console.print("classes: " + ", ".join(str(c) for c in signature["classes"]))


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={fmt_num(v)}" for k, v in sorted(metrics.items())[:4])


def _parse_tags(tags: list[str]) -> dict[str, str]:
    from ..errors import InvalidInput

    out = {}
    for spec in tags:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"tag {spec!r} is not KEY=VALUE, e.g. 'team=vision'", field="tag")
        out[key.strip()] = value.strip()
    return out


def _read_sample(path: Path) -> Any:
    """The first rows of a sample file; only formats that cannot run code (no pickled .npy)."""
    from ..errors import InvalidInput, NotFound

    if not path.is_file():
        raise NotFound(f"sample file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pandas as pd

            return pd.read_csv(path, nrows=SAMPLE_ROWS)
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(path).head(SAMPLE_ROWS)
        if suffix == ".npy":
            import numpy as np

            return np.load(path, allow_pickle=False)[:SAMPLE_ROWS]
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"cannot read the sample {path}: {exc}") from None
    raise InvalidInput(f"sample {path} is not .csv, .parquet or .npy", field="sample")
