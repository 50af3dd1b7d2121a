"""The model registry: the statements behind the store's registry methods — models,
versions and reads here; later changes (alias moves, tags, archive, delete) in
``_registry_changes``.

A **registered model** has numbered **versions** (each a ``Model`` artifact), mutable
**aliases** (``champion`` → one version at a time) and an **audit** log of every change.
Every write function runs inside the caller's write transaction and begins by locking the
model's row (``SELECT ... FOR UPDATE`` on PostgreSQL — registration locks it with the
``UPDATE`` of its ``updated_at``; SQLite's ``BEGIN IMMEDIATE`` already holds the database's
write lock), so that the checks it makes (where an alias points now, the highest version
number) still hold when it writes: two compare-and-set alias moves from the same version
cannot both win, and concurrent registrations get distinct numbers. The audit row is
written in the same transaction as the change it records.

The statements of the hot paths (register, resolve, get a version) are built once, in
``_queries``.

Version numbers are never reused: the next number is one past the highest ever registered,
deleted versions included (their ``register`` audit rows remember them).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection, func, insert, select

from mloop.errors import ConflictError, DefinitionError, NotFoundError
from mloop.store import _queries as q
from mloop.store._artifacts import register_types
from mloop.store._json import json_loads
from mloop.store._models import (
    artifacts,
    model_aliases,
    model_audit,
    model_versions,
    registered_models,
)
from mloop.store._records import (
    ArtifactRecord,
    AuditAction,
    AuditRecord,
    ModelVersionRecord,
    OutputArtifact,
    RegisteredModelRecord,
)

MODEL_TYPE: Final = "Model"
_SHOWN: Final = 20  # names listed at most in a "not found" message


class Expected(enum.Enum):
    """The sentinel of :data:`ANY` (an enum so that type checkers can narrow on it)."""

    ANY = "any"


ANY: Final = Expected.ANY
"""``expected=ANY``: move the alias wherever it points now (no compare-and-set)."""

ExpectedVersion = int | None | Literal[Expected.ANY]

_SELECT_VERSIONS = q.select_versions()
_AUDIT_COLUMNS = (
    model_audit.c.id,
    registered_models.c.name,
    model_audit.c.action,
    model_audit.c.version,
    model_audit.c.alias,
    model_audit.c.from_version,
    model_audit.c.to_version,
    model_audit.c.actor,
    model_audit.c.reason,
    model_audit.c.details,
    model_audit.c.at,
)


# Models -----------------------------------------------------------------------------------


def create_model(
    conn: Connection,
    name: str,
    *,
    description: str | None,
    tags: dict[str, Any],
    actor: str,
    now: datetime,
) -> RegisteredModelRecord:
    """A new registered model; :class:`ConflictError` if the name is taken."""
    if _insert_model(conn, name, description, tags, now) is None:
        raise ConflictError(f"model {name!r} already exists", model=name)
    model_id = lock_model(conn, name)
    record_audit(conn, model_id, "create_model", actor=actor, now=now)
    return get_model(conn, name)


def _insert_model(
    conn: Connection, name: str, description: str | None, tags: dict[str, Any], now: datetime
) -> int | None:
    """Insert the model unless it exists (a concurrent creator waits, then does nothing);
    its id if this call inserted it, else None."""
    inserted: int | None = conn.execute(
        q.INSERT_MODEL[conn.dialect.name],
        {
            "name": name,
            "description": description,
            "tags": dict(tags),
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one_or_none()
    return inserted


def lock_model(conn: Connection, name: str) -> int:
    """The model's id, its row locked until the transaction ends (PostgreSQL; SQLite's
    write transaction is already exclusive). NotFoundError names the models that exist."""
    model_id: int | None = conn.execute(q.LOCK_MODEL, {"name": name}).scalar_one_or_none()
    if model_id is None:
        raise _model_not_found(conn, name)
    return model_id


def model_id_of(conn: Connection, name: str) -> int:
    model_id: int | None = conn.execute(q.MODEL_ID, {"name": name}).scalar_one_or_none()
    if model_id is None:
        raise _model_not_found(conn, name)
    return model_id


def _model_not_found(conn: Connection, name: str) -> NotFoundError:
    names = list(
        conn.execute(
            select(registered_models.c.name).order_by(registered_models.c.name).limit(_SHOWN + 1)
        ).scalars()
    )
    return NotFoundError(f"model {name!r} not found (models: {listing(names)})", model=name)


def get_model(conn: Connection, name: str) -> RegisteredModelRecord:
    models = _models(conn, registered_models.c.name == name)
    if not models:
        raise _model_not_found(conn, name)
    return models[0]


def list_models(conn: Connection) -> list[RegisteredModelRecord]:
    """Every registered model, by name."""
    return _models(conn, None)


def _models(conn: Connection, where: Any) -> list[RegisteredModelRecord]:
    counts = (
        select(
            model_versions.c.model_id,
            func.count().label("versions"),
            func.max(model_versions.c.version).label("latest"),
        )
        .group_by(model_versions.c.model_id)
        .subquery()
    )
    stmt = (
        select(
            registered_models.c.id,
            registered_models.c.name,
            registered_models.c.description,
            registered_models.c.tags,
            counts.c.latest,
            func.coalesce(counts.c.versions, 0),
            registered_models.c.created_at,
            registered_models.c.updated_at,
        )
        .outerjoin(counts, counts.c.model_id == registered_models.c.id)
        .order_by(registered_models.c.name)
    )
    if where is not None:
        stmt = stmt.where(where)
    rows = conn.execute(stmt).all()
    aliases = _aliases_by_model(conn, [row[0] for row in rows])
    return [
        RegisteredModelRecord(
            id=row[0],
            name=row[1],
            description=row[2],
            tags=dict(row[3] or {}),
            aliases=aliases.get(row[0], {}),
            latest_version=row[4],
            versions=int(row[5]),
            created_at=row[6],
            updated_at=row[7],
        )
        for row in rows
    ]


def _aliases_by_model(conn: Connection, model_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    if not model_ids:
        return {}
    found: dict[int, dict[str, int]] = {}
    for batch in q.batches(list(model_ids)):
        rows = conn.execute(
            select(model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.version)
            .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
            .where(model_aliases.c.model_id.in_(batch))
            .order_by(model_aliases.c.alias)
        )
        for model_id, alias, version in rows:
            found.setdefault(model_id, {})[alias] = version
    return found


# Versions ---------------------------------------------------------------------------------


def register_version(
    conn: Connection,
    name: str,
    artifact: int | OutputArtifact,
    *,
    run_id: str | None,
    metrics: dict[str, Any],
    description: str | None,
    tags: dict[str, Any],
    source: str,
    actor: str,
    now: datetime,
) -> ModelVersionRecord:
    """A new version of ``name`` (created if missing) for a ``Model`` artifact: an existing
    artifact row by id, or a new one (``OutputArtifact``) inserted in the same transaction.

    The run defaults to the run whose step produced the artifact; the signature is the
    artifact's ``signature`` property.

    Five prebuilt statements when the model exists: the artifact with its producing run,
    lock-and-touch the model, the last version numbers, the version, its audit row. The
    returned record is built from the inserted values (a new version has no aliases).
    """
    record, producing_run = _artifact_for_version(conn, artifact, now)
    if run_id is None:
        run_id = producing_run
    elif conn.execute(q.RUN_EXISTS, {"run_id": run_id}).first() is None:
        raise NotFoundError(
            f"run {run_id!r} not found (given as the run of a version of model {name!r})",
            run=run_id,
            model=name,
        )
    model_id = _lock_and_touch(conn, name, actor, now)
    # A statement of its own, after the lock: on PostgreSQL (READ COMMITTED) it then sees
    # every version committed by a registration that held the lock before this one.
    in_use, registered = conn.execute(q.LAST_VERSIONS, {"model_id": model_id}).one()
    version = max(in_use or 0, registered or 0) + 1
    signature = record.properties.get("signature")
    signature = dict(signature) if isinstance(signature, dict) else {}
    values = {
        "model_id": model_id,
        "version": version,
        "artifact_id": record.id,
        "run_id": run_id,
        "source": source,
        "signature": signature,
        "metrics": dict(metrics),
        "description": description,
        "tags": dict(tags),
        "state": "ready",
        "created_at": now,
        "created_by": actor,
    }
    version_id: int = conn.execute(q.INSERT_VERSION, values).scalar_one()
    record_audit(
        conn,
        model_id,
        "register",
        version=version,
        actor=actor,
        now=now,
        details={"artifact_id": record.id, "source": source, "run_id": run_id},
    )
    return ModelVersionRecord(
        id=version_id,
        model=name,
        version=version,
        artifact_id=record.id,
        run_id=run_id,
        source=source,
        signature=_as_stored(signature),
        metrics=_as_stored(metrics),
        description=description,
        tags=_as_stored(tags),
        state="ready",
        aliases=(),
        created_at=now,
        created_by=actor,
    )


def _lock_and_touch(conn: Connection, name: str, actor: str, now: datetime) -> int:
    """The model's id, its row locked and ``updated_at`` set; the model is created (with its
    ``create_model`` audit row) if missing."""
    model_id: int | None = conn.execute(
        q.TOUCH_MODEL_BY_NAME, {"model_name": name, "now": now}
    ).scalar_one_or_none()
    if model_id is not None:
        return model_id
    # A concurrent creator of the same name makes this insert wait, then do nothing.
    model_id = _insert_model(conn, name, None, {}, now)
    if model_id is not None:  # our own uncommitted row: nobody else can lock it
        record_audit(conn, model_id, "create_model", actor=actor, now=now)
        return model_id
    locked: int | None = conn.execute(
        q.TOUCH_MODEL_BY_NAME, {"model_name": name, "now": now}
    ).scalar_one_or_none()
    if locked is None:
        raise _model_not_found(conn, name)
    return locked


def _as_stored(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from its JSON column (tuples become lists, and so on);
    called once the column took it, so the encoding cannot fail here."""
    stored: dict[str, Any] = json_loads(json.dumps(value)) if value else {}
    return stored


