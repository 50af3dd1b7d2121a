"""The ``push`` component in real pipeline runs: blessed models become the champion, the
others do not, and of two runs evaluated against the same champion only one moves it."""

from __future__ import annotations

from typing import Any

import mloop
from mloop import Blessing, Model, component, pipeline
from mloop.components import push
from mloop.config import Settings
from mloop.registry import Registry

NAME = "flights-delay"


@component
def train(seed: int) -> Model:
    return {"weights": [seed, seed + 1]}  # type: ignore[return-value]  # a JSON Model


@component
def bless(blessed: bool, baseline: int = 0) -> Blessing:
    reasons = ["roc_auc 0.74 vs baseline 0.72: passes"] if blessed else ["roc_auc 0.70 < 0.72"]
    return {  # type: ignore[return-value]  # stored as the Blessing artifact
        "blessed": blessed,
        "reasons": reasons,
        "baseline": {"name": NAME, "version": baseline, "uri": f"models:/{NAME}@champion"}
        if baseline
        else None,
        "metrics": {"roc_auc": 0.74 if blessed else 0.70},
    }


@pipeline(name="continuous-training")
def continuous_training(seed: int, blessed: bool, baseline: int = 0) -> None:
    model = train(seed=seed)
    push(model, name=NAME, blessing=bless(blessed=blessed, baseline=baseline))


@pipeline(name="push-unblessed")
def push_without_blessing(seed: int) -> None:
    push(train(seed=seed), name=NAME, require_blessing=False, alias="challenger")


def run(settings: Settings, **params: Any) -> tuple[str, int, bool, str]:
    result = mloop.run(continuous_training, params, settings=settings, executor="inline")
    return (
        result.id,
        result.output("push", "version"),
        result.output("push", "pushed"),
        result.output("push", "reason"),
    )


def test_a_blessed_model_becomes_the_champion(settings: Settings, registry: Registry) -> None:
    run_id, version, pushed, reason = run(settings, seed=1, blessed=True)
    assert (version, pushed) == (1, True)
    assert "roc_auc 0.74 vs baseline 0.72: passes" in reason

    champion = registry.resolve(f"models:/{NAME}@champion")
    assert (champion.version, champion.source, champion.run_id) == (1, "pipeline", run_id)
    assert champion.metrics == {"roc_auc": 0.74}
    assert champion.created_by == f"run {run_id} step push"
    assert registry.artifact(champion).load() == {"weights": [1, 2]}
    move = registry.audit(NAME)[-1]
    assert (move.action, move.from_version, move.to_version, move.actor) == (
        "set_alias",
        None,
        1,
        f"run {run_id} step push",
    )
    assert f"{NAME} v1 → @champion" in mloop.Client(settings).logs(run_id, "push")


def test_an_unblessed_model_is_not_pushed(settings: Settings, registry: Registry) -> None:
    run(settings, seed=1, blessed=True)
    run_id, version, pushed, reason = run(settings, seed=2, blessed=False, baseline=1)
    assert (version, pushed, reason) == (0, False, "roc_auc 0.70 < 0.72")
    assert registry.get_model(NAME).aliases == {"champion": 1}
    assert registry.get_model(NAME).versions == 1
    assert "not pushed: roc_auc 0.70 < 0.72" in mloop.Client(settings).logs(run_id, "push")


def test_of_two_pushes_against_the_same_champion_one_wins(
    settings: Settings, registry: Registry
) -> None:
    run(settings, seed=1, blessed=True)  # v1 @champion
    # Two runs both evaluated against v1; the first to push moves the alias to v2.
    _, first, first_pushed, _ = run(settings, seed=2, blessed=True, baseline=1)
    _, second, second_pushed, reason = run(settings, seed=3, blessed=True, baseline=1)
    assert (first, first_pushed, second, second_pushed) == (2, True, 3, False)
    assert "@champion moved to v2 meanwhile" in reason
    assert "v3 registered without @champion" in reason
    assert registry.get_model(NAME).aliases == {"champion": 2}
    moves = [(e.from_version, e.to_version) for e in registry.audit(NAME) if e.alias]
    assert moves == [(None, 1), (1, 2)]


def test_a_first_push_expects_no_champion(settings: Settings, registry: Registry) -> None:
    run(settings, seed=1, blessed=True)
    # Evaluated with no baseline, but a champion exists by the time it pushes.
    _, version, pushed, reason = run(settings, seed=2, blessed=True)
    assert (version, pushed) == (2, False)
    assert "@champion moved to v1 meanwhile (this model was evaluated against no champion)" in (
        reason
    )


def test_push_without_a_blessing(settings: Settings, registry: Registry) -> None:
    result = mloop.run(push_without_blessing, {"seed": 5}, settings=settings, executor="inline")
    assert result.output("push", "pushed") is True
    assert registry.get_model(NAME).aliases == {"challenger": 1}


def test_push_from_a_worker_process(settings: Settings, registry: Registry) -> None:
    result = mloop.run(
        continuous_training, {"seed": 1, "blessed": True}, settings=settings, executor="process"
    )
    assert result.output("push", "pushed") is True
    champion = registry.resolve(f"models:/{NAME}@champion")
    assert champion.created_by == f"run {result.id} step push"
