"""Concurrent writers: alias compare-and-set and version numbering under threads and OS
processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

from mloop.artifacts import Model
from mloop.config import Settings
from mloop.errors import ConflictError
from mloop.registry import Registry

MakeModel = Callable[..., Model]
RACERS = 6


def _race(registry: Registry, target: int, barrier: Any) -> str:
    """One contender: move champion from v1 to ``target``; "won" or "lost: <message>"."""
    barrier.wait()
    try:
        registry.set_alias("m", "champion", target, expected=1, actor=f"racer {target}")
    except ConflictError as exc:
        return f"lost: {exc.message}"
    return "won"


def _setup_race(registry: Registry, make_model: MakeModel) -> None:
    for _ in range(RACERS + 1):
        registry.register("m", make_model())
    registry.set_alias("m", "champion", 1, expected=None)


def _check_one_winner(registry: Registry, outcomes: list[str]) -> None:
    assert sorted(o.split(":")[0] for o in outcomes) == ["lost"] * (RACERS - 1) + ["won"]
    winner = registry.get_model("m").aliases["champion"]
    assert winner != 1
    assert all(f"points at v{winner}, not v1" in o for o in outcomes if o != "won")
    moves = [e for e in registry.audit("m") if e.action == "set_alias"]
    assert [(e.from_version, e.to_version) for e in moves] == [(None, 1), (1, winner)]
    assert moves[1].actor == f"racer {winner}"


def test_threads_race_to_move_an_alias(registry: Registry, make_model: MakeModel) -> None:
    _setup_race(registry, make_model)
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def contender(target: int) -> None:
        outcomes.append(_race(registry, target, barrier))

    threads = [threading.Thread(target=contender, args=(v,)) for v in range(2, RACERS + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    _check_one_winner(registry, outcomes)


def _process_contender(settings: Settings, target: int, barrier: Any, results: Any) -> None:
    with Registry(settings) as registry:
        results.put((target, _race(registry, target, barrier)))


def test_processes_race_to_move_an_alias(
    registry: Registry, make_model: MakeModel, settings: Settings
) -> None:
    _setup_race(registry, make_model)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(RACERS)
    results = context.Queue()
    processes = [
        context.Process(target=_process_contender, args=(settings, v, barrier, results))
        for v in range(2, RACERS + 2)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=60)[1] for _ in processes]
    for p in processes:
        p.join(60)
        assert p.exitcode == 0
    _check_one_winner(registry, outcomes)


def test_concurrent_registrations_get_distinct_versions(
    registry: Registry, make_model: MakeModel
) -> None:
    models = [make_model() for _ in range(8)]
    barrier = threading.Barrier(len(models))
    versions: list[int] = []

    def register(model: Model) -> None:
        barrier.wait()
        versions.append(registry.register("fresh", model).version)

    threads = [threading.Thread(target=register, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(versions) == list(range(1, 9))
    audit = registry.audit("fresh")
    assert [e.action for e in audit].count("create_model") == 1
    assert sorted(e.version or 0 for e in audit if e.action == "register") == list(range(1, 9))


def _process_register(settings: Settings, artifact_id: int, barrier: Any, results: Any) -> None:
    with Registry(settings) as registry:
        barrier.wait()
        results.put(registry.register("fresh", artifact_id).version)


def test_processes_register_distinct_versions(
    registry: Registry, make_model: MakeModel, settings: Settings
) -> None:
    ids = [make_model().id or 0 for _ in range(4)]
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(ids))
    results = context.Queue()
    processes = [
        context.Process(target=_process_register, args=(settings, i, barrier, results)) for i in ids
    ]
    for p in processes:
        p.start()
    versions = sorted(results.get(timeout=60) for _ in processes)
    for p in processes:
        p.join(60)
    assert versions == [1, 2, 3, 4]
    assert sorted(v.artifact_id for v in registry.list_versions("fresh")) == sorted(ids)
