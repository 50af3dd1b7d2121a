"""The registry's and the endpoints' part of :class:`~mloop.store.MetadataStore`.

Thin wrappers over :mod:`mloop.store._registry`, :mod:`mloop.store._registry_changes` and
:mod:`mloop.store._endpoints`: each method is one transaction (a change and its audit row).
``MetadataStore`` inherits them; they need only its ``_read``/``_write`` transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mloop.store import (
    _endpoints,
    _registry,
    _registry_changes,
)
from mloop.store._endpoints import Pin
from mloop.store._records import (
    AuditRecord,
    EndpointRecord,
    ModelVersionRecord,
    OutputArtifact,
    RegisteredModelRecord,
)
from mloop.store._registry import ANY, ExpectedVersion

__all__ = ["RegistryMethods"]


def _now() -> datetime:
    return datetime.now(UTC)


class RegistryMethods:
    """Registered models, versions, aliases, audit; endpoints (mixed into MetadataStore)."""

    if TYPE_CHECKING:

        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

    # Model registry -----------------------------------------------------------------------
    # Thin wrappers over ``_registry``: each is one transaction (a change and its audit row).

    def create_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        actor: str,
    ) -> RegisteredModelRecord:
        """A new registered model; :class:`ConflictError` if the name is taken."""
        with self._write() as conn:
            return _registry.create_model(
                conn, name, description=description, tags=dict(tags or {}), actor=actor, now=_now()
            )

    def get_registered_model(self, name: str) -> RegisteredModelRecord:
        with self._read() as conn:
            return _registry.get_model(conn, name)

    def list_registered_models(self) -> list[RegisteredModelRecord]:
        with self._read() as conn:
            return _registry.list_models(conn)

    def register_model_version(
        self,
        name: str,
        artifact: int | OutputArtifact,
        *,
        run_id: str | None = None,
        metrics: dict[str, Any] | None = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        source: str = "api",
        actor: str,
    ) -> ModelVersionRecord:
        """The next version of model ``name`` (created if missing) for a ``Model`` artifact:
        an artifact row by id, or a new artifact (``OutputArtifact``) inserted with it."""
        with self._write() as conn:
            return _registry.register_version(
                conn,
                name,
                artifact,
                run_id=run_id,
                metrics=dict(metrics or {}),
                description=description,
                tags=dict(tags or {}),
                source=source,
                actor=actor,
                now=_now(),
            )

    def get_model_version(self, name: str, version: int) -> ModelVersionRecord:
        with self._read() as conn:
            return _registry.get_version(conn, name, version)

    def latest_model_version(self, name: str) -> ModelVersionRecord:
        """The highest version of ``name`` that is not archived."""
        with self._read() as conn:
            return _registry.latest_version(conn, name)

    def list_model_versions(
        self, name: str, *, include_archived: bool = True
    ) -> list[ModelVersionRecord]:
        """The versions of ``name``, newest first."""
        with self._read() as conn:
            return _registry.list_versions(conn, name, include_archived=include_archived)

    def model_versions_of_artifact(self, artifact_id: int) -> list[ModelVersionRecord]:
        with self._read() as conn:
            return _registry.versions_of_artifact(conn, artifact_id)

    def resolve_model_alias(self, name: str, alias: str) -> ModelVersionRecord:
        with self._read() as conn:
            return _registry.resolve_alias(conn, name, alias)

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        expected: ExpectedVersion = ANY,
        actor: str,
        reason: str | None = None,
    ) -> ModelVersionRecord:
        """Point ``alias`` at ``version``, compare-and-set on ``expected`` (see ``_registry``)."""
        with self._write() as conn:
            return _registry_changes.set_alias(
                conn,
                name,
                alias,
                version,
                expected=expected,
                actor=actor,
                reason=reason,
                now=_now(),
            )

    def remove_model_alias(
        self, name: str, alias: str, *, actor: str, reason: str | None = None
    ) -> int:
        """Remove an alias; the version it pointed at."""
        with self._write() as conn:
            return _registry_changes.remove_alias(
                conn, name, alias, actor=actor, reason=reason, now=_now()
            )

    def set_model_tag(
        self, name: str, key: str, value: Any, *, version: int | None = None, actor: str
    ) -> None:
        """Set a tag of a model or of one version; ``value=None`` deletes it."""
        with self._write() as conn:
            _registry_changes.set_tag(
                conn, name, key, value, version=version, actor=actor, now=_now()
            )

    def set_model_description(
        self, name: str, text: str | None, *, version: int | None = None, actor: str
    ) -> None:
        with self._write() as conn:
            _registry_changes.set_description(
                conn, name, text, version=version, actor=actor, now=_now()
            )

    def set_model_version_archived(
        self, name: str, version: int, archived: bool, *, actor: str, reason: str | None = None
    ) -> ModelVersionRecord:
        with self._write() as conn:
            return _registry_changes.set_archived(
                conn, name, version, archived, actor=actor, reason=reason, now=_now()
            )

    def delete_model_version(
        self, name: str, version: int, *, actor: str, reason: str | None = None
    ) -> None:
        """Delete a version unless an alias points at it or it is deployed."""
        with self._write() as conn:
            _registry_changes.delete_version(
                conn, name, version, actor=actor, reason=reason, now=_now()
            )

    def model_deployments(self, name: str, version: int) -> list[str]:
        """The endpoints that serve a version."""
        with self._read() as conn:
            return _registry_changes.deployments(conn, name, version)

    def model_audit(self, name: str, *, limit: int | None = None) -> list[AuditRecord]:
        """Every change to model ``name``, oldest first (the last ``limit`` if given)."""
        with self._read() as conn:
            return _registry.audit(conn, name, limit=limit)

    # Endpoints ------------------------------------------------------------------------------
    # Thin wrappers over ``_endpoints``: each is one transaction (the endpoint and its pins).

    def create_endpoint(
        self,
        name: str,
        *,
        deployments: Sequence[dict[str, Any]],
        pinned: Sequence[Pin] = (),
        log_sample_rate: float = 1.0,
        description: str | None = None,
        actor: str,
    ) -> EndpointRecord:
        """A new endpoint (generation 1) whose deployments pin the ``(model, version)``s in
        ``pinned``; :class:`ConflictError` if the name is taken."""
        with self._write() as conn:
            return _endpoints.create_endpoint(
                conn,
                name,
                deployments=deployments,
                pinned=pinned,
                log_sample_rate=log_sample_rate,
                description=description,
                actor=actor,
                now=_now(),
            )

    def get_endpoint(self, name: str) -> EndpointRecord:
        with self._read() as conn:
            return _endpoints.get_endpoint(conn, name)

    def list_endpoints(self) -> list[EndpointRecord]:
        with self._read() as conn:
            return _endpoints.list_endpoints(conn)

    def update_endpoint(
        self,
        name: str,
        *,
        deployments: Sequence[dict[str, Any]] | None = None,
        pinned: Sequence[Pin] | None = None,
        log_sample_rate: float | None = None,
        description: str | None = None,
        expected_generation: int | None = None,
        actor: str,
    ) -> EndpointRecord:
        """Change an endpoint and bump its generation (compare-and-set on
        ``expected_generation``; see ``_endpoints``)."""
        with self._write() as conn:
            return _endpoints.update_endpoint(
                conn,
                name,
                deployments=deployments,
                pinned=pinned,
                log_sample_rate=log_sample_rate,
                description=description,
                expected_generation=expected_generation,
                actor=actor,
                now=_now(),
            )

    def delete_endpoint(self, name: str) -> None:
        """Delete an endpoint; the versions it pinned can be deleted again."""
        with self._write() as conn:
            _endpoints.delete_endpoint(conn, name)

    def endpoint_revisions(self) -> dict[str, tuple[datetime, int]]:
        """``{endpoint: (created_at, generation)}``: one small query, what servers poll."""
        with self._read() as conn:
            return _endpoints.revisions(conn)
