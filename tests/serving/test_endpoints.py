"""Endpoints in the metadata store, on SQLite and PostgreSQL: the contract (create, read,
update with compare-and-set, delete, generations), validation errors, concurrent updates,
and the registry rule that a pinned version cannot be deleted."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mloop.config import Settings, load_settings
from mloop.errors import ConflictError, DefinitionError, NotFoundError
from mloop.registry import Registry
from mloop.serving import Deployment, Endpoint, Endpoints

M = "flights-delay"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose metadata store is a fresh SQLite file or the emptied PostgreSQL one."""
    url = f"sqlite:///{tmp_path / 'home' / 'mloop.db'}"
    if request.param == "postgresql":
        request.getfixturevalue("postgres_cleaner")()
        url = request.getfixturevalue("postgres_url")
    return load_settings(home=tmp_path / "home", metadata_url=url)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    """A registry with versions 1-3 of ``flights-delay``, @champion on v2."""
    with Registry(settings) as registry:
        for i in range(3):
            registry.register(M, registry.artifacts.save({"w": i}, "Model", materializer="json"))
        registry.set_alias(M, "champion", 2)
        yield registry


@pytest.fixture
def eps(registry: Registry) -> Iterator[Endpoints]:
    with Endpoints(store=registry.store) as eps:
        yield eps


def pins(registry: Registry) -> dict[int, list[str]]:
    """``{version: endpoints}`` of the model's versions that some endpoint pins."""
    found = {
        v.version: registry.store.model_deployments(M, v.version) for v in registry.list_versions(M)
    }
    return {version: names for version, names in found.items() if names}


CANARY = [
    Deployment(f"models:/{M}/1", 90),
    Deployment(f"{M}@champion", 10),
    Deployment(f"models:/{M}/3", shadow=True),
]


# Contract ---------------------------------------------------------------------------------


def test_create_get_list_and_generations(eps: Endpoints, registry: Registry) -> None:
    created = eps.create("fd", CANARY, log_sample_rate=0.25, description="canary", actor="ci")

    assert created.deployments == (
        Deployment(f"models:/{M}/1", 90, False, "d1"),
        Deployment(f"models:/{M}@champion", 10, False, "d2"),  # canonical form
        Deployment(f"models:/{M}/3", 0, True, "d3"),  # a shadow takes no share
    )
    assert [d.id for d in created.serving] == ["d1", "d2"]
    assert [d.id for d in created.shadows] == ["d3"]
    assert (created.generation, created.log_sample_rate, created.description) == (1, 0.25, "canary")
    assert created.updated_by == "ci" and created.created_at == created.updated_at
    assert created.created_at.tzinfo is not None
    assert eps.get("fd") == created

    other = eps.create("b-first", [Deployment(f"models:/{M}/latest")])
    assert other.deployments == (Deployment(f"models:/{M}/latest", 100, False, "d1"),)
    assert other.log_sample_rate == 1.0 and other.description is None
    assert [e.name for e in eps.list()] == ["b-first", "fd"]
    assert eps.list()[1] == created
    assert eps.generations() == {"b-first": 1, "fd": 1}
    assert pins(registry) == {1: ["fd"], 3: ["fd"]}  # alias and latest pin nothing


def test_update_bumps_the_generation_and_keeps_ids(eps: Endpoints, registry: Registry) -> None:
    eps.create("fd", CANARY, description="canary")

    moved = eps.update(
        "fd",
        deployments=[Deployment(f"models:/{M}/1", 50), Deployment(f"{M}@champion", 50)],
        actor="ops",
    )
    assert moved.generation == 2 and moved.updated_by == "ops"
    assert [(d.id, d.traffic) for d in moved.deployments] == [("d1", 50), ("d2", 50)]
    assert moved.description == "canary" and moved.updated_at >= moved.created_at
    assert pins(registry) == {1: ["fd"]}  # the shadow's pin on v3 went with it

    # A new reference gets an id past the highest in use; a kept one keeps its id.
    promoted = eps.update(
        "fd", deployments=[Deployment(f"models:/{M}/3", 100), Deployment(f"models:/{M}/1", 0)]
    )
    assert [(d.id, d.model, d.traffic) for d in promoted.deployments] == [
        ("d3", f"models:/{M}/3", 100),
        ("d1", f"models:/{M}/1", 0),
    ]

    tuned = eps.update("fd", log_sample_rate=0.1, description="")
    assert tuned.generation == 4 and tuned.deployments == promoted.deployments
    assert (tuned.log_sample_rate, tuned.description) == (0.1, None)
    assert eps.get("fd") == tuned
    assert eps.generations() == {"fd": 4}
    assert pins(registry) == {1: ["fd"], 3: ["fd"]}


