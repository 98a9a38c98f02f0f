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
) -> None:
    """Run the phone-inspection story: scope, data with provenance, a tracked run, a champion."""
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
    console.print("[bold]Try next:[/]")
    for cmd in (
        "inprod project show phone-inspection",
        f"inprod data show {result.dataset_ref}",
        f"inprod runs show {result.run_id[:8]}",
        "inprod models show phone-inspector@champion",
        "inprod lineage phone-inspector@champion --json",
    ):
        console.print(f"  {cmd}")