def _artifact_for_version(
    conn: Connection, artifact: int | OutputArtifact, now: datetime
) -> tuple[ArtifactRecord, str | None]:
    """The artifact to register and the run whose step produced it (None if none)."""
    if isinstance(artifact, OutputArtifact):
        # A row inserted just now, in this transaction: no step has recorded it as an output.
        return insert_artifact(conn, artifact, now), None
    row = conn.execute(q.ARTIFACT_AND_RUN, {"id": artifact}).one_or_none()
    if row is None:
        raise NotFoundError(f"artifact {artifact} not found", artifact=artifact)
    *artifact_row, run_id = row
    record = q.artifact(artifact_row)
    if record.type != MODEL_TYPE:
        raise DefinitionError(
            f"artifact {artifact} is a {record.type}, not a {MODEL_TYPE}: "
            "only Model artifacts can be registered as model versions",
            artifact=artifact,
        )
    return record, run_id


def insert_artifact(conn: Connection, artifact: OutputArtifact, now: datetime) -> ArtifactRecord:
    """A new artifact row (for a value saved outside any pipeline step: an import)."""
    type_id = register_types(conn, [artifact.type])[artifact.type]
    artifact_id: int = conn.execute(
        insert(artifacts).returning(artifacts.c.id),
        {
            "type_id": type_id,
            "uri": artifact.uri,
            "fingerprint": artifact.fingerprint,
            "properties": dict(artifact.properties),
            "created_at": now,
        },
    ).scalar_one()
    return ArtifactRecord(
        artifact_id, artifact.type, artifact.uri, artifact.fingerprint, artifact.properties, now
    )


