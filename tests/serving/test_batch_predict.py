"""Batch prediction: the streaming engine (Parquet and CSV in and out, directories of parts,
hive partitions, globs, S3), its checks (nothing written on bad input, never a half file),
and the ``batch_predict`` / ``batch_predict_uri`` components in a pipeline."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mloop
from _services import S3Service
from mloop import Dataset, component, pipeline
from mloop.components import batch_predict, batch_predict_uri, train, transform
from mloop.config import Settings
from mloop.errors import ConfigError, DataError, StepFailed
from mloop.ml import PackagedModel, SignatureError, Transform, fit_lightgbm, training_data
from mloop.registry import Registry
from mloop.serving._batch import predict_file, predict_table

CARRIERS = ["AA", "B6", "DL", "UA"]
FEATURES = ["distance", "dep_hour", "carrier", "month"]


def flights(n: int, seed: int) -> pd.DataFrame:
    """Flights with a known signal, an ``id`` to join on, and a column no model reads."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "distance": rng.normal(1000.0, 300.0, n),
            "dep_hour": rng.integers(5, 23, n),
            "carrier": rng.choice(CARRIERS, n),
            "month": rng.integers(1, 13, n),
            "note": rng.choice(["ok", "late crew", "weather"], n),
        }
    )
    logit = (frame["distance"] - 1000.0) / 300.0 + (frame["carrier"] == "AA") * 1.2 - 0.2
    frame["delayed"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame["arr_delay"] = logit * 20.0 + rng.normal(0.0, 5.0, n)
    frame["band"] = np.select([logit < -0.5, logit < 0.5], ["early", "on_time"], "late")
    return frame


def fit(target: str, rounds: int = 15) -> PackagedModel:
    frame = flights(1500, seed=0)
    fitted = Transform(numeric=["distance", "dep_hour", "month"], categorical=["carrier"]).fit(
        frame
    )
    data = training_data(frame[[*FEATURES, target]], target, transform=fitted)
    return fit_lightgbm(data, {"num_leaves": 8}, num_boost_round=rounds)


@pytest.fixture(scope="module")
def model() -> PackagedModel:
    return fit("delayed")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return flights(5000, seed=1)


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=1200)
    return path


