"""The ``inprod`` command line. One module per command group; each imports its heavy libraries
inside the commands so that ``inprod --help`` stays fast."""

from __future__ import annotations

import gc
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import InprodError
from . import analyze as analyze_cmd
from . import automation as automation_cmd
from . import batch as batch_cmd
from . import config as config_cmd
from . import data as data_cmd
from . import db as db_cmd
from . import deploy as deploy_cmd
from . import endpoints as endpoints_cmd
from . import evaluate as evaluate_cmd
from . import hlp as hlp_cmd
from . import labels as labels_cmd
from . import lineage as lineage_cmd
from . import models as models_cmd
from . import monitor as monitor_cmd
from . import monitor_rules as _monitor_rules  # noqa: F401  (adds its commands to monitor)
from . import pipeline as pipeline_cmd
from . import predictions as predictions_cmd
from . import project as project_cmd
from . import quickstart as quickstart_cmd
from . import retrain as retrain_cmd
from . import review as review_cmd
from . import runs as runs_cmd
from . import serve as serve_cmd
from . import tokens as tokens_cmd
from ._output import err_console


class _Root(TyperGroup):
    """Turns every error a user can cause into one line on stderr and exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except InprodError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Root,
    name="inprod",
    help="Run machine learning in production: data, runs, registry, serving, rollout, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(project_cmd.app, name="project")
app.add_typer(data_cmd.app, name="data")
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(models_cmd.app, name="models")
app.add_typer(endpoints_cmd.app, name="endpoints")
app.add_typer(predictions_cmd.app, name="predictions")
app.add_typer(tokens_cmd.app, name="tokens")
app.add_typer(deploy_cmd.app, name="deploy")
app.add_typer(automation_cmd.app, name="automation")
app.add_typer(review_cmd.app, name="review")
app.add_typer(monitor_cmd.app, name="monitor")
app.add_typer(pipeline_cmd.app, name="pipeline")
app.add_typer(analyze_cmd.app, name="analyze")
app.add_typer(labels_cmd.app, name="labels")
app.add_typer(retrain_cmd.app, name="retrain")
app.command("hlp")(hlp_cmd.hlp)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("rollback")(deploy_cmd.rollback)
app.command("serve")(serve_cmd.serve)
app.command("lineage")(lineage_cmd.lineage)
app.command("quickstart")(quickstart_cmd.quickstart)
app.command("batch")(batch_cmd.batch)


def main() -> None:
    try:
        app(prog_name="inprod", args=sys.argv[1:])
    finally:
        # The interpreter's last garbage collection walks every SQLAlchemy and pandas object a
        # command created (~0.15 s) only to free memory the OS takes back anyway; freezing skips
        # that walk. atexit hooks (flushing open runs) still run.
        gc.freeze()
