"""The :class:`Registry`: named models, their versions, aliases, cards and loading.

The registry is a thin, validating layer over the metadata store (where the rows live, each
change one transaction with its audit row) and the artifact store (where a version's
``Model`` artifact lives). It never copies model bytes: a version *is* a reference to an
immutable, content-addressed artifact plus what it was made from.
"""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mloop.artifacts import Artifact, ArtifactStore, Model
from mloop.config import Settings, load_settings
from mloop.errors import (
    ArtifactCorrupted,
    ConflictError,
    DefinitionError,
    MaterializerError,
    NotFoundError,
)
from mloop.registry._uri import ModelURI, check_alias, check_name, parse_model_uri
from mloop.store import (
    AuditRecord,
    MetadataStore,
    ModelVersionRecord,
    OutputArtifact,
    RegisteredModelRecord,
)
from mloop.store._registry import ANY, ExpectedVersion

if TYPE_CHECKING:
    from mloop.ml import PackagedModel

__all__ = ["ANY", "ExpectedVersion", "Registry", "default_actor", "load"]

CardFormat = Literal["markdown", "html"]


def default_actor() -> str:
    """Who acts when nobody says: ``user@host``."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Registry:
    """Registered models, their versions and aliases, over a metadata and an artifact store.

    >>> reg = Registry()                                   # the project's settings
    >>> v = reg.register("flights-delay", model_artifact)  # v1, v2, ...
    >>> reg.set_alias("flights-delay", "champion", v.version, expected=None)
    >>> model = reg.load("models:/flights-delay@champion")

    Construction does no I/O; the stores connect on first use.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: MetadataStore | None = None,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._artifacts = artifacts
        self._owns_store = store is None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def store(self) -> MetadataStore:
        if self._store is None:
            self._store = MetadataStore.from_settings(self.settings)
        return self._store

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            self._artifacts = ArtifactStore.from_settings(self.settings)
        return self._artifacts

    def close(self) -> None:
        """Close the metadata store if this registry opened it."""
        if self._owns_store and self._store is not None:
            self._store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Models and versions -----------------------------------------------------------------

    def create_model(
        self,
        name: str,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> RegisteredModelRecord:
        """A new registered model with no version yet; :class:`ConflictError` if it exists."""
        return self.store.create_registered_model(
            check_name(name),
            description=description,
            tags=_json_object(tags, "tags"),
            actor=actor or default_actor(),
        )

    def register(
        self,
        name: str,
        model: Model | int,
        *,
        run_id: str | None = None,
        metrics: dict[str, Any] | None = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        source: str = "api",
        actor: str | None = None,
    ) -> ModelVersionRecord:
        """Register a ``Model`` artifact (or its id) as the next version of ``name``.

        The model is created if missing. The version number is allocated inside the write
        transaction, so concurrent registrations get distinct numbers. The run defaults to
        the run whose step produced the artifact, the signature is the artifact's. An
        artifact not yet recorded in the metadata store (``ArtifactStore.save`` outside a
        pipeline) gets its row in the same transaction.
        """
        check_name(name)
        artifact: int | OutputArtifact
        if isinstance(model, bool) or not isinstance(model, int | Artifact):
            raise DefinitionError(
                f"register({name!r}, ...) needs a Model artifact or an artifact id, "
                f"not {type(model).__name__}",
                model=name,
            )
        if isinstance(model, int):
            artifact = model
        elif model.type_name != Model.type_name:
            raise DefinitionError(
                f"only Model artifacts can be registered as versions of {name!r}, "
                f"not a {model.type_name} ({model.uri})",
                model=name,
            )
        elif model.id is not None:
            artifact = model.id
        else:
            artifact = OutputArtifact(
                "model", Model.type_name, model.uri, model.fingerprint, dict(model.properties)
            )
        return self.store.register_model_version(
            name,
            artifact,
            run_id=run_id,
            metrics=_json_object(metrics, "metrics"),
            description=description,
            tags=_json_object(tags, "tags"),
            source=source,
            actor=actor or default_actor(),
        )

    def get_model(self, name: str) -> RegisteredModelRecord:
        return self.store.get_registered_model(name)

    def list_models(self) -> list[RegisteredModelRecord]:
        return self.store.list_registered_models()

    def list_versions(self, name: str, include_archived: bool = True) -> list[ModelVersionRecord]:
        """Versions of ``name``, newest first."""
        return self.store.list_model_versions(name, include_archived=include_archived)

    def get_version(self, name: str, version: int) -> ModelVersionRecord:
        return self.store.get_model_version(name, version)

    def resolve(self, uri: str | ModelURI) -> ModelVersionRecord:
        """The version a reference names: ``models:/name@alias``, ``models:/name/3``,
        ``models:/name/latest`` (the highest version not archived), ``name@alias``."""
        ref = uri if isinstance(uri, ModelURI) else parse_model_uri(uri)
        if ref.version is not None:
            return self.store.get_model_version(ref.name, ref.version)
        if ref.alias is not None:
            return self.store.resolve_model_alias(ref.name, ref.alias)
        return self.store.latest_model_version(ref.name)

    # Aliases --------------------------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        expected: ExpectedVersion = ANY,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ModelVersionRecord:
        """Point ``alias`` at ``version``, atomically and with an audit row.

        ``expected`` makes it a compare-and-set: ``None`` means the alias must not exist yet,
        a number that it must point at that version now; otherwise :class:`ConflictError`
        says where it points. Of two concurrent moves from the same expected version exactly
        one wins. The default, ``ANY``, moves it wherever it points.
        """
        check_alias(alias)
        if isinstance(version, bool) or not isinstance(version, int):
            raise DefinitionError(
                f"set_alias: version must be a version number, not {version!r}", alias=alias
            )
        return self.store.set_model_alias(
            name,
            alias,
            version,
            expected=expected,
            actor=actor or default_actor(),
            reason=reason,
        )

    def remove_alias(
        self, name: str, alias: str, actor: str | None = None, reason: str | None = None
    ) -> int:
        """Remove an alias (audited); the version it pointed at."""
        return self.store.remove_model_alias(
            name, alias, actor=actor or default_actor(), reason=reason
        )

    # Tags, descriptions, lifecycle -----------------------------------------------------------

    def set_tag(
        self,
        name: str,
        key: str,
        value: Any,
        version: int | None = None,
        actor: str | None = None,
    ) -> None:
        """Set a tag of the model, or of one version (``value``: any JSON value)."""
        if value is None:
            raise DefinitionError(f"tag {key!r}: use delete_tag to remove a tag", tag=key)
        _json_object({key: value}, "tag")
        self.store.set_model_tag(name, key, value, version=version, actor=actor or default_actor())

    def delete_tag(
        self, name: str, key: str, version: int | None = None, actor: str | None = None
    ) -> None:
        self.store.set_model_tag(name, key, None, version=version, actor=actor or default_actor())

    def set_description(
        self, name: str, text: str | None, version: int | None = None, actor: str | None = None
    ) -> None:
        """Describe the model, or one version (``None`` clears it)."""
        self.store.set_model_description(
            name, text, version=version, actor=actor or default_actor()
        )

    def archive(
        self, name: str, version: int, actor: str | None = None, reason: str | None = None
    ) -> ModelVersionRecord:
        """Hide a version from ``latest`` (it stays loadable by number). Refused while an
        alias points at it."""
        return self.store.set_model_version_archived(
            name, version, True, actor=actor or default_actor(), reason=reason
        )

    def restore(
        self, name: str, version: int, actor: str | None = None, reason: str | None = None
    ) -> ModelVersionRecord:
        """Undo :meth:`archive`."""
        return self.store.set_model_version_archived(
            name, version, False, actor=actor or default_actor(), reason=reason
        )

    def delete_version(
        self, name: str, version: int, actor: str | None = None, reason: str | None = None
    ) -> None:
        """Delete a version's registry entry (its artifact and lineage stay). Refused while an
        alias points at it or an endpoint serves it; its number is never reused."""
        self.store.delete_model_version(
            name, version, actor=actor or default_actor(), reason=reason
        )

    def audit(self, name: str, limit: int | None = None) -> list[AuditRecord]:
        """Every change to the model, oldest first: who or what did it, when and why."""
        return self.store.model_audit(name, limit=limit)

    # Artifacts, loading, cards, imports ------------------------------------------------------

    def artifact(self, version: ModelVersionRecord) -> Model:
        """The version's ``Model`` artifact, bound to the artifact store."""
        record = self.store.get_artifact(version.artifact_id)
        return Model(
            record.uri, record.fingerprint, record.properties, id=record.id, store=self.artifacts
        )

    def load(self, uri: str | ModelURI, *, trusted: list[str] | None = None) -> PackagedModel:
        """The model a reference names, ready to predict (with its transform).

        The bytes are verified against the artifact's fingerprint; a corrupted or unreadable
        model file, or a model whose signature is not the one registered, is an error that
        names the model and version. ``trusted`` lists extra types a skops file may contain.
        """
        version = self.resolve(uri)
        artifact = self.artifact(version)
        what = f"model {version.model!r} v{version.version}"
        try:
            model = _load_packaged(artifact, trusted)
        except ArtifactCorrupted as exc:
            raise ArtifactCorrupted(
                f"{what} cannot be loaded: {exc.message}",
                **{**exc.fields, "model": version.model, "version": version.version},
            ) from None
        except NotFoundError as exc:
            raise NotFoundError(
                f"{what} cannot be loaded: {exc.message}",
                **{**exc.fields, "model": version.model, "version": version.version},
            ) from None
        except MaterializerError as exc:
            raise MaterializerError(
                f"{what} cannot be loaded: {exc.message}",
                **{**exc.fields, "model": version.model, "version": version.version},
            ) from exc
        _check_registered_signature(model, version)
        return model

    def card(
        self, name: str, version: int | str | None = None, format: CardFormat = "markdown"
    ) -> str:
        """The model card of a version (a number, an alias, or None for the latest), as
        Markdown or as a self-contained HTML page."""
        from mloop.registry._card import build_card
        from mloop.registry._card_render import render_html, render_markdown

        if format not in ("markdown", "html"):
            raise DefinitionError(f"card format must be 'markdown' or 'html', not {format!r}")
        if version is None:
            record = self.resolve(ModelURI(name))
        elif isinstance(version, int):
            record = self.get_version(name, version)
        else:
            record = self.resolve(ModelURI(name, alias=check_alias(version)))
        card = build_card(self, record)
        return render_markdown(card) if format == "markdown" else render_html(card)

    def import_mlflow(
        self,
        path: str | Path,
        name: str,
        *,
        trust_pickle: bool = False,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> ModelVersionRecord:
        """Register an MLflow model directory (``sklearn``, ``lightgbm``, ``xgboost`` or a
        ``python_function`` of those) as the next version of ``name``, re-saved in mloop's
        native formats. Pickled models are refused unless ``trust_pickle`` (unpickling runs
        code from the file)."""
        from mloop.registry._mlflow import import_mlflow

        check_name(name)
        return import_mlflow(
            self,
            Path(path),
            name,
            trust_pickle=trust_pickle,
            description=description,
            tags=_json_object(tags, "tags"),
            actor=actor or default_actor(),
        )


def load(uri: str, settings: Settings | None = None) -> PackagedModel:
    """``mloop.registry.load("models:/flights-delay@champion")``: the model, ready to predict."""
    with Registry(settings) as registry:
        return registry.load(uri)


def _load_packaged(artifact: Model, trusted: list[str] | None) -> PackagedModel:
    from mloop.ml import PackagedModel

    value = artifact.load() if trusted is None else _load_trusted(artifact, trusted)
    if not isinstance(value, PackagedModel):
        raise MaterializerError(
            f"the Model artifact {artifact.uri} holds a {type(value).__name__}, not a "
            "packaged model (save models with mloop.ml.PackagedModel)",
            artifact=artifact.uri,
        )
    return value


def _load_trusted(artifact: Model, trusted: list[str]) -> PackagedModel:
    from mloop.ml import PackagedModel

    return PackagedModel.load(artifact.local_path(), trusted=trusted)


def _check_registered_signature(model: PackagedModel, version: ModelVersionRecord) -> None:
    """The registry's copy of the signature is what clients were promised: a model file
    whose own signature differs is refused rather than served."""
    if not version.signature or model.signature is None:
        return
    found = model.signature.to_dict()
    if _inputs(found) != _inputs(version.signature):
        raise ConflictError(
            f"model {version.model!r} v{version.version}: the model file's signature "
            f"({_describe(found)}) is not the registered one ({_describe(version.signature)})",
            model=version.model,
            version=version.version,
        )


def _inputs(signature: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(c.get("name")), str(c.get("type"))) for c in signature.get("inputs", [])]


def _describe(signature: dict[str, Any]) -> str:
    columns = [f"{n}: {t}" for n, t in _inputs(signature)]
    return ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "") or "no inputs"


def _json_object(value: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """A JSON-able dict (the metadata store keeps JSON), else a DefinitionError saying why."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DefinitionError(f"{what} must be a dict with string keys, not {value!r}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{what} must be JSON values: {exc}") from None
    return dict(value)
