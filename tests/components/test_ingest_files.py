"""Ingesting files: CSV and Parquet from a file, a glob, a directory of hive partitions or
S3; the time window and its time zones; bad input as errors that name what is wrong.

The components are called directly here (outside a pipeline a component is its function);
``test_ingest_pipeline.py`` runs them in pipelines.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from _services import S3Service
from mloop.components import ingest
from mloop.errors import IngestError

START = datetime(2013, 1, 1, tzinfo=UTC)


def flights(n: int = 48, first: int = 0) -> pa.Table:
    """``n`` hourly flights from 2013-01-01 00:00 UTC (+ ``first`` hours)."""
    ids = list(range(first, first + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "time_hour": pa.array(
                [START + timedelta(hours=i) for i in ids], pa.timestamp("s", tz="UTC")
            ),
            "carrier": [["UA", "AA", "B6"][i % 3] for i in ids],
            "dep_delay": [float(i % 7) for i in ids],
        }
    )


def write_csv(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    return path


def write_parquet(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


# CSV ----------------------------------------------------------------------------------------


def test_csv_file_with_inferred_types(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "flights.csv", flights(5))
    table = ingest.csv(str(path))
    assert table.num_rows == 5
    assert table.schema.field("id").type == pa.int64()
    assert pa.types.is_timestamp(table.schema.field("time_hour").type)
    assert table.column("carrier").to_pylist() == ["UA", "AA", "B6", "UA", "AA"]


def test_csv_options_are_pyarrows_by_name(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;when\n1;x;2013-01-01\nNA;y;2013-01-02\n")
    table = ingest.csv(
        str(path),
        csv_options={"delimiter": ";", "null_values": ["NA"], "column_types": {"a": "float64"}},
    )
    assert table.schema.field("a").type == pa.float64()
    assert table.column("a").to_pylist() == [1.0, None]


def test_a_csv_glob_reads_every_file(tmp_path: Path) -> None:
    write_csv(tmp_path / "part-1.csv", flights(10))
    write_csv(tmp_path / "part-2.csv", flights(10, first=10))
    write_csv(tmp_path / "other.txt", flights(3))
    table = ingest.csv(str(tmp_path / "part-*.csv"))
    assert sorted(table.column("id").to_pylist()) == list(range(20))


def test_csv_column_with_mixed_types_is_read_as_text_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mixed.csv"
    lines = ["id,code"] + [f"{i},{i}" for i in range(5000)] + ["5000,A17"]
    path.write_text("\n".join(lines) + "\n")
    # Small blocks: the type is inferred from the first one, the bad value comes much later.
    with caplog.at_level(logging.WARNING, logger="mloop.components.ingest"):
        table = ingest.csv(str(path), csv_options={"block_size": 4096})
    assert table.schema.field("code").type == pa.string()
    assert table.schema.field("id").type == pa.int64()
    assert table.column("code").to_pylist()[-2:] == ["4999", "A17"]
    assert "column 'code' has values of mixed types" in caplog.text
    assert "'A17'" in caplog.text


def test_csv_files_that_disagree_on_a_type_give_text(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,code\n1,10\n2,20\n")
    (tmp_path / "b.csv").write_text("id,code\n3,X1\n")
    table = ingest.csv(str(tmp_path))
    assert table.schema.field("code").type == pa.string()
    assert sorted(table.column("code").to_pylist()) == ["10", "20", "X1"]


def test_csv_value_that_does_not_fit_a_declared_type_names_column_file_and_value(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text("id,price\n1,1.5\n")
    (tmp_path / "b.csv").write_text(
        "id,price\n" + "".join(f"{i},2\n" for i in range(3000)) + "9,unknown\n"
    )
    with pytest.raises(IngestError) as raised:
        ingest.csv(
            str(tmp_path / "*.csv"),
            csv_options={"column_types": {"price": "float64"}, "block_size": 4096},
        )
    message = str(raised.value)
    assert "column 'price'" in message
    assert "'unknown'" in message
    assert "b.csv" in message
    assert raised.value.fields["column"] == "price"


def test_csv_bad_options_are_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", flights(2))
    with pytest.raises(IngestError, match=r"unknown option 'delimeter'.*delimiter"):
        ingest.csv(str(path), csv_options={"delimeter": ";"})
    with pytest.raises(IngestError, match=r"'int65' \(column 'id'\) is not an Arrow type"):
        ingest.csv(str(path), csv_options={"column_types": {"id": "int65"}})


def test_empty_csv_file_is_an_error_naming_it_but_a_header_alone_is_an_empty_dataset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(IngestError, match=r"empty.csv"):
        ingest.csv(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b\n")
    with caplog.at_level(logging.WARNING, logger="mloop.components.ingest"):
        table = ingest.csv(str(tmp_path / "header.csv"))
    assert table.num_rows == 0
    assert table.column_names == ["a", "b"]
    assert "has no rows" in caplog.text


# Parquet ------------------------------------------------------------------------------------


def test_parquet_file_glob_and_directory_read_the_same_rows(tmp_path: Path) -> None:
    write_parquet(tmp_path / "data" / "a.parquet", flights(10))
    write_parquet(tmp_path / "data" / "b.parquet", flights(10, first=10))
    by_file = ingest.parquet(str(tmp_path / "data" / "a.parquet"))
    by_glob = ingest.parquet(str(tmp_path / "data" / "*.parquet"))
    by_dir = ingest.parquet(str(tmp_path / "data") + "/")
    assert by_file.num_rows == 10
    assert by_glob.equals(by_dir)
    assert sorted(by_dir.column("id").to_pylist()) == list(range(20))
    assert by_dir.column_names == flights(1).column_names


def test_relative_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_parquet(tmp_path / "data" / "flights" / "a.parquet", flights(4))
    monkeypatch.chdir(tmp_path)
    assert ingest.parquet("data/flights/").num_rows == 4


def test_hive_partitions_become_columns_and_hidden_files_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "flights"
    write_parquet(root / "year=2013" / "month=1" / "part-0.parquet", flights(5))
    write_parquet(root / "year=2013" / "month=2" / "part-0.parquet", flights(3, first=5))
    (root / "_SUCCESS").write_text("")
    (root / "year=2013" / ".part-0.parquet.crc").write_bytes(b"\x00")
    table = ingest.parquet(str(root))
    assert table.num_rows == 8
    assert table.schema.field("month").type == pa.int32()
    assert sorted(set(table.column("month").to_pylist())) == [1, 2]
    assert ingest.parquet(str(root), columns=["month", "id"]).column_names == ["month", "id"]


def test_files_with_an_added_column_read_with_nulls_for_the_older_ones(tmp_path: Path) -> None:
    write_parquet(tmp_path / "1.parquet", flights(2))
    write_parquet(
        tmp_path / "2.parquet", flights(2, first=2).append_column("gate", pa.array(["A", "B"]))
    )
    table = ingest.parquet(str(tmp_path)).sort_by("id")
    assert table.column("gate").to_pylist() == [None, None, "A", "B"]


def test_files_that_disagree_on_a_type_name_the_column(tmp_path: Path) -> None:
    write_parquet(tmp_path / "1.parquet", pa.table({"code": [1, 2]}))
    write_parquet(tmp_path / "2.parquet", pa.table({"code": ["x"]}))
    with pytest.raises(IngestError, match="disagree on the type of column 'code'") as raised:
        ingest.parquet(str(tmp_path))
    assert raised.value.fields["column"] == "code"


def test_a_file_that_is_not_parquet_is_an_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(IngestError, match=r"cannot read path .*notes\.parquet"):
        ingest.parquet(str(tmp_path / "notes.parquet"))


@pytest.mark.s3
def test_parquet_on_s3_with_storage_options(s3_service: S3Service, tmp_path: Path) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_service.storage_options)
    prefix = f"{s3_service.bucket}/ingest-{tmp_path.name}"
    for month, table in ((1, flights(6)), (2, flights(4, first=6))):
        with fs.open(f"{prefix}/flights/month={month}/part-0.parquet", "wb") as out:
            pq.write_table(table, out)
    table = ingest.parquet(
        f"s3://{prefix}/flights/",
        time_column="time_hour",
        start="2013-01-01T02:00",
        storage_options=s3_service.storage_options,
    )
    assert sorted(table.column("id").to_pylist()) == list(range(2, 10))
    assert sorted(set(table.column("month").to_pylist())) == [1, 2]
    glob = ingest.parquet(
        f"s3://{prefix}/flights/month=2/*.parquet", storage_options=s3_service.storage_options
    )
    assert glob.num_rows == 4


# Paths and columns that do not exist ---------------------------------------------------------


def test_no_matching_files_is_an_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"no file or directory matches path .*missing"):
        ingest.parquet(str(tmp_path / "missing"))
    with pytest.raises(IngestError, match=r"no data files match path .*\*\.csv"):
        ingest.csv(str(tmp_path / "*.csv"))
    (tmp_path / "only-markers").mkdir()
    (tmp_path / "only-markers" / "_SUCCESS").write_text("")
    with pytest.raises(IngestError, match=r"no data files match path .*only-markers") as raised:
        ingest.parquet(str(tmp_path / "only-markers"))
    assert raised.value.fields["path"].endswith("only-markers")


@pytest.mark.parametrize("argument", ["columns", "time_column", "split_by"])
def test_an_unknown_column_is_named_with_the_available_ones(tmp_path: Path, argument: str) -> None:
    path = write_parquet(tmp_path / "f.parquet", flights(3))
    options: dict[str, object] = {
        "columns": {"columns": ["id", "dep_dleay"]},
        "time_column": {"time_column": "dep_dleay"},
        "split_by": {"split_by": "dep_dleay", "split": {"train": 0.5, "eval": 0.5}},
    }[argument]
    with pytest.raises(IngestError) as raised:
        ingest.parquet(str(path), **options)
    assert f"{argument}: no column 'dep_dleay'" in str(raised.value)
    assert "(columns: id, time_hour, carrier, dep_delay)" in str(raised.value)
    assert raised.value.fields["column"] == "dep_dleay"


# The time window ----------------------------------------------------------------------------


def ids(table: pa.Table) -> list[int]:
    return sorted(table.column("id").to_pylist())


def test_window_is_half_open_and_naive_bounds_mean_utc(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "f.parquet", flights(48))
    table = ingest.parquet(
        str(path), time_column="time_hour", start="2013-01-01T05:00", end="2013-01-01T08:00"
    )
    assert ids(table) == [5, 6, 7]
    assert ids(ingest.parquet(str(path), time_column="time_hour", start="2013-01-02")) == list(
        range(24, 48)
    )
    assert ids(ingest.parquet(str(path), time_column="time_hour", end="2013-01-01T02:00")) == [0, 1]


def test_window_bounds_with_an_offset_are_compared_in_utc(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "f.parquet", flights(48))
    table = ingest.parquet(
        str(path),
        time_column="time_hour",
        start="2013-01-01T07:00+02:00",  # 05:00 UTC
        end="2013-01-01T03:00-05:00",  # 08:00 UTC
    )
    assert ids(table) == [5, 6, 7]


def test_window_on_a_naive_column_converts_aware_bounds_to_utc(tmp_path: Path) -> None:
    naive = flights(10).set_column(
        1, "time_hour", flights(10).column("time_hour").cast(pa.timestamp("s"))
    )
    path = write_parquet(tmp_path / "f.parquet", naive)
    table = ingest.parquet(
        str(path), time_column="time_hour", start="2013-01-01T03:00+01:00", end="2013-01-01T04:00"
    )
    assert ids(table) == [2, 3]


def test_window_on_a_date_column_compares_midnights(tmp_path: Path) -> None:
    days = pa.table({"id": [0, 1, 2, 3], "day": [date(2013, 1, d) for d in (1, 2, 3, 4)]})
    path = write_parquet(tmp_path / "days.parquet", days)
    assert ids(
        ingest.parquet(str(path), time_column="day", start="2013-01-02", end="2013-01-04")
    ) == [1, 2]
    # 2013-01-02T12:00 is after the midnight of the 2nd: the 2nd is out, the 3rd in.
    assert ids(ingest.parquet(str(path), time_column="day", start="2013-01-02T12:00")) == [2, 3]
    assert ids(ingest.parquet(str(path), time_column="day", end="2013-01-02T00:01")) == [0, 1]


def test_text_times_are_parsed_and_returned_parsed(tmp_path: Path) -> None:
    text = pa.table(
        {
            "id": [0, 1, 2, None],
            "when": [
                "2013-01-01T00:00:00Z",
                "2013-01-01T06:00:00+01:00",
                "2013-01-02T00:00Z",
                None,
            ],
        }
    )
    path = write_parquet(tmp_path / "text.parquet", text)
    table = ingest.parquet(str(path), time_column="when", start="2013-01-01T04:00")
    assert ids(table) == [1, 2]  # 06:00+01:00 is 05:00 UTC; a missing time is in no window
    assert table.schema.field("when").type == pa.timestamp("us", tz="UTC")


def test_csv_window_on_inferred_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,when\n0,2013-01-01 05:00:00\n1,2013-01-02 00:00:00\n2,2013-01-03\n")
    assert ids(ingest.csv(str(path), time_column="when", start="2013-01-02", end="2013-01-03")) == [
        1
    ]


def test_empty_window_gives_an_empty_dataset_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_parquet(tmp_path / "f.parquet", flights(5))
    with caplog.at_level(logging.WARNING, logger="mloop.components.ingest"):
        table = ingest.parquet(
            str(path), time_column="time_hour", start="2014-01-01", split={"train": 1.0}
        )
    assert table.num_rows == 0
    assert table.column_names == [*flights(1).column_names, "split"]
    assert "has no rows in [2014-01-01 00:00:00, inf)" in caplog.text


def test_time_column_errors_name_the_column(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "f.parquet", flights(3))
    with pytest.raises(IngestError, match="time_column 'dep_delay' is double, not a timestamp"):
        ingest.parquet(str(path), time_column="dep_delay", start="2013-01-01")
    with pytest.raises(
        IngestError, match=r"time_column 'carrier' holds text .* \(e.g. '(UA|AA|B6)'\)"
    ):
        ingest.parquet(str(path), time_column="carrier", start="2013-01-01")


def test_bad_window_arguments(tmp_path: Path) -> None:
    path = str(write_parquet(tmp_path / "f.parquet", flights(3)))
    with pytest.raises(IngestError, match="start 'yesterday' is not an ISO date"):
        ingest.parquet(path, time_column="time_hour", start="yesterday")
    with pytest.raises(IngestError, match="start '2013-02-01' is not before end '2013-01-01'"):
        ingest.parquet(path, time_column="time_hour", start="2013-02-01", end="2013-01-01")
    with pytest.raises(IngestError, match="start/end need a time_column"):
        ingest.parquet(path, start="2013-01-01")


def test_a_date_partition_can_be_the_time_column(tmp_path: Path) -> None:
    for day, first in (("2013-01-01", 0), ("2013-01-02", 24)):
        write_parquet(tmp_path / "flights" / f"day={day}" / "part-0.parquet", flights(24, first))
    table = ingest.parquet(str(tmp_path / "flights"), time_column="day", start="2013-01-02")
    assert ids(table) == list(range(24, 48))
    assert table.schema.field("day").type == pa.timestamp("us")


def test_columns_cannot_be_empty(tmp_path: Path) -> None:
    path = str(write_parquet(tmp_path / "f.parquet", flights(3)))
    with pytest.raises(IngestError, match="columns is empty"):
        ingest.parquet(path, columns=[])