def parts(frame: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    bounds = np.linspace(0, len(frame), n + 1).astype(int)
    return [frame.iloc[a:b] for a, b in itertools.pairwise(bounds)]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# The engine --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["in.parquet", "in.csv"])
@pytest.mark.parametrize("target", ["out.parquet", "out.csv"])
def test_predictions_equal_predict_on_the_whole_frame(
    model: PackagedModel, data: pd.DataFrame, tmp_path: Path, source: str, target: str
) -> None:
    seen: list[tuple[int, int | None]] = []
    summary = predict_file(
        model,
        str(write(data, tmp_path / source)),
        str(tmp_path / target),
        chunk_rows=1500,
        on_progress=lambda rows, total: seen.append((rows, total)),
    )
    assert (summary.rows, summary.chunks, summary.output) == (5000, 4, str(tmp_path / target))
    total = 5000 if source.endswith(".parquet") else None  # CSV has no row count up front
    assert seen == [(1500, total), (3000, total), (4500, total), (5000, total)]
    out = read(tmp_path / target)
    assert list(out.columns) == [*data.columns, "prediction"]
    np.testing.assert_array_equal(out["prediction"].to_numpy(), model.predict(data))
    pd.testing.assert_frame_equal(out[list(data.columns)], data, check_dtype=False)
    assert leftovers(tmp_path) == []


def test_a_directory_of_hive_partitions_and_a_glob(
    model: PackagedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    root = tmp_path / "flights"
    for carrier, rows in data.groupby("carrier"):
        part = root / f"carrier={carrier}"
        part.mkdir(parents=True)
        for i, piece in enumerate(parts(rows.drop(columns="carrier"), 2)):
            piece.to_parquet(part / f"part-{i}.parquet", index=False)
    (root / "_SUCCESS").touch()
    (root / "carrier=AA" / ".part-0.parquet.crc").write_bytes(b"not parquet")
    expected = pd.Series(model.predict(data), index=data["id"])

    for path in (root, root / "carrier=*" / "part-*.parquet"):
        out = tmp_path / "out.parquet"
        summary = predict_file(model, str(path), str(out), chunk_rows=700)
        assert summary.rows == 5000 and summary.chunks == 8
        got = read(out).set_index("id")
        assert got["carrier"].notna().all()  # filled in from the directory names
        np.testing.assert_array_equal(got["prediction"], expected.loc[got.index])


def test_scores_binary_multiclass_and_not_for_regression(
    model: PackagedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source = str(write(data, tmp_path / "in.parquet"))
    binary = predict_table(model, source, chunk_rows=2000, with_scores=True, keep_columns=["id"])
    assert binary.column_names == ["id", "prediction", "score"]
    np.testing.assert_allclose(binary["score"].to_numpy(), model.predict_proba(data)[:, 1])

    bands = fit("band")
    table = predict_table(bands, source, chunk_rows=2000, with_scores=True, keep_columns=["id"])
    classes = ["early", "late", "on_time"]
    assert bands.classes == classes
    assert table.column_names == ["id", "prediction", *(f"proba_{c}" for c in classes)]
    proba = np.column_stack([table[f"proba_{c}"].to_numpy() for c in classes])
    np.testing.assert_allclose(proba, bands.predict_proba(data))
    assert table["prediction"].to_pylist() == list(bands.predict(data))

    with pytest.raises(ConfigError, match="with_scores needs a classification model"):
        predict_table(fit("arr_delay"), source, with_scores=True)


def test_a_missing_column_fails_before_anything_is_written(
    model: PackagedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source = write(data.drop(columns="distance"), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    with pytest.raises(SignatureError, match="column 'distance': missing") as caught:
        predict_file(model, str(source), str(out))
    assert caught.value.column == "distance"
    assert not out.exists() and leftovers(tmp_path) == []

    text = write(data.astype({"distance": str}).assign(distance="far"), tmp_path / "in.csv")
    with pytest.raises(SignatureError, match="column 'distance'"):
        predict_file(model, str(text), str(out))
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_bad_value_after_some_chunks_leaves_the_old_output_untouched(
    model: PackagedModel, tmp_path: Path
) -> None:
    frame = flights(30_000, seed=2).astype({"distance": object})
    frame.loc[29_000, "distance"] = "far"  # past the first 1 MB block: chunks are written
    source = write(frame, tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    out.write_text("the previous output\n")
    done: list[int] = []
    with pytest.raises(SignatureError, match=r"column 'distance': cannot parse 'far' as double"):
        predict_file(
            model, str(source), str(out), chunk_rows=5000, on_progress=lambda n, _: done.append(n)
        )
    assert done and done[-1] >= 10_000  # it failed mid-stream, not up front
    assert out.read_text() == "the previous output\n" and leftovers(tmp_path) == []


def test_a_csv_column_that_changes_type_late_is_read_as_text(
    model: PackagedModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frame = flights(30_000, seed=2)
    frame["code"] = np.arange(len(frame)).astype(object)
    frame.loc[29_000, "code"] = "A12"  # past the first 1 MB block, where types are inferred
    source = write(frame, tmp_path / "in.csv")
    assert source.stat().st_size > 2 << 20
    table = predict_table(model, str(source), chunk_rows=10_000, keep_columns=["id", "code"])
    assert table.schema.field("code").type == pa.string()
    assert table["code"][29_000].as_py() == "A12"
    np.testing.assert_array_equal(table["prediction"].to_numpy(), model.predict(frame))
    assert "column 'code'" in caplog.text and "read as text" in caplog.text


def test_csv_model_inputs_are_parsed_as_the_signature_says(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"zip": rng.choice(["02134", "10001", "94105"], 600)})
    frame["delayed"] = (frame["zip"] == "02134").astype(np.int64)
    zips = Transform(categorical=["zip"]).fit(frame)
    model = fit_lightgbm(training_data(frame, "delayed", transform=zips), num_boost_round=5)
    source = write(frame, tmp_path / "zips.csv")  # digits: Arrow alone would read int64
    table = predict_table(model, str(source))
    assert table["zip"].to_pylist() == frame["zip"].tolist()  # "02134", not 2134
    np.testing.assert_array_equal(table["prediction"].to_numpy(), model.predict(frame))


def test_kept_columns_and_names_that_clash(
    model: PackagedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    rescored = data.assign(prediction=-1)  # the output of an earlier batch prediction
    source = str(write(rescored, tmp_path / "in.parquet"))
    table = predict_table(model, source)
    assert table.column_names == [*data.columns, "prediction"]  # the old one is dropped
    assert table["prediction"].to_pylist() == list(model.predict(data))

    assert predict_table(model, source, keep_columns=["note", "id"]).column_names == [
        "note",
        "id",
        "prediction",
    ]
    with pytest.raises(DataError, match="keep_columns: column 'nope' is not in the input"):
        predict_table(model, source, keep_columns=["nope"])
    with pytest.raises(DataError, match="would clash with the output column"):
        predict_table(model, source, keep_columns=["prediction"])


def test_an_empty_input_gives_an_empty_typed_output(
    model: PackagedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source = write(data.head(0), tmp_path / "in.parquet")
    for name in ("out.parquet", "out.csv"):
        summary = predict_file(model, str(source), str(tmp_path / name), with_scores=True)
        assert (summary.rows, summary.chunks) == (0, 0)
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.names == [*data.columns, "prediction", "score"]
    assert schema.field("prediction").type == pa.int64()
    assert (tmp_path / "out.csv").read_text().startswith('"id","distance"')


def test_unreadable_inputs_and_outputs_are_named(model: PackagedModel, tmp_path: Path) -> None:
    out = str(tmp_path / "out.parquet")
    with pytest.raises(DataError, match=r"no file or directory matches input .*missing"):
        predict_file(model, str(tmp_path / "missing.parquet"), out)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="cannot tell the format of input"):
        predict_file(model, str(tmp_path / "notes.txt"), out)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(DataError, match=r"cannot read input .*broken\.parquet"):
        predict_file(model, str(tmp_path / "broken.parquet"), out)
    with pytest.raises(DataError, match=r"cannot tell the output format from .*out\.json"):
        predict_file(model, str(tmp_path / "broken.parquet"), str(tmp_path / "out.json"))
    with pytest.raises(ConfigError, match="chunk_rows must be a positive"):
        predict_file(model, str(tmp_path / "broken.parquet"), out, chunk_rows=0)


@pytest.mark.s3
def test_parts_on_s3_to_s3(
    model: PackagedModel, data: pd.DataFrame, s3_service: S3Service, tmp_path: Path
) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_service.storage_options)
    prefix = f"{s3_service.bucket}/batch-{tmp_path.name}"
    for i, part in enumerate(parts(data, 3)):
        with fs.open(f"{prefix}/in/part-{i}.parquet", "wb") as stream:
            part.to_parquet(stream, index=False)
    summary = predict_file(
        model,
        f"s3://{prefix}/in",
        f"s3://{prefix}/out/predictions.csv",
        chunk_rows=2000,
        storage_options=s3_service.storage_options,
    )
    assert (summary.rows, summary.chunks) == (5000, 3)
    with fs.open(f"{prefix}/out/predictions.csv") as stream:
        out = pd.read_csv(stream)
    np.testing.assert_array_equal(out["prediction"], model.predict(data))
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(f"{prefix}/out")] == ["predictions.csv"]


# The components ------------------------------------------------------------------------------


@component
def flight_rows(n: int = 900, seed: int = 3) -> Dataset:
    frame = flights(n, seed)
    frame["split"] = np.where(np.arange(n) % 5 == 0, "eval", "train")
    return frame  # type: ignore[return-value]


@pipeline(name="score")
def train_and_score(chunk_rows: int = 250) -> None:
    rows = flight_rows()
    features = transform(rows, numeric=["distance", "dep_hour"], categorical=["carrier"])
    model = train.lightgbm(rows, target="delayed", transform=features, num_boost_round=10)
    batch_predict(model, rows, with_scores=True, chunk_rows=chunk_rows)


@pipeline(name="score-champion")
def score_champion(model_uri: str = "models:/delays@champion") -> None:
    batch_predict_uri(model_uri, flight_rows(), keep_columns=["id"], chunk_rows=400)


def test_the_components_in_pipelines(settings: Settings) -> None:
    run = mloop.run(train_and_score, settings=settings, executor="inline")
    predictions: Dataset = run.output("batch_predict")
    frame = run.output("flight_rows").to_pandas()
    trained: PackagedModel = run.output("train.lightgbm").load()
    scored = predictions.to_pandas()
    assert predictions.num_rows == 900 and predictions.splits == {"train": 720, "eval": 180}
    assert list(scored.columns) == [*frame.columns, "prediction", "score"]
    np.testing.assert_array_equal(scored["prediction"], trained.predict(frame))
    np.testing.assert_allclose(scored["score"], trained.predict_proba(frame)[:, 1])

    # The same model and data: a cache hit. Another chunk size scores again, into the same
    # bytes (row groups of a fixed size, whatever the chunks), so what follows would hit.
    again = mloop.run(train_and_score, settings=settings, executor="inline")
    assert again.steps["batch_predict"].state == "cached"
    other = mloop.run(train_and_score, {"chunk_rows": 400}, settings=settings, executor="inline")
    assert other.steps["batch_predict"].state == "succeeded"
    assert other.output("batch_predict").fingerprint == predictions.fingerprint

    # By registry reference, resolved when the step runs; the output says which version.
    with Registry(settings) as registry:
        with pytest.raises(StepFailed, match="delays"):
            mloop.run(score_champion, settings=settings, executor="inline")
        version = registry.register("delays", run.output("train.lightgbm"))
        registry.set_alias("delays", "champion", version.version)
    champion = mloop.run(score_champion, settings=settings, executor="inline")
    output: Dataset = champion.output("batch_predict_uri")
    assert output.properties["model"] == "models:/delays/1"
    assert output.properties["model_version"] == 1
    assert output.to_pandas().columns.tolist() == ["id", "prediction"]
    np.testing.assert_array_equal(output.to_pandas()["prediction"], scored["prediction"])


def test_the_component_streams_its_output_into_the_store(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from mloop.serving import _batch

    def collect(*args: object, **kwargs: object) -> None:
        raise AssertionError("batch_predict must not collect its output in memory")

    monkeypatch.setattr(_batch, "predict_table", collect)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = mloop.run(train_and_score, {"chunk_rows": 130}, settings=settings, executor="inline")
    predictions: Dataset = run.output("batch_predict")
    assert predictions.num_rows == 900 and predictions.splits == {"train": 720, "eval": 180}
    assert predictions.to_pandas()["prediction"].notna().all()
    assert list(tmp_path.glob("mloop-batch-predict-*")) == []  # moved into the store
