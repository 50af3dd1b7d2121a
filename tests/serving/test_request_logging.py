"""The request-response log: records buffered off the request path, written as hourly Parquet
files (local and S3), read back with DuckDB; drops counted, never raised."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from mloop.errors import DataError
from mloop.serving import compact_logs
from mloop.serving._logging import LoggerStats, RequestLogger, read_logs

if TYPE_CHECKING:
    from _services import S3Service

T0 = datetime(2024, 3, 5, 13, 15, tzinfo=UTC)


def _record(i: int, *, at: datetime = T0, version: int = 3, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": f"req-{i}",
        "logged_at": at,
        "endpoint": "flights",
        "deployed_model_id": "d1",
        "model": "delay",
        "model_version": version,
        "shadow": False,
        "latency_ms": 1.5,
        "prediction": i % 2,
        "scores": [0.25, 0.75],
        "features": {"distance": 100.0 + i, "carrier": "UA", "hour": i % 24},
    }
    record.update(extra)
    return record


def _quiet_logger(root: Path | str, **kwargs: Any) -> RequestLogger:
    """A logger that writes only when flushed or closed (no timer, no batch trigger)."""
    kwargs.setdefault("flush_interval", 3600.0)
    kwargs.setdefault("batch_rows", 1_000_000)
    return RequestLogger(str(root), **kwargs)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_records_round_trip_with_features_predictions_and_scores(tmp_path: Path) -> None:
    logger = _quiet_logger(tmp_path)
    for i in range(5):
        assert logger.log("flights", _record(i, at=T0 + timedelta(seconds=i)))
    # a newer model version with another feature set, and a string prediction
    logger.log(
        "flights",
        _record(
            5,
            at=T0 + timedelta(seconds=10),
            version=4,
            shadow=True,
            prediction="late",
            features={"distance": 7.5, "weather": "rain"},
        ),
    )
    assert logger.flush(timeout=30)
    assert logger.stats == LoggerStats(logged=6, written=6, dropped=0, failed_batches=0)

    table = read_logs(str(tmp_path), "flights")
    rows = table.to_pylist()
    assert [r["request_id"] for r in rows] == ["req-5", "req-4", "req-3", "req-2", "req-1", "req-0"]
    newest, oldest = rows[0], rows[-1]
    assert newest["features"] == {"distance": 7.5, "carrier": None, "hour": None, "weather": "rain"}
    assert newest["prediction"] == "late" and newest["shadow"] is True
    assert newest["model_version"] == 4
    assert oldest["features"] == {"distance": 100.0, "carrier": "UA", "hour": 0, "weather": None}
    assert oldest["prediction"] == "0"  # unioned with the string prediction
    assert oldest["scores"] == [0.25, 0.75]
    assert oldest["logged_at"] == T0
    assert oldest["endpoint"] == "flights" and oldest["deployed_model_id"] == "d1"
    assert oldest["latency_ms"] == 1.5 and oldest["model"] == "delay"
    assert "date" not in table.column_names and "hour" not in table.column_names

    # monitoring reads the features as columns
    files = [str(p) for p in _files(tmp_path)]
    got = duckdb.sql(
        "SELECT features.* FROM read_parquet(?, union_by_name = true) ORDER BY features.distance",
        params=[files],
    ).fetchall()
    assert got[0] == (7.5, None, None, "rain")
    logger.close()


def test_files_are_partitioned_by_date_and_hour_and_reads_prune(tmp_path: Path) -> None:
    logger = _quiet_logger(tmp_path)
    times = [
        datetime(2024, 3, 5, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 3, 6, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 3, 6, 0, 30, tzinfo=UTC),
        datetime(2024, 3, 6, 7, 0, tzinfo=UTC),
        datetime(2024, 3, 6, 9, 0),  # naive: UTC
    ]
    for i, at in enumerate(times):
        logger.log("flights", _record(i, at=at))
    logger.close()

    files = _files(tmp_path)
    partitions = sorted({p.parent.relative_to(tmp_path).as_posix() for p in files})
    assert partitions == [
        "flights/date=2024-03-05/hour=23",
        "flights/date=2024-03-06/hour=00",
        "flights/date=2024-03-06/hour=07",
        "flights/date=2024-03-06/hour=09",
    ]
    assert all(p.suffix == ".parquet" and not p.name.startswith(".") for p in files)

    since = datetime(2024, 3, 6, 0, 0, 1, tzinfo=UTC)
    until = datetime(2024, 3, 6, 9, 0)
    window = read_logs(str(tmp_path), "flights", since=since, until=until)
    assert window.column("request_id").to_pylist() == ["req-3", "req-2", "req-1"]
    assert read_logs(str(tmp_path), "flights", limit=2).column("request_id").to_pylist() == [
        "req-4",
        "req-3",
    ]
    # the partition of 23:00 on the 5th cannot match and is not read: corrupt it to prove it
    old = next(p for p in files if "hour=23" in str(p))
    old.write_bytes(b"not parquet")
    assert read_logs(str(tmp_path), "flights", since=since).num_rows == 4
    with pytest.raises(duckdb.Error):
        read_logs(str(tmp_path), "flights")


def test_compaction_merges_each_finished_hour_into_one_file(tmp_path: Path) -> None:
    """Each finished hour's files become one (rows kept exactly); the current hour is left to
    the servers; a run interrupted before deleting what it merged leaves no row twice."""
    import shutil

    logger = _quiet_logger(tmp_path)
    now = datetime.now(UTC)
    batches = [  # (hour, records): one file per flush
        (T0, range(0, 3)), (T0, range(3, 5)), (T0, range(5, 6)),
        (T0 + timedelta(hours=1), range(6, 8)), (T0 + timedelta(hours=1), range(8, 9)),
        (now, range(9, 10)), (now, range(10, 11)),
    ]  # fmt: skip
    for at, ids in batches:
        for i in ids:  # a later model version logs a feature the earlier one did not
            extra = {"features": {"distance": 1.0 * i, "weather": "rain"}} if i >= 7 else {}
            logger.log("flights", _record(i, at=at, **extra))
        assert logger.flush(timeout=30)
    logger.close()

    def rows() -> list[dict[str, Any]]:
        return sorted(
            read_logs(str(tmp_path), "flights").to_pylist(), key=lambda r: r["request_id"]
        )

    def hour_files(at: datetime) -> list[Path]:
        return _files(tmp_path / "flights" / f"date={at:%Y-%m-%d}" / f"hour={at:%H}")

    before = rows()
    assert len(before) == 11 and [len(hour_files(t)) for t in (T0, T0 + timedelta(hours=1))] == [
        3,
        2,
    ]
    originals = hour_files(T0)
    kept_aside = tmp_path.parent / f"{tmp_path.name}-aside"
    kept_aside.mkdir()
    for path in originals:
        shutil.copy(path, kept_aside / path.name)

    report = compact_logs(str(tmp_path))
    assert (report.partitions, report.files_merged, report.files_written, report.rows) == (
        2,
        5,
        2,
        9,
    )
    assert [len(hour_files(t)) for t in (T0, T0 + timedelta(hours=1), now)] == [1, 1, 2]
    assert hour_files(T0)[0].name.startswith("compacted-")
    assert rows() == before
    logged = [r["logged_at"] for r in read_logs(str(tmp_path), "flights").to_pylist()]
    assert logged == sorted(logged, reverse=True)
    assert compact_logs(str(tmp_path)).partitions == 0  # nothing left to merge

    # A run interrupted after writing the merged file, before deleting what it merged: the
    # originals are back; readers skip them (the merged file names them), and so does the
    # next run, which also merges a late file and deletes the leftovers.
    for path in originals:
        shutil.copy(kept_aside / path.name, path)
    assert rows() == before
    late = _quiet_logger(tmp_path)
    late.log("flights", _record(11, at=T0 + timedelta(minutes=30)))
    late.close()
    report = compact_logs(str(tmp_path), "flights", before=now)
    assert (report.partitions, report.files_merged, report.rows) == (1, 2, 7)
    assert len(hour_files(T0)) == 1 and not any(p.exists() for p in originals)
    assert [r["request_id"] for r in rows()] == sorted(f"req-{i}" for i in range(12))
    with pytest.raises(DataError, match="invalid endpoint name"):
        compact_logs(str(tmp_path), "../escape")

    # files whose columns cannot be joined (a number, then text) are left as they are
    for prediction in (1, "yes"):
        other = _quiet_logger(tmp_path)
        other.log("mixed", _record(0, prediction=prediction))
        other.close()
    report = compact_logs(str(tmp_path), "mixed")
    assert report.partitions == 0 and len(report.skipped) == 1
    assert "hour=13" in report.skipped[0] and len(_files(tmp_path / "mixed")) == 2


def test_no_logs_is_an_empty_table_with_the_base_columns(tmp_path: Path) -> None:
    for root in (tmp_path / "never-written", tmp_path):
        table = read_logs(str(root), "unknown-endpoint")
        assert table.num_rows == 0
        assert {"request_id", "logged_at", "model_version", "prediction"} <= set(table.column_names)
    logger = _quiet_logger(tmp_path)
    logger.log("flights", _record(1))
    logger.close()
    assert read_logs(str(tmp_path), "flights", limit=0).num_rows == 0
    assert read_logs(str(tmp_path), "flights", since=T0 + timedelta(days=1)).num_rows == 0


def test_a_full_buffer_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    drops: list[tuple[str, int]] = []
    logger = _quiet_logger(tmp_path, max_buffered=10, on_drop=lambda e, n: drops.append((e, n)))
    accepted = [logger.log("flights", _record(i)) for i in range(25)]
    assert accepted == [True] * 10 + [False] * 15
    assert logger.stats == LoggerStats(logged=10, written=0, dropped=15, failed_batches=0)
    assert logger.flush(timeout=30)
    assert sum(n for _, n in drops) == 15 and {e for e, _ in drops} == {"flights"}
    # room again once written
    assert logger.log("flights", _record(99))
    logger.close()
    assert logger.stats == LoggerStats(logged=11, written=11, dropped=15, failed_batches=0)
    assert read_logs(str(tmp_path), "flights").num_rows == 11


def test_a_failing_sink_drops_counts_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "a-file"
    root.write_text("the log root is a file, so no directory can be made under it")
    drops: list[tuple[str, int]] = []
    logger = _quiet_logger(root, write_retries=0, on_drop=lambda e, n: drops.append((e, n)))
    with caplog.at_level(logging.ERROR, logger="mloop.serving._logging"):
        assert all(logger.log("flights", _record(i)) for i in range(5))
        assert logger.flush(timeout=30)
        assert all(logger.log("flights", _record(i)) for i in range(3))
        assert logger.flush(timeout=30)
    assert logger.stats == LoggerStats(logged=8, written=0, dropped=8, failed_batches=2)
    assert drops == [("flights", 5), ("flights", 3)]
    errors = [r for r in caplog.records if r.name == "mloop.serving._logging"]
    assert len(errors) == 1  # once a minute, not once a batch
    assert "cannot write 5 records of endpoint 'flights' (dropped)" in errors[0].getMessage()
    assert logger.close()
    assert root.read_text().startswith("the log root is a file")


def test_a_file_that_cannot_be_written_is_tried_again_then_dropped(tmp_path: Path) -> None:
    """A failed write is kept and tried at the next writes (``write_retries`` of them); kept
    records count against the buffer's bound; a store that comes back gets them all; one
    that stays down has them dropped and counted; close tries once more, then drops."""
    root = tmp_path / "logs"
    root.write_text("a file where the log directory should be: the store is down")
    drops: list[tuple[str, int]] = []
    logger = _quiet_logger(
        root, write_retries=2, max_buffered=8, on_drop=lambda e, n: drops.append((e, n))
    )
    assert all(logger.log("flights", _record(i)) for i in range(5))
    assert logger.flush(timeout=30)  # fails: kept
    assert logger.stats == LoggerStats(logged=5, written=0, dropped=0, failed_batches=1)
    assert all(logger.log("flights", _record(i)) for i in range(5, 8))
    assert not logger.log("flights", _record(8))  # 5 kept + 3 buffered: full
    root.unlink()  # the store is back
    assert logger.flush(timeout=30)
    assert logger.stats == LoggerStats(logged=8, written=8, dropped=1, failed_batches=1)
    assert sorted(r["request_id"] for r in read_logs(str(root), "flights").to_pylist()) == [
        f"req-{i}" for i in range(8)
    ]
    assert drops == [("flights", 1)]
    assert logger.close()

    down = tmp_path / "down"
    down.write_text("stays a file")
    drops.clear()
    logger = _quiet_logger(down, write_retries=2, on_drop=lambda e, n: drops.append((e, n)))
    assert all(logger.log("flights", _record(i)) for i in range(4))
    for failures in (1, 2):
        assert logger.flush(timeout=30)
        assert logger.stats == LoggerStats(logged=4, written=0, dropped=0, failed_batches=failures)
    assert logger.flush(timeout=30)  # the third failure: tried twice more, dropped
    assert logger.stats == LoggerStats(logged=4, written=0, dropped=4, failed_batches=3)
    assert drops == [("flights", 4)]

    assert all(logger.log("flights", _record(i)) for i in range(2))
    assert logger.flush(timeout=30)  # kept ...
    assert logger.close()  # ... tried once more at close, then dropped
    assert logger.stats == LoggerStats(logged=6, written=0, dropped=6, failed_batches=5)
    assert drops == [("flights", 4), ("flights", 2)]
    assert down.read_text() == "stays a file"


def test_a_failing_hook_or_a_bad_record_never_reaches_the_caller(tmp_path: Path) -> None:
    def hook(endpoint: str, n: int) -> None:
        raise RuntimeError("metrics are down")

    logger = _quiet_logger(tmp_path, max_buffered=2, on_drop=hook)
    assert logger.log("flights", _record(1, model_version="three", latency_ms="slow"))
    assert logger.log("../escape", _record(2))
    assert not logger.log("flights", _record(3))  # full
    logger.close()
    assert not logger.log("flights", _record(4))  # closed
    stats = logger.stats
    assert (stats.written, stats.dropped, stats.failed_batches) == (1, 3, 1)
    row = read_logs(str(tmp_path), "flights").to_pylist()[0]
    assert row["model_version"] is None and row["latency_ms"] is None  # bad values: null
    assert not (tmp_path.parent / "escape").exists()


def test_times_are_utc_and_a_record_without_one_is_stamped_when_logged(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    logger = _quiet_logger(tmp_path)
    paris = datetime(2024, 3, 6, 1, 30, tzinfo=ZoneInfo("Europe/Paris"))  # 00:30 UTC
    logger.log("flights", _record(1, at=paris))
    unstamped = _record(2)
    del unstamped["logged_at"]
    before = datetime.now(UTC)
    logger.log("flights", unstamped)
    logger.close()
    rows = {r["request_id"]: r for r in read_logs(str(tmp_path), "flights").to_pylist()}
    assert rows["req-1"]["logged_at"] == paris
    assert (tmp_path / "flights" / "date=2024-03-06" / "hour=00").is_dir()
    assert before - timedelta(seconds=1) <= rows["req-2"]["logged_at"] <= datetime.now(UTC)


def test_close_writes_everything_and_is_idempotent(tmp_path: Path) -> None:
    logger = _quiet_logger(tmp_path)
    for i in range(500):
        logger.log("flights", _record(i))
    for i in range(7):
        logger.log("other-endpoint", _record(i))
    assert _files(tmp_path) == []  # nothing written yet: no timer, no batch trigger
    assert logger.close()
    assert logger.close()
    assert logger.stats == LoggerStats(logged=507, written=507, dropped=0, failed_batches=0)
    assert read_logs(str(tmp_path), "flights").num_rows == 500
    assert read_logs(str(tmp_path), "other-endpoint").num_rows == 7


def test_background_thread_writes_by_size_and_by_time(tmp_path: Path) -> None:
    by_size = RequestLogger(str(tmp_path / "size"), batch_rows=100, flush_interval=3600.0)
    by_time = RequestLogger(str(tmp_path / "time"), batch_rows=1_000_000, flush_interval=0.05)
    for i in range(100):
        by_size.log("flights", _record(i))
    by_time.log("flights", _record(0))
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while datetime.now(UTC) < deadline and (
        by_size.stats.written < 100 or by_time.stats.written < 1
    ):
        threading.Event().wait(0.02)
    assert by_size.stats.written == 100 and by_time.stats.written == 1
    by_size.close()
    by_time.close()


def test_concurrent_logging_from_threads_and_an_event_loop_loses_nothing(tmp_path: Path) -> None:
    logger = RequestLogger(str(tmp_path), batch_rows=500, flush_interval=0.05)
    per_thread = 5000
    start = threading.Barrier(9)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            assert logger.log("flights", _record(i, request_id=f"{t}-{i}"))

    async def from_event_loop() -> None:
        start.wait()
        for i in range(per_thread):
            assert logger.log("flights", _record(i, request_id=f"loop-{i}"))
            if i % 1000 == 0:
                await asyncio.sleep(0)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    asyncio.run(from_event_loop())
    for thread in threads:
        thread.join()
    assert logger.close(timeout=60)
    total = 9 * per_thread
    assert logger.stats == LoggerStats(logged=total, written=total, dropped=0, failed_batches=0)
    ids = read_logs(str(tmp_path), "flights").column("request_id").to_pylist()
    assert len(ids) == total and len(set(ids)) == total


def test_a_forked_child_logs_on_its_own(tmp_path: Path) -> None:
    logger = _quiet_logger(tmp_path)
    logger.log("flights", _record(0, request_id="parent-before-fork"))
    pid = os.fork()
    if pid == 0:  # child: the parent's buffered record is the parent's to write
        code = 1
        try:
            ok = logger.log("flights", _record(1, request_id="child"))
            code = 0 if ok and logger.close(timeout=30) and logger.stats.written == 1 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    logger.log("flights", _record(2, request_id="parent-after-fork"))
    assert logger.close()
    ids = sorted(read_logs(str(tmp_path), "flights").column("request_id").to_pylist())
    assert ids == ["child", "parent-after-fork", "parent-before-fork"]


@pytest.mark.s3
def test_logs_on_s3(s3_service: S3Service) -> None:
    root = f"s3://{s3_service.bucket}/serving-logs-{uuid.uuid4().hex[:8]}"
    options = s3_service.storage_options
    assert read_logs(root, "flights", storage_options=options).num_rows == 0
    logger = RequestLogger(root, storage_options=options, flush_interval=3600.0)
    for i in range(3):
        logger.log("flights", _record(i, at=T0 + timedelta(hours=i)))
    assert logger.flush(timeout=60)
    logger.log("flights", _record(3, at=T0 + timedelta(hours=3), features={"distance": 1.0}))
    assert logger.close(timeout=60)
    assert logger.stats == LoggerStats(logged=4, written=4, dropped=0, failed_batches=0)

    rows = read_logs(root, "flights", storage_options=options).to_pylist()
    assert [r["request_id"] for r in rows] == ["req-3", "req-2", "req-1", "req-0"]
    assert rows[-1]["features"] == {"distance": 100.0, "carrier": "UA", "hour": 0}
    assert rows[0]["features"] == {"distance": 1.0, "carrier": None, "hour": None}
    since = read_logs(root, "flights", since=T0 + timedelta(hours=2), storage_options=options)
    assert since.column("request_id").to_pylist() == ["req-3", "req-2"]

    late = RequestLogger(root, storage_options=options, flush_interval=3600.0)
    late.log("flights", _record(4, at=T0 + timedelta(minutes=5)))  # a second file at T0
    assert late.close(timeout=60)
    report = compact_logs(root, storage_options=options)
    assert (report.partitions, report.files_merged, report.files_written) == (1, 2, 1)
    after = read_logs(root, "flights", storage_options=options).column("request_id")
    assert sorted(after.to_pylist()) == [f"req-{i}" for i in range(5)]


def test_requests_logged_whole_become_one_record_per_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from mloop.serving import _logging
    from mloop.serving._log_tables import FeatureColumns

    monkeypatch.setattr(_logging, "SLICE_ROWS", 3)  # several slices, joined into one file
    logger = _quiet_logger(tmp_path)

    def fields(i: int) -> dict[str, Any]:
        return {"request_id": f"r{i}", "logged_at": T0 + timedelta(seconds=i),
                "deployed_model_id": "d1", "model": "delay", "model_version": 3,
                "shadow": False, "latency_ms": 0.5 + i}  # fmt: skip

    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert logger.log_request(
        "flights",
        fields(0),
        FeatureColumns({"distance": [100, 200], "carrier": ["UA", None]}, 2),
        np.array([0, 1]),
        probabilities,
    )
    assert logger.log_request(  # a frame's columns (NumPy), a feature the others lack
        "flights",
        fields(1),
        FeatureColumns({"distance": np.array([7.5]), "hour": np.array([9])}, 1),
        np.array([1]),
        np.array([[0.4, 0.6]]),
    )
    assert logger.log_request(  # rows as dicts, no scores
        "flights", fields(2), [{"distance": 1}, {"distance": 2}, {}], [0, 0, 1]
    )
    # predictions that do not match the rows: dropped and counted, never written
    assert logger.log_request("flights", fields(3), [{"distance": 1}], [0, 1])
    assert logger.flush(timeout=30)
    assert logger.stats == LoggerStats(logged=7, written=6, dropped=1, failed_batches=0)

    rows = read_logs(str(tmp_path), "flights").to_pylist()
    assert len(_files(tmp_path)) == 1
    by_request = [(r["request_id"], r["prediction"], r["latency_ms"]) for r in rows]
    assert sorted(by_request) == [
        ("r0", 0, 0.5), ("r0", 1, 0.5), ("r1", 1, 1.5), ("r2", 0, 2.5), ("r2", 0, 2.5),
        ("r2", 1, 2.5),
    ]  # fmt: skip
    first = [r for r in rows if r["request_id"] == "r0"]
    first.sort(key=lambda r: r["prediction"])
    assert [r["features"] for r in first] == [
        {"distance": 100.0, "carrier": "UA", "hour": None},
        {"distance": 200.0, "carrier": None, "hour": None},
    ]
    assert [r["scores"] for r in first] == probabilities.tolist()
    assert first[0]["logged_at"] == T0 and first[0]["model_version"] == 3
    second = next(r for r in rows if r["request_id"] == "r1")
    assert second["features"] == {"distance": 7.5, "carrier": None, "hour": 9}
    assert second["scores"] == [0.4, 0.6]
    assert {
        tuple(sorted((r["features"] or {}).items())) for r in rows if r["request_id"] == "r2"
    } == {
        (("carrier", None), ("distance", 1.0), ("hour", None)),
        (("carrier", None), ("distance", 2.0), ("hour", None)),
        (("carrier", None), ("distance", None), ("hour", None)),
    }
    assert all(r["scores"] is None for r in rows if r["request_id"] == "r2")
    logger.close()


def test_request_rows_are_logged_with_the_models_input_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FeatureRows``: the dicts a client sent, typed by the model's inputs in one Arrow
    call — keys the model does not read left out, missing ones null, NaN null; a value
    that does not fit its type sends the batch down the inferred column-by-column path."""
    import numpy as np

    from mloop.serving import _log_tables, _logging
    from mloop.serving._log_tables import FeatureColumns, FeatureRows, feature_schema

    schema = feature_schema([("distance", "float64"), ("hour", "int64"), ("carrier", "string")])
    assert schema is not None
    assert feature_schema([("at", "timestamp")]) is None and feature_schema([]) is None

    def fields(i: int) -> dict[str, Any]:
        return {"request_id": f"r{i}", "deployed_model_id": "d1", "model": "delay",
                "model_version": 3, "shadow": False, "latency_ms": 0.5}  # fmt: skip

    def no_fallback(entries: Any) -> Any:
        raise AssertionError("rows of declared types take the one-call path")

    monkeypatch.setattr(_log_tables, "_column_features", no_fallback)
    logger = _quiet_logger(tmp_path / "typed")
    rows = [
        {"distance": 100, "hour": 7, "carrier": "UA", "extra": [1, 2]},
        {"distance": float("nan"), "carrier": "B6"},
    ]
    assert logger.log_request(
        "flights", fields(0), FeatureRows(rows, schema), np.array([1, 0]), np.eye(2)
    )
    assert logger.log_request(
        "flights", fields(1), FeatureRows([{"hour": 3}], schema), np.array([1]), np.eye(2)[:1]
    )
    assert logger.flush(timeout=30)
    assert logger.stats == LoggerStats(logged=3, written=3, dropped=0, failed_batches=0)
    monkeypatch.undo()
    table = read_logs(str(tmp_path / "typed"), "flights")
    features = table.schema.field("features").type
    assert [(f.name, str(f.type)) for f in features] == [
        ("distance", "double"), ("hour", "int64"), ("carrier", "string")
    ]  # fmt: skip
    logged = sorted(table.to_pylist(), key=lambda r: (r["request_id"], r["prediction"]))
    assert [r["features"] for r in logged] == [
        {"distance": None, "hour": None, "carrier": "B6"},
        {"distance": 100.0, "hour": 7, "carrier": "UA"},
        {"distance": None, "hour": 3, "carrier": None},
    ]
    assert [r["scores"] for r in logged] == [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]
    logger.close()

    # A value Arrow cannot convert to the declared type, and a batch mixing kinds: column
    # by column, each inferred (text where kinds disagree); nothing is lost.
    monkeypatch.setattr(_logging, "SLICE_ROWS", 1000)
    logger = _quiet_logger(tmp_path / "mixed")
    assert logger.log_request(
        "flights", fields(2), FeatureRows([{"hour": "seven"}], schema), np.array([0]), None
    )
    assert logger.log_request(
        "flights", fields(3), FeatureColumns({"hour": [8]}, 1), np.array([1]), None
    )
    assert logger.flush(timeout=30)
    assert logger.stats.written == 2 and logger.stats.dropped == 0
    mixed = read_logs(str(tmp_path / "mixed"), "flights").to_pylist()
    assert sorted(str(r["features"]["hour"]) for r in mixed) == ["8", "seven"]
    logger.close()
