"""``run`` and ``resume``: the two ways to drive a pipeline from Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mloop.config import Settings, load_settings
from mloop.orchestrator._executors import Executor, make_executor
from mloop.orchestrator._result import RunResult, StepEvent
from mloop.orchestrator._runner import Runner

if TYPE_CHECKING:
    from mloop.dsl import Pipeline


def _runner(
    settings: Settings | None,
    executor: str | Executor | None,
    cache: bool,
    on_event: Callable[[StepEvent], None] | None,
) -> Runner:
    from mloop.artifacts import ArtifactStore
    from mloop.store import MetadataStore

    settings = settings or load_settings()
    if not isinstance(executor, Executor):
        executor = make_executor(
            executor or settings.executor, max_workers=settings.resolved_max_workers
        )
    return Runner(
        settings,
        MetadataStore.from_settings(settings),
        ArtifactStore.from_settings(settings),
        executor,
        cache=cache,
        on_event=on_event,
    )


def run(
    pipeline: Pipeline | dict[str, Any],
    params: dict[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    executor: str | Executor | None = None,
    cache: bool = True,
    run_id: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Run ``pipeline`` (a ``@pipeline`` or a compiled spec) with ``params`` to completion.

    Every execution, artifact and lineage edge is recorded in the metadata store of
    ``settings`` (default: ``./.mloop``). A failed run raises :class:`mloop.errors.StepFailed`
    carrying the step's traceback unless ``raise_on_failure`` is false; the steps that
    succeeded keep their outputs either way and :func:`resume` picks up from them.
    """
    from mloop.dsl import Pipeline, load_spec, spec_hash

    if isinstance(pipeline, Pipeline):
        spec = pipeline.compile()
        values = pipeline.validate_params(dict(params or {}))
    else:
        spec = load_spec(pipeline)
        values = dict(params or {})
    runner = _runner(settings, executor, cache, on_event)
    try:
        result = runner.start(spec, spec_hash(spec), values, run_id=run_id)
    finally:
        runner.store.close()
    return result.raise_for_state() if raise_on_failure else result


def resume(
    run_id: str,
    *,
    settings: Settings | None = None,
    executor: str | Executor | None = None,
    cache: bool = True,
    on_event: Callable[[StepEvent], None] | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Continue a failed, cancelled or crashed run: only what did not succeed runs again."""
    runner = _runner(settings, executor, cache, on_event)
    try:
        result = runner.resume(run_id)
    finally:
        runner.store.close()
    return result.raise_for_state() if raise_on_failure else result
