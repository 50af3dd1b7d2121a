"""Materializer choice, the built-in formats and their determinism (local store only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from mloop.artifacts import (
    Artifact,
    ArtifactStore,
    Dataset,
    Materializer,
    Metrics,
    Model,
    get_materializer,
    register_materializer,
)
from mloop.artifacts._materializers import materializer_for
from mloop.errors import MaterializerError


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def _parquet_bytes(artifact: Artifact) -> bytes:
    return (Path(artifact.uri) / "data.parquet").read_bytes()


# Choice ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "artifact_cls", "expected"),
    [
        (pa.table({"a": [1]}), Dataset, "parquet"),
        (pd.DataFrame({"a": [1]}), Dataset, "parquet"),
        ({"a": 1}, Metrics, "json"),
        ({"a": 1}, Model, "json"),
        (b"x", Dataset, "bytes"),
        (b"x", Metrics, "bytes"),
        (Path(__file__).parent, Model, "files"),
    ],
)
def test_choice_by_value_and_artifact_type(
    value: Any, artifact_cls: type[Artifact], expected: str
) -> None:
    assert materializer_for(value, artifact_cls).name == expected


def test_the_type_default_is_used_for_types_no_materializer_declares() -> None:
    class Calibration(Artifact):
        type_name = "TestArtifactsCalibration"
        default_materializer = "json"

    assert materializer_for({"t": 1.5}, Calibration).name == "json"
    with pytest.raises(MaterializerError):
        materializer_for(pa.table({"a": [1]}), Calibration)


def test_no_materializer_error_names_type_value_and_choices(store: ArtifactStore) -> None:
    with pytest.raises(MaterializerError) as info:
        store.save({1, 2}, Dataset)
    message = str(info.value)
    assert "Dataset" in message and "builtins.set" in message and "parquet" in message
    assert info.value.fields["value_type"] == "builtins.set"
    assert "parquet" in info.value.fields["available"]


def test_unknown_or_unsuitable_explicit_materializer(store: ArtifactStore) -> None:
    with pytest.raises(MaterializerError, match=r"unknown materializer 'csv'.*parquet"):
        store.save(pa.table({"a": [1]}), Dataset, materializer="csv")
    with pytest.raises(MaterializerError, match="does not store Dataset"):
        store.save({"a": 1}, Dataset, materializer="json")
    with pytest.raises(MaterializerError, match=r"cannot save a builtins\.dict"):
        store.save({"a": 1}, Model, materializer="bytes")
    with pytest.raises(MaterializerError, match="unknown materializer"):
        get_materializer("nope")


def test_registering_a_taken_name_is_an_error() -> None:
    class Impostor(Materializer):
        name = "parquet"

        def can_save(self, value: Any) -> bool:
            return False

        def save(self, value: Any, directory: Path) -> dict[str, Any]:
            return {}

        def load(self, directory: Path, as_type: type | None) -> Any:
            return None

    with pytest.raises(MaterializerError, match="already registered"):
        register_materializer(Impostor)
    assert type(get_materializer("parquet")).__name__ == "ParquetMaterializer"


def test_a_materializer_that_raises_is_wrapped(store: ArtifactStore) -> None:
    class Broken(Artifact):
        type_name = "TestArtifactsBroken"

    @register_materializer
    class BrokenMaterializer(Materializer):
        name = "test-artifacts-broken"
        artifact_types = (Broken,)

        def can_save(self, value: Any) -> bool:
            return True

        def save(self, value: Any, directory: Path) -> dict[str, Any]:
            raise RuntimeError("disk on fire")

        def load(self, directory: Path, as_type: type | None) -> Any:
            return None

    with pytest.raises(MaterializerError, match="disk on fire") as info:
        store.save(1, Broken)
    assert info.value.fields["materializer"] == "test-artifacts-broken"
    assert isinstance(info.value.__cause__, RuntimeError)


def test_load_as_an_unsupported_type(store: ArtifactStore) -> None:
    artifact = store.save(pa.table({"a": [1]}), Dataset)
    with pytest.raises(MaterializerError, match=r"not builtins\.dict") as info:
        artifact.load(dict)
    assert info.value.fields["artifact"] == artifact.uri


# Parquet -----------------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": range(5000),
            "b": [f"s{i % 7}" for i in range(5000)],
            "c": pd.array([None if i % 3 else i for i in range(5000)], dtype="Int64"),
        }
    )


def test_the_same_frame_gives_the_same_bytes(tmp_path: Path) -> None:
    first = ArtifactStore(str(tmp_path / "one")).save(_frame(), Dataset)
    second = ArtifactStore(str(tmp_path / "two")).save(_frame(), Dataset)
    assert first.fingerprint == second.fingerprint
    assert _parquet_bytes(first) == _parquet_bytes(second)
    assert _parquet_bytes(first)[:4] == b"PAR1"


def test_chunk_layout_does_not_change_the_bytes(store: ArtifactStore) -> None:
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    chunked = pa.concat_tables([table.slice(0, 1000), table.slice(1000)])
    assert chunked.column(0).num_chunks == 2
    assert store.save(chunked, Dataset).fingerprint == store.save(table, Dataset).fingerprint


def test_parquet_is_zstd_compressed(store: ArtifactStore) -> None:
    import pyarrow.parquet as pq

    artifact = store.save(_frame(), Dataset)
    metadata = pq.ParquetFile(Path(artifact.uri) / "data.parquet").metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_nullable_pandas_dtypes_survive(store: ArtifactStore) -> None:
    loaded = store.save(_frame(), Dataset).to_pandas()
    assert str(loaded["c"].dtype) == "Int64"
    pd.testing.assert_frame_equal(loaded, _frame())


def test_row_numbering_index_is_dropped(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3, 4]})
    filtered = frame[frame["a"] > 2]
    shuffled = frame.iloc[[3, 1]]
    plain = store.save(pd.DataFrame({"a": [3, 4]}), Dataset)
    assert store.save(filtered, Dataset).fingerprint == plain.fingerprint
    assert store.save(shuffled, Dataset).to_arrow().column_names == ["a"]
    assert plain.properties["num_columns"] == 1


def test_an_index_that_is_data_is_kept(store: ArtifactStore) -> None:
    named = pd.DataFrame({"a": [1, 2]}, index=pd.Index([10, 20], name="user_id"))
    artifact = store.save(named, Dataset)
    assert artifact.to_arrow().column_names == ["a", "user_id"]
    pd.testing.assert_frame_equal(artifact.to_pandas(), named)
    by_time = pd.DataFrame({"a": [1, 2]}, index=pd.date_range("2024-01-01", periods=2))
    pd.testing.assert_frame_equal(
        store.save(by_time, Dataset).to_pandas(), by_time, check_freq=False
    )


# JSON ---------------------------------------------------------------------------------------


def test_json_is_canonical(store: ArtifactStore) -> None:
    first = store.save({"b": 1, "a": {"d": 2, "c": [1, 2]}}, Metrics)
    second = store.save({"a": {"c": (1, 2), "d": 2}, "b": 1}, Metrics)
    assert first.fingerprint == second.fingerprint
    text = (Path(first.uri) / "value.json").read_text()
    assert text == '{"a":{"c":[1,2],"d":2},"b":1}'
    assert json.loads(text) == first.load()


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (float("nan"), "$"),
        ([1.0, float("inf")], r"$[1]"),
        ({"a b": {"c": float("nan")}}, '$["a b"].c'),
        ({"model": object()}, "$.model"),
        ({1: "x"}, "$"),
    ],
)
def test_json_errors_name_the_key_path(store: ArtifactStore, value: Any, where: str) -> None:
    with pytest.raises(MaterializerError) as info:
        store.save(value, Metrics)
    assert where in str(info.value)
    assert info.value.fields["path"] == where
