"""The metadata schema: ML Metadata's object model plus pipelines and runs.

```
artifact_types ◄── artifacts ◄── events ──► executions ──► runs ──► pipeline_versions ──► pipelines
                       ▲      (input|output)     ▲           │
                  attributions              associations     ▼
                       └──────────── contexts ───┘ ◄─────── (run context)
```

An **event** links an execution to an artifact it read (``input``) or wrote (``output``)
under a key (and a position for list inputs); lineage is a walk over events. A **context**
groups artifacts (attribution) and executions (association); every run has one.

These classes are the source of truth for Alembic's migrations and for the Core statements
of the store; the store never hands ORM objects out (see ``_records.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from mloop.store._json import json_loads


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the naive UTC value is
    stored and the zone is put back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: mloop stores aware UTC timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # SQLite: parse the stored text straight to an aware datetime, one call per value
        # instead of the generic parse-then-convert chain (lineage reads thousands of rows).
        if dialect.name == "sqlite":
            return _parse_sqlite_utc
        return super().result_processor(dialect, coltype)


def _parse_sqlite_utc(value: str | None) -> datetime | None:
    # Appending the offset is ~8x cheaper than datetime.replace(tzinfo=UTC).
    return None if value is None else datetime.fromisoformat(value + "+00:00")


class JsonObject(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) for params and properties.

    On SQLite the text is decoded by one direct call per value rather than through the
    generic JSON type's layers of wrappers: lineage and listings decode thousands at once.
    PostgreSQL's driver decodes JSONB itself.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _load_sqlite_json
        return super().result_processor(dialect, coltype)


def _load_sqlite_json(value: str | None) -> Any:
    return None if value is None else json_loads(value)


# 64-bit ids on PostgreSQL; SQLite needs exactly INTEGER for its rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JsonObject()
Name = String(255)
Hash = String(128)
State = String(16)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: Json, datetime: UTCDateTime()}


class ArtifactType(Base):
    __tablename__ = "artifact_types"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index(None, "uri"), Index(None, "type_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    type_id: Mapped[int] = mapped_column(Id, ForeignKey("artifact_types.id"))
    uri: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(Hash)
    properties: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)
    created_at: Mapped[datetime]


class PipelineVersion(Base):
    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline_id", "spec_hash"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(Id, ForeignKey("pipelines.id"))
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(Hash)
    created_at: Mapped[datetime]


class Context(Base):
    """A named group of artifacts and executions: a pipeline, a run, an experiment."""

    __tablename__ = "contexts"
    __table_args__ = (UniqueConstraint("type", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Name)
    properties: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index(None, "created_at"), Index(None, "pipeline_version_id"))

    id: Mapped[str] = mapped_column(Name, primary_key=True)
    pipeline_version_id: Mapped[int] = mapped_column(Id, ForeignKey("pipeline_versions.id"))
    context_id: Mapped[int] = mapped_column(Id, ForeignKey("contexts.id"), unique=True)
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(State, index=True)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    owner: Mapped[str | None] = mapped_column(Name)
    error: Mapped[str | None] = mapped_column(Text)


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = (
        # find_cached: equality on (cache_key, state), newest finished_at first.
        Index(None, "cache_key", "state", "finished_at"),
        Index(None, "run_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[str] = mapped_column(Name, ForeignKey("runs.id"))
    step: Mapped[str] = mapped_column(Name)
    component: Mapped[str] = mapped_column(Name)
    component_fingerprint: Mapped[str] = mapped_column(Hash)
    cache_key: Mapped[str | None] = mapped_column(Hash)
    params: Mapped[dict[str, Any]]
    output_params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(State)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    log_uri: Mapped[str | None] = mapped_column(Text)
    cached_from: Mapped[int | None] = mapped_column(Id, ForeignKey("executions.id"))
    # A child execution (a tuning trial) points at the step execution that ran it.
    parent_id: Mapped[int | None] = mapped_column(Id, ForeignKey("executions.id"), index=True)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # Both lineage directions walk these; the third column makes them covering.
        Index(None, "artifact_id", "kind", "execution_id"),
        Index(None, "execution_id", "kind", "artifact_id"),
        CheckConstraint("kind IN ('input', 'output')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    execution_id: Mapped[int] = mapped_column(Id, ForeignKey("executions.id"))
    artifact_id: Mapped[int] = mapped_column(Id, ForeignKey("artifacts.id"))
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(Name)
    index: Mapped[int | None] = mapped_column(Integer)


class Attribution(Base):
    __tablename__ = "attributions"

    context_id: Mapped[int] = mapped_column(Id, ForeignKey("contexts.id"), primary_key=True)
    artifact_id: Mapped[int] = mapped_column(Id, ForeignKey("artifacts.id"), primary_key=True)


class Association(Base):
    __tablename__ = "associations"

    context_id: Mapped[int] = mapped_column(Id, ForeignKey("contexts.id"), primary_key=True)
    execution_id: Mapped[int] = mapped_column(Id, ForeignKey("executions.id"), primary_key=True)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


metadata = Base.metadata
artifact_types = _table(ArtifactType)
artifacts = _table(Artifact)
pipelines = _table(Pipeline)
pipeline_versions = _table(PipelineVersion)
contexts = _table(Context)
runs = _table(Run)
executions = _table(Execution)
events = _table(Event)
attributions = _table(Attribution)
associations = _table(Association)


# Experiments and the model registry (migration 0002) ------------------------------------


class Metric(Base):
    """A metric value logged by an execution; ``step`` orders a curve (None: a final value)."""

    __tablename__ = "metrics"
    __table_args__ = (Index(None, "execution_id", "key", "step"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    execution_id: Mapped[int] = mapped_column(Id, ForeignKey("executions.id"))
    key: Mapped[str] = mapped_column(Name)
    value: Mapped[float | None] = mapped_column(Double)
    step: Mapped[int | None] = mapped_column(BigInteger)
    logged_at: Mapped[datetime]


class RegisteredModel(Base):
    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ModelVersion(Base):
    """A version of a registered model: a ``Model`` artifact plus what it was made from."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"), Index(None, "artifact_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    model_id: Mapped[int] = mapped_column(Id, ForeignKey("registered_models.id"))
    version: Mapped[int] = mapped_column(Integer)
    artifact_id: Mapped[int] = mapped_column(Id, ForeignKey("artifacts.id"))
    run_id: Mapped[str | None] = mapped_column(Name, ForeignKey("runs.id"))
    source: Mapped[str] = mapped_column(String(32))
    signature: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(State)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(Name)


class ModelAlias(Base):
    """``alias`` of a model points at exactly one version; moving it is one UPDATE."""

    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(Id, ForeignKey("registered_models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(Name, primary_key=True)
    version_id: Mapped[int] = mapped_column(Id, ForeignKey("model_versions.id"), index=True)
    updated_at: Mapped[datetime]


class ModelAudit(Base):
    """Every change to a registered model: who or what did it, when, and why."""

    __tablename__ = "model_audit"
    # (model_id, id): a model's log in order; (model_id, action, version): the highest number
    # ever registered, one seek (a model's next version number).
    __table_args__ = (Index(None, "model_id", "id"), Index(None, "model_id", "action", "version"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    model_id: Mapped[int] = mapped_column(Id, ForeignKey("registered_models.id"))
    action: Mapped[str] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(Name)
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(Name)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    at: Mapped[datetime]


class ModelDeployment(Base):
    """A model version served by an endpoint: it cannot be deleted while deployed."""

    __tablename__ = "model_deployments"

    version_id: Mapped[int] = mapped_column(Id, ForeignKey("model_versions.id"), primary_key=True)
    endpoint: Mapped[str] = mapped_column(Name, primary_key=True)
    created_at: Mapped[datetime]


metrics = _table(Metric)
registered_models = _table(RegisteredModel)
model_versions = _table(ModelVersion)
model_aliases = _table(ModelAlias)
model_audit = _table(ModelAudit)
model_deployments = _table(ModelDeployment)


# Prediction endpoints (migration 0003) ----------------------------------------------------


class Endpoint(Base):
    """A named prediction endpoint: its deployments (JSON ``[{id, model, traffic, shadow}]``)
    and settings in one row, so that a change is one atomic UPDATE. ``generation`` counts the
    changes: servers poll it to notice them."""

    __tablename__ = "endpoints"
    __table_args__ = (
        CheckConstraint("log_sample_rate >= 0 AND log_sample_rate <= 1", name="log_sample_rate"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    deployments: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    log_sample_rate: Mapped[float] = mapped_column(Double)
    generation: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(Name)


endpoints = _table(Endpoint)