def test_update_is_a_compare_and_set_on_expected_generation(eps: Endpoints) -> None:
    eps.create("fd", CANARY)
    eps.update("fd", log_sample_rate=0.5, expected_generation=1)

    with pytest.raises(ConflictError, match="at generation 2, not 1 as expected") as info:
        eps.update("fd", deployments=[Deployment(f"models:/{M}/2")], expected_generation=1)
    assert info.value.fields == {"endpoint": "fd", "current": 2, "expected": 1}
    assert eps.get("fd").generation == 2 and len(eps.get("fd").deployments) == 3

    assert eps.update("fd", log_sample_rate=0.2, expected_generation=2).generation == 3


def test_delete(eps: Endpoints, registry: Registry) -> None:
    eps.create("fd", CANARY)
    eps.create("keep", [Deployment(f"models:/{M}/1")])
    eps.delete("fd")

    assert eps.generations() == {"keep": 1}
    assert pins(registry) == {1: ["keep"]}
    with pytest.raises(NotFoundError, match=r"endpoint 'fd' not found \(endpoints: keep\)"):
        eps.get("fd")
    with pytest.raises(NotFoundError, match="endpoint 'fd' not found"):
        eps.delete("fd")
    with pytest.raises(NotFoundError, match="endpoint 'fd' not found"):
        eps.update("fd", log_sample_rate=0.5)
    assert eps.create("fd", CANARY).generation == 1  # the name is free again


def test_a_taken_name_is_a_conflict(eps: Endpoints, registry: Registry) -> None:
    eps.create("fd", CANARY)
    with pytest.raises(ConflictError, match="endpoint 'fd' already exists"):
        eps.create("fd", [Deployment(f"models:/{M}/2")])
    assert eps.get("fd").deployments[0].model == f"models:/{M}/1"
    assert pins(registry) == {1: ["fd"], 3: ["fd"]}


def test_construction_does_no_io(tmp_path: Path) -> None:
    home = tmp_path / "home"
    eps = Endpoints(Settings(home=home))
    assert not home.exists()
    assert eps.generations() == {}
    assert (home / "mloop.db").is_file()
    eps.close()


# Pinned versions ----------------------------------------------------------------------------


def test_a_pinned_version_cannot_be_deleted(eps: Endpoints, registry: Registry) -> None:
    eps.create("fd", [Deployment(f"models:/{M}/1", 80), Deployment(f"models:/{M}/latest", 20)])
    eps.create("shadowed", [Deployment(f"{M}@champion"), Deployment(f"{M}/1", shadow=True)])

    with pytest.raises(ConflictError, match=r"deployed to endpoint\(s\) fd, shadowed") as info:
        registry.delete_version(M, 1)
    assert info.value.fields["endpoints"] == ["fd", "shadowed"]

    eps.update("fd", deployments=[Deployment(f"models:/{M}/2")])
    eps.update("shadowed", deployments=[Deployment(f"{M}@champion")])
    registry.delete_version(M, 1)  # no endpoint pins it any more
    assert [v.version for v in registry.list_versions(M)] == [3, 2]

    registry.remove_alias(M, "champion")
    with pytest.raises(ConflictError, match=r"deployed to endpoint\(s\) fd"):
        registry.delete_version(M, 2)
    eps.delete("fd")
    registry.delete_version(M, 2)
    # A deployment following latest pins nothing: v3 can go (latest then means nothing).
    eps.create("latest", [Deployment(f"models:/{M}/latest")])
    registry.delete_version(M, 3)


