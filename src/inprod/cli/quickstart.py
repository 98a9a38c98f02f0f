"""``inprod quickstart``: the phone-inspection story on the embedded store."""

from __future__ import annotations

from pathlib import Path

import typer

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
) -> None:
    """Run the phone-inspection story: scope, data, a tracked run, a champion, then serve it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..quickstart.story import MODEL, run_story
    from ..registry.lineage import lineage
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
    worst = sorted(result.slice_accuracy.items(), key=lambda kv: kv[1])[:3]
    console.print("weakest slices: " + ", ".join(f"{k} {v:.3f}" for k, v in worst))
    console.print()
    print_lineage(lineage(f"{MODEL}@champion"))
    console.print()
    if requests > 0 or serve:
        _serve_part(requests=requests, port=port, seed=seed, keep_serving=serve)
    console.print("[bold]Try next:[/]")
    for cmd in (
        "inprod project show phone-inspection",
        f"inprod data show {result.dataset_ref}",
        f"inprod runs show {result.run_id[:8]}",
        "inprod models show phone-inspector@champion",
        "inprod lineage phone-inspector@champion --json",
        "inprod predictions tail phone-inspector",
        "inprod serve   # then POST /v1/endpoints/phone-inspector/predict",
    ):
        console.print(f"  {cmd}")


def _serve_part(*, requests: int, port: int, seed: int, keep_serving: bool) -> None:
    """Serve the champion in the background, send the camera station's requests, summarize."""
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
        latencies, errors, feedback, agree = [], 0, 0, 0
        if requests:
            with Progress(
                TextColumn("sending requests"), BarColumn(), MofNCompleteColumn(), console=console
            ) as bar:
                task = bar.add_task("requests", total=requests)
                latencies, errors, feedback, agree = live.send_traffic(
                    url,
                    requests=requests,
                    seed=seed,
                    progress=lambda n: bar.advance(task, n),
                )
        if not keep_serving:
            stop()  # graceful: the prediction log is flushed before this returns
        else:
            time.sleep(1.5)  # let the log writer flush once
        logged = predictions.count(live.ENDPOINT, store=store) - before
        if requests:
            s = live.summarize(url, latencies, errors, feedback, agree, logged)
            console.print(
                f"[green]•[/] {s.requests} requests: p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms, "
                f"{s.errors} errors; agreement with the inspectors {s.agreement:.3f}; "
                f"{s.feedback} labels sent back as feedback; {s.logged} predictions logged"
            )
        if keep_serving:
            console.print(
                f"serving at [bold]{url}[/] — try: curl {url}/readyz ; Ctrl-C to stop",
                soft_wrap=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopping")
    console.print()
