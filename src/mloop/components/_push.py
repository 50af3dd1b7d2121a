"""The ``push`` component: register a blessed model and move its alias, or say why not.

What TFX's Pusher does, against mloop's registry: when the ``Blessing`` of an ``evaluate``
step says the candidate beats the baseline (or no blessing is required), the model becomes
the next version of ``name`` and ``alias`` (``champion``) moves to it. The move is a
compare-and-set on the baseline the candidate was evaluated against: if another run moved
the alias meanwhile, this run's version stays registered without the alias and the step
says so (it does not fail: losing a race is an outcome, not an error). A model that is not
blessed is not registered; the step's ``reason`` output keeps the blessing's reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from mloop.artifacts import Blessing, Model
from mloop.dsl import component

if TYPE_CHECKING:
    from mloop.registry import ExpectedVersion

__all__ = ["PushResult", "push"]


class PushResult(NamedTuple):
    version: int  # the registered version (0: nothing registered)
    pushed: bool  # registered and, if an alias was asked for, the alias moved to it
    reason: str


@component(name="push", version="1", cache=False)
def push(
    model: Model,
    name: str,
    blessing: Blessing | None = None,
    alias: str | None = "champion",
    description: str | None = None,
    tags: dict[str, Any] | None = None,
    require_blessing: bool = True,
) -> PushResult:
    """Register ``model`` as the next version of ``name`` and point ``alias`` at it, if the
    ``blessing`` says so (or there is none and ``require_blessing`` is false). Not cached:
    the registry moves between runs."""
    from mloop.config import load_settings
    from mloop.errors import ConflictError
    from mloop.orchestrator import current_step
    from mloop.registry import ANY, Registry, check_alias, check_name, default_actor
    from mloop.registry._uri import parse_model_uri

    check_name(name)
    if alias is not None:
        check_alias(alias)
    context = current_step()
    settings = context.settings if context is not None else load_settings()
    actor = context.actor if context is not None else default_actor()
    verdict: dict[str, Any] | None = dict(blessing.load()) if blessing is not None else None

    expected: ExpectedVersion = ANY
    if verdict is None:
        if require_blessing:
            return _done(0, False, "no blessing given and require_blessing=True", name)
        why = "pushed without a blessing (require_blessing=False)"
    else:
        reasons = [str(r) for r in verdict.get("reasons") or []]
        if not verdict.get("blessed"):
            return _done(0, False, "; ".join(reasons) or "the model is not blessed", name)
        why = "blessed: " + ("; ".join(reasons) or "all checks passed")
        baseline = verdict.get("baseline")
        if not baseline:
            expected = None  # evaluated against nothing: the alias must still not exist
        elif baseline.get("name") == name and baseline.get("version") is not None:
            uri = baseline.get("uri")
            same_alias = uri is None or parse_model_uri(str(uri)).alias in (None, alias)
            expected = int(baseline["version"]) if same_alias else ANY

    store = context.metadata_store() if context is not None else None
    with Registry(settings, store=store) as registry:
        version = registry.register(
            name,
            model,
            metrics=dict((verdict or {}).get("metrics") or {}),
            description=description,
            tags=tags,
            source="pipeline",
            actor=actor,
        )
        if alias is None:
            return _done(version.version, True, f"v{version.version} registered (no alias)", name)
        try:
            registry.set_alias(
                name, alias, version.version, expected=expected, actor=actor, reason=why
            )
        except ConflictError as exc:
            current = exc.fields.get("current")
            where = f"v{current}" if current is not None else "nowhere"
            against = f"v{expected}" if isinstance(expected, int) else "no champion"
            reason = (
                f"@{alias} moved to {where} meanwhile (this model was evaluated against "
                f"{against}); v{version.version} registered without @{alias}"
            )
            return _done(version.version, False, reason, name)
    print(f"{name} v{version.version} → @{alias}")
    return PushResult(version.version, True, why)


def _done(version: int, pushed: bool, reason: str, name: str) -> PushResult:
    if pushed:
        print(f"{name}: {reason}")
    else:
        print(f"{name} not pushed: {reason}")
    return PushResult(version, pushed, reason)
