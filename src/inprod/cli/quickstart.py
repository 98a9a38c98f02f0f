"""``inprod quickstart``: the phone-inspection story on the embedded store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ._output import console


def quickstart(
    folder: Path = typer.Option(
        Path("phone-inspection-data"), "--data-dir", help="Where to write the generated images."
    ),
    images: int = typer.Option(1200, "--images", min=100, max=100_000, help="How many images."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed, the same data."),
    requests: int = typer.Option(
        300,
        "--requests",
        min=0,
        max=100_000,
        help="Requests to send to the served model (0: skip).",
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Server port (0: a free one)."),
    serve: bool = typer.Option(
        False, "--serve", help="Keep the server running afterwards (Ctrl-C stops it)."
    ),
    rollout: bool = typer.Option(
        True,
        "--rollout/--no-rollout",
        help="After the requests: shadow and partial automation with the review queue, a "
        "gated canary of a challenger, a rollback.",
    ),
    drift: bool = typer.Option(
        True,
        "--drift/--no-drift",
        help="Then the factory's lighting darkens: brightness and drift monitors fire, with an "
        "HTML report.",
    ),
    report: Path = typer.Option(
        Path("phone-inspector-report.html"), "--report", help="Where to write the report."
    ),
    retrain: bool = typer.Option(
        True,
        "--retrain/--no-retrain",
        help="After the drift: the inspectors' labels retrain the model; gate, canary of v2, "
        "blue-green with a rollback.",
    ),
) -> None:
    """Run the phone-inspection story: scope, data, a tracked run, a champion, then serve it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..quickstart.story import MODEL, run_story
    from ..registry.lineage import lineage
    from .labels import print_agreement_summary
    from .lineage import print_lineage

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("starting", total=None)

        def step(message: str) -> None:
            progress.update(task, description=message)
            progress.console.print(f"[green]•[/] {message}")

        result = run_story(folder, n_images=images, seed=seed, step=step)
        progress.update(task, description="done")

    console.print()
    role = "alias champion" if result.promoted else "champion kept: it was as good or better"
    console.print(
        f"[bold]{result.model_ref}[/] ({role}) — test accuracy "
        f"[bold]{result.accuracy:.3f}[/] (target ≥ 0.95)"
    )
    console.print()
    print_agreement_summary(result.agreement)
    _print_weakest_slice(result.agreement)
    _print_priorities(result.priorities)
    console.print()
    print_lineage(lineage(f"{MODEL}@champion"))
    console.print()
    if requests > 0 or serve:
        _serve_part(
            requests=requests,
            port=port,
            seed=seed,
            keep_serving=serve,
            rollout_dataset=result.dataset_ref if rollout and requests else None,
            drift_report=report if drift and requests else None,
            retrain=retrain and drift and requests > 0,  # it retrains on the drift
        )
    console.print("[bold]Try next:[/]")
    for cmd in (
        "inprod project show phone-inspection",
        f"inprod data show {result.dataset_ref}",
        f"inprod runs show {result.run_id[:8]}",
        f"inprod labels agreement {result.dataset_ref} --labeler-columns "
        "inspector-1,inspector-2,inspector-3 --slice factory=B --html agreement.html",
        f"inprod analyze errors {result.run_id[:8]} --hlp-col inspector-1 --tags dark,blurry",
        "inprod models show phone-inspector@champion",
        "inprod lineage phone-inspector@champion --json",
        "inprod predictions tail phone-inspector",
        "inprod deploy history phone-inspector",
        "inprod review stats --endpoint phone-inspector",
        "inprod monitor list phone-inspector",
        "inprod monitor alerts phone-inspector",
        "inprod retrain list",
        "inprod serve   # then POST /v1/endpoints/phone-inspector/predict",
    ):
        console.print(f"  {cmd}")


def _print_weakest_slice(report: Any) -> None:
    """Name the slice the inspectors agree on least: its fix is a labeling instruction."""
    scored = [s for s in report.slices if s.alpha is not None]
    if not scored:
        return
    worst = min(scored, key=lambda s: s.alpha)
    if report.overall.alpha is not None and worst.alpha < report.overall.alpha - 0.2:
        console.print(
            f"The inspectors agree least on [bold]{escape(worst.name)}[/] (α {worst.alpha:.2f} vs "
            f"{report.overall.alpha:.2f} overall): agree on a labeling instruction for it before "
            "collecting more data.",
            highlight=False,
        )


def _print_priorities(rows: list) -> None:
    """The course's prioritization table: where better data would pay off most."""
    from ._output import print_table

    def pct(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.1f}%"

    print_table(
        ("tag", "accuracy", "HLP (inspector)", "gap", "% of data", "potential"),
        [(r.tag, pct(r.accuracy), pct(r.baseline), pct(r.gap), pct(r.share), pct(r.potential))
         for r in rows],
        title="what to work on: potential improvement = gap to HLP × share of data",
    )  # fmt: skip


