"""The public API is what ``inprod.__all__`` promises; each name resolves."""

from __future__ import annotations

import subprocess
import sys

import inprod


def test_all_exports_are_sorted_and_resolve() -> None:
    assert inprod.__all__ == sorted(inprod.__all__)
    assert inprod.__all__ == [
        "ArtifactStore",
        "Client",
        "InprodError",
        "Settings",
        "Store",
        "analysis",
        "datasets",
        "deploy",
        "endpoints",
        "errors",
        "get_store",
        "labels",
        "lineage",
        "load_settings",
        "models",
        "monitoring",
        "projects",
        "retraining",
        "review",
        "runs",
        "start_run",
    ]
    for name in inprod.__all__:
        assert getattr(inprod, name) is not None


def test_importing_inprod_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, inprod, inprod.cli; "
        "heavy = [m for m in ('pandas', 'sklearn', 'sqlalchemy', 'onnxruntime', 'pyarrow') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
