"""``mloop.Client``: the questions the CLI answers, asked from Python (notebooks, scripts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mloop.config import Settings, load_settings
from mloop.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from mloop.artifacts import Artifact, ArtifactStore
    from mloop.orchestrator import RunResult
    from mloop.store import (
        ArtifactRecord,
        ExecutionRecord,
        LineageGraph,
        MetadataStore,
        RunRecord,
    )


class Client:
    """Read runs, executions, artifacts and lineage; load artifact values; resume or cancel.

    >>> client = mloop.Client()                      # ./.mloop, or mloop.toml / MLOOP_* env
    >>> run = client.runs(limit=1)[0]
    >>> client.executions(run.id)
    >>> client.lineage("artifact", 42)
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._store: MetadataStore | None = None
        self._artifacts: ArtifactStore | None = None

    @property
    def store(self) -> MetadataStore:
        if self._store is None:
            from mloop.store import MetadataStore

            self._store = MetadataStore.from_settings(self.settings)
        return self._store

    @property
    def artifact_store(self) -> ArtifactStore:
        if self._artifacts is None:
            from mloop.artifacts import ArtifactStore

            self._artifacts = ArtifactStore.from_settings(self.settings)
        return self._artifacts

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Runs -------------------------------------------------------------------------------
    def runs(
        self, *, pipeline: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        return self.store.list_runs(pipeline=pipeline, state=state, limit=limit)

    def run(self, run_id: str) -> RunRecord:
        return self.store.get_run(run_id)

    def status(self, run: RunRecord) -> str:
        """The run's state, with ``crashed`` for a running run whose orchestrator is gone."""
        if run.state != "running":
            return run.state
        from mloop.orchestrator import owner_is_dead

        if run.owner and owner_is_dead(run.owner):
            return "crashed"
        if run.heartbeat_at is not None:
            silent = (datetime.now(UTC) - run.heartbeat_at).total_seconds()
            if silent > self.settings.heartbeat_timeout:
                return "crashed"
        return "running"

    def executions(self, run_id: str) -> list[ExecutionRecord]:
        return self.store.list_executions(self.store.get_run(run_id).id)

    def execution(self, execution_id: int) -> ExecutionRecord:
        return self.store.get_execution(execution_id)

    def cancel(self, run_id: str) -> RunRecord:
        """Ask a running run to stop (its orchestrator stops its steps within a heartbeat)."""
        run = self.store.get_run(run_id)
        if run.state in ("succeeded", "failed", "cancelled"):
            raise ConflictError(f"run {run.id} is already {run.state}", run=run.id)
        return self.store.set_run_state(run.id, "cancelled", error="cancelled by user")

    def resume(self, run_id: str, **kwargs: Any) -> RunResult:
        from mloop.orchestrator import resume

        return resume(run_id, settings=self.settings, **kwargs)

    def logs(self, run_id: str, step: str | None = None) -> str:
        """The captured output of one step, or of every step of the run in order."""
        run = self.store.get_run(run_id)
        executions = self.store.list_executions(run.id)
        if step is not None:
            executions = [e for e in executions if e.step == step or e.step.startswith(step + "[")]
            if not executions:
                steps = sorted({e.step for e in self.store.list_executions(run.id)})
                raise NotFoundError(
                    f"run {run.id} has no step {step!r} (steps: {', '.join(steps)})",
                    run=run.id,
                    step=step,
                )
        parts = []
        seen: set[str] = set()
        for execution in executions:
            if not execution.log_uri or execution.log_uri in seen:
                continue
            seen.add(execution.log_uri)
            path = Path(execution.log_uri)
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "".join(parts)

    # Artifacts --------------------------------------------------------------------------
    def artifacts(
        self, *, type: str | None = None, run_id: str | None = None, limit: int = 50
    ) -> list[ArtifactRecord]:
        if run_id is not None:
            run_id = self.store.get_run(run_id).id
        return self.store.list_artifacts(type=type, run_id=run_id, limit=limit)

    def artifact(self, artifact_id: int) -> Artifact:
        """The artifact with this id, bound to the artifact store (``.load()`` reads it)."""
        from mloop.artifacts import artifact_type

        record = self.store.get_artifact(artifact_id)
        return artifact_type(record.type)(
            record.uri,
            record.fingerprint,
            record.properties,
            id=record.id,
            store=self.artifact_store,
        )

    def load(self, artifact: int | Artifact, as_type: type | None = None) -> Any:
        """Read an artifact's value (verified against its fingerprint)."""
        if isinstance(artifact, int):
            artifact = self.artifact(artifact)
        return self.artifact_store.load(artifact, as_type=as_type)

    def outputs(self, run_id: str) -> dict[str, dict[str, list[ArtifactRecord]]]:
        """Output artifacts of each successful step of a run, by step and output name."""
        run = self.store.get_run(run_id)
        return {key: outputs for key, (_, outputs) in self.store.run_outputs(run.id).items()}

    def output(self, run_id: str, step: str, name: str = "output") -> ArtifactRecord:
        """The artifact a step of a run produced (``name``: the output, default ``output``)."""
        outputs = self.outputs(run_id)
        if step not in outputs:
            known = ", ".join(sorted(outputs)) or "none"
            raise NotFoundError(
                f"run {run_id} has no successful step {step!r} (steps with outputs: {known})",
                run=run_id,
                step=step,
            )
        artifacts = outputs[step].get(name)
        if not artifacts:
            known = ", ".join(sorted(outputs[step])) or "none"
            raise NotFoundError(
                f"step {step!r} of run {run_id} has no artifact output {name!r} "
                f"(artifact outputs: {known})",
                run=run_id,
                step=step,
                output=name,
            )
        return artifacts[0]

    def resolve(self, reference: str) -> ArtifactRecord:
        """An artifact by id (``42``), by where it was made (``RUN/STEP[/OUTPUT]``), or the
        ``Model`` artifact of a registered model version (``models:/NAME@ALIAS``,
        ``models:/NAME/VERSION``)."""
        if reference.isdigit():
            return self.store.get_artifact(int(reference))
        if reference.startswith("models:/"):
            from mloop.registry import Registry

            registry = Registry(self.settings, store=self.store, artifacts=self.artifact_store)
            return self.store.get_artifact(registry.resolve(reference).artifact_id)
        parts = reference.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise NotFoundError(
                f"artifact reference {reference!r} must be an id, RUN/STEP[/OUTPUT] "
                "or models:/NAME@ALIAS",
                artifact=reference,
            )
        return self.output(*parts)

    # Experiments ------------------------------------------------------------------------
    def compare(
        self,
        run_ids: Sequence[str] = (),
        *,
        pipeline: str | None = None,
        last: int = 10,
        step: str | None = None,
        trials: bool = False,
    ) -> pd.DataFrame:
        """Params and metrics of the training executions of runs, one row per execution.

        Runs are the given ids (prefixes work) and/or the ``last`` runs of ``pipeline``. An
        execution is compared when it logged metrics (``train``, ``tune`` and ``evaluate``
        do), or when it is ``step``. Columns: ``run``, ``step``, ``component``, ``state``,
        ``duration_s``, ``param.<name>`` (nested dicts flattened with dots) and
        ``metric.<key>`` (the final value, or the last point of a curve). With ``trials``,
        tuning trials are rows too. A cached execution shows the metrics of the execution
        it reused.
        """
        import pandas as pd

        runs = [self.store.get_run(run_id) for run_id in run_ids]
        if pipeline is not None:
            runs.extend(self.store.list_runs(pipeline=pipeline, limit=last))
        if not runs:
            raise NotFoundError(
                "no runs to compare: give run ids, or a pipeline with runs"
                + (f" (pipeline {pipeline!r} has none)" if pipeline else "")
            )
        seen: set[str] = set()
        executions: list[ExecutionRecord] = []
        for run in runs:
            if run.id in seen:
                continue
            seen.add(run.id)
            found = self.store.list_executions(run.id, children=trials)
            if step is not None:
                found = [e for e in found if _is_step(e.step, step)]
            executions.extend(e for e in found if e.state not in ("running", "skipped"))
        source = {e.id: e.cached_from or e.id for e in executions}
        points = self.store.metrics(sorted(set(source.values())))
        finals: dict[int, dict[str, float | None]] = {}
        lasts: dict[int, dict[str, float | None]] = {}
        for point in points:  # in step order, so the last point of a curve wins
            into = finals if point.step is None else lasts
            into.setdefault(point.execution_id, {})[point.key] = point.value
        # A final value (step None) wins over the last point of a curve of the same key.
        final = {i: {**lasts.get(i, {}), **finals.get(i, {})} for i in {*finals, *lasts}}
        rows = []
        for e in executions:
            metrics = final.get(source[e.id], {})
            if not metrics and (step is None or not _is_step(e.step, step)):
                continue
            duration = (
                (e.finished_at - e.started_at).total_seconds()
                if e.finished_at and e.started_at
                else None
            )
            row: dict[str, Any] = {
                "run": e.run_id,
                "step": e.step,
                "component": e.component,
                "state": e.state,
                "duration_s": duration,
            }
            row.update({f"param.{k}": v for k, v in _flatten(e.params).items()})
            row.update({f"metric.{k}": v for k, v in sorted(metrics.items())})
            rows.append(row)
        return pd.DataFrame(rows)

    def metric_history(self, run_id: str, step: str, key: str | None = None) -> pd.DataFrame:
        """The points of one step's metrics (a curve per key), in step order: columns
        ``key``, ``step``, ``value``, ``logged_at``."""
        import pandas as pd

        run = self.store.get_run(run_id)
        matches = [e for e in self.store.list_executions(run.id) if _is_step(e.step, step)]
        if not matches:
            steps = sorted({e.step for e in self.store.list_executions(run.id)})
            raise NotFoundError(
                f"run {run.id} has no step {step!r} (steps: {', '.join(steps)})",
                run=run.id,
                step=step,
            )
        execution = matches[-1]
        points = self.store.metrics(
            [execution.cached_from or execution.id], keys=[key] if key else None
        )
        return pd.DataFrame(
            [(p.key, p.step, p.value, p.logged_at) for p in points],
            columns=["key", "step", "value", "logged_at"],
        )

    # Lineage ----------------------------------------------------------------------------
    def lineage(
        self,
        kind: Literal["artifact", "execution"],
        node_id: int,
        *,
        direction: Literal["upstream", "downstream"] = "upstream",
        max_depth: int | None = None,
    ) -> LineageGraph:
        return self.store.lineage(kind, node_id, direction=direction, max_depth=max_depth)


def _is_step(key: str, step: str) -> bool:
    """Whether execution ``key`` is an instance of ``step`` (``train`` matches ``train[2]``)."""
    return key == step or key.startswith(step + "[") or key.startswith(step + "/")


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat
