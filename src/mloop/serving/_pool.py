"""The models a server holds: loaded once per version, swapped atomically when an alias moves.

A deployment names a model by URI. A pinned URI (``models:/flights-delay/3``) loads once; an
alias (``models:/flights-delay@champion``, or ``/latest``) is *followed*: :meth:`refresh`
resolves it again, loads a new version in the calling (background) thread while requests keep
being served by the old one, then swaps one dictionary entry — an atomic assignment. A
request holds the :class:`LoadedModel` it started with, so in-flight requests finish on the
old version and the next ones see the new one; nothing is dropped. A version that fails to
load is reported and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mloop.ml import PackagedModel
    from mloop.registry import Registry

__all__ = ["LoadedModel", "ModelPool"]

log = logging.getLogger("mloop.serving")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One version of a registered model, loaded and ready to predict."""

    uri: str  # what the deployment asked for (may be an alias)
    name: str  # registered model name
    version: int
    model: PackagedModel
    load_seconds: float
    #: the Arrow struct type of the model's inputs, for logging requests' rows as they
    #: came (:class:`~mloop.serving._log_tables.FeatureRows`); None: column by column
    log_schema: Any = None

    @property
    def version_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _log_schema(model: PackagedModel) -> Any:
    from mloop.serving._log_tables import feature_schema

    signature = model.signature
    if signature is None:
        return None
    return feature_schema([(c.name, c.type) for c in signature.inputs])


def follows(uri: str) -> bool:
    """Whether ``uri`` can point at another version later (an alias, or ``latest``)."""
    from mloop.registry import parse_model_uri

    ref = parse_model_uri(uri)
    return ref.alias is not None or ref.version is None


class ModelPool:
    """Loaded models by deployment URI; thread-safe; versions shared between URIs."""

    def __init__(
        self,
        registry: Registry,
        *,
        on_load: Callable[[LoadedModel], None] | None = None,
    ) -> None:
        self._registry = registry
        self._on_load = on_load
        self._current: dict[str, LoadedModel] = {}  # uri -> what serves it now
        self._by_version: dict[tuple[str, int], LoadedModel] = {}
        self._lock = threading.Lock()  # serializes loading, never held by readers

    def get(self, uri: str) -> LoadedModel:
        """The model serving ``uri`` now (loaded on first use)."""
        loaded = self._current.get(uri)
        if loaded is not None:
            return loaded
        with self._lock:
            loaded = self._current.get(uri)
            if loaded is None:
                loaded = self._load(uri)
                self._current[uri] = loaded
            return loaded

    def __contains__(self, uri: str) -> bool:
        return uri in self._current

    def loaded(self) -> dict[str, LoadedModel]:
        return dict(self._current)

    def refresh(self, uris: Iterable[str] | None = None) -> list[tuple[str, int | None, int]]:
        """Resolve followed URIs again; load and swap in versions that changed. Returns the
        swaps made as ``(uri, old version, new version)``. Errors are logged, not raised:
        the old version keeps serving."""
        swaps: list[tuple[str, int | None, int]] = []
        for uri in list(uris if uris is not None else self._current):
            if not follows(uri):
                continue
            try:
                version = self._registry.resolve(uri)
            except Exception as exc:  # the alias was removed, the database is down, ...
                log.warning("cannot resolve %s: %s (still serving the loaded version)", uri, exc)
                continue
            old = self._current.get(uri)
            if old is not None and old.version == version.version and old.name == version.model:
                continue
            with self._lock:
                try:
                    loaded = self._load_version(uri, version.model, version.version)
                except Exception as exc:
                    log.error("cannot load %s v%s: %s", version.model, version.version, exc)
                    continue
                self._current[uri] = loaded
            swaps.append((uri, old.version if old else None, loaded.version))
            log.info(
                "%s now serves %s v%s (was %s)",
                uri,
                loaded.name,
                loaded.version,
                f"v{old.version}" if old else "nothing",
            )
        self._forget_unused()
        return swaps

    def retain(self, uris: Iterable[str]) -> None:
        """Drop the URIs no deployment uses any more."""
        keep = set(uris)
        with self._lock:
            for uri in list(self._current):
                if uri not in keep:
                    del self._current[uri]
        self._forget_unused()

    # Loading -------------------------------------------------------------------------------

    def _load(self, uri: str) -> LoadedModel:
        version = self._registry.resolve(uri)
        return self._load_version(uri, version.model, version.version)

    def _load_version(self, uri: str, name: str, version: int) -> LoadedModel:
        shared = self._by_version.get((name, version))
        if shared is not None:
            loaded = LoadedModel(
                uri, name, version, shared.model, shared.load_seconds, shared.log_schema
            )
        else:
            started = time.perf_counter()
            model = self._registry.load(f"models:/{name}/{version}")
            _warm_up(model)
            seconds = time.perf_counter() - started
            loaded = LoadedModel(uri, name, version, model, seconds, _log_schema(model))
            self._by_version[(name, version)] = loaded
            if self._on_load is not None:
                self._on_load(loaded)
        return loaded

    def _forget_unused(self) -> None:
        used = {(m.name, m.version) for m in self._current.values()}
        for key in list(self._by_version):
            if key not in used:
                self._by_version.pop(key, None)


def _warm_up(model: Any) -> None:
    """One prediction before the model takes traffic, so the first request pays no lazy
    initialization (and a model that cannot predict fails here, not on a request)."""
    signature = getattr(model, "signature", None)
    if signature is None:
        return
    from mloop.serving._codec import example_row

    try:
        model.predict([example_row(signature)])
    except Exception as exc:  # a model may reject made-up values; real requests will tell
        log.debug("warm-up prediction failed: %s", exc)
