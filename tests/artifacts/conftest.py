"""Backends for the artifact-store contract suite: a local directory and S3 on ``moto_server``.

``backend`` is parametrized over both; each test gets its own root (a fresh directory, or a
fresh prefix in a bucket of this session's moto server) and helpers to look at and damage the
stored files behind the store's back, as another process or a failing disk would.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from _services import S3Service
from mloop.artifacts import ArtifactStore


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