def get_version(conn: Connection, name: str, version: int) -> ModelVersionRecord:
    found = q.version_with_aliases(
        conn.execute(q.GET_VERSION, {"name": name, "version": version}).all()
    )
    if found is None:
        raise _version_not_found(conn, name, version)
    return found


def latest_version(conn: Connection, name: str) -> ModelVersionRecord:
    """The highest version that is not archived."""
    row = conn.execute(
        _SELECT_VERSIONS.where(registered_models.c.name == name, model_versions.c.state == "ready")
        .order_by(model_versions.c.version.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        model_id_of(conn, name)
        raise NotFoundError(
            f"model {name!r} has no version that is not archived", model=name, version="latest"
        )
    return _with_aliases(conn, [row])[0]


def list_versions(
    conn: Connection, name: str, *, include_archived: bool
) -> list[ModelVersionRecord]:
    """The versions of a model, newest first."""
    model_id = model_id_of(conn, name)
    stmt = _SELECT_VERSIONS.where(model_versions.c.model_id == model_id).order_by(
        model_versions.c.version.desc()
    )
    if not include_archived:
        stmt = stmt.where(model_versions.c.state != "archived")
    return _with_aliases(conn, conn.execute(stmt).all())


def versions_of_artifact(conn: Connection, artifact_id: int) -> list[ModelVersionRecord]:
    """The model versions registered from this artifact."""
    stmt = _SELECT_VERSIONS.where(model_versions.c.artifact_id == artifact_id).order_by(
        model_versions.c.id
    )
    return _with_aliases(conn, conn.execute(stmt).all())


def version_by_id(conn: Connection, version_id: int) -> ModelVersionRecord:
    found = q.version_with_aliases(conn.execute(q.VERSION_BY_ID, {"id": version_id}).all())
    if found is None:
        raise NotFoundError(f"model version id {version_id} not found", version_id=version_id)
    return found


def _with_aliases(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[ModelVersionRecord]:
    ids = [row[0] for row in rows]
    aliases: dict[int, list[str]] = {}
    for batch in q.batches(ids):
        for version_id, alias in conn.execute(
            select(model_aliases.c.version_id, model_aliases.c.alias)
            .where(model_aliases.c.version_id.in_(batch))
            .order_by(model_aliases.c.alias)
        ):
            aliases.setdefault(version_id, []).append(alias)
    return [q.model_version(row, tuple(aliases.get(row[0], ()))) for row in rows]


def version_row(conn: Connection, model_id: int, name: str, version: int) -> tuple[int, str]:
    """``(id, state)`` of a version of a locked model, or NotFoundError listing versions."""
    row = conn.execute(
        select(model_versions.c.id, model_versions.c.state).where(
            model_versions.c.model_id == model_id, model_versions.c.version == version
        )
    ).one_or_none()
    if row is None:
        raise _version_not_found(conn, name, version)
    return row[0], row[1]


def _version_not_found(conn: Connection, name: str, version: int) -> NotFoundError:
    model_id = model_id_of(conn, name)
    numbers = list(
        conn.execute(
            select(model_versions.c.version)
            .where(model_versions.c.model_id == model_id)
            .order_by(model_versions.c.version)
        ).scalars()
    )
    listed = listing([f"v{n}" for n in numbers]) if numbers else "none yet"
    return NotFoundError(
        f"model {name!r} has no version {version} (versions: {listed})",
        model=name,
        version=version,
    )


# Aliases ----------------------------------------------------------------------------------


def resolve_alias(conn: Connection, name: str, alias: str) -> ModelVersionRecord:
    """The version ``alias`` points at: one prebuilt statement (what a server resolves per
    request); the error path looks further to say what exists."""
    found = q.version_with_aliases(
        conn.execute(q.RESOLVE_ALIAS, {"name": name, "alias": alias}).all()
    )
    if found is not None:
        return found
    model_id = model_id_of(conn, name)
    known = sorted(_aliases_by_model(conn, [model_id]).get(model_id, {}))
    raise NotFoundError(
        f"model {name!r} has no alias {alias!r} (aliases: {listing(known)})",
        model=name,
        alias=alias,
    )


# Audit ------------------------------------------------------------------------------------


def record_audit(
    conn: Connection,
    model_id: int,
    action: AuditAction,
    *,
    actor: str,
    now: datetime,
    version: int | None = None,
    alias: str | None = None,
    from_version: int | None = None,
    to_version: int | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        q.INSERT_AUDIT,
        {
            "model_id": model_id,
            "action": action,
            "version": version,
            "alias": alias,
            "from_version": from_version,
            "to_version": to_version,
            "actor": actor,
            "reason": reason,
            "details": dict(details or {}),
            "at": now,
        },
    )


def audit(conn: Connection, name: str, *, limit: int | None) -> list[AuditRecord]:
    """The model's audit log, oldest first (the last ``limit`` entries when given)."""
    model_id = model_id_of(conn, name)
    stmt = (
        select(*_AUDIT_COLUMNS)
        .join(registered_models, registered_models.c.id == model_audit.c.model_id)
        .where(model_audit.c.model_id == model_id)
        .order_by(model_audit.c.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = conn.execute(stmt).all()
    return [_audit_record(row) for row in reversed(rows)]


def _audit_record(row: Sequence[Any]) -> AuditRecord:
    (id_, model, action, version, alias, from_version, to_version, actor, reason, details, at) = row
    return AuditRecord(
        id_,
        model,
        action,
        version,
        alias,
        from_version,
        to_version,
        actor,
        reason,
        dict(details or {}),
        at,
    )


def touch(conn: Connection, model_id: int, now: datetime) -> None:
    conn.execute(q.TOUCH_MODEL, {"model_id": model_id, "now": now})


def listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (", ..." if len(names) > _SHOWN else "") if names else "none"
