"""Real services for the tests: PostgreSQL (a database per session) and S3 (moto_server).

Both are required when ``CI=true`` (a test that needs one fails if it is missing) and skip
with the reason otherwise. Fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

POSTGRES_ADMIN_URL = os.environ.get(
    "MLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database(
    admin_url: str = POSTGRES_ADMIN_URL, prefix: str = "mloop_test"
) -> Iterator[str]:
    """Create an empty, uniquely named PostgreSQL database; yield its URL; drop it after.

    When the server cannot be reached the calling test fails if ``CI=true`` (CI promises a
    server) and is skipped otherwise.
    """
    admin = make_url(admin_url)
    engine = sa.create_engine(
        admin, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = " ".join(str(exc.orig).split())
        message = f"PostgreSQL not reachable at {admin.host}:{admin.port or 5432}: {reason}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


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


@contextmanager
def moto_s3(workdir: Path) -> Iterator[S3Service]:
    """A real S3 API (moto_server on loopback) with one bucket for this session."""
    if not MOTO_SERVER.exists():
        _unavailable(f"{MOTO_SERVER} not found (install moto[server])")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(workdir / "moto_server.log", "wb")  # noqa: SIM115
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
