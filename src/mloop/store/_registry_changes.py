"""Changes to a registered model after registration: alias moves, tags, descriptions,
archiving and deleting versions — the statements behind the store's registry writes.

Each function runs inside the caller's write transaction, locks the model's row first (see
``_registry``) and writes its audit row in the same transaction, so a change and its record
commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mloop.errors import ConflictError, NotFoundError
from mloop.store._models import model_aliases, model_deployments, model_versions, registered_models
from mloop.store._records import ModelVersionRecord
from mloop.store._registry import (
    ANY,
    ExpectedVersion,
    listing,
    lock_model,
    model_id_of,
    record_audit,
    resolve_alias,
    touch,
    version_by_id,
    version_row,
)

# Aliases ----------------------------------------------------------------------------------


def _current_alias(conn: Connection, model_id: int, alias: str) -> int | None:
    """The version number the alias points at now, or None."""
    current: int | None = conn.execute(
        select(model_versions.c.version)
        .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
    ).scalar_one_or_none()
    return current


def set_alias(
    conn: Connection,
    name: str,
    alias: str,
    version: int,
    *,
    expected: ExpectedVersion,
    actor: str,
    reason: str | None,
    now: datetime,
) -> ModelVersionRecord:
    """Point ``alias`` at ``version`` if it points where ``expected`` says (compare-and-set):
    ``None`` means it must not exist yet, a number that it must point there now, ``ANY``
    that anything goes. The move and its audit row are one transaction."""
    model_id = lock_model(conn, name)
    version_id, state = version_row(conn, model_id, name, version)
    current = _current_alias(conn, model_id, alias)
    if expected is not ANY and current != expected:
        where = f"points at v{current}" if current is not None else "does not exist"
        wanted = f"v{expected}" if expected is not None else "no version (a new alias)"
        raise ConflictError(
            f"alias {alias!r} of model {name!r} {where}, not {wanted} as expected: "
            f"it was not moved to v{version}",
            model=name,
            alias=alias,
            current=current,
            expected=expected,
        )
    if state == "archived":
        raise ConflictError(
            f"version {version} of model {name!r} is archived: restore it before pointing "
            f"alias {alias!r} at it",
            model=name,
            version=version,
            alias=alias,
        )
    if current == version:
        return version_by_id(conn, version_id)
    if current is None:
        conn.execute(
            insert(model_aliases),
            {"model_id": model_id, "alias": alias, "version_id": version_id, "updated_at": now},
        )
    else:
        conn.execute(
            update(model_aliases)
            .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
            .values(version_id=version_id, updated_at=now)
        )
    record_audit(
        conn,
        model_id,
        "set_alias",
        version=version,
        alias=alias,
        from_version=current,
        to_version=version,
        actor=actor,
        reason=reason,
        now=now,
    )
    touch(conn, model_id, now)
    return version_by_id(conn, version_id)


def remove_alias(
    conn: Connection, name: str, alias: str, *, actor: str, reason: str | None, now: datetime
) -> int:
    """Remove the alias; the version it pointed at."""
    model_id = lock_model(conn, name)
    current = _current_alias(conn, model_id, alias)
    if current is None:
        resolve_alias(conn, name, alias)  # raises, listing the aliases that exist
        raise AssertionError("unreachable")
    conn.execute(
        delete(model_aliases).where(
            model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
        )
    )
    record_audit(
        conn,
        model_id,
        "remove_alias",
        version=current,
        alias=alias,
        from_version=current,
        to_version=None,
        actor=actor,
        reason=reason,
        now=now,
    )
    touch(conn, model_id, now)
    return current


# Tags, descriptions, archive, delete --------------------------------------------------------


def set_tag(
    conn: Connection,
    name: str,
    key: str,
    value: Any,
    *,
    version: int | None,
    actor: str,
    now: datetime,
) -> None:
    """Set one tag of the model, or of one of its versions (``value`` None deletes it)."""
    model_id = lock_model(conn, name)
    table, row_id = _tagged(conn, model_id, name, version)
    tags: dict[str, Any] = dict(
        conn.execute(select(table.c.tags).where(table.c.id == row_id)).scalar_one() or {}
    )
    if value is None:
        if key not in tags:
            what = f"version {version} of model {name!r}" if version else f"model {name!r}"
            raise NotFoundError(
                f"{what} has no tag {key!r} (tags: {listing(sorted(tags))})",
                model=name,
                version=version,
                tag=key,
            )
        del tags[key]
    else:
        tags[key] = value
    conn.execute(update(table).where(table.c.id == row_id).values(tags=tags))
    record_audit(
        conn,
        model_id,
        "delete_tag" if value is None else "set_tag",
        version=version,
        actor=actor,
        now=now,
        details={"key": key} if value is None else {"key": key, "value": value},
    )
    touch(conn, model_id, now)


def set_description(
    conn: Connection, name: str, text: str | None, *, version: int | None, actor: str, now: datetime
) -> None:
    model_id = lock_model(conn, name)
    table, row_id = _tagged(conn, model_id, name, version)
    conn.execute(update(table).where(table.c.id == row_id).values(description=text))
    record_audit(
        conn,
        model_id,
        "description",
        version=version,
        actor=actor,
        now=now,
        details={"description": text},
    )
    touch(conn, model_id, now)


def _tagged(conn: Connection, model_id: int, name: str, version: int | None) -> tuple[Any, int]:
    if version is None:
        return registered_models, model_id
    version_id, _ = version_row(conn, model_id, name, version)
    return model_versions, version_id


def set_archived(
    conn: Connection,
    name: str,
    version: int,
    archived: bool,
    *,
    actor: str,
    reason: str | None,
    now: datetime,
) -> ModelVersionRecord:
    """Archive (hide from ``latest`` and listings) or restore a version. An aliased version
    cannot be archived: an alias must keep pointing at something servable."""
    model_id = lock_model(conn, name)
    version_id, state = version_row(conn, model_id, name, version)
    new_state = "archived" if archived else "ready"
    if state == new_state:
        return version_by_id(conn, version_id)
    if archived:
        aliases = _aliases_of(conn, version_id)
        if aliases:
            raise ConflictError(
                f"version {version} of model {name!r} cannot be archived: alias(es) "
                f"{', '.join(aliases)} point at it (move or remove them first)",
                model=name,
                version=version,
                aliases=aliases,
            )
    conn.execute(
        update(model_versions).where(model_versions.c.id == version_id).values(state=new_state)
    )
    record_audit(
        conn,
        model_id,
        "archive" if archived else "restore",
        version=version,
        actor=actor,
        reason=reason,
        now=now,
    )
    touch(conn, model_id, now)
    return version_by_id(conn, version_id)


def delete_version(
    conn: Connection, name: str, version: int, *, actor: str, reason: str | None, now: datetime
) -> None:
    """Delete a version (its artifact stays). Refused while an alias points at it or an
    endpoint serves it; its number is never given to another version."""
    model_id = lock_model(conn, name)
    version_id, _ = version_row(conn, model_id, name, version)
    aliases = _aliases_of(conn, version_id)
    if aliases:
        raise ConflictError(
            f"version {version} of model {name!r} cannot be deleted: alias(es) "
            f"{', '.join(aliases)} point at it (move or remove them first)",
            model=name,
            version=version,
            aliases=aliases,
        )
    endpoints = list(
        conn.execute(
            select(model_deployments.c.endpoint)
            .where(model_deployments.c.version_id == version_id)
            .order_by(model_deployments.c.endpoint)
        ).scalars()
    )
    if endpoints:
        raise ConflictError(
            f"version {version} of model {name!r} cannot be deleted: it is deployed to "
            f"endpoint(s) {', '.join(endpoints)}",
            model=name,
            version=version,
            endpoints=endpoints,
        )
    artifact_id = conn.execute(
        delete(model_versions)
        .where(model_versions.c.id == version_id)
        .returning(model_versions.c.artifact_id)
    ).scalar_one()
    record_audit(
        conn,
        model_id,
        "delete",
        version=version,
        actor=actor,
        reason=reason,
        now=now,
        details={"artifact_id": artifact_id},
    )
    touch(conn, model_id, now)


def _aliases_of(conn: Connection, version_id: int) -> list[str]:
    return list(
        conn.execute(
            select(model_aliases.c.alias)
            .where(model_aliases.c.version_id == version_id)
            .order_by(model_aliases.c.alias)
        ).scalars()
    )


def deployments(conn: Connection, name: str, version: int) -> list[str]:
    """The endpoints serving a version."""
    model_id = model_id_of(conn, name)
    version_id, _ = version_row(conn, model_id, name, version)
    return list(
        conn.execute(
            select(model_deployments.c.endpoint)
            .where(model_deployments.c.version_id == version_id)
            .order_by(model_deployments.c.endpoint)
        ).scalars()
    )
