"""Prediction endpoints: the statements behind the store's endpoint methods.

An endpoint is one row — its deployments are a JSON list in it — so a change of traffic
split, shadows or sampling is one atomic UPDATE that bumps ``generation``, and servers learn
of every change from one cheap poll (:data:`GENERATIONS`).

The versions that deployments *pin* (``models:/name/3``) are also rows of the registry's
``model_deployments`` (version, endpoint), written in the same transaction as the endpoint,
so the registry refuses to delete a version an endpoint serves. Deployments that follow an
alias or ``latest`` pin nothing: what they serve moves with the registry.

Lock order: the endpoint's row (update, delete), then the pinned models' rows in name order,
the lock every registry write takes first. A concurrent ``delete_version`` of a pinned
version therefore either runs before (and the pin fails: the version is gone) or after (and
sees the pin), never in between. Nothing locks a model and then an endpoint: no deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from mloop.errors import ConflictError, NotFoundError
from mloop.store._engine import insert_ignore
from mloop.store._models import endpoints, model_deployments
from mloop.store._records import EndpointRecord
from mloop.store._registry import listing, lock_model, version_row

Pin = tuple[str, int]
"""A pinned model version: (model name, version number)."""

_COLUMNS = (
    endpoints.c.id,
    endpoints.c.name,
    endpoints.c.description,
    endpoints.c.deployments,
    endpoints.c.log_sample_rate,
    endpoints.c.generation,
    endpoints.c.created_at,
    endpoints.c.updated_at,
    endpoints.c.updated_by,
)
# What every server polls, every second or so: one scan of a small table, three columns.
REVISIONS = select(endpoints.c.name, endpoints.c.created_at, endpoints.c.generation)
_BY_NAME = select(*_COLUMNS).where(endpoints.c.name == bindparam("name"))
# The endpoint's row locked until the transaction ends (PostgreSQL; SQLite renders no
# FOR UPDATE: its write transaction is already exclusive).
_LOCK = _BY_NAME.with_for_update()
_INSERT = {
    dialect: insert_ignore(dialect, endpoints).returning(endpoints.c.id)
    for dialect in ("sqlite", "postgresql")
}


def create_endpoint(
    conn: Connection,
    name: str,
    *,
    deployments: Sequence[dict[str, Any]],
    pinned: Sequence[Pin],
    log_sample_rate: float,
    description: str | None,
    actor: str,
    now: datetime,
) -> EndpointRecord:
    """A new endpoint at generation 1, with its pins; :class:`ConflictError` if the name is
    taken (a concurrent creator of the same name waits, then finds it taken)."""
    description = description or None
    values = {
        "name": name,
        "description": description,
        "deployments": [dict(d) for d in deployments],
        "log_sample_rate": float(log_sample_rate),
        "generation": 1,
        "created_at": now,
        "updated_at": now,
        "updated_by": actor,
    }
    endpoint_id: int | None = conn.execute(_INSERT[conn.dialect.name], values).scalar_one_or_none()
    if endpoint_id is None:
        raise ConflictError(f"endpoint {name!r} already exists", endpoint=name)
    _pin(conn, name, pinned, now)
    return EndpointRecord(
        id=endpoint_id,
        name=name,
        description=description,
        deployments=tuple(dict(d) for d in deployments),
        log_sample_rate=float(log_sample_rate),
        generation=1,
        created_at=now,
        updated_at=now,
        updated_by=actor,
    )


def get_endpoint(conn: Connection, name: str) -> EndpointRecord:
    row = conn.execute(_BY_NAME, {"name": name}).one_or_none()
    if row is None:
        raise _not_found(conn, name)
    return _record(row)


def list_endpoints(conn: Connection) -> list[EndpointRecord]:
    """Every endpoint, by name."""
    return [_record(row) for row in conn.execute(select(*_COLUMNS).order_by(endpoints.c.name))]


def update_endpoint(
    conn: Connection,
    name: str,
    *,
    deployments: Sequence[dict[str, Any]] | None,
    pinned: Sequence[Pin] | None,
    log_sample_rate: float | None,
    description: str | None,
    expected_generation: int | None,
    actor: str,
    now: datetime,
) -> EndpointRecord:
    """Change what is given (None: unchanged; ``description=""`` clears it) and bump the
    generation, in one UPDATE; the pins follow ``pinned`` when deployments are given.

    ``expected_generation`` makes it a compare-and-set: the endpoint must be at that
    generation now, else :class:`ConflictError` says where it is. The endpoint's row is
    locked before the check, so of concurrent updates from the same generation one wins.
    """
    row = conn.execute(_LOCK, {"name": name}).one_or_none()
    if row is None:
        raise _not_found(conn, name)
    current = _record(row)
    if expected_generation is not None and current.generation != expected_generation:
        raise ConflictError(
            f"endpoint {name!r} is at generation {current.generation}, not "
            f"{expected_generation} as expected: it was changed meanwhile and was not updated",
            endpoint=name,
            current=current.generation,
            expected=expected_generation,
        )
    changed = replace(
        current,
        generation=current.generation + 1,
        updated_at=now,
        updated_by=actor,
        deployments=(
            current.deployments if deployments is None else tuple(dict(d) for d in deployments)
        ),
        log_sample_rate=(
            current.log_sample_rate if log_sample_rate is None else float(log_sample_rate)
        ),
        description=current.description if description is None else (description or None),
    )
    if deployments is not None:
        _pin(conn, name, pinned or (), now)
    conn.execute(
        update(endpoints)
        .where(endpoints.c.id == current.id)
        .values(
            deployments=[dict(d) for d in changed.deployments],
            log_sample_rate=changed.log_sample_rate,
            description=changed.description,
            generation=changed.generation,
            updated_at=now,
            updated_by=actor,
        )
    )
    return changed


def delete_endpoint(conn: Connection, name: str) -> None:
    """Delete the endpoint and its pins (the versions it pinned become deletable)."""
    deleted = conn.execute(
        delete(endpoints).where(endpoints.c.name == name).returning(endpoints.c.id)
    ).scalar_one_or_none()
    if deleted is None:
        raise _not_found(conn, name)
    conn.execute(delete(model_deployments).where(model_deployments.c.endpoint == name))


def revisions(conn: Connection) -> dict[str, tuple[datetime, int]]:
    """``{endpoint: (created_at, generation)}`` of every endpoint."""
    return {name: (created, generation) for name, created, generation in conn.execute(REVISIONS)}


def _pin(conn: Connection, endpoint: str, pinned: Sequence[Pin], now: datetime) -> None:
    """Make the endpoint's ``model_deployments`` rows exactly the versions in ``pinned``.

    Each pinned model's row is locked (in name order) and the version looked up under the
    lock: a version deleted since the caller resolved it is a NotFoundError here."""
    wanted: set[int] = set()
    for model, version in sorted(set(pinned)):
        try:
            version_id, _ = version_row(conn, lock_model(conn, model), model, version)
        except NotFoundError as exc:
            raise NotFoundError(
                f"endpoint {endpoint!r}: models:/{model}/{version}: {exc.message}",
                **{**exc.fields, "endpoint": endpoint},
            ) from None
        wanted.add(version_id)
    where = model_deployments.c.endpoint == endpoint
    current = set(conn.execute(select(model_deployments.c.version_id).where(where)).scalars())
    gone = sorted(current - wanted)
    if gone:
        conn.execute(
            delete(model_deployments).where(where, model_deployments.c.version_id.in_(gone))
        )
    new = sorted(wanted - current)
    if new:
        conn.execute(
            insert(model_deployments),
            [{"version_id": v, "endpoint": endpoint, "created_at": now} for v in new],
        )


def _record(row: Sequence[Any]) -> EndpointRecord:
    return EndpointRecord(
        id=row[0],
        name=row[1],
        description=row[2],
        deployments=tuple(dict(d) for d in row[3] or ()),
        log_sample_rate=float(row[4]),
        generation=int(row[5]),
        created_at=row[6],
        updated_at=row[7],
        updated_by=row[8],
    )


def _not_found(conn: Connection, name: str) -> NotFoundError:
    names = list(conn.execute(select(endpoints.c.name).order_by(endpoints.c.name)).scalars())
    return NotFoundError(
        f"endpoint {name!r} not found (endpoints: {listing(names)})", endpoint=name
    )
