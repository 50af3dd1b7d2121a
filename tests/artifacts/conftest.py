"""Backends for the artifact-store contract suite: a local directory and S3 on ``moto_server``.

``backend`` is parametrized over both; each test gets its own root (a fresh directory, or a
fresh prefix in a bucket of this session's moto server) and helpers to look at and damage the
stored files behind the store's back, as another process or a failing disk would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mloop.artifacts import ArtifactStore

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


@dataclass
class S3Service:
    endpoint_url: str
    bucket: str

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": "us-east-1"},
            "key": "testing",
            "secret": "testing",
        }


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"S3 tests need moto_server, which is required when CI=true: {reason}")
    pytest.skip(f"S3 tests skipped: moto_server is not available ({reason})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """A real S3 API (moto_server on loopback) with one bucket for this session."""
    if not MOTO_SERVER.exists():
        _unavailable(f"{MOTO_SERVER} not found (install moto[server])")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("moto") / "moto_server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                _unavailable(f"moto_server exited with status {proc.returncode}; see {log.name}")
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    _unavailable(f"moto_server did not answer on {endpoint} within 20 s")
                time.sleep(0.05)
        import boto3

        bucket = f"mloop-artifacts-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        yield S3Service(endpoint, bucket)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Backend:
    """One artifact root plus raw access to what is stored there."""

    name: str
    root: str
    storage_options: dict[str, Any]
    workdir: Path
    _fs: Any = field(default=None, repr=False)

    def store(self, cache: str = "cache") -> ArtifactStore:
        """A store on this root; another ``cache`` name is another machine's empty cache."""
        return ArtifactStore(
            self.root, storage_options=self.storage_options, cache_dir=self.workdir / cache
        )

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            # An instance of its own, so that the store's listing cache cannot hide changes.
            self._fs = fsspec.filesystem("s3", skip_instance_cache=True, **self.storage_options)
        return self._fs

    def _path(self, uri: str, rel: str = "") -> str:
        base = uri.removeprefix("s3://")
        return f"{base}/{rel}" if rel else base

    def read(self, uri: str, rel: str) -> bytes:
        if self.is_local:
            return (Path(uri) / rel).read_bytes()
        return bytes(self.fs.cat_file(self._path(uri, rel)))

    def write(self, uri: str, rel: str, data: bytes) -> None:
        if self.is_local:
            path = Path(uri) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self.fs.pipe_file(self._path(uri, rel), data)

    def flip_byte(self, uri: str, rel: str, offset: int | None = None) -> None:
        data = bytearray(self.read(uri, rel))
        at = len(data) // 2 if offset is None else offset
        data[at] ^= 0xFF
        self.write(uri, rel, bytes(data))

    def remove(self, uri: str, rel: str | None = None) -> None:
        if self.is_local:
            target = Path(uri) / rel if rel else Path(uri)
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        else:
            self.fs.rm(self._path(uri, rel or ""), recursive=rel is None)

    def files(self, uri: str) -> set[str]:
        """Relative paths of the stored files of one artifact directory."""
        if self.is_local:
            base = Path(uri)
            return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}
        base = self._path(uri)
        self.fs.invalidate_cache()
        return {p[len(base) + 1 :] for p in self.fs.find(base)}

    def entries(self, type_name: str) -> set[str]:
        """Names stored under ``<root>/<type_name>/`` (committed or not)."""
        if self.is_local:
            base = Path(self.root) / type_name
            return {p.name for p in base.iterdir()} if base.exists() else set()
        base = self._path(self.root, type_name)
        self.fs.invalidate_cache()
        return {p[len(base) + 1 :].split("/")[0] for p in self.fs.find(base)}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend("local", str(tmp_path / "artifacts"), {}, tmp_path)
    service: S3Service = request.getfixturevalue("s3_service")
    root = f"s3://{service.bucket}/{uuid.uuid4().hex}"
    return Backend("s3", root, service.storage_options, tmp_path)


@pytest.fixture
def store(backend: Backend) -> ArtifactStore:
    return backend.store()
