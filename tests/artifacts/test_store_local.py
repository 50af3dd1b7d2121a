"""Fingerprints, construction and concurrency of the store; the package's public surface."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

import mloop.artifacts
from mloop.artifacts import ArtifactStore, Dataset, Metrics
from mloop.artifacts._fingerprint import (
    CHUNK_SIZE,
    Manifest,
    canonical_json,
    fingerprint_of,
    hash_directory,
    hash_file,
)
from mloop.config import Settings


def test_public_names() -> None:
    exported = {name for name in dir(mloop.artifacts) if not name.startswith("_")}
    assert set(mloop.artifacts.__all__) == exported
    for name in ("ArtifactStore", "Materializer", "register_materializer", "get_materializer"):
        assert name in mloop.artifacts.__all__


def test_hash_file_streams_large_files(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE // 256 * 3 + 7)
    (tmp_path / "big.bin").write_bytes(data)
    assert hash_file(tmp_path / "big.bin") == (hashlib.sha256(data).hexdigest(), len(data))


def test_fingerprint_covers_paths_and_bytes_only(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"a")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"bb")
    files = hash_directory(tmp_path / "d")
    assert list(files) == ["a.txt", "sub/b.txt"]
    assert files["sub/b.txt"] == {"sha256": hashlib.sha256(b"bb").hexdigest(), "size": 2}
    fingerprint = hashlib.sha256(canonical_json(files)).hexdigest()
    assert fingerprint_of(files) == fingerprint
    as_dataset = Manifest(files, "Dataset", "files")
    as_model = Manifest(files, "Model", "bytes")
    assert as_dataset.fingerprint == as_model.fingerprint == fingerprint
    assert Manifest.from_bytes(as_model.to_bytes()) == as_model
    assert json.loads(as_model.to_bytes()) == {
        "files": files,
        "materializer": "bytes",
        "type": "Model",
    }


def test_constructing_a_store_does_no_io(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = ArtifactStore(str(root), cache_dir=tmp_path / "cache")
    ArtifactStore("s3://no-such-bucket/prefix", storage_options={"anon": True})
    assert not root.exists() and not (tmp_path / "cache").exists()
    assert store.root == str(root) and store.is_local
    assert ArtifactStore(f"file://{root}").root == str(root)


def test_from_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    store = ArtifactStore.from_settings(settings)
    assert store.root == str(tmp_path / "home" / "artifacts")
    assert store.cache_dir == tmp_path / "home" / "cache" / "artifacts"
    remote = ArtifactStore.from_settings(
        Settings(home=tmp_path, artifact_root="s3://bucket/x", storage_options={"anon": True})
    )
    assert remote.root == "s3://bucket/x" and not remote.is_local
    assert remote.storage_options == {"anon": True}
    assert store.save({"a": 1}, Metrics).uri.startswith(str(tmp_path / "home" / "artifacts"))


def test_concurrent_saves_of_the_same_content(tmp_path: Path) -> None:
    table = pa.table({"a": list(range(10_000))})
    stores = [ArtifactStore(str(tmp_path / "artifacts")) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        artifacts = list(pool.map(lambda s: s.save(table, Dataset), stores * 3))
    assert len({a.uri for a in artifacts}) == 1
    assert [p.name for p in (tmp_path / "artifacts" / "Dataset").iterdir()] == [
        artifacts[0].fingerprint
    ]
    assert not any((tmp_path / "artifacts" / ".tmp").iterdir())
    assert artifacts[0].load().equals(table)
