"""The contract every artifact-store backend keeps: run against a local directory and S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from mloop.artifacts import (
    Artifact,
    ArtifactStore,
    Dataset,
    JsonArtifact,
    Materializer,
    Metrics,
    Model,
    register_materializer,
)
from mloop.artifacts._fingerprint import MANIFEST_NAME
from mloop.errors import ArtifactCorrupted, MaterializerError, NotFoundError

if TYPE_CHECKING:
    from conftest import Backend


def _frame(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "x": rng.random(rows),
            "city": rng.choice(["paris", "lima", "oslo"], rows),
            "at": pd.date_range("2024-01-01", periods=rows, freq="min"),
            "flag": rng.random(rows) > 0.5,
        }
    )


class PointCloud(Artifact):
    """A user artifact type with a materializer of its own."""

    type_name = "TestArtifactsPointCloud"


@register_materializer
class PointsMaterializer(Materializer):
    name = "test-artifacts-points"
    artifact_types = (PointCloud,)

    def can_save(self, value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(p, tuple) for p in value)

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        lines = [" ".join(repr(float(c)) for c in point) for point in value]
        (directory / "points.txt").write_text("\n".join(lines) + "\n")
        return {"num_points": len(value)}

    def load(self, directory: Path, as_type: type | None) -> Any:
        text = (directory / "points.txt").read_text()
        return [tuple(float(c) for c in line.split()) for line in text.splitlines()]


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


# Round trips -----------------------------------------------------------------------------


def test_arrow_round_trip(store: ArtifactStore) -> None:
    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]})
    artifact = store.save(table, Dataset)
    assert isinstance(artifact, Dataset)
    assert artifact.load().equals(table)
    assert artifact.to_arrow().equals(table)
    assert artifact.properties == {
        "materializer": "parquet",
        "num_rows": 3,
        "num_columns": 2,
        "schema": {"a": "int64", "b": "string"},
        "size_bytes": artifact.properties["size_bytes"],
    }
    assert artifact.properties["size_bytes"] > 0
    batch = store.save(table.to_batches()[0], "Dataset")
    assert batch.fingerprint == artifact.fingerprint


def test_pandas_round_trip(store: ArtifactStore) -> None:
    frame = _frame()
    artifact = store.save(frame, Dataset)
    pd.testing.assert_frame_equal(artifact.to_pandas(), frame)
    assert artifact.num_rows == 1000
    assert artifact.properties["num_columns"] == 5
    assert artifact.to_arrow().num_rows == 1000


def test_polars_round_trip(store: ArtifactStore) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["u", "v", None]})
    artifact = store.save(frame, Dataset)
    assert artifact.to_polars().equals(frame)
    assert artifact.load(pl.DataFrame).equals(frame)
    assert artifact.to_pandas()["a"].tolist() == [1, 2, 3]


def test_json_round_trip(store: ArtifactStore) -> None:
    value = {"auc": 0.91, "by_class": {"a": [1, 2], "b c": None}, "ok": True, "name": "ü"}
    artifact = store.save(value, Metrics)
    assert artifact.load() == value
    assert isinstance(artifact, Metrics)
    assert artifact.to_dict() == value
    assert store.save([1, "two", 3.0], JsonArtifact).load() == [1, "two", 3.0]
    numpy_values = store.save({"n": np.int64(3), "v": np.arange(3)}, Metrics)
    assert numpy_values.load() == {"n": 3, "v": [0, 1, 2]}


def test_bytes_round_trip(store: ArtifactStore) -> None:
    artifact = store.save(b"\x00\x01payload", Model)
    assert artifact.properties["materializer"] == "bytes"
    assert artifact.load() == b"\x00\x01payload"
    assert artifact.load(bytearray) == bytearray(b"\x00\x01payload")


def test_directory_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model_dir"
    (source / "sub").mkdir(parents=True)
    (source / "weights.bin").write_bytes(b"w" * 1000)
    (source / "sub" / "config.json").write_text('{"depth": 3}')
    artifact = store.put_directory(source, Model, properties={"framework": "custom"})
    assert artifact.properties["materializer"] == "files"
    assert artifact.properties["framework"] == "custom"
    loaded = artifact.load()
    assert isinstance(loaded, Path)
    assert (loaded / "weights.bin").read_bytes() == b"w" * 1000
    assert (loaded / "sub" / "config.json").read_text() == '{"depth": 3}'
    assert artifact.local_path() == loaded
    assert store.save(source, Model).fingerprint == artifact.fingerprint


def test_returned_artifact_is_committed_and_addressed_by_type_and_fingerprint(
    store: ArtifactStore, backend: Backend
) -> None:
    artifact = store.save({"a": 1}, Metrics)
    assert artifact.uri.endswith(f"/Metrics/{artifact.fingerprint}")
    if backend.is_local:
        assert Path(artifact.uri).is_absolute()
    else:
        assert artifact.uri.startswith(backend.root + "/")
    assert backend.files(artifact.uri) == {"value.json", MANIFEST_NAME}
    manifest = json.loads(backend.read(artifact.uri, MANIFEST_NAME))
    assert manifest["type"] == "Metrics"
    assert manifest["materializer"] == "json"
    assert set(manifest["files"]) == {"value.json"}
    assert store.exists(Metrics, artifact.fingerprint)
    assert store.exists("Metrics", artifact.fingerprint)
    assert not store.exists("Metrics", "0" * 64)


def test_another_store_on_the_same_root_reads_it(backend: Backend) -> None:
    artifact = backend.store().save(_frame(50), Dataset)
    other = backend.store(cache="other-cache")
    again = Dataset(artifact.uri, artifact.fingerprint, artifact.properties, store=other)
    pd.testing.assert_frame_equal(again.to_pandas(), _frame(50))
    without_properties = Dataset(artifact.uri, artifact.fingerprint).bind(other)
    assert without_properties.load().num_rows == 50  # materializer read from the manifest


# Content addressing ----------------------------------------------------------------------


def test_identical_content_is_stored_once(store: ArtifactStore, backend: Backend) -> None:
    first = store.save(_frame(), Dataset)
    second = store.save(_frame(), Dataset)
    third = backend.store(cache="elsewhere").save(_frame(), Dataset)
    assert first.fingerprint == second.fingerprint == third.fingerprint
    assert first.uri == second.uri == third.uri
    assert first == second
    assert backend.entries("Dataset") == {first.fingerprint}
    different = store.save(_frame(seed=1), Dataset)
    assert different.fingerprint != first.fingerprint
    assert backend.entries("Dataset") == {first.fingerprint, different.fingerprint}


def test_same_bytes_under_different_type_names(store: ArtifactStore) -> None:
    metrics = store.save({"k": 1}, Metrics)
    generic = store.save({"k": 1}, "Json")
    assert metrics.fingerprint == generic.fingerprint
    assert metrics.uri != generic.uri
    assert metrics != generic  # same bytes, different types
    assert store.exists("Metrics", metrics.fingerprint)
    assert store.exists("Json", metrics.fingerprint)
    assert generic.load() == metrics.load() == {"k": 1}
    as_model = store.save(b"blob", Model)
    as_points = store.save(b"blob", PointCloud, materializer="bytes")
    assert as_model.fingerprint == as_points.fingerprint


# Verification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "artifact_cls", "file"),
    [(pd.DataFrame({"a": range(100)}), Dataset, "data.parquet"), ({"a": 1}, Metrics, "value.json")],
)
def test_a_flipped_byte_is_detected(
    backend: Backend, value: Any, artifact_cls: type[Artifact], file: str
) -> None:
    artifact = backend.store().save(value, artifact_cls)
    artifact.load()  # verified once (and memoized) before the damage
    backend.flip_byte(artifact.uri, file)
    reader = backend.store(cache="fresh-cache")
    for target in (artifact.bind(reader), artifact.bind(backend.store(cache="other"))):
        with pytest.raises(ArtifactCorrupted) as info:
            target.load()
        assert artifact.uri in str(info.value)
        assert file in str(info.value)
        assert info.value.fields["artifact"] == artifact.uri
        assert info.value.fields["file"] == file
    if backend.is_local:  # the same store, whose memo saw the file before it changed
        with pytest.raises(ArtifactCorrupted):
            artifact.bind(backend.store()).local_path()


def test_a_truncated_or_extra_file_is_detected(store: ArtifactStore, backend: Backend) -> None:
    artifact = store.save(_frame(100), Dataset)
    reader = backend.store(cache="fresh")
    backend.write(artifact.uri, "data.parquet", backend.read(artifact.uri, "data.parquet")[:-10])
    with pytest.raises(ArtifactCorrupted, match=r"data\.parquet"):
        artifact.bind(reader).load()
    if backend.is_local:
        other = store.save({"a": 1}, Metrics)
        backend.write(other.uri, "stray.txt", b"?")
        with pytest.raises(ArtifactCorrupted, match=r"stray\.txt"):
            other.load()


def test_a_manifest_that_does_not_match_the_fingerprint_is_detected(
    store: ArtifactStore, backend: Backend
) -> None:
    artifact = store.save({"a": 1}, Metrics)
    impostor = Metrics(artifact.uri, "f" * 64, artifact.properties, store=backend.store("fresh"))
    with pytest.raises(ArtifactCorrupted, match=MANIFEST_NAME):
        impostor.load()


def test_reading_many_times_hashes_once_but_sees_later_changes(
    store: ArtifactStore, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mloop.artifacts._store as store_module

    artifact = backend.store(cache="writer").save(_frame(100), Dataset)
    calls: list[str] = []
    real = store_module.hash_file

    def counting(path: Any) -> tuple[str, int]:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(store_module, "hash_file", counting)
    monkeypatch.setattr(store_module, "_VERIFIED", {})  # forget what the writer verified
    reader = artifact.bind(store)
    for _ in range(100):
        reader.load()
    assert len(calls) == 1
    local = reader.local_path()
    data = bytearray((local / "data.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (local / "data.parquet").write_bytes(bytes(data))
    if backend.is_local:
        with pytest.raises(ArtifactCorrupted):
            reader.load()
    else:  # a damaged cache copy is dropped and fetched again
        assert reader.load().num_rows == 100
        assert len(calls) == 3


# Commit protocol -------------------------------------------------------------------------


def test_a_directory_without_manifest_is_not_an_artifact(
    store: ArtifactStore, backend: Backend
) -> None:
    artifact = store.save({"a": 1}, Metrics)
    backend.remove(artifact.uri, MANIFEST_NAME)
    assert not store.exists(Metrics, artifact.fingerprint)
    with pytest.raises(NotFoundError, match="manifest"):
        artifact.bind(backend.store(cache="fresh")).load()
    if backend.is_local:
        with pytest.raises(NotFoundError):
            artifact.load()


def test_an_interrupted_publish_leaves_nothing_visible_and_is_repaired(
    backend: Backend,
) -> None:
    frame = _frame(200)
    probe = ArtifactStore(str(backend.workdir / "probe")).save(frame, Dataset)
    fingerprint = probe.fingerprint
    full = Path(probe.uri, "data.parquet").read_bytes()
    store = backend.store()
    uri = f"{backend.root}/Dataset/{fingerprint}"
    # What a crash leaves: a half-written destination without manifest and staging debris.
    backend.write(uri, "data.parquet", full[: len(full) // 3])
    if backend.is_local:
        debris = Path(backend.root, ".tmp", "0123abcd")
    else:
        debris = backend.workdir / "cache" / ".tmp" / "0123abcd"
    debris.mkdir(parents=True)
    (debris / "data.parquet").write_bytes(full[:100])

    assert not store.exists(Dataset, fingerprint)
    with pytest.raises(NotFoundError):
        Dataset(uri, fingerprint, store=store).load()

    artifact = store.save(frame, Dataset)
    assert artifact.fingerprint == fingerprint
    assert artifact.uri == uri
    assert store.exists(Dataset, fingerprint)
    assert backend.read(uri, "data.parquet") == full
    pd.testing.assert_frame_equal(artifact.bind(backend.store("fresh")).to_pandas(), frame)


class PowerCut(Exception):
    pass


def test_a_crash_while_publishing_leaves_nothing_visible(
    store: ArtifactStore, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mloop.artifacts._store as store_module

    source = tmp_path / "two_files"
    source.mkdir()
    (source / "a.bin").write_bytes(b"a" * 100)
    (source / "b.bin").write_bytes(b"b" * 100)
    if backend.is_local:

        def crash(*args: Any) -> None:
            raise PowerCut

        monkeypatch.setattr(store_module.os, "rename", crash)
    else:
        fs = store._fs()[0]
        real_put = fs.put

        def crash_after_first(lpaths: list[str], rpaths: list[str], **kwargs: Any) -> None:
            real_put(lpaths[:1], rpaths[:1], **kwargs)
            raise PowerCut

        monkeypatch.setattr(fs, "put", crash_after_first)
    with pytest.raises(PowerCut):
        store.put_directory(source, Model)
    monkeypatch.undo()
    fingerprint = ArtifactStore(str(tmp_path / "probe")).put_directory(source, Model).fingerprint
    assert not store.exists(Model, fingerprint)
    artifact = store.put_directory(source, Model)
    assert artifact.fingerprint == fingerprint
    assert (artifact.bind(backend.store("fresh")).local_path() / "b.bin").read_bytes() == b"b" * 100


def test_a_failing_materializer_leaves_nothing_behind(
    store: ArtifactStore, backend: Backend
) -> None:
    with pytest.raises(MaterializerError):
        store.save({"a": float("nan")}, Metrics)
    assert backend.entries("Metrics") == set()
    staging = Path(backend.root) if backend.is_local else backend.workdir / "cache"
    assert not any((staging / ".tmp").glob("*"))


# Materializer choice ---------------------------------------------------------------------


def test_pickle_is_never_chosen_automatically(store: ArtifactStore) -> None:
    with pytest.raises(MaterializerError) as info:
        store.save(Opaque(3), Model)
    message = str(info.value)
    assert "Opaque" in message and "Model" in message and "pickle" in message
    assert info.value.fields["artifact_type"] == "Model"
    artifact = store.save(Opaque(3), Model, materializer="pickle")
    assert artifact.properties["materializer"] == "pickle"
    assert artifact.load().value == 3


def test_user_materializer_for_a_user_type(store: ArtifactStore) -> None:
    points = [(0.0, 1.0, 2.0), (3.0, 4.5, 5.0)]
    artifact = store.save(points, PointCloud)
    assert isinstance(artifact, PointCloud)
    assert artifact.uri.endswith(f"/TestArtifactsPointCloud/{artifact.fingerprint}")
    assert artifact.properties["materializer"] == "test-artifacts-points"
    assert artifact.properties["num_points"] == 2
    assert artifact.load() == points
    assert store.save(points, "TestArtifactsPointCloud").fingerprint == artifact.fingerprint
    assert store.save(points, Metrics).properties["materializer"] == "json"


def test_nan_in_json_names_the_key_path(store: ArtifactStore) -> None:
    with pytest.raises(MaterializerError, match=r"\$\.scores\.by_fold\[2\]") as info:
        store.save({"scores": {"by_fold": [0.1, 0.2, float("nan")]}}, Metrics)
    assert info.value.fields["artifact_type"] == "Metrics"
    assert info.value.fields["path"] == "$.scores.by_fold[2]"
    with pytest.raises(MaterializerError, match="infinity"):
        store.save({"loss": float("-inf")}, Metrics)
