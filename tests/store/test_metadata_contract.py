"""The metadata store contract: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from mloop.errors import ConflictError, NotFoundError
from mloop.store import (
    ArtifactRecord,
    ExecutionRecord,
    InputArtifact,
    MetadataStore,
    OutputArtifact,
    PipelineVersionRecord,
    RunRecord,
)


def step(
    store: MetadataStore,
    run_id: str,
    name: str,
    *,
    inputs: list[InputArtifact] | None = None,
    outputs: list[OutputArtifact] | None = None,
    state: str = "succeeded",
    cache_key: str | None = None,
    cached_from: int | None = None,
) -> tuple[ExecutionRecord, dict[str, list[ArtifactRecord]]]:
    """Start and finish one execution."""
    execution = store.start_execution(
        run_id,
        name,
        component=name.split("[")[0],
        component_fingerprint="fp-" + name,
        cache_key=cache_key,
        params={"step": name},
        inputs=inputs or [],
    )
    return store.finish_execution(
        execution.id,
        state,  # type: ignore[arg-type]
        outputs=outputs or [],
        output_params={"done": True},
        cached_from=cached_from,
    )


def out(key: str, uri: str, *, type: str = "Dataset", index: int | None = None) -> OutputArtifact:
    return OutputArtifact(key, type, uri, "sha256:" + uri, {"uri": uri}, index=index)


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - value) < timedelta(minutes=5)


# Pipelines ----------------------------------------------------------------------------


def test_register_pipeline_version_is_idempotent(store: MetadataStore) -> None:
    first = store.register_pipeline_version("train", {"v": 1}, "h1")
    again = store.register_pipeline_version("train", {"v": 1}, "h1")
    second = store.register_pipeline_version("train", {"v": 2}, "h2")
    other = store.register_pipeline_version("score", {"v": 1}, "h1")

    assert again == first
    assert first.pipeline == "train" and first.spec == {"v": 1} and first.spec_hash == "h1"
    assert_utc(first.created_at)
    assert len({first.id, second.id, other.id}) == 3
    assert store.get_pipeline_version(second.id) == second
    pipelines = store.list_pipelines()
    assert [(name, count) for name, count, _ in pipelines] == [("score", 1), ("train", 2)]
    assert pipelines[1][2] == second.created_at


def test_concurrent_registration_yields_one_version(store: MetadataStore) -> None:
    barrier = threading.Barrier(6)
    results: list[PipelineVersionRecord] = []

    def register() -> None:
        barrier.wait()
        results.append(store.register_pipeline_version("race", {"x": 1}, "same"))

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({r.id for r in results}) == 1
    assert store.list_pipelines()[0][:2] == ("race", 1)


def test_unknown_pipeline_version(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError) as info:
        store.get_pipeline_version(999)
    assert info.value.fields == {"pipeline_version": 999}
    with pytest.raises(NotFoundError):
        store.create_run(999, {})


# Runs ---------------------------------------------------------------------------------


def test_create_run_defaults(store: MetadataStore, version: PipelineVersionRecord) -> None:
    run = store.create_run(version.id, {"lr": 0.1}, owner="host:42")

    assert re.fullmatch(r"train-\d{8}-\d{6}-[0-9a-f]{6}", run.id)
    assert (run.pipeline, run.pipeline_version_id) == ("train", version.id)
    assert (run.state, run.owner, run.params, run.error) == (
        "running",
        "host:42",
        {"lr": 0.1},
        None,
    )
    assert run.started_at == run.heartbeat_at == run.created_at
    assert run.finished_at is None
    assert_utc(run.created_at)
    assert store.get_run(run.id) == run


def test_create_run_with_an_id_twice_conflicts(
    store: MetadataStore, version: PipelineVersionRecord
) -> None:
    store.create_run(version.id, {}, run_id="fixed")
    with pytest.raises(ConflictError) as info:
        store.create_run(version.id, {}, run_id="fixed")
    assert info.value.fields["run"] == "fixed"
    assert [r.id for r in store.list_runs()] == ["fixed"]


def test_get_run_by_unique_prefix(store: MetadataStore, version: PipelineVersionRecord) -> None:
    store.create_run(version.id, {}, run_id="alpha-1")
    store.create_run(version.id, {}, run_id="alpha-2")
    store.create_run(version.id, {}, run_id="beta-1")

    assert store.get_run("beta").id == "beta-1"
    assert store.get_run("alpha-2").id == "alpha-2"
    with pytest.raises(NotFoundError, match=r"ambiguous.*alpha-1, alpha-2"):
        store.get_run("alpha")
    with pytest.raises(NotFoundError, match="gamma") as info:
        store.get_run("gamma")
    assert info.value.fields == {"run": "gamma"}
    with pytest.raises(NotFoundError):
        store.get_run("ALPHA-1")  # prefixes are case-sensitive on every backend


def test_run_states(store: MetadataStore, run: RunRecord) -> None:
    failed = store.set_run_state(run.id, "failed", error="boom")
    assert (failed.state, failed.error) == ("failed", "boom")
    assert_utc(failed.finished_at)

    again = store.set_run_state(run.id, "running")
    assert (again.state, again.error, again.finished_at) == ("running", None, None)
    assert again.started_at == run.started_at

    done = store.set_run_state(run.id, "succeeded")
    assert done.state == "succeeded" and done.finished_at is not None
    assert store.get_run(run.id) == done
    with pytest.raises(NotFoundError):
        store.set_run_state("nope", "failed")
    with pytest.raises(ValueError, match="unknown run state"):
        store.set_run_state(run.id, "exploded")  # type: ignore[arg-type]


def test_list_runs_filters_newest_first(store: MetadataStore) -> None:
    train = store.register_pipeline_version("train", {}, "t")
    score = store.register_pipeline_version("score", {}, "s")
    ids = []
    for i, version in enumerate([train, score, train, score, train]):
        ids.append(store.create_run(version.id, {}, run_id=f"run-{i}").id)
    store.set_run_state("run-2", "failed")

    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(pipeline="train")] == ["run-4", "run-2", "run-0"]
    assert [r.id for r in store.list_runs(state="failed")] == ["run-2"]
    assert [r.id for r in store.list_runs(pipeline="score", state="running")] == ["run-3", "run-1"]
    assert [r.id for r in store.list_runs(limit=2)] == ["run-4", "run-3"]
    assert store.list_runs(pipeline="unknown") == []


def test_heartbeat(store: MetadataStore, run: RunRecord) -> None:
    time.sleep(0.01)
    store.heartbeat(run.id, "host:1")
    beat = store.get_run(run.id).heartbeat_at
    assert beat is not None and run.heartbeat_at is not None and beat > run.heartbeat_at

    with pytest.raises(ConflictError, match="held by 'host:1'") as info:
        store.heartbeat(run.id, "intruder:2")
    assert info.value.fields["owner"] == "host:1"
    with pytest.raises(NotFoundError):
        store.heartbeat("nope", "host:1")

    store.set_run_state(run.id, "cancelled")  # the orchestrator keeps beating, then sees it
    store.heartbeat(run.id, "host:1")


def test_claim_run_held_by_a_live_orchestrator(store: MetadataStore, run: RunRecord) -> None:
    with pytest.raises(ConflictError, match=f"{run.id}.*held by 'host:1'") as info:
        store.claim_run(run.id, "other:2", stale_after=60)
    assert info.value.fields == {"run": run.id, "owner": "host:1"}

    mine = store.claim_run(run.id, "host:1", stale_after=60)
    assert (mine.state, mine.owner) == ("running", "host:1")
    assert mine.heartbeat_at is not None and run.heartbeat_at is not None
    assert mine.heartbeat_at >= run.heartbeat_at


def test_claim_run_with_a_stale_heartbeat(store: MetadataStore, run: RunRecord) -> None:
    time.sleep(0.05)
    taken = store.claim_run(run.id, "other:2", stale_after=0.02)
    assert (taken.state, taken.owner) == ("running", "other:2")
    with pytest.raises(ConflictError):
        store.heartbeat(run.id, "host:1")  # the old owner learns it lost the run


def test_claim_run_resumes_a_failed_run(store: MetadataStore, run: RunRecord) -> None:
    store.set_run_state(run.id, "failed", error="crash")
    resumed = store.claim_run(run.id, "other:2", stale_after=60)
    assert (resumed.state, resumed.owner, resumed.error, resumed.finished_at) == (
        "running",
        "other:2",
        None,
        None,
    )
    assert resumed.started_at == run.started_at


def test_claim_run_refuses_a_succeeded_run(store: MetadataStore, run: RunRecord) -> None:
    store.set_run_state(run.id, "succeeded")
    with pytest.raises(ConflictError, match="already succeeded"):
        store.claim_run(run.id, "host:1", stale_after=0)
    with pytest.raises(NotFoundError):
        store.claim_run("nope", "host:1", stale_after=0)


def test_claim_run_is_atomic(store: MetadataStore, run: RunRecord) -> None:
    store.set_run_state(run.id, "failed")
    barrier = threading.Barrier(5)
    winners: list[str] = []
    losers: list[str] = []

    def claim(owner: str) -> None:
        barrier.wait()
        try:
            winners.append(store.claim_run(run.id, owner, stale_after=60).owner or "")
        except ConflictError:
            losers.append(owner)

    threads = [threading.Thread(target=claim, args=(f"o:{i}",)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 4
    assert store.get_run(run.id).owner == winners[0]


# Executions ---------------------------------------------------------------------------


def test_start_and_finish_execution(store: MetadataStore, run: RunRecord) -> None:
    _, produced = step(store, run.id, "ingest", outputs=[out("data", "file:///d")])
    data = produced["data"][0]

    started = store.start_execution(
        run.id,
        "train",
        component="train",
        component_fingerprint="fp",
        cache_key="k",
        params={"lr": 0.1},
        inputs=[InputArtifact("data", data.id)],
        attempt=2,
    )
    assert (started.state, started.attempt, started.params, started.cache_key) == (
        "running",
        2,
        {"lr": 0.1},
        "k",
    )
    assert_utc(started.started_at)
    assert started.finished_at is None
    assert store.get_execution(started.id) == started

    finished, outputs = store.finish_execution(
        started.id,
        "succeeded",
        outputs=[
            out("shards", "file:///s2", index=2),
            out("model", "file:///m", type="Model"),
            out("shards", "file:///s0", index=0),
            out("shards", "file:///s1", index=1),
        ],
        output_params={"accuracy": 0.9},
        log_uri="file:///log",
    )
    assert (finished.state, finished.output_params, finished.log_uri) == (
        "succeeded",
        {"accuracy": 0.9},
        "file:///log",
    )
    assert finished.started_at == started.started_at
    assert finished.finished_at is not None and finished.started_at is not None
    assert finished.finished_at >= finished.started_at
    assert [a.uri for a in outputs["shards"]] == ["file:///s0", "file:///s1", "file:///s2"]
    model = outputs["model"][0]
    assert (model.type, model.uri, model.fingerprint, model.properties) == (
        "Model",
        "file:///m",
        "sha256:file:///m",
        {"uri": "file:///m"},
    )
    assert store.get_artifact(model.id) == model
    assert store.get_execution(started.id) == finished
    assert [e.step for e in store.list_executions(run.id)] == ["ingest", "train"]


def test_finish_execution_reuses_artifacts(store: MetadataStore, run: RunRecord) -> None:
    _, produced = step(store, run.id, "ingest", outputs=[out("data", "file:///d")])
    data = produced["data"][0]
    _, passed = step(
        store,
        run.id,
        "identity",
        inputs=[InputArtifact("data", data.id)],
        outputs=[OutputArtifact("data", "Dataset", "", "", reuse_id=data.id)],
    )
    assert passed["data"] == [data]
    assert len(store.list_artifacts()) == 1
    assert store.list_artifacts(run_id=run.id) == [data]


def test_finish_execution_is_one_transaction(store: MetadataStore, run: RunRecord) -> None:
    execution = store.start_execution(
        run.id, "s", component="s", component_fingerprint="f", cache_key="k", params={}, inputs=[]
    )
    with pytest.raises(NotFoundError) as info:
        store.finish_execution(
            execution.id,
            "succeeded",
            outputs=[out("a", "file:///a"), OutputArtifact("b", "Dataset", "", "", reuse_id=999)],
        )
    assert info.value.fields["artifact"] == 999
    assert store.get_execution(execution.id).state == "running"
    assert store.list_artifacts() == []
    assert store.find_cached("k") is None

    store.finish_execution(execution.id, "failed", error="boom")
    with pytest.raises(ConflictError, match="already finished"):
        store.finish_execution(execution.id, "succeeded")
    with pytest.raises(NotFoundError):
        store.finish_execution(12345, "succeeded")
    with pytest.raises(ValueError):
        store.finish_execution(execution.id, "running")  # type: ignore[arg-type]


def test_start_execution_checks_run_and_inputs(store: MetadataStore, run: RunRecord) -> None:
    with pytest.raises(NotFoundError) as info:
        store.start_execution(
            "nope",
            "s",
            component="s",
            component_fingerprint="f",
            cache_key=None,
            params={},
            inputs=[],
        )
    assert info.value.fields == {"run": "nope"}
    with pytest.raises(NotFoundError) as info:
        store.start_execution(
            run.id,
            "s",
            component="s",
            component_fingerprint="f",
            cache_key=None,
            params={},
            inputs=[InputArtifact("x", 4242)],
        )
    assert info.value.fields["artifact"] == 4242
    assert store.list_executions(run.id) == []


def test_record_skipped(store: MetadataStore, run: RunRecord) -> None:
    skipped = store.record_skipped(run.id, "deploy", component="push", reason="not blessed")
    assert (skipped.state, skipped.error, skipped.component, skipped.step) == (
        "skipped",
        "not blessed",
        "push",
        "deploy",
    )
    assert skipped.finished_at is not None
    assert store.list_executions(run.id) == [skipped]
    assert store.run_outputs(run.id) == {}


def test_execution_io(store: MetadataStore, run: RunRecord) -> None:
    _, a = step(store, run.id, "a", outputs=[out("x", "file:///x")])
    _, b = step(store, run.id, "b", outputs=[out("y", "file:///y0"), out("y", "file:///y1")])
    x, (y0, y1) = a["x"][0], b["y"]
    consumer, outputs = step(
        store,
        run.id,
        "c",
        inputs=[
            InputArtifact("parts", y1.id, index=1),
            InputArtifact("base", x.id),
            InputArtifact("parts", y0.id, index=0),
        ],
        outputs=[out("z", "file:///z")],
    )
    inputs, io_outputs = store.execution_io(consumer.id)
    assert inputs == {"parts": [y0, y1], "base": [x]}
    assert io_outputs == outputs
    assert store.execution_io(store.record_skipped(run.id, "d", component="d", reason="-").id) == (
        {},
        {},
    )
    with pytest.raises(NotFoundError):
        store.execution_io(999)


def test_run_outputs(store: MetadataStore, run: RunRecord) -> None:
    step(store, run.id, "ingest", outputs=[out("data", "file:///bad")], state="failed")
    retried, ingest = step(store, run.id, "ingest", outputs=[out("data", "file:///d")])
    original, trained = step(store, run.id, "train[0]", outputs=[out("m", "file:///m")])
    step(
        store,
        run.id,
        "train[1]",
        outputs=[OutputArtifact("m", "Model", "", "", reuse_id=trained["m"][0].id)],
        state="cached",
        cached_from=original.id,
    )
    store.record_skipped(run.id, "deploy", component="push", reason="no")
    store.start_execution(
        run.id,
        "eval",
        component="e",
        component_fingerprint="f",
        cache_key=None,
        params={},
        inputs=[],
    )

    outputs = store.run_outputs(run.id)
    assert list(outputs) == ["ingest", "train[0]", "train[1]"]
    assert outputs["ingest"] == (retried, ingest)
    assert outputs["train[1]"][0].cached_from == original.id
    assert outputs["train[1]"][1] == trained
    with pytest.raises(NotFoundError):
        store.run_outputs("nope")
    with pytest.raises(NotFoundError):
        store.list_executions("nope")


# Cache --------------------------------------------------------------------------------


def test_find_cached(store: MetadataStore, run: RunRecord) -> None:
    assert store.find_cached("k") is None
    step(store, run.id, "s", cache_key="k", outputs=[out("o", "file:///bad")], state="failed")
    assert store.find_cached("k") is None
    store.start_execution(
        run.id,
        "s",
        component="s",
        component_fingerprint="f",
        cache_key="k",
        params={},
        inputs=[],
    )
    assert store.find_cached("k") is None

    first, _ = step(store, run.id, "s", cache_key="k", outputs=[out("o", "file:///1")])
    latest, outputs = step(
        store,
        run.id,
        "s",
        cache_key="k",
        outputs=[out("o", "file:///2"), out("p", "file:///3")],
    )
    step(store, run.id, "other", cache_key="other", outputs=[out("o", "file:///4")])
    step(store, run.id, "s", cache_key="k", state="cached", cached_from=latest.id)

    hit = store.find_cached("k")
    assert hit is not None
    assert hit.execution == latest
    assert hit.outputs == outputs
    assert hit.execution.id != first.id


def test_find_cached_with_max_age(store: MetadataStore, run: RunRecord) -> None:
    done, _ = step(store, run.id, "s", cache_key="k", outputs=[out("o", "file:///o")])
    hit = store.find_cached("k", max_age=3600)
    assert hit is not None and hit.execution == done
    time.sleep(0.05)
    assert store.find_cached("k", max_age=0.01) is None
    assert store.find_cached("k", max_age=0) is None


# Artifacts ----------------------------------------------------------------------------


def test_list_and_find_artifacts(store: MetadataStore, version: PipelineVersionRecord) -> None:
    first = store.create_run(version.id, {}, run_id="first")
    second = store.create_run(version.id, {}, run_id="second")
    _, a = step(
        store, first.id, "a", outputs=[out("d", "file:///same"), out("m", "m1", type="Model")]
    )
    _, b = step(store, second.id, "b", outputs=[out("d", "file:///same")])
    step(
        store,
        second.id,
        "c",
        outputs=[OutputArtifact("d", "Dataset", "", "", reuse_id=a["d"][0].id)],
    )

    everything = store.list_artifacts()
    assert [x.id for x in everything] == sorted((x.id for x in everything), reverse=True)
    assert len(everything) == 3
    assert [x.type for x in store.list_artifacts(type="Model")] == ["Model"]
    assert {x.id for x in store.list_artifacts(run_id=second.id)} == {a["d"][0].id, b["d"][0].id}
    assert store.list_artifacts(run_id=first.id, type="Dataset") == a["d"]
    assert len(store.list_artifacts(limit=1)) == 1
    assert store.list_artifacts(type="Nope") == []
    assert [x.id for x in store.find_artifacts_by_uri("file:///same")] == [
        a["d"][0].id,
        b["d"][0].id,
    ]
    assert store.find_artifacts_by_uri("file:///nowhere") == []
    assert_utc(everything[0].created_at)


def test_not_found_errors_name_the_object(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="artifact 7") as artifact:
        store.get_artifact(7)
    with pytest.raises(NotFoundError, match="execution 8") as execution:
        store.get_execution(8)
    assert artifact.value.fields == {"artifact": 7}
    assert execution.value.fields == {"execution": 8}
    assert artifact.value.http_status == 404
