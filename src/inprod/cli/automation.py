"""``inprod automation``: how much the model decides alone at an endpoint, and which confidence
threshold would reach a target precision."""

from __future__ import annotations

import typer

from ._output import JSON_OPTION_HELP, console, print_json

app = typer.Typer(
    help="Degrees of automation: human, shadow, assist, partial (with a threshold), full.",
    no_args_is_help=True,
)


@app.command("set")
def set_(
    endpoint: str = typer.Argument(..., help="Endpoint name, e.g. phone-inspector."),
    mode: str = typer.Argument(..., help="human, shadow, assist, partial or full."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Partial: answers with confidence >= this are decisions."
    ),
    audit_rate: float | None = typer.Option(
        None, "--audit-rate", help="Share of model decisions also sent to review (0..1)."
    ),
    review_disagreements: bool | None = typer.Option(
        None,
        "--review-disagreements/--no-review-disagreements",
        help="Send requests where the shadow and the primary disagree to review.",
    ),
    reason: str = typer.Option("", "--reason", help="Why (kept in the plan's history)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Change the degree of automation (audited like any plan change)."""
    from .. import deploy
    from .deploy import APPLIES, automation_text

    plan = deploy.set_automation(
        endpoint,
        mode,
        threshold=threshold,
        audit_rate=audit_rate,
        review_disagreements=review_disagreements,
        reason=reason,
    )
    if as_json:
        print_json(plan.to_dict())
        return
    auto = plan.to_dict()["automation"]
    console.print(
        f"{endpoint}: automation {automation_text(auto)}; {APPLIES}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("show")
def show(
    endpoint: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show the degree of automation and what a client receives in it."""
    from .. import deploy
    from .deploy import automation_text

    auto = deploy.get_plan(endpoint).to_dict()["automation"]
    if as_json:
        print_json({"endpoint": endpoint, **auto})
        return
    console.print(f"{endpoint}: {automation_text(auto)}", highlight=False, soft_wrap=True)
    console.print(f"  {_MEANING[auto['mode']]}", highlight=False, soft_wrap=True)


_MEANING = {
    "human": "the model is not called; every request waits for a person in the review queue",
    "shadow": "the model is called and logged, but a person decides every request",
    "assist": "the model's answer is returned as a suggestion; the person's decision is fed back",
    "partial": "confident answers are decisions; the rest are answered needs_review and queued",
    "full": "the model decides every request",
}


@app.command("suggest")
def suggest(
    endpoint: str = typer.Argument(...),
    target_precision: float = typer.Option(
        ..., "--target-precision", help="Precision the model's own decisions must reach, (0, 1]."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Version whose answers to use (default: the primary)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Propose a partial-automation threshold from logged answers with feedback labels."""
    from rich.table import Table

    from .. import deploy

    result = deploy.suggest_threshold(endpoint, target_precision=target_precision, model=model)
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(
        title=f"{endpoint}: {result.model} on {result.labelled} labelled answer(s)",
        header_style="bold",
    )
    for column in ("threshold", "decided alone", "precision", "answers"):
        table.add_column(column, justify="right")
    for row in result.table:
        table.add_row(
            f"{row.threshold:.4g}",
            f"{row.coverage:.1%}",
            "n/a" if row.precision is None else f"{row.precision:.2%}",
            str(row.covered),
            style="bold green" if row.suggested else None,
        )
    console.print(table)
    if result.threshold is not None:
        console.print(
            f"suggested: --threshold {result.threshold:g} decides {result.coverage:.1%} alone "
            f"at a precision of {result.precision:.2%} (target {result.target_precision:g})",
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"apply it: [bold]{result.command}[/]", highlight=False, soft_wrap=True)
    if result.note:
        console.print(f"note: {result.note}", highlight=False, soft_wrap=True)