def test_a_version_deleted_before_the_write_is_not_pinned(
    eps: Endpoints, registry: Registry
) -> None:
    """The store looks each pinned version up again under the model's lock: a version
    deleted after the references were resolved fails the write, which leaves nothing."""
    with pytest.raises(
        NotFoundError, match=r"endpoint 'fd': models:/flights-delay/7: .*no version 7"
    ):
        eps.store.create_endpoint(
            "fd",
            deployments=[{"id": "d1", "model": f"models:/{M}/7", "traffic": 100, "shadow": False}],
            pinned=[(M, 7)],
            actor="test",
        )
    assert eps.list() == [] and pins(registry) == {}


# Validation ---------------------------------------------------------------------------------

BAD: list[tuple[str, list[Any], dict[str, Any], str]] = [
    ("-fd", [Deployment(f"{M}/1")], {}, "invalid endpoint name '-fd'"),
    ("x" * 65, [Deployment(f"{M}/1")], {}, "invalid endpoint name"),
    ("fd", [], {}, "needs at least one deployment"),
    ("fd", Deployment(f"{M}/1"), {}, "deployments must be a list of Deployment"),  # type: ignore[list-item]
    ("fd", [f"{M}/1"], {}, "deployment #1 must be a Deployment, not str"),
    ("fd", [Deployment(f"{M}/1", shadow=True)], {}, "needs at least one serving"),
    (
        "fd",
        [Deployment(f"{M}/1", 80), Deployment(f"{M}/2", 10)],
        {},
        r"must sum to 100, not 90 \(d[12] 80%, d[12] 10%\)",
    ),
    ("fd", [Deployment(f"{M}/1", 101)], {}, "deployment #1: traffic must be an integer percent"),
    ("fd", [Deployment(f"{M}/1", -1)], {}, "traffic must be an integer percent from 0 to 100"),
    ("fd", [Deployment(f"{M}/1", True)], {}, "traffic must be an integer percent"),
    ("fd", [Deployment(f"{M}/1", 50.0)], {}, "traffic must be an integer percent"),  # type: ignore[arg-type]
    (
        "fd",
        [Deployment(f"{M}/1"), Deployment(f"{M}/2", 30, shadow=True, id="s")],
        {},
        "deployment s: traffic is 30, but a shadow deployment gets a copy of every request",
    ),
    ("fd", [Deployment(f"{M}/1", shadow="no")], {}, "shadow must be True or False"),  # type: ignore[arg-type]
    (
        "fd",
        [Deployment(f"{M}/1", 50, id="a"), Deployment(f"{M}/2", 50, id="a")],
        {},
        "deployment id.s. a used twice",
    ),
    ("fd", [Deployment(f"{M}/1", id="a b")], {}, "deployment #1: id 'a b' is invalid"),
    ("fd", [Deployment(f"{M}/x")], {}, "deployment #1: model model reference .* is not a version"),
    ("fd", [Deployment(f"{M}/1")], {"log_sample_rate": 1.5}, "log_sample_rate must be a number"),
    ("fd", [Deployment(f"{M}/1")], {"log_sample_rate": float("nan")}, "log_sample_rate"),
    ("fd", [Deployment(f"{M}/1")], {"log_sample_rate": True}, "log_sample_rate"),
    ("fd", [Deployment(f"{M}/1")], {"description": 3}, "description must be text"),
    (
        "fd",
        [Deployment(f"{M}/1", 90), Deployment(f"{M}@challenger", 10)],
        {},
        rf"endpoint 'fd', deployment d[23]: models:/{M}@challenger: model '{M}' has no alias "
        r"'challenger' \(aliases: champion\)",
    ),
    ("fd", [Deployment(f"{M}/9")], {}, rf"models:/{M}/9: model '{M}' has no version 9"),
    ("fd", [Deployment("models:/nope/1")], {}, "models:/nope/1: model 'nope' not found"),
]


