"""inprod: the rest of the ML project lifecycle, as one package.

Public API (everything else is private)::

    import inprod
    inprod.projects.create("phone-inspection", metrics=["accuracy>=0.95"])
    v = inprod.datasets.add("phone-images", "manifest.csv", label_columns=["label"])
    with inprod.start_run(project="phone-inspection", name="baseline") as run:
        run.use_dataset(v)
        ...
        inprod.models.register("phone-inspector", model, run=run, sample=X[:5])
    inprod.lineage("phone-inspector@champion")
    inprod.endpoints.create("phone-inspector", "phone-inspector@champion")
    inprod.deploy.canary("phone-inspector", "phone-inspector@4", steps="5,25,50,100")
    inprod.review.next_task(reviewer="ana")

Names are resolved lazily (PEP 562) so that ``import inprod`` — and with it ``inprod --help`` —
does not import SQLAlchemy, pandas or scikit-learn until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "ArtifactStore": ("inprod.artifacts", "ArtifactStore"),
    "Client": ("inprod.client", "Client"),
    "InprodError": ("inprod.errors", "InprodError"),
    "Settings": ("inprod.config", "Settings"),
    "Store": ("inprod.store", "Store"),
    "analysis": ("inprod.analysis", None),
    "datasets": ("inprod.data.datasets", None),
    "deploy": ("inprod.deploy", None),
    "endpoints": ("inprod.endpoints", None),
    "errors": ("inprod.errors", None),
    "get_store": ("inprod.store", "get_store"),
    "labels": ("inprod.data.labels", None),
    "lineage": ("inprod.registry.lineage", "lineage"),
    "monitoring": ("inprod.monitoring", None),
    "load_settings": ("inprod.config", "load_settings"),
    "models": ("inprod.registry.models", None),
    "projects": ("inprod.projects", None),
    "retraining": ("inprod.retraining", None),
    "review": ("inprod.review", None),
    "runs": ("inprod.tracking.runs", None),
    "start_run": ("inprod.tracking.runs", "start_run"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'inprod' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
