"""What a run reports: progress events while it runs, and its result when it stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mloop.errors import NotFoundError, RunCancelled, StepFailed, StepTimeout
from mloop.orchestrator._task import ArtifactRef, StepResult

if TYPE_CHECKING:
    from mloop.artifacts import ArtifactStore

EventKind = Literal["run_started", "started", "finished", "retrying", "run_finished"]


@dataclass(frozen=True)
class StepEvent:
    """Progress of a run, for live displays (``on_event`` callback)."""

    kind: EventKind
    run_id: str
    key: str = ""
    state: str = ""
    attempt: int = 1
    duration: float = 0.0
    summary: str = ""
    error: str | None = None


@dataclass
class StepView:
    key: str
    state: str
    execution_id: int | None
    outputs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class RunResult:
    """What a finished (or stopped) run produced."""

    id: str
    pipeline: str
    state: str
    steps: dict[str, StepView]
    error: str | None
    artifact_store: ArtifactStore
    failures: dict[str, StepResult] = field(default_factory=dict)

    def raise_for_state(self) -> RunResult:
        """Raise the error a failed or cancelled run stands for; return self otherwise."""
        if self.state == "cancelled":
            raise RunCancelled(self.error or "the run was cancelled", run=self.id)
        if self.state == "succeeded":
            return self
        for key, failure in self.failures.items():
            if failure.kind == "timeout":
                raise StepTimeout(failure.error or "timeout", run=self.id, step=key)
            raise StepFailed(
                f"run {self.id}: step {key} failed: {failure.error}",
                traceback=failure.traceback,
                run=self.id,
                step=key,
            )
        raise StepFailed(f"run {self.id} failed: {self.error}", run=self.id)

    def output(self, step: str, name: str = "output") -> Any:
        """A step's output: an artifact (bound, ready to ``load()``) or a parameter value."""
        from mloop.artifacts import artifact_type

        view = self.steps.get(step)
        if view is None or name not in view.outputs:
            raise NotFoundError(
                f"run {self.id} has no output {name!r} of step {step!r}", run=self.id, step=step
            )
        value = view.outputs[name]
        if isinstance(value, ArtifactRef):
            cls = artifact_type(value.type)
            return cls(
                value.uri,
                value.fingerprint,
                value.properties,
                id=value.id,
                store=self.artifact_store,
            )
        return value