@pytest.mark.parametrize(("name", "deployments", "options", "message"), BAD)
def test_invalid_endpoints_are_refused_and_leave_nothing(
    eps: Endpoints,
    registry: Registry,
    name: str,
    deployments: list[Deployment],
    options: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        eps.create(name, deployments, **options)
    assert info.value.http_status == 400
    assert eps.list() == [] and pins(registry) == {}

    eps.create("ok", [Deployment(f"{M}/2")])
    if name == "fd":  # the same checks hold on update, which then changes nothing
        with pytest.raises(DefinitionError, match=message.replace("'fd'", "'ok'")):
            eps.update("ok", deployments=deployments, **options)
        assert eps.generations() == {"ok": 1} and pins(registry) == {2: ["ok"]}


def test_errors_name_the_endpoint_deployment_and_field(eps: Endpoints) -> None:
    with pytest.raises(DefinitionError) as info:
        eps.create("fd", [Deployment(f"{M}/1", 60, id="main"), Deployment(f"{M}/2", 140)])
    assert info.value.fields == {"endpoint": "fd", "deployment": 2, "field": "traffic"}
    with pytest.raises(DefinitionError) as info:
        eps.create("fd", [Deployment(f"{M}@gone")])
    assert info.value.fields["endpoint"] == "fd" and info.value.fields["deployment"] == "d1"
    assert info.value.fields["uri"] == f"models:/{M}@gone"


# Concurrency --------------------------------------------------------------------------------

RACERS = 4


def _race(eps: Endpoints, racer: int, barrier: Any) -> str:
    """Move the canary split from generation 1; "won" or "lost: <message>"."""
    split = [Deployment(f"models:/{M}/1", 100 - racer), Deployment(f"models:/{M}/2", racer)]
    barrier.wait()
    try:
        eps.update("fd", deployments=split, expected_generation=1, actor=f"racer {racer}")
    except ConflictError as exc:
        return f"lost: {exc.message}"
    return "won"


def _check_one_winner(eps: Endpoints, registry: Registry, outcomes: list[str]) -> None:
    assert sorted(o.split(":")[0] for o in outcomes) == ["lost"] * (len(outcomes) - 1) + ["won"]
    assert all("at generation 2, not 1 as expected" in o for o in outcomes if o != "won")
    final = eps.get("fd")
    assert final.generation == 2
    racer = int(str(final.updated_by).removeprefix("racer "))
    assert [d.traffic for d in final.deployments] == [100 - racer, racer]
    assert pins(registry) == {1: ["fd"], 2: ["fd"]}


def test_threads_race_to_update(eps: Endpoints, registry: Registry) -> None:
    eps.create("fd", [Deployment(f"models:/{M}/3")])
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def contender(racer: int) -> None:
        outcomes.append(_race(eps, racer, barrier))

    threads = [threading.Thread(target=contender, args=(r,)) for r in range(1, RACERS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    _check_one_winner(eps, registry, outcomes)


def _process_contender(settings: Settings, racer: int, barrier: Any, results: Any) -> None:
    with Endpoints(settings) as eps:
        results.put(_race(eps, racer, barrier))


def test_processes_race_to_update(eps: Endpoints, registry: Registry, settings: Settings) -> None:
    eps.create("fd", [Deployment(f"models:/{M}/3")])
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(target=_process_contender, args=(settings, r, barrier, results))
        for r in (1, 2)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(30)
    _check_one_winner(eps, registry, outcomes)


def test_an_update_without_expected_generation_applies_to_the_latest_state(
    eps: Endpoints, registry: Registry
) -> None:
    """Unconditional updates racing all apply, one after the other; ids stay unique."""
    eps.create("fd", [Deployment(f"models:/{M}/3")])
    barrier = threading.Barrier(RACERS)
    errors: list[BaseException] = []

    def contender(racer: int) -> None:
        barrier.wait()
        try:
            eps.update(
                "fd",
                deployments=[
                    Deployment(f"models:/{M}/1", 100 - racer),
                    Deployment(f"{M}/2", racer),
                ],
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=contender, args=(r,)) for r in range(1, RACERS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    final = eps.get("fd")
    assert final.generation == RACERS + 1
    assert [d.id for d in final.deployments] == ["d2", "d3"]  # d1 (v3) was replaced once
    assert isinstance(final, Endpoint)
