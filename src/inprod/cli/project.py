"""``inprod project``: scoping — key metrics with targets, owners, resources, milestones."""

from __future__ import annotations

import typer

from ._output import JSON_OPTION_HELP, console, print_json, print_table

app = typer.Typer(help="Scope a project: key metrics and targets.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Project name, e.g. phone-inspection."),
    metric: list[str] = typer.Option(
        [], "--metric", "-m", help="Key metric with target: 'accuracy>=0.95' (repeatable)."
    ),
    owner: list[str] = typer.Option([], "--owner", help="Owner (repeatable)."),
    milestone: list[str] = typer.Option([], "--milestone", help="'NAME: YYYY-MM-DD' (repeatable)."),
    resource: list[str] = typer.Option([], "--resource", help="'KEY=VALUE' (repeatable)."),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Create a project with its key metrics; they become monitors once it serves."""
    from .. import projects

    info = projects.create(
        name,
        metrics=metric,
        owners=owner,
        milestones=milestone,
        resources=resource,
        description=description,
    )
    if as_json:
        print_json(info.to_dict())
    else:
        console.print(f"created project [bold]{info.name}[/] with {len(info.metrics)} metric(s)")


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Project name."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show a project's targets, owners, resources and milestones."""
    from .. import projects

    info = projects.get(name)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"[bold]{info.name}[/]  {info.description}")
    console.print(f"owners: {', '.join(info.owners) or '-'}   created: {info.created_at[:19]}")
    print_table(
        ["metric", "target", "kind"],
        [(m.name, f"{m.op} {m.target:g}", m.kind) for m in info.metrics],
        title="key metrics",
    )
    if info.milestones:
        print_table(["milestone", "date"], [(m["name"], m["date"]) for m in info.milestones])
    if info.resources:
        print_table(["resource", "value"], sorted(info.resources.items()))


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """List projects."""
    from .. import projects

    items = projects.list_projects()
    if as_json:
        print_json([p.to_dict() for p in items])
        return
    print_table(
        ["project", "metrics", "owners", "next milestone"],
        [
            (
                p.name,
                ", ".join(str(m) for m in p.metrics),
                ", ".join(p.owners),
                min((m["date"] + " " + m["name"] for m in p.milestones), default=""),
            )
            for p in items
        ],
    )
