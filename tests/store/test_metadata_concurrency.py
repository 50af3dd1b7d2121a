"""Several OS processes writing one metadata database at once, as parallel runs do."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from mloop.store import InputArtifact, MetadataStore, OutputArtifact

WORKERS = 3
STEPS = 200


def write_run(url: str, worker: int, steps: int) -> str:
    """One orchestrator's writes: a run of ``steps`` chained executions with two outputs each.

    Runs in a spawned process. The first use of a fresh database migrates it, so the workers
    also race for the migration and for registering the same pipeline version.
    """
    owner = f"worker:{worker}"
    with MetadataStore(url) as store:
        version = store.register_pipeline_version("concurrent", {"steps": steps}, "same-hash")
        run = store.create_run(version.id, {"worker": worker}, run_id=f"w{worker}", owner=owner)
        previous: list[InputArtifact] = []
        for i in range(steps):
            execution = store.start_execution(
                run.id,
                f"step[{i}]",
                component="step",
                component_fingerprint="f",
                cache_key=f"{worker}-{i}",
                params={"i": i},
                inputs=previous,
            )
            _, outputs = store.finish_execution(
                execution.id,
                "succeeded",
                outputs=[
                    OutputArtifact("out", "Dataset", f"file:///{worker}/{i}", f"{worker}-{i}"),
                    OutputArtifact("log", "Text", f"file:///{worker}/{i}.log", f"log-{i}"),
                ],
            )
            previous = [InputArtifact("in", outputs["out"][0].id)]
            if i % 20 == 0:
                store.heartbeat(run.id, owner)
        store.set_run_state(run.id, "succeeded")
        return run.id


def check_concurrent_writes(url: str) -> None:
    """Run the workers at once and check that every row of every worker is there."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        futures = [pool.submit(write_run, url, w, STEPS) for w in range(WORKERS)]
        run_ids = [f.result(timeout=120) for f in futures]

    with MetadataStore(url) as store:
        assert store.list_pipelines()[0][:2] == ("concurrent", 1)
        assert {r.id: r.state for r in store.list_runs()} == {r: "succeeded" for r in run_ids}
        for run_id in run_ids:
            executions = store.list_executions(run_id)
            assert len(executions) == STEPS
            assert {e.state for e in executions} == {"succeeded"}
            assert len(store.run_outputs(run_id)) == STEPS
            assert len(store.list_artifacts(run_id=run_id, limit=10_000)) == 2 * STEPS
            last = store.run_outputs(run_id)[f"step[{STEPS - 1}]"][1]["out"][0]
            chain = store.lineage("artifact", last.id)
            assert len(chain.executions) == STEPS
            assert {e.run_id for e in chain.executions.values()} == {run_id}
        assert len(store.list_artifacts(limit=100_000)) == WORKERS * STEPS * 2
        hit = store.find_cached(f"1-{STEPS - 1}")
        assert hit is not None and hit.outputs["out"][0].uri == f"file:///1/{STEPS - 1}"


def test_processes_write_one_database_concurrently(fresh_url: str) -> None:
    check_concurrent_writes(fresh_url)
