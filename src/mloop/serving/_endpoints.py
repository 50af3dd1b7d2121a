"""Endpoints: what a model server serves, stored in the metadata database.

An **endpoint** (``flights-delay``) is a named set of **deployments**, each a model reference:
pinned (``models:/flights-delay/3``: that version, until the endpoint changes) or following
(``models:/flights-delay@champion``, ``.../latest``: servers load the new version when the
alias moves). Serving deployments split the requests by ``traffic`` percent (a canary is
``90/10``); **shadow** deployments get a copy of every request, and their predictions are
logged, never returned. ``log_sample_rate`` is the fraction of requests written to the
request log.

Every change bumps the endpoint's ``generation``; servers poll :meth:`Endpoints.generations`
(one small query) and reload the endpoints whose generation moved. ``update`` takes an
``expected_generation`` to be a compare-and-set: of concurrent updates from the same
generation exactly one wins.

A pinned version cannot be deleted from the registry while an endpoint pins it (the pins are
written in the same transaction as the endpoint).

>>> eps = Endpoints()
>>> eps.create("flights-delay", [Deployment("models:/flights-delay/3", 90),
...                              Deployment("models:/flights-delay@challenger", 10)])
>>> eps.update("flights-delay", deployments=[Deployment("models:/flights-delay/4")],
...            expected_generation=1)
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from mloop.errors import ConflictError, DefinitionError, NotFoundError
from mloop.registry import Registry, default_actor, parse_model_uri
from mloop.store import MetadataStore

if TYPE_CHECKING:
    from mloop.config import Settings
    from mloop.store._endpoints import Pin
    from mloop.store._records import EndpointRecord

__all__ = ["Deployment", "Endpoint", "Endpoints", "check_endpoint_name"]

NAME_RULE: Final = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DEFAULT_ID = re.compile(r"^d([0-9]+)$")
_RETRIES: Final = 5  # optimistic retries of an update without expected_generation


@dataclass(frozen=True, slots=True)
class Deployment:
    """A model reference served by an endpoint.

    ``traffic`` is the percent of the endpoint's requests it answers (the serving
    deployments' traffic sums to 100). A ``shadow`` deployment answers nobody: it gets a copy
    of every request and its predictions are only logged; its traffic must be 0 or 100
    (the default, read as "a full copy") and is stored as 0. ``id`` names the deployment in
    logs and metrics; left out, it is ``d1``, ``d2``, ... in order, and an update keeps the id
    of a deployment whose model reference (and shadow flag) is unchanged.
    """

    model: str
    traffic: int = 100
    shadow: bool = False
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint as stored: deployments with ids, at a generation."""

    name: str
    deployments: tuple[Deployment, ...]
    log_sample_rate: float
    description: str | None
    generation: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None

    @property
    def serving(self) -> tuple[Deployment, ...]:
        """The deployments that answer requests (traffic sums to 100)."""
        return tuple(d for d in self.deployments if not d.shadow)

    @property
    def shadows(self) -> tuple[Deployment, ...]:
        """The deployments that get a copy of every request, predictions only logged."""
        return tuple(d for d in self.deployments if d.shadow)


