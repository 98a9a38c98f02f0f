"""Projects: the scoping record — key metrics with targets, owners, resources and milestones.

Metric targets are machine-readable (name, comparison, number, kind) because monitoring turns
them into monitors and deployment gates.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from .errors import Conflict, InvalidInput, NotFound, suggest
from .store import Store, get_store
from .store.tables import Project, utcnow

OPS = (">=", "<=", "==", ">", "<")
METRIC_KINDS = ("ml", "software", "business")
_SOFTWARE_WORDS = ("latency", "qps", "rps", "throughput", "uptime", "error_rate", "memory", "cpu")
_ML_WORDS = ("accuracy", "precision", "recall", "f1", "auc", "loss", "error", "map", "wer")
_METRIC_RE = re.compile(r"^\s*(?:(\w+):)?\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|==|>|<)\s*(\S+)\s*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")


@dataclass(frozen=True)
class MetricTarget:
    """``accuracy >= 0.95``: a key metric and the value it must reach."""

    name: str
    op: str
    target: float
    kind: str

    @classmethod
    def parse(cls, spec: str) -> MetricTarget:
        """Parse ``[kind:]name<op>number``, e.g. ``accuracy>=0.95`` or ``business:cost<=0.1``."""
        match = _METRIC_RE.match(spec)
        if not match:
            raise InvalidInput(
                f"metric {spec!r} is not of the form NAME OP NUMBER; "
                "e.g. 'accuracy>=0.95' or 'latency_p99_ms<=300' (OP is one of >= <= == > <)",
                field="metric",
            )
        kind, name, op, raw = match.groups()
        try:
            target = float(raw)
        except ValueError:
            raise InvalidInput(
                f"metric {spec!r}: target {raw!r} is not a number", field="metric"
            ) from None
        if kind is None:
            kind = infer_metric_kind(name)
        elif kind not in METRIC_KINDS:
            raise InvalidInput(
                f"metric {spec!r}: kind {kind!r} is not one of {', '.join(METRIC_KINDS)}",
                field="metric",
            )
        return cls(name=name, op=op, target=target, kind=kind)

    def holds(self, value: float) -> bool:
        return {
            ">=": value >= self.target,
            "<=": value <= self.target,
            "==": value == self.target,
            ">": value > self.target,
            "<": value < self.target,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.target:g}"


def infer_metric_kind(name: str) -> str:
    lowered = name.lower()
    if any(w in lowered for w in _SOFTWARE_WORDS):
        return "software"
    if any(w in lowered for w in _ML_WORDS):
        return "ml"
    return "business"


def parse_milestone(spec: str) -> dict[str, str]:
    """``"POC: 2026-12-15"`` -> ``{"name": "POC", "date": "2026-12-15"}``."""
    name, sep, when = spec.rpartition(":")
    name, when = name.strip(), when.strip()
    if not sep or not name:
        raise InvalidInput(
            f"milestone {spec!r} is not 'NAME: YYYY-MM-DD', e.g. 'POC: 2026-12-15'",
            field="milestone",
        )
    try:
        date.fromisoformat(when)
    except ValueError:
        raise InvalidInput(
            f"milestone {spec!r}: {when!r} is not a date in YYYY-MM-DD form", field="milestone"
        ) from None
    return {"name": name, "date": when}


def parse_resource(spec: str) -> tuple[str, str]:
    key, sep, value = spec.partition("=")
    if not sep or not key.strip():
        raise InvalidInput(
            f"resource {spec!r} is not KEY=VALUE, e.g. 'labelers=3'", field="resource"
        )
    return key.strip(), value.strip()


def check_name(name: str, what: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise InvalidInput(
            f"{what} name {name!r} is not allowed; use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit (at most 200 characters)",
            field="name",
        )
    return name


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    description: str
    owners: list[str]
    metrics: list[MetricTarget]
    resources: dict[str, str]
    milestones: list[dict[str, str]]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["metrics"] = [asdict(m) for m in self.metrics]
        return out


def _info(row: Project) -> ProjectInfo:
    return ProjectInfo(
        name=row.name,
        description=row.description,
        owners=list(row.owners),
        metrics=[MetricTarget(**m) for m in row.metrics],
        resources=dict(row.resources),
        milestones=list(row.milestones),
        created_at=row.created_at.isoformat(),
    )


def create(
    name: str,
    *,
    metrics: list[str] | None = None,
    owners: list[str] | None = None,
    milestones: list[str] | None = None,
    resources: list[str] | None = None,
    description: str = "",
    store: Store | None = None,
) -> ProjectInfo:
    """Write down a project's scope; every argument is validated before anything is stored."""
    check_name(name, "project")
    targets = [MetricTarget.parse(m) for m in metrics or []]
    seen: set[str] = set()
    for t in targets:
        if t.name in seen:
            raise InvalidInput(f"metric {t.name!r} is given twice; give one target per metric")
        seen.add(t.name)
    stones = [parse_milestone(m) for m in milestones or []]
    res = dict(parse_resource(r) for r in resources or [])
    store = get_store(store)
    with store.session() as s:
        if s.scalar(select(Project.id).where(Project.name == name)) is not None:
            raise Conflict(
                f"project {name!r} already exists; see it with 'inprod project show {name}'"
            )
        row = Project(
            name=name,
            description=description,
            owners=list(owners or []),
            metrics=[asdict(t) for t in targets],
            resources=res,
            milestones=stones,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        s.add(row)
        s.flush()
        return _info(row)


def get(name: str, *, store: Store | None = None) -> ProjectInfo:
    store = get_store(store)
    with store.session(write=False) as s:
        row = s.scalar(select(Project).where(Project.name == name))
        if row is None:
            known = s.scalars(select(Project.name)).all()
            raise NotFound(f"no project {name!r}; {suggest(name, known, what='projects')}")
        return _info(row)


def list_projects(*, store: Store | None = None) -> list[ProjectInfo]:
    store = get_store(store)
    with store.session(write=False) as s:
        return [_info(r) for r in s.scalars(select(Project).order_by(Project.name))]
