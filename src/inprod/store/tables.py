"""The store's tables (SQLAlchemy 2 declarative). One Alembic migration per change; the test
``tests/store/test_migrations.py`` fails when these and the migrations disagree.

Identifiers: integer keys inside the store; runs use a uuid hex string so that ids stay
unique when runs are copied between stores. Every timestamp is timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; SQLite returns naive datetimes, so make them aware again on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class JSONType(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL; the PostgreSQL dialect is imported only when used,
    which keeps it out of every SQLite-backed CLI command's start-up. Python ``None`` is stored
    as SQL NULL (not JSON ``null``), so ``column.is_(None)`` finds it."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AuditEvent(Base):
    """Who changed what, when and why: alias moves now, plan changes later."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(400), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owners: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # [{"name": "accuracy", "op": ">=", "target": 0.95, "kind": "ml"}, ...]
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # {"gpus": "1", "labelers": "3"}: free-form resources the team has
    resources: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    # [{"name": "POC", "date": "2026-12-15"}, ...]
    milestones: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetVersion(Base):
    """An immutable, content-hashed version; rows never change once written."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "content_hash"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))  # "table" | "images"
    format: Mapped[str] = mapped_column(String(20))  # "csv" | "parquet"
    # artifact hashes: {"data": sha} for tables; {"manifest": sha, "tree": sha} for images
    artifacts: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    row_count: Mapped[int] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    schema: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    label_columns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    metadata_columns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(Text, default="")
    transform: Mapped[str] = mapped_column(Text, default="")
    code_sha: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_dirty: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    description: Mapped[str] = mapped_column(Text, default="")


class DatasetParent(Base):
    __tablename__ = "dataset_parents"
    child_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="RESTRICT"), primary_key=True
    )


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), default="default", index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    code_sha: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_dirty: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # {"python": "3.11.7", "host": ..., "platform": ..., "packages": {"numpy": "2.4.6", ...}}
    environment: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    # latest value of each metric key, kept here so listing runs never scans metric points
    latest_metrics: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunMetric(Base):
    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_run_key_step", "run_id", "key", "step"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunSliceMetric(Base):
    """Metrics per slice (tag or metadata value): the raw material of error analysis."""

    __tablename__ = "run_slice_metrics"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    slice: Mapped[str] = mapped_column(String(250), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class RunDataset(Base):
    __tablename__ = "run_datasets"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="RESTRICT"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(50), primary_key=True, default="train")


class RunArtifact(Base):
    __tablename__ = "run_artifacts"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(500), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelVersion(Base):
    """An immutable trained artifact; aliases point at it, nothing edits it."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    flavor: Mapped[str] = mapped_column(String(50))
    # sha256 of the artifact tree (a manifest of relative path -> file sha256)
    artifact: Mapped[str] = mapped_column(String(64))
    # flavor-specific loading options, e.g. {"trusted": [...], "callable": "pkg.mod:fn"}
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    signature: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Endpoint(Base):
    """The stable name clients call. ``model_ref`` is its primary; ``plan`` and ``state`` are its
    deployment plan (inprod/rollout/plan.py); ``revision`` grows by one with every plan change so
    a replica can tell cheaply whether it is behind."""

    __tablename__ = "endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # "phone-inspector@champion": resolved to a version when the server loads it
    model_ref: Mapped[str] = mapped_column(String(300))
    # {"max_batch_size": 32, "max_wait_ms": 0, "timeout_ms": 5000, "sample_rate": 1.0,
    #  "redact": ["field", ...], "max_instances": 1000}
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    # {"candidate": {...} | null, "previous": {...} | null, "automation": {...}}
    plan: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # stable | shadowing | ramping | paused | promoted | rolled_back | aborted
    state: Mapped[str] = mapped_column(String(20), default="stable")
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Prediction(Base):
    """One logged inference, written in batches by the server's log writer, never inline."""

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_endpoint_time", "endpoint", "time"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    endpoint: Mapped[str] = mapped_column(String(200))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20), default="primary")
    stage: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    inputs: Mapped[Any] = mapped_column(JSONType, nullable=True)  # None when not sampled
    outputs: Mapped[Any] = mapped_column(JSONType, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="ok")
    error_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # a shadow's answer points at the primary prediction it copies (same request, other version)
    primary_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class Feedback(Base):
    """Ground truth or a user event joined to a prediction later; committed before the 2xx."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    prediction_id: Mapped[str] = mapped_column(String(32), index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    label: Mapped[Any] = mapped_column(JSONType, nullable=True)
    event: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ApiToken(Base):
    """A bearer token; only its sha256 is stored, the secret is shown once at creation."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))  # predict | reviewer | operator | admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BatchJob(Base):
    """One batch-scoring job, kept for lineage: which version scored which file, when."""

    __tablename__ = "batch_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    input_path: Mapped[str] = mapped_column(Text)
    output_path: Mapped[str] = mapped_column(Text)
    engine: Mapped[str] = mapped_column(String(20), default="local")  # local | ray
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReviewTask(Base):
    """A prediction waiting for a human: why it was sent, who holds it (with a lease) and the
    decision. Written by the server's log writer with the prediction; the decision is committed
    before the reviewer hears "done"."""

    __tablename__ = "review_tasks"
    __table_args__ = (Index("ix_review_tasks_status_created", "status", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prediction_id: Mapped[str] = mapped_column(String(32), index=True)
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    # low_confidence | disagreement | audit | human | shadow
    reason: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | claimed | decided
    inputs: Mapped[Any] = mapped_column(JSONType, nullable=True)
    outputs: Mapped[Any] = mapped_column(JSONType, nullable=True)  # the model's answer, if any
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision: Mapped[Any] = mapped_column(JSONType, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Annotation(Base):
    """One label given to one example by one labeler; many per example. Agreement and consensus
    derive from these. ``example_id`` is a dataset row key or, for review decisions, the
    prediction id."""

    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dataset: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    example_id: Mapped[str] = mapped_column(String(200), index=True)
    labeler: Mapped[str] = mapped_column(String(200))
    label: Mapped[Any] = mapped_column(JSONType, nullable=True)
    source: Mapped[str] = mapped_column(String(50), default="import")  # import | review
    prediction_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class WindowProfileRow(Base):
    """One replica's window profile (monitoring/profile.py) of one endpoint × version × role ×
    window, as ``WindowProfile.to_dict``. Replicas write their own rows; readers merge them."""

    __tablename__ = "window_profiles"
    __table_args__ = (
        UniqueConstraint(
            "endpoint", "model_name", "model_version", "role", "window_start", "window_s", "replica"
        ),
        Index("ix_window_profiles_endpoint_start", "endpoint", "window_start"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_s: Mapped[int] = mapped_column(Integer)
    replica: Mapped[str] = mapped_column(String(64))
    instances: Mapped[int] = mapped_column(BigInteger, default=0)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Monitor(Base):
    """A rule on one metric of one endpoint (monitoring/monitors.py). Its evaluation state is
    kept on the row so that any replica's evaluator can go on where another stopped."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("endpoint", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(300))
    rule: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(50), default="user")  # user | scoping
    # ok | pending | firing | no_data | error (what the last evaluation found)
    state: Mapped[str] = mapped_column(String(20), default="no_data")
    state_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """One episode of a monitor's rule holding: opened when it fires, resolved when it stops."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_state_started", "state", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    state: Mapped[str] = mapped_column(String(20), default="firing")  # firing|acknowledged|resolved
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AlertEvent(Base):
    """The history of monitors and alerts: fired, resolved, acknowledged, each action's attempts,
    evaluation errors. ``alert_id`` is None for events of a monitor without an open alert."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(50))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ActionRun(Base):
    """One action of one alert; the unique key makes actions idempotent per alert."""

    __tablename__ = "action_runs"
    __table_args__ = (UniqueConstraint("alert_id", "action_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    action_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetrainingPolicy(Base):
    """How an endpoint's model is retrained: the training function, what triggers it, how the
    candidate is judged and shipped (retraining/policies.py)."""

    __tablename__ = "retraining_policies"
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), unique=True)  # one policy an endpoint
    train: Mapped[str] = mapped_column(String(400))  # module:function
    triggers: Mapped[list[str]] = mapped_column(JSONType, default=list)  # alert:NAME, ...
    approve: Mapped[str] = mapped_column(String(20), default="manual")  # manual | auto
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # data, gate, canary
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # what the triggers last saw: the newest label counted, the last scheduled run, alerts seen
    marks: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetrainingRequest(Base):
    """A request to retrain what serves an endpoint; opened by an alert's action, a policy's
    trigger or a person, and run step by step by retraining/runner.py."""

    __tablename__ = "retraining_requests"
    __table_args__ = (UniqueConstraint("active_policy"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    # open | approved | running | awaiting_approval | deployed | failed | cancelled | rejected
    status: Mapped[str] = mapped_column(String(20), default="open")
    reason: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[str] = mapped_column(String(300), default="")  # e.g. alert:12
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    policy_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # the policy's id while the request is not finished, else NULL: at most one live request a
    # policy, so two triggers at once make one request (the unique constraint decides the race)
    active_policy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # steps done (name, status, started/finished, message, outputs), triggers joined, candidate
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class DriftResult(Base):
    """One drift test of one stream's window against its reference, explained per feature."""

    __tablename__ = "drift_results"
    __table_args__ = (Index("ix_drift_results_endpoint_start", "endpoint", "window_start"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_s: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(300))
    drifted: Mapped[list[str]] = mapped_column(JSONType, default=list)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Pipeline(Base):
    """Ordered stages (endpoints or functions) whose predictions join by trace id."""

    __tablename__ = "pipelines"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