def check_endpoint_name(name: str) -> str:
    """``name`` if it is a valid endpoint name, else a DefinitionError stating the rule."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(f"invalid endpoint name {name!r}: use {NAME_RULE}", endpoint=name)
    return name


class Endpoints:
    """The endpoints in the metadata store: create, read, update (compare-and-set), delete.

    Every model reference must resolve in the registry when it is written. Construction does
    no I/O; the store connects on first use. Close it (or use ``with``) when done.
    """

    def __init__(
        self, settings: Settings | None = None, *, store: MetadataStore | None = None
    ) -> None:
        self._settings = settings
        self._store = store
        self._owns_store = store is None
        self._registry: Registry | None = None

    @property
    def store(self) -> MetadataStore:
        if self._store is None:
            from mloop.config import load_settings

            if self._settings is None:
                self._settings = load_settings()
            self._store = MetadataStore.from_settings(self._settings)
        return self._store

    @property
    def registry(self) -> Registry:
        """The model registry over the same store (what model references resolve in)."""
        if self._registry is None:
            self._registry = Registry(self._settings, store=self.store)
        return self._registry

    def close(self) -> None:
        """Close the metadata store if this object opened it."""
        if self._owns_store and self._store is not None:
            self._store.close()

    def __enter__(self) -> Endpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Reads ----------------------------------------------------------------------------------

    def get(self, name: str) -> Endpoint:
        return _endpoint(self.store.get_endpoint(name))

    def list(self) -> builtins.list[Endpoint]:
        """Every endpoint, by name."""
        return [_endpoint(r) for r in self.store.list_endpoints()]

    def generations(self) -> dict[str, int]:
        """``{endpoint: generation}`` in one small query.

        An endpoint deleted and created again under the same name starts again at generation
        1; :meth:`revisions` tells the two apart.
        """
        return {name: generation for name, (_, generation) in self.revisions().items()}

    def revisions(self) -> dict[str, tuple[datetime, int]]:
        """``{endpoint: (created_at, generation)}`` in one small query: what servers poll to
        notice changes — an endpoint deleted and created again between two polls has
        another ``created_at``."""
        return self.store.endpoint_revisions()

    # Writes ---------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        deployments: Sequence[Deployment],
        *,
        log_sample_rate: float = 1.0,
        description: str | None = None,
        actor: str | None = None,
    ) -> Endpoint:
        """A new endpoint at generation 1; :class:`ConflictError` if the name is taken.

        The deployments are checked (see :class:`Deployment`) and every model reference
        must resolve in the registry now; pinned versions are recorded as deployed.
        """
        check_endpoint_name(name)
        normalized = _normalized(name, deployments)
        rate = _sample_rate(name, log_sample_rate)
        pinned = self._check_models(name, normalized)
        record = self.store.create_endpoint(
            name,
            deployments=_rows(normalized),
            pinned=pinned,
            log_sample_rate=rate,
            description=_description(name, description),
            actor=actor or default_actor(),
        )
        return _endpoint(record)

    def update(
        self,
        name: str,
        *,
        deployments: Sequence[Deployment] | None = None,
        log_sample_rate: float | None = None,
        description: str | None = None,
        expected_generation: int | None = None,
        actor: str | None = None,
    ) -> Endpoint:
        """Change what is given (None: unchanged; ``description=""`` clears it); the
        generation goes up by one, even when nothing else changes (servers reload).

        ``deployments`` replaces the whole list, checked as in :meth:`create`. With
        ``expected_generation`` the update is a compare-and-set: :class:`ConflictError`
        unless the endpoint is at that generation now. Without it, the update is applied to
        whatever the endpoint is now (deployment ids are carried over from that state).
        """
        rate = None if log_sample_rate is None else _sample_rate(name, log_sample_rate)
        text = None if description is None else _description(name, description) or ""
        if expected_generation is not None and (
            isinstance(expected_generation, bool) or not isinstance(expected_generation, int)
        ):
            raise DefinitionError(
                f"endpoint {name!r}: expected_generation must be a generation number, "
                f"not {expected_generation!r}",
                endpoint=name,
                field="expected_generation",
            )
        actor = actor or default_actor()
        if deployments is None:
            record = self.store.update_endpoint(
                name,
                log_sample_rate=rate,
                description=text,
                expected_generation=expected_generation,
                actor=actor,
            )
            return _endpoint(record)
        for attempt in range(_RETRIES):
            # New deployments inherit ids from the state they replace; writing with that
            # state's generation makes sure nothing changed in between (else: again).
            current = self.get(name)
            normalized = _normalized(name, deployments, current.deployments)
            pinned = self._check_models(name, normalized)
            try:
                record = self.store.update_endpoint(
                    name,
                    deployments=_rows(normalized),
                    pinned=pinned,
                    log_sample_rate=rate,
                    description=text,
                    expected_generation=(
                        current.generation if expected_generation is None else expected_generation
                    ),
                    actor=actor,
                )
            except ConflictError:
                if expected_generation is not None or attempt == _RETRIES - 1:
                    raise
                continue
            return _endpoint(record)
        raise AssertionError("unreachable")

    def delete(self, name: str) -> None:
        """Delete the endpoint; the versions it pinned can be deleted from the registry."""
        self.store.delete_endpoint(name)

    def _check_models(self, endpoint: str, deployments: Sequence[Deployment]) -> builtins.list[Pin]:
        """Resolve every model reference in the registry (a DefinitionError says which one
        does not, and why); the pinned ``(model, version)``s."""
        pinned: builtins.list[Pin] = []
        for d in deployments:
            try:
                self.registry.resolve(d.model)
            except NotFoundError as exc:
                raise DefinitionError(
                    f"endpoint {endpoint!r}, deployment {d.id}: {d.model}: {exc.message}",
                    **{**exc.fields, "endpoint": endpoint, "deployment": d.id, "uri": d.model},
                ) from None
            ref = parse_model_uri(d.model)
            if ref.version is not None:
                pinned.append((ref.name, ref.version))
        return pinned


# Checks -------------------------------------------------------------------------------------


def _normalized(
    endpoint: str, deployments: Iterable[Deployment], previous: Sequence[Deployment] = ()
) -> tuple[Deployment, ...]:
    """The deployments checked, their model references in canonical form, shadow traffic 0,
    and ids given: kept from ``previous`` for an unchanged reference, else ``dN`` past the
    highest ``dN`` in use."""
    if isinstance(deployments, Deployment | str | dict) or not isinstance(deployments, Iterable):
        raise DefinitionError(
            f"endpoint {endpoint!r}: deployments must be a list of Deployment, "
            f"not {type(deployments).__name__}",
            endpoint=endpoint,
            field="deployments",
        )
    checked = [_checked(endpoint, i, d) for i, d in enumerate(deployments, 1)]
    if not checked:
        raise DefinitionError(
            f"endpoint {endpoint!r} needs at least one deployment", endpoint=endpoint
        )
    explicit = [d.id for d in checked if d.id is not None]
    duplicates = sorted({i for i in explicit if explicit.count(i) > 1})
    if duplicates:
        raise DefinitionError(
            f"endpoint {endpoint!r}: deployment id(s) {', '.join(duplicates)} used twice",
            endpoint=endpoint,
            deployment=duplicates[0],
            field="id",
        )
    inheritable = [p for p in previous if p.id not in explicit]
    numbers = [
        int(m[1])
        for i in (*explicit, *(p.id for p in previous))
        if i and (m := _DEFAULT_ID.match(i))
    ]
    next_number = max(numbers, default=0) + 1
    named: list[Deployment] = []
    for d in checked:
        if d.id is None:
            same = next(
                (p for p in inheritable if p.model == d.model and p.shadow == d.shadow), None
            )
            if same is not None:
                inheritable.remove(same)
                d = Deployment(d.model, d.traffic, d.shadow, same.id)
            else:
                d = Deployment(d.model, d.traffic, d.shadow, f"d{next_number}")
                next_number += 1
        named.append(d)
    serving = [d for d in named if not d.shadow]
    if not serving:
        raise DefinitionError(
            f"endpoint {endpoint!r} needs at least one serving (non-shadow) deployment: "
            "shadows only copy requests, they answer none",
            endpoint=endpoint,
            field="shadow",
        )
    total = sum(d.traffic for d in serving)
    if total != 100:
        split = ", ".join(f"{d.id} {d.traffic}%" for d in serving)
        raise DefinitionError(
            f"endpoint {endpoint!r}: the traffic of the serving deployments must sum to 100, "
            f"not {total} ({split})",
            endpoint=endpoint,
            field="traffic",
        )
    return tuple(named)


def _checked(endpoint: str, position: int, d: object) -> Deployment:
    """One deployment checked field by field; the model reference in canonical form."""
    if not isinstance(d, Deployment):
        raise DefinitionError(
            f"endpoint {endpoint!r}: deployment #{position} must be a Deployment, "
            f"not {type(d).__name__}",
            endpoint=endpoint,
            field="deployments",
        )
    named = isinstance(d.id, str) and _NAME.match(d.id) is not None
    label = f"deployment {d.id}" if named else f"deployment #{position}"

    def bad(field: str, message: str) -> DefinitionError:
        return DefinitionError(
            f"endpoint {endpoint!r}, {label}: {field} {message}",
            endpoint=endpoint,
            deployment=d.id if named else position,
            field=field,
        )

    if d.id is not None and not named:
        raise bad("id", f"{d.id!r} is invalid: use {NAME_RULE}")
    if not isinstance(d.shadow, bool):
        raise bad("shadow", f"must be True or False, not {d.shadow!r}")
    if isinstance(d.traffic, bool) or not isinstance(d.traffic, int):
        raise bad("traffic", f"must be an integer percent from 0 to 100, not {d.traffic!r}")
    if d.shadow and d.traffic not in (0, 100):
        raise bad(
            "traffic",
            f"is {d.traffic}, but a shadow deployment gets a copy of every request: "
            "leave traffic out (or give 0)",
        )
    if not 0 <= d.traffic <= 100:
        raise bad("traffic", f"must be an integer percent from 0 to 100, not {d.traffic}")
    if not isinstance(d.model, str):
        raise bad("model", f"must be a model reference such as models:/NAME/3, not {d.model!r}")
    try:
        ref = parse_model_uri(d.model)
    except DefinitionError as exc:
        raise bad("model", exc.message) from None
    return Deployment(str(ref), 0 if d.shadow else d.traffic, d.shadow, d.id)


def _sample_rate(endpoint: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise DefinitionError(
            f"endpoint {endpoint!r}: log_sample_rate must be a number from 0 to 1 (the "
            f"fraction of requests logged), not {value!r}",
            endpoint=endpoint,
            field="log_sample_rate",
        )
    return float(value)


def _description(endpoint: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise DefinitionError(
            f"endpoint {endpoint!r}: description must be text, not {type(value).__name__}",
            endpoint=endpoint,
            field="description",
        )
    return value or None


# Records ------------------------------------------------------------------------------------


def _rows(deployments: Sequence[Deployment]) -> list[dict[str, object]]:
    return [
        {"id": d.id, "model": d.model, "traffic": d.traffic, "shadow": d.shadow}
        for d in deployments
    ]


def _endpoint(record: EndpointRecord) -> Endpoint:
    return Endpoint(
        name=record.name,
        deployments=tuple(
            Deployment(str(d["model"]), int(d["traffic"]), bool(d["shadow"]), str(d["id"]))
            for d in record.deployments
        ),
        log_sample_rate=record.log_sample_rate,
        description=record.description,
        generation=record.generation,
        created_at=record.created_at,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )
