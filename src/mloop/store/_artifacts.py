"""Artifacts and artifact types: the statements behind the store's artifact methods."""

from __future__ import annotations

from sqlalchemy import Connection, select

from mloop.errors import NotFoundError
from mloop.store import _queries as q
from mloop.store._engine import insert_ignore
from mloop.store._models import artifact_types, artifacts, attributions, runs
from mloop.store._records import ArtifactRecord


def register_types(conn: Connection, names: list[str]) -> dict[str, int]:
    """The ids of these artifact types, created if new (safe under concurrent callers)."""
    conn.execute(insert_ignore(conn.dialect.name, artifact_types), [{"name": n} for n in names])
    rows = conn.execute(
        select(artifact_types.c.name, artifact_types.c.id).where(artifact_types.c.name.in_(names))
    )
    return {name: type_id for name, type_id in rows}


def get_artifact(conn: Connection, artifact_id: int) -> ArtifactRecord:
    row = conn.execute(q.GET_ARTIFACT, {"id": artifact_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"artifact {artifact_id} not found", artifact=artifact_id)
    return q.artifact(row)


def list_artifacts(
    conn: Connection, *, type: str | None, run_id: str | None, limit: int
) -> list[ArtifactRecord]:
    stmt = q.select_artifacts().order_by(artifacts.c.id.desc()).limit(limit)
    if type is not None:
        stmt = stmt.where(artifact_types.c.name == type)
    if run_id is not None:
        stmt = (
            stmt.join(attributions, attributions.c.artifact_id == artifacts.c.id)
            .join(runs, runs.c.context_id == attributions.c.context_id)
            .where(runs.c.id == run_id)
        )
    return [q.artifact(row) for row in conn.execute(stmt)]


def find_artifacts_by_uri(conn: Connection, uri: str) -> list[ArtifactRecord]:
    stmt = q.select_artifacts().where(artifacts.c.uri == uri).order_by(artifacts.c.id)
    return [q.artifact(row) for row in conn.execute(stmt)]
