"""The model server over real HTTP on loopback: both protocols, validation, traffic split,
shadows, an alias moving under load, metrics and the request log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from _http import ThreadServer, free_port
from _models import instances, register

from mloop.config import Settings, load_settings
from mloop.registry import Registry
from mloop.serving import Deployment, Endpoints
from mloop.serving._app import create_app
from mloop.serving._logging import read_logs
from mloop.serving._server import Serving

MODEL = "delays"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings(home=tmp_path_factory.mktemp("serving") / "home")
    register(settings, MODEL, rounds=5, alias="champion")  # v1
    register(settings, MODEL, rounds=40)  # v2
    with Endpoints(settings) as endpoints:
        endpoints.create("delays", [Deployment(f"models:/{MODEL}@champion")])
        endpoints.create(
            "canary",
            [
                Deployment(f"models:/{MODEL}/1", traffic=70),
                Deployment(f"models:/{MODEL}/2", traffic=30),
            ],
        )
        endpoints.create(
            "shadowed",
            [
                Deployment(f"models:/{MODEL}/1"),
                Deployment(f"models:/{MODEL}/2", traffic=0, shadow=True),
            ],
        )
    return settings


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[tuple[str, Serving]]:
    serving = Serving(settings, refresh_interval=0.1)
    with ThreadServer(create_app(serving)) as running:
        yield running.url, serving


def test_open_inference_protocol_health_metadata_and_infer(
    server: tuple[str, Serving], settings: Settings
) -> None:
    url, _ = server
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{url}/v2").json()["name"] == "mloop"
    meta = httpx.get(f"{url}/v2/models/delays").json()
    assert meta["versions"] == ["1"]
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
        "distance": "FP64",
        "dep_hour": "INT64",
        "carrier": "BYTES",
    }
    assert httpx.get(f"{url}/v2/models/delays/ready").json()["ready"] is True

    rows = instances(5)
    frame = pd.DataFrame(rows)
    body = {
        "id": "req-1",
        "inputs": [
            {
                "name": "distance",
                "shape": [5],
                "datatype": "FP64",
                "data": frame["distance"].tolist(),
            },
            {
                "name": "dep_hour",
                "shape": [5, 1],
                "datatype": "INT64",
                "data": [[h] for h in frame["dep_hour"]],
            },
            {
                "name": "carrier",
                "shape": [5],
                "datatype": "BYTES",
                "data": frame["carrier"].tolist(),
            },
        ],
    }
    reply = httpx.post(f"{url}/v2/models/delays/infer", json=body)
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert out["model_name"] == "delays" and out["model_version"] == "1" and out["id"] == "req-1"
    with Registry(settings) as registry:
        model = registry.load(f"models:/{MODEL}/1")
    outputs = {o["name"]: o for o in out["outputs"]}
    assert outputs["predict"]["shape"] == [5]
    assert outputs["predict"]["data"] == model.predict(frame).tolist()
    np.testing.assert_allclose(
        np.asarray(outputs["predict_proba"]["data"]).reshape(5, 2), model.predict_proba(frame)
    )
    # A version-specific route, and asking for one output only.
    body["outputs"] = [{"name": "predict"}]
    reply = httpx.post(f"{url}/v2/models/delays/versions/1/infer", json=body)
    assert [o["name"] for o in reply.json()["outputs"]] == ["predict"]
    assert httpx.get(f"{url}/v2/models/delays/versions/7").status_code == 404


def test_vertex_predict_and_explain(server: tuple[str, Serving], settings: Settings) -> None:
    url, _ = server
    rows = instances(8)
    reply = httpx.post(
        f"{url}/v1/endpoints/delays:predict",
        json={"instances": rows, "parameters": {"scores": True}},
    )
    assert reply.status_code == 200, reply.text
    out = reply.json()
    with Registry(settings) as registry:
        model = registry.load(f"models:/{MODEL}/1")
    assert out["predictions"] == model.predict(pd.DataFrame(rows)).tolist()
    assert out["deployed_model_id"] == "d1" and out["model_version_id"] == "1"
    np.testing.assert_allclose(out["scores"], model.predict_proba(pd.DataFrame(rows)))

    explained = httpx.post(f"{url}/v1/endpoints/delays:explain", json={"instances": rows[:3]})
    assert explained.status_code == 200, explained.text
    explanations = explained.json()["explanations"]
    assert len(explanations) == 3
    first = explanations[0]["attributions"][0]
    assert set(first["featureAttributions"]) == {"distance", "dep_hour", "carrier"}
    assert "tree_shap" in first["method"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (
            "/v1/endpoints/delays:predict",
            {"instances": [{"distance": 1.0, "dep_hour": 5}]},
            422,
            "carrier",
        ),
        (
            "/v1/endpoints/delays:predict",
            {"instances": [{"distance": "far", "dep_hour": 5, "carrier": "AA"}]},
            422,
            "distance",
        ),
        ("/v1/endpoints/delays:predict", {"rows": []}, 400, '"instances"'),
        ("/v1/endpoints/delays:predict", {"instances": "x"}, 400, "non-empty list"),
        ("/v1/endpoints/delays:predict", {"instances": [{"a": 1}, 3]}, 400, "instances[1]"),
        ("/v1/endpoints/nope:predict", {"instances": [{}]}, 404, "nope"),
        ("/v1/endpoints/delays:guess", {"instances": [{}]}, 400, "guess"),
        (
            "/v2/models/delays/infer",
            {"inputs": [{"name": "distance", "shape": [2], "datatype": "FP64", "data": [1.0]}]},
            400,
            "distance",
        ),
        (
            "/v2/models/delays/infer",
            {"inputs": [{"name": "distance", "shape": [1], "datatype": "FP64"}]},
            400,
            '"data"',
        ),
        (
            "/v2/models/delays/infer",
            {"inputs": [{"name": "distance", "shape": [1], "datatype": "FLOAT", "data": [1]}]},
            400,
            "FLOAT",
        ),
        (
            "/v2/models/delays/infer",
            {"inputs": [{"name": "distance", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            422,
            "carrier",
        ),
        ("/v2/models/nope/infer", {"inputs": []}, 404, "nope"),
    ],
)
def test_client_mistakes_are_4xx_naming_the_field(
    server: tuple[str, Serving], path: str, body: object, status: int, words: str
) -> None:
    url, _ = server
    reply = httpx.post(f"{url}{path}", json=body)
    assert reply.status_code == status, reply.text
    assert words in reply.text.replace('\\"', '"')


def test_malformed_json_is_400(server: tuple[str, Serving]) -> None:
    url, _ = server
    for path in ("/v1/endpoints/delays:predict", "/v2/models/delays/infer"):
        reply = httpx.post(
            f"{url}{path}", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert reply.status_code == 400 and "not valid JSON" in reply.text


def test_traffic_split_within_tolerance(server: tuple[str, Serving]) -> None:
    url, _ = server
    seen: Counter[str] = Counter()
    rows = instances(1)
    with httpx.Client() as client:
        for _ in range(1000):
            out = client.post(f"{url}/v1/endpoints/canary:predict", json={"instances": rows}).json()
            seen[out["model_version_id"]] += 1
    assert 0.64 <= seen["1"] / 1000 <= 0.76  # 70 % (±6 points: ~4 standard deviations)
    assert seen["1"] + seen["2"] == 1000


def test_shadow_predictions_are_logged_not_returned(
    server: tuple[str, Serving], settings: Settings
) -> None:
    url, serving = server
    rows = instances(4)
    with httpx.Client() as client:
        for _ in range(5):
            out = client.post(
                f"{url}/v1/endpoints/shadowed:predict", json={"instances": rows}
            ).json()
            assert out["model_version_id"] == "1" and out["deployed_model_id"] == "d1"
    assert serving.logger is not None
    logger = serving.logger

    def logged_rows() -> int:  # the last request's log is written after its response
        logger.flush()
        return len(read_logs(settings.resolved_serving_log_root, "shadowed"))

    _wait(lambda: logged_rows() >= 2 * 5 * 4, timeout=10)
    logged = read_logs(settings.resolved_serving_log_root, "shadowed").to_pandas()
    assert len(logged) == 2 * 5 * 4  # served + shadow, 5 requests of 4 instances
    shadow = logged[logged["shadow"]]
    assert set(shadow["model_version"]) == {2} and set(shadow["deployed_model_id"]) == {"d2"}
    assert set(logged.loc[~logged["shadow"], "model_version"]) == {1}
    assert set(shadow["request_id"]) == set(logged.loc[~logged["shadow"], "request_id"])


def test_metrics_and_openapi(server: tuple[str, Serving]) -> None:
    url, _ = server
    httpx.post(f"{url}/v1/endpoints/delays:predict", json={"instances": instances(2)})
    text = httpx.get(f"{url}/metrics").text
    assert "mloop_requests_total" in text and 'endpoint="delays"' in text
    spec = httpx.get(f"{url}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/v2/models/{name}/infer", "/v1/endpoints/{target}", "/metrics"} <= set(spec["paths"])


def test_an_alias_move_under_load_drops_no_request(settings: Settings) -> None:
    """Clients send requests without pause while the champion moves v1 → v2 → v1."""
    serving = Serving(settings, ["delays"], refresh_interval=0.05, log_requests=False)
    failures: list[str] = []
    versions: Counter[str] = Counter()
    stop = threading.Event()
    rows = instances(3)

    def client(url: str) -> None:
        with httpx.Client(timeout=30) as http:  # a slow answer under load is not a drop
            while not stop.is_set():
                try:
                    reply = http.post(
                        f"{url}/v1/endpoints/delays:predict", json={"instances": rows}
                    )
                    if reply.status_code != 200:
                        failures.append(reply.text)
                    else:
                        versions[reply.json()["model_version_id"]] += 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    with ThreadServer(create_app(serving)) as running, Registry(settings) as registry:
        workers = [threading.Thread(target=client, args=(running.url,)) for _ in range(4)]
        for w in workers:
            w.start()
        try:
            time.sleep(0.3)
            registry.set_alias(MODEL, "champion", 2, reason="test: promote")
            _wait(lambda: versions["2"] > 20)
            registry.set_alias(MODEL, "champion", 1, reason="test: roll back")
            before = versions["1"]
            _wait(lambda: versions["1"] > before + 20)
        finally:
            stop.set()
            for w in workers:
                w.join()
    assert failures == []
    assert versions["1"] > 0 and versions["2"] > 20


def _wait(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the server to switch versions")


def start_serve(settings: Settings, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``mloop serve ARGS`` in a subprocess on a free port, once it reports ready."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mloop", "serve", *args, "--port", str(port)],
        env={**os.environ, "MLOOP_HOME": str(settings.home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"mloop serve exited: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("mloop serve did not become ready")
        time.sleep(0.1)


def test_mloop_serve_flushes_the_request_log_on_shutdown(settings: Settings) -> None:
    proc, url = start_serve(settings, "delays", "--refresh", "60")
    try:
        root = Path(settings.resolved_serving_log_root)
        before = len(read_logs(str(root), "delays")) if root.exists() else 0
        with httpx.Client() as client:
            for _ in range(50):
                reply = client.post(
                    f"{url}/v1/endpoints/delays:predict", json={"instances": instances(2)}
                )
                assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: killed by SIGTERM.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(read_logs(settings.resolved_serving_log_root, "delays")) == before + 100


def test_two_workers_serve_and_report_metrics_together(settings: Settings) -> None:
    proc, url = start_serve(settings, "delays", "--workers", "2", "--no-log")
    try:
        for _ in range(30):  # new connections: the kernel spreads them over both workers
            reply = httpx.post(
                f"{url}/v1/endpoints/delays:predict", json={"instances": instances(1)}
            )
            assert reply.status_code == 200
        text = httpx.get(f"{url}/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("mloop_requests_total{") and 'endpoint="delays"' in line
        )
        assert total == 30  # one /metrics answers for every worker
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_micro_batching_answers_each_request_with_its_own_rows(settings: Settings) -> None:
    serving = Serving(
        settings, ["delays"], refresh_interval=60, log_requests=False, batch_max_size=64
    )
    rows = instances(40)
    with ThreadServer(create_app(serving)) as running, Registry(settings) as registry:
        model = registry.load(f"models:/{MODEL}/1")
        expected = model.predict(pd.DataFrame(rows)).tolist()
        results: dict[int, list[int]] = {}
        errors: list[str] = []

        def one(i: int) -> None:
            body = {"instances": [rows[i]]}
            if i == 7:  # one bad request in the crowd gets its own error
                body = {"instances": [{"distance": 1.0}]}
            reply = httpx.post(f"{running.url}/v1/endpoints/delays:predict", json=body)
            if reply.status_code == 200:
                results[i] = reply.json()["predictions"]
            else:
                errors.append(f"{i}:{reply.status_code}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(rows))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == ["7:422"]
    assert all(results[i] == [expected[i]] for i in results) and len(results) == 39
    assert serving.batcher is not None and serving.batcher.requests == 40


def test_an_endpoint_deleted_and_created_again_between_polls_is_reloaded(
    settings: Settings,
) -> None:
    with Endpoints(settings) as endpoints:
        endpoints.create("recreated", [Deployment(f"models:/{MODEL}/1")])
    serving = Serving(settings, ["recreated"], refresh_interval=3600, log_requests=False)
    serving.start()
    try:
        assert serving.route("recreated")[2].version == 1
        with Endpoints(settings) as endpoints:
            endpoints.delete("recreated")
            endpoints.create("recreated", [Deployment(f"models:/{MODEL}/2")])
            assert endpoints.generations()["recreated"] == 1  # the same generation as before
        serving.refresh()  # one poll saw neither the delete nor the create
        assert serving.route("recreated")[2].version == 2
        outcome = serving.predict("recreated", instances(2))
        assert outcome.loaded.version == 2 and len(outcome.predictions) == 2
    finally:
        serving.stop()
        with Endpoints(settings) as endpoints:
            endpoints.delete("recreated")