def _serve_part(
    *,
    requests: int,
    port: int,
    seed: int,
    keep_serving: bool,
    rollout_dataset: str | None,
    drift_report: Path | None,
    retrain: bool,
) -> None:
    """Serve the champion in the background, send the camera station's requests, summarize;
    then, with ``rollout_dataset``, part 3: automation, review, a canary and a rollback; with
    ``drift_report``, part 4: the lighting drifts and the monitors fire; with ``retrain``,
    part 5: the labels retrain the model, its canary, a blue-green switch and a rollback."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .. import predictions
    from ..quickstart import live
    from ..store import get_store

    store = get_store()
    live.ensure_endpoint(store)
    before = predictions.count(live.ENDPOINT, store=store)
    with live.background_server(store, port or live.free_port()) as (url, stop):
        console.print(f"[green]•[/] serving {live.ENDPOINT} at {url}")
        latencies, errors, feedback, agree, reviewed = [], 0, 0, 0, 0
        if requests:
            with Progress(
                TextColumn("sending requests"), BarColumn(), MofNCompleteColumn(), console=console
            ) as bar:
                task = bar.add_task("requests", total=requests)
                latencies, errors, feedback, agree, reviewed = live.send_traffic(
                    url,
                    requests=requests,
                    seed=seed,
                    progress=lambda n: bar.advance(task, n),
                )
        if requests:
            # the log writer flushes every second; wait for it rather than stop the server
            logged = live.wait_until_logged(store, before + requests) - before
            s = live.summarize(url, latencies, errors, feedback, agree, logged, reviewed)
            review_note = f" ({s.reviewed} sent to review)" if s.reviewed else ""
            console.print(
                f"[green]•[/] {s.requests} requests: p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms, "
                f"{s.errors} errors; agreement with the inspectors {s.agreement:.3f}{review_note}; "
                f"{s.feedback} labels sent back as feedback; {s.logged} predictions logged"
            )
        if rollout_dataset is not None:
            _rollout_part(url, rollout_dataset, seed=seed, store=store)
        if drift_report is not None:
            _drift_part(url, drift_report, seed=seed, store=store)
        if retrain:
            _retrain_part(url, seed=seed, store=store)
        if not keep_serving:
            stop()  # graceful: the prediction log is flushed before this returns
        if keep_serving:
            console.print(
                f"serving at [bold]{url}[/] — the dashboard: [bold]{url}/ui[/] ; try: curl "
                f"{url}/readyz ; Ctrl-C to stop",
                soft_wrap=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopping")
    console.print()


def _rollout_part(url: str, dataset_ref: str, *, seed: int, store: object) -> None:
    from ..quickstart.rollout_story import run_rollout_story

    def say(message: str) -> None:
        console.print(("[green]•[/] " if not message.startswith("  ") else "") + message)

    summary = run_rollout_story(url, dataset_ref=dataset_ref, seed=seed, store=store, say=say)
    outcome = {"promoted": "promoted, then rolled back", "rolled_back": "rolled back by a gate"}
    console.print(
        f"[green]•[/] the inspectors decided {summary.decided} review task(s) in all; the canary "
        f"was {outcome.get(summary.canary_outcome, summary.canary_outcome)}"
    )


def _drift_part(url: str, report: Path, *, seed: int, store: object) -> None:
    from ..quickstart.drift_story import run_drift_story

    def say(message: str) -> None:
        console.print(("[green]•[/] " if not message.startswith("  ") else "") + message)

    summary = run_drift_story(url, seed=seed, store=store, report_path=report, say=say)
    if not summary.alerts:
        console.print("[yellow]•[/] the monitors did not fire in time; see 'inprod monitor list'")
        return
    console.print(
        f"[green]•[/] {len(summary.alerts)} alert(s) {summary.fired_after_s:.0f} s after the "
        f"lamps began to fade; history: inprod monitor alerts --id {summary.alerts[0]['id']}"
    )
    if summary.report:
        console.print(f"[green]•[/] report: [bold]{summary.report}[/]")


def _retrain_part(url: str, *, seed: int, store: object) -> None:
    from ..quickstart.retrain_story import run_retrain_story

    def say(message: str) -> None:
        console.print(("[green]•[/] " if not message.startswith("  ") else "") + message)

    summary = run_retrain_story(url, seed=seed, store=store, say=say)
    if summary.canary_outcome != "promoted":
        console.print(
            f"[yellow]•[/] retraining request {summary.request_id} is {summary.status}"
            f"{f' and its canary {summary.canary_outcome}' if summary.canary_outcome else ''}; "
            f"see 'inprod retrain show {summary.request_id}'"
        )
        return
    console.print(
        f"[green]•[/] retraining request {summary.request_id}: {summary.candidate} serves; dark "
        f"phones {summary.dark_accuracy_before:.1%} → {summary.dark_accuracy_after:.1%}; story: "
        f"inprod retrain show {summary.request_id}"
    )
