"""Prometheus metrics of the model server: the series and their values, in one process and
aggregated over forked worker processes through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from mloop.errors import ConfigError
from mloop.serving._metrics import MULTIPROC_ENV, ServingMetrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(body: bytes) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)


@pytest.mark.usefixtures("single_process")
def test_render_has_every_series_with_its_values() -> None:
    metrics = ServingMetrics()
    for seconds in (0.0004, 0.003, 0.003):
        metrics.observe_request("flights", "d1", 3, 200, seconds, instances=10)
    metrics.observe_request("flights", "d2", "4", 200, 1.5, instances=1)
    metrics.observe_request("flights", "", "", 422, 0.001, instances=0)
    metrics.count_error("flights", "validation")
    metrics.count_error("flights", "validation")
    metrics.count_error("flights", "model")
    metrics.count_log_drop("flights", 15)
    metrics.count_log_drop("flights", 5)
    metrics.observe_model_load("flights", "delay", 3, 0.2)
    metrics.set_model_info("flights", "d1", "delay", 3)
    metrics.set_model_info("flights", "d2", "delay", 4)

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    s = _samples(body)
    ep = {"endpoint": "flights"}
    requests = "mloop_requests_total"
    assert _value(s, requests, **ep, deployed_model="d1", version="3", status="200") == 3
    assert _value(s, requests, **ep, deployed_model="d2", version="4", status="200") == 1
    assert _value(s, requests, **ep, deployed_model="", version="", status="422") == 1
    duration = "mloop_request_duration_seconds"
    assert _value(s, f"{duration}_count", **ep, deployed_model="d1") == 3
    assert _value(s, f"{duration}_sum", **ep, deployed_model="d1") == pytest.approx(0.0064)
    assert _value(s, f"{duration}_bucket", **ep, deployed_model="d1", le="0.0005") == 1
    assert _value(s, f"{duration}_bucket", **ep, deployed_model="d1", le="0.005") == 3
    assert _value(s, f"{duration}_bucket", **ep, deployed_model="d2", le="2.0") == 1
    assert _value(s, f"{duration}_bucket", **ep, deployed_model="d2", le="1.0") == 0
    assert _value(s, "mloop_instances_total", **ep, deployed_model="d1") == 30
    assert _value(s, "mloop_errors_total", **ep, kind="validation") == 2
    assert _value(s, "mloop_errors_total", **ep, kind="model") == 1
    assert _value(s, "mloop_log_dropped_total", **ep) == 20
    load = "mloop_model_load_seconds"
    assert _value(s, f"{load}_count", **ep, model="delay", version="3") == 1
    assert _value(s, f"{load}_sum", **ep, model="delay", version="3") == pytest.approx(0.2)
    info = "mloop_model_info"
    assert _value(s, info, **ep, deployed_model="d1", model="delay", version="3") == 1
    assert _value(s, info, **ep, deployed_model="d2", model="delay", version="4") == 1

    # an alias moved: d1 now serves v5, and v3's series goes away; d2 is undeployed
    metrics.set_model_info("flights", "d1", "delay", 5)
    metrics.clear_model_info("flights", "d2")
    s = _samples(metrics.render()[0])
    assert _value(s, info, **ep, deployed_model="d1", model="delay", version="5") == 1
    assert _value(s, info, **ep, deployed_model="d1", model="delay", version="3") is None
    assert _value(s, info, **ep, deployed_model="d2", model="delay", version="4") is None


@pytest.mark.usefixtures("single_process")
def test_metrics_go_to_the_registry_given() -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics(registry)
    metrics.count_error("flights", "model")
    assert registry.get_sample_value("mloop_errors_total", {"endpoint": "flights", "kind": "model"})
    assert ServingMetrics().render()[0] != metrics.render()[0]  # private registries by default


def test_setting_the_multiprocess_dir_too_late_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))  # prometheus_client is already imported
    with pytest.raises(ConfigError, match="before starting the server"):
        ServingMetrics()


_WORKERS = """
import json, os, sys
from mloop.serving._metrics import mark_worker_dead, setup_multiprocess_dir

setup_multiprocess_dir(sys.argv[1])  # the parent, before any worker and any metric

from mloop.serving._metrics import ServingMetrics

def worker(index):
    metrics = ServingMetrics()
    for _ in range(10 * (index + 1)):
        metrics.observe_request("flights", "d1", 3, 200, 0.002, instances=2)
    metrics.count_log_drop("flights", index + 1)
    metrics.set_model_info("flights", "d1", "delay", 3 + index)

pids = []
for index in range(2):
    pid = os.fork()
    if pid == 0:
        try:
            worker(index)
        finally:
            os._exit(0)
    pids.append(pid)
for pid in pids:
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0

before = ServingMetrics().render()[0].decode()
mark_worker_dead(pids[1])
after = ServingMetrics().render()[0].decode()
print(json.dumps({"before": before, "after": after}))
"""


def test_multiprocess_aggregates_forked_workers(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale file of a previous run")
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_WORKERS), str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    before, after = _samples(out["before"].encode()), _samples(out["after"].encode())
    ep = {"endpoint": "flights"}
    labels = {**ep, "deployed_model": "d1", "version": "3", "status": "200"}
    assert _value(before, "mloop_requests_total", **labels) == 30  # 10 + 20
    assert _value(before, "mloop_instances_total", **ep, deployed_model="d1") == 60
    assert _value(before, "mloop_request_duration_seconds_count", **ep, deployed_model="d1") == 30
    assert _value(before, "mloop_log_dropped_total", **ep) == 3
    info = "mloop_model_info"
    assert _value(before, info, **ep, deployed_model="d1", model="delay", version="3") == 1
    assert _value(before, info, **ep, deployed_model="d1", model="delay", version="4") == 1
    # the second worker exited: its counts stay, its model_info goes
    assert _value(after, "mloop_requests_total", **labels) == 30
    assert _value(after, info, **ep, deployed_model="d1", model="delay", version="3") == 1
    assert _value(after, info, **ep, deployed_model="d1", model="delay", version="4") is None
