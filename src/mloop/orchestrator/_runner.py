"""The orchestrator: runs a compiled spec to completion, recording everything.

One :class:`Runner` drives one run. It asks the :class:`Graph` what can be decided, looks
each ready step up in the cache, hands the rest to an executor, and records every execution,
input and output in the metadata store as it happens, so a run killed at any moment can be
resumed from what it had finished.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import ConflictError
from mloop.orchestrator._cache import cache_key
from mloop.orchestrator._executors import Executor, InlineExecutor
from mloop.orchestrator._graph import Decision, Graph, Instance
from mloop.orchestrator._liveness import Heartbeat, owner_is_dead, this_owner
from mloop.orchestrator._result import RunResult, StepEvent, StepView
from mloop.orchestrator._task import ArtifactRef, StepResult, StepTask
from mloop.store import InputArtifact, OutputArtifact

if TYPE_CHECKING:
    from mloop.artifacts import ArtifactStore
    from mloop.config import Settings
    from mloop.store import ArtifactRecord, ExecutionRecord, MetadataStore, RunRecord


def _ref(record: ArtifactRecord) -> ArtifactRef:
    return ArtifactRef(record.type, record.uri, record.fingerprint, record.properties, record.id)


def _summary(outputs: dict[str, Any]) -> str:
    parts = []
    for name, value in outputs.items():
        if isinstance(value, ArtifactRef):
            props = value.properties
            if props.get("num_rows") is not None:
                features = props.get("num_features")
                parts.append(
                    f"{props['num_rows']:,} rows" + (f", {features} features" if features else "")
                )
            if "errors" in props:
                errors, warnings = props["errors"], props.get("warnings", 0)
                parts.append(
                    f"{errors} errors, {warnings} warnings"
                    if errors or warnings
                    else "no anomalies"
                )
            if props.get("drifted_features"):
                parts.append("drift in " + ", ".join(props["drifted_features"][:5]))
        elif isinstance(value, bool | int | float | str) and len(parts) < 3:
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            parts.append(shown if name == "output" else f"{name} {shown}"[:60])
    return "  ".join(parts)


class Runner:
    """Drives one run of a spec on an executor."""

    def __init__(
        self,
        settings: Settings,
        store: MetadataStore,
        artifacts: ArtifactStore,
        executor: Executor,
        *,
        cache: bool = True,
        on_event: Callable[[StepEvent], None] | None = None,
    ) -> None:
        self.settings = settings
        # What a step's context rebuilds the settings from, in whichever process it runs.
        self._settings_values = settings.model_dump(mode="json")
        self.store = store
        self.artifacts = artifacts
        self.executor = executor
        self.cache = cache
        self.on_event = on_event or (lambda event: None)
        self.owner = this_owner()

    # Entry points -----------------------------------------------------------------------
    def start(
        self,
        spec: dict[str, Any],
        spec_hash: str,
        params: dict[str, Any],
        run_id: str | None = None,
    ) -> RunResult:
        version = self.store.register_pipeline_version(spec["name"], spec, spec_hash)
        run = self.store.create_run(version.id, params, run_id=run_id, owner=self.owner)
        return self._drive(run, spec, {})

    def resume(self, run_id: str) -> RunResult:
        run = self.store.get_run(run_id)
        stale_after = self.settings.heartbeat_timeout
        if run.owner and owner_is_dead(run.owner):
            stale_after = 0.0
        if run.state == "succeeded":
            raise ConflictError(f"run {run.id} already succeeded; nothing to resume", run=run.id)
        run = self.store.claim_run(run.id, self.owner, stale_after=stale_after)
        spec = self.store.get_pipeline_version(run.pipeline_version_id).spec
        for execution in self.store.list_executions(run.id):
            if execution.state == "running":
                self.store.finish_execution(
                    execution.id, "failed", error="abandoned: the orchestrator stopped"
                )
        done = {
            key: (execution, {k: [_ref(a) for a in v] for k, v in outputs.items()})
            for key, (execution, outputs) in self.store.run_outputs(run.id).items()
        }
        return self._drive(run, spec, done)

    # The loop ---------------------------------------------------------------------------
    def _drive(
        self,
        run: RunRecord,
        spec: dict[str, Any],
        done: dict[str, tuple[ExecutionRecord, dict[str, list[ArtifactRef]]]],
    ) -> RunResult:
        graph = Graph(spec, run.params, self._load_value)
        for key, (execution, outputs) in done.items():
            values: dict[str, Any] = dict(execution.output_params)
            component = (
                graph.component_of(_step_name(key)) if _step_name(key) in graph.steps else None
            )
            for name, refs in outputs.items():
                is_list = component is not None and component["outputs"].get(name, {}).get("list")
                values[name] = refs if is_list else refs[0]
            graph.add(
                Instance(
                    key=key,
                    step=_step_name(key),
                    state="succeeded",
                    outputs=values,
                    execution_id=execution.id,
                )
            )
        self.on_event(StepEvent("run_started", run.id))
        state = _RunState(run=run, graph=graph)
        heartbeat = None
        if isinstance(self.executor, InlineExecutor):  # a step blocks the loop: beat aside
            heartbeat = Heartbeat(self.store, run.id, self.owner, self.settings.heartbeat_interval)
        try:
            if heartbeat:
                heartbeat.start()
            self._loop(state)
        except BaseException:
            self.executor.close()
            for key, execution_id in list(state.running.items()):
                self.store.finish_execution(
                    execution_id, "cancelled", error="the orchestrator was interrupted"
                )
                state.running.pop(key)
            self.store.set_run_state(run.id, "failed", error="the orchestrator was interrupted")
            raise
        finally:
            if heartbeat:
                heartbeat.stop()
        self.executor.close()
        return self._finish(state)

    def _loop(self, state: _RunState) -> None:
        graph = state.graph
        interval = self.settings.heartbeat_interval
        next_beat = time.monotonic() + interval
        exits_started = False
        while True:
            decisions = graph.decide()
            while decisions:  # cache hits and skips settle at once and may unlock more
                for decision in decisions:
                    self._apply(state, decision)
                decisions = graph.decide()
            now = time.monotonic()
            while state.retries and state.retries[0][0] <= now:
                _, _, decision, attempt = heapq.heappop(state.retries)
                self._submit(state, decision, attempt)
            if now >= next_beat:
                next_beat = now + interval
                if self._cancel_requested(state):
                    return
            if not state.running and not state.retries:
                if not exits_started and graph.is_settled():
                    exits_started = True
                    for step in graph.exit_steps:
                        self._apply(state, self._exit_decision(state, step))
                    if state.running:
                        continue
                if not state.running:
                    return
            wait = interval
            if state.retries:
                wait = max(0.0, min(wait, state.retries[0][0] - time.monotonic()))
            for result in self.executor.poll(wait):
                self._record(state, result)

    def _cancel_requested(self, state: _RunState) -> bool:
        self.store.heartbeat(state.run.id, self.owner)
        if self.store.get_run(state.run.id).state != "cancelled":
            return False
        state.cancelled = True
        for key, execution_id in list(state.running.items()):
            self.executor.cancel(key)
            self.store.finish_execution(execution_id, "cancelled", error="the run was cancelled")
            state.graph.instances[key].state = "failed"
        state.running.clear()
        state.retries.clear()
        return True

    # Decisions ---------------------------------------------------------------------------
    def _exit_decision(self, state: _RunState, step: str) -> Decision:
        failed = sorted(
            k for k, i in state.graph.instances.items() if i.state in ("failed", "blocked")
        )
        status = {
            "run_id": state.run.id,
            "pipeline": state.run.pipeline,
            "state": "failed" if failed else "succeeded",
            "failed_steps": failed,
        }
        params: dict[str, Any] = {}
        for name, ref in state.graph.steps[step].get("inputs", {}).items():
            if ref.get("run_status"):
                params[name] = {"__run_status__": status}
            else:
                params[name] = state.graph.resolve(ref, {})
        return Decision(key=step, step=step, action="run", params=params)

    def _apply(self, state: _RunState, decision: Decision) -> None:
        graph = state.graph
        component = graph.component_of(decision.step)
        if decision.action != "run":
            instance_state = "skipped" if decision.action == "skip" else "failed"
            if decision.action == "block":
                instance_state = "blocked"
            execution_id = None
            if decision.action != "block":
                record = self.store.record_skipped(
                    state.run.id,
                    decision.key,
                    component=component["name"],
                    reason=decision.reason or decision.action,
                )
                execution_id = record.id
                if decision.action == "fail":
                    self.store.finish_execution(record.id, "failed", error=decision.reason)
            graph.add(
                Instance(
                    key=decision.key,
                    step=decision.step,
                    state=instance_state,  # type: ignore[arg-type]
                    execution_id=execution_id,
                    reason=decision.reason,
                )
            )
            self.on_event(
                StepEvent(
                    "finished", state.run.id, decision.key, instance_state, error=decision.reason
                )
            )
            return
        options = graph.options_of(decision.step)
        params = {k: v for k, v in decision.params.items()}
        key = cache_key(component["fingerprint"], params, decision.artifacts)
        graph.instances[decision.key] = Instance(decision.key, decision.step, "running")
        if self.cache and options.get("cache", True) and not graph.steps[decision.step].get("exit"):
            hit = self.store.find_cached(key, max_age=options.get("cache_max_age"))
            if hit is not None:
                self._record_cache_hit(state, decision, key, hit)
                return
        state.cache_keys[decision.key] = key
        self._submit(state, decision, attempt=1)

    def _inputs(self, decision: Decision) -> list[InputArtifact]:
        inputs: list[InputArtifact] = []
        for name, ref in decision.artifacts.items():
            if isinstance(ref, list):
                inputs.extend(InputArtifact(name, r.id, i) for i, r in enumerate(ref) if r.id)
            elif ref.id is not None:
                inputs.append(InputArtifact(name, ref.id))
        return inputs

    def _record_cache_hit(self, state: _RunState, decision: Decision, key: str, hit: Any) -> None:
        component = state.graph.component_of(decision.step)
        execution = self.store.start_execution(
            state.run.id,
            decision.key,
            component=component["name"],
            component_fingerprint=component["fingerprint"],
            cache_key=key,
            params=_public_params(decision.params),
            inputs=self._inputs(decision),
        )
        # The cached execution gets artifact rows of its own (same uri and fingerprint), so
        # each run's lineage is a tree of its own executions; cached_from links the original.
        outputs = [
            OutputArtifact(name, a.type, a.uri, a.fingerprint, a.properties, index=i)
            for name, records in hit.outputs.items()
            for i, a in enumerate(records)
        ]
        _, records = self.store.finish_execution(
            execution.id,
            "cached",
            outputs=outputs,
            output_params=hit.execution.output_params,
            cached_from=hit.execution.id,
            log_uri=hit.execution.log_uri,
        )
        values: dict[str, Any] = dict(hit.execution.output_params)
        values.update({name: _ref(recs[0]) for name, recs in records.items()})
        instance = state.graph.instances[decision.key]
        instance.state, instance.outputs, instance.execution_id = "cached", values, execution.id
        state.graph.touch(decision.step)
        self.on_event(
            StepEvent("finished", state.run.id, decision.key, "cached", summary=_summary(values))
        )

    def _submit(self, state: _RunState, decision: Decision, attempt: int) -> None:
        graph = state.graph
        component = graph.component_of(decision.step)
        log_path = self.settings.resolved_log_root / state.run.id / f"{decision.key}.log"
        task = StepTask(
            key=decision.key,
            run_id=state.run.id,
            component=component,
            artifacts=decision.artifacts,
            params=decision.params,
            artifact_root=self.settings.resolved_artifact_root,
            storage_options=dict(self.settings.storage_options),
            cache_dir=str(self.artifacts.cache_dir or self.settings.home / "cache" / "artifacts"),
            log_path=str(log_path),
            attempt=attempt,
            timeout=graph.options_of(decision.step).get("timeout"),
            settings=self._settings_values,
        )
        # Hand the task over first and record its start while the worker runs it: the
        # result is only read after the start is recorded, and a crash in between loses
        # nothing that resume would not redo.
        self.executor.submit(task)
        execution = self.store.start_execution(
            state.run.id,
            decision.key,
            component=component["name"],
            component_fingerprint=component["fingerprint"],
            cache_key=state.cache_keys.get(decision.key),
            params=_public_params(decision.params),
            inputs=self._inputs(decision),
            attempt=attempt,
        )
        state.running[decision.key] = execution.id
        state.decisions[decision.key] = decision
        instance = graph.instances[decision.key]
        instance.state, instance.attempt, instance.execution_id = "running", attempt, execution.id
        self.on_event(StepEvent("started", state.run.id, decision.key, "running", attempt))

    def _record(self, state: _RunState, result: StepResult) -> None:
        execution_id = state.running.pop(result.key, None)
        if execution_id is None:  # a cancelled task that still reported
            return
        graph = state.graph
        instance = graph.instances[result.key]
        log_uri = result.log_path
        if result.kind == "succeeded":
            outputs = [
                OutputArtifact(name, r.type, r.uri, r.fingerprint, r.properties, reuse_id=r.id)
                for name, r in result.artifacts.items()
            ]
            _, records = self.store.finish_execution(
                execution_id,
                "succeeded",
                outputs=outputs,
                output_params=result.params,
                log_uri=log_uri,
                metrics=result.metrics,
                children=result.children,
            )
            values: dict[str, Any] = dict(result.params)
            values.update({name: _ref(recs[0]) for name, recs in records.items()})
            instance.state, instance.outputs = "succeeded", values
            graph.touch(instance.step)
            self.on_event(
                StepEvent(
                    "finished",
                    state.run.id,
                    result.key,
                    "succeeded",
                    instance.attempt,
                    result.duration,
                    _summary(values),
                )
            )
            return
        self.store.finish_execution(
            execution_id,
            "failed",
            error=result.error,
            log_uri=log_uri,
            metrics=result.metrics,
            children=result.children,
        )
        options = graph.options_of(instance.step)
        retries = int(options.get("retries") or 0)
        if instance.attempt <= retries and not state.cancelled:
            delay = float(options.get("retry_backoff", 1.0)) * 2 ** (instance.attempt - 1)
            decision = state.decisions[result.key]
            heapq.heappush(
                state.retries,
                (time.monotonic() + delay, next(state.tiebreak), decision, instance.attempt + 1),
            )
            self.on_event(
                StepEvent(
                    "retrying",
                    state.run.id,
                    result.key,
                    "failed",
                    instance.attempt,
                    result.duration,
                    error=result.error,
                )
            )
            return
        instance.state, instance.reason = "failed", result.error
        state.failures[result.key] = result
        graph.touch(instance.step)
        self.on_event(
            StepEvent(
                "finished",
                state.run.id,
                result.key,
                "failed",
                instance.attempt,
                result.duration,
                error=result.error,
            )
        )

    # End of the run ----------------------------------------------------------------------
    def _finish(self, state: _RunState) -> RunResult:
        graph = state.graph
        failed = {k: i for k, i in graph.instances.items() if i.state in ("failed", "blocked")}
        error = None
        if state.cancelled:
            run_state = "cancelled"
            error = "the run was cancelled"
        elif failed:
            run_state = "failed"
            first = next((k for k, i in failed.items() if i.state == "failed"), next(iter(failed)))
            error = f"step {first} failed: {failed[first].reason}"
        elif not graph.is_settled():
            run_state = "failed"
            error = "steps could not be scheduled: " + ", ".join(graph.unresolved_steps())
        else:
            run_state = "succeeded"
        if not state.cancelled:
            self.store.set_run_state(state.run.id, run_state, error=error)  # type: ignore[arg-type]
        steps = {
            key: StepView(key, inst.state, inst.execution_id, dict(inst.outputs), inst.reason)
            for key, inst in graph.instances.items()
        }
        self.on_event(StepEvent("run_finished", state.run.id, state=run_state, error=error))
        return RunResult(
            state.run.id,
            state.run.pipeline,
            run_state,
            steps,
            error,
            self.artifacts,
            dict(state.failures),
        )

    def _load_value(self, ref: ArtifactRef) -> Any:
        from mloop.artifacts import artifact_type

        artifact = artifact_type(ref.type)(ref.uri, ref.fingerprint, ref.properties, id=ref.id)
        return self.artifacts.load(artifact)


@dataclass
class _RunState:
    run: RunRecord
    graph: Graph
    running: dict[str, int] = field(default_factory=dict)  # key -> execution id
    decisions: dict[str, Decision] = field(default_factory=dict)
    cache_keys: dict[str, str] = field(default_factory=dict)
    retries: list[tuple[float, int, Decision, int]] = field(default_factory=list)
    tiebreak: itertools.count[int] = field(default_factory=itertools.count)
    failures: dict[str, StepResult] = field(default_factory=dict)
    cancelled: bool = False


def _public_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if not (isinstance(v, dict) and "__run_status__" in v)}


def _step_name(key: str) -> str:
    return key.split("[", 1)[0]
