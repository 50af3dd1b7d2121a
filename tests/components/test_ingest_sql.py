"""Ingesting a SQL query: through SQLAlchemy (SQLite file, PostgreSQL) and through DuckDB (in
memory, or a database file opened read-only), in batches, with the window and splits."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import mloop.components._sources as sources_module
from mloop.components import ingest
from mloop.errors import IngestError


def sqlite_db(path: Path, rows: int = 48) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE flights (id INTEGER, time_hour TEXT, carrier TEXT, delay REAL)")
        db.executemany(
            "INSERT INTO flights VALUES (?, ?, ?, ?)",
            [
                (i, f"2013-01-{1 + i // 24:02d} {i % 24:02d}:00:00", "UA" if i % 2 else "AA", i / 2)
                for i in range(rows)
            ],
        )
    return f"sqlite:///{path}"


def test_sqlite_query_through_sqlalchemy(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "f.db")
    table = ingest.sql("SELECT * FROM flights ORDER BY id", url=url)
    assert table.num_rows == 48
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("delay").type == pa.float64()


def test_sqlite_text_times_are_parsed_for_the_window(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "f.db")
    table = ingest.sql(
        "SELECT id, time_hour FROM flights",
        url=url,
        time_column="time_hour",
        start="2013-01-01T22:00",
        end="2013-01-02T01:00",
    )
    assert table.column("id").to_pylist() == [22, 23, 24]
    assert table.schema.field("time_hour").type == pa.timestamp("us")


def test_query_rows_come_in_batches_with_types_promoted_across_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources_module, "_BATCH_ROWS", 5)
    path = tmp_path / "b.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER, note TEXT, at TEXT)")
        rows = [(i, None if i < 7 else f"n{i}", f"2013-01-01 00:{i:02d}:00") for i in range(23)]
        db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    table = ingest.sql(
        "SELECT * FROM t",
        url=f"sqlite:///{path}",
        time_column="at",
        start="2013-01-01T00:03",
        split=[("train", 0.5), ("eval", 0.5)],
        split_time=True,
    )
    assert table.column("id").to_pylist() == list(range(3, 23))
    assert table.schema.field("note").type == pa.string()  # null in the first batches
    assert table.column("split").to_pylist() == ["train"] * 10 + ["eval"] * 10


@pytest.mark.parametrize("batch_rows", [1, 100])  # the types differ across / within batches
def test_a_query_column_with_mixed_types_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    monkeypatch.setattr(sources_module, "_BATCH_ROWS", batch_rows)
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER, code)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(1, 10), (2, "ten")])
    with pytest.raises(IngestError, match="column 'code' has values of different types") as raised:
        ingest.sql("SELECT * FROM t", url=f"sqlite:///{path}")
    assert raised.value.fields["column"] == "code"


def test_duckdb_in_memory_reads_parquet_files(tmp_path: Path) -> None:
    for part in range(3):
        pq.write_table(
            pa.table({"id": [part * 10 + i for i in range(10)]}), tmp_path / f"{part}.parquet"
        )
    table = ingest.sql(
        f"SELECT id, id % 2 = 0 AS even FROM read_parquet('{tmp_path}/*.parquet')",
        split={"train": 0.8, "eval": 0.2},
        split_by="id",
    )
    assert sorted(table.column("id").to_pylist()) == list(range(30))
    assert table.column_names == ["id", "even", "split"]
    assert set(Counter(table.column("split").to_pylist())) <= {"train", "eval"}


def test_duckdb_database_file_is_opened_read_only(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(
            "CREATE TABLE w AS SELECT range AS id, TIMESTAMPTZ '2013-01-01 00:00:00+00' "
            "+ range * INTERVAL 1 HOUR AS at FROM range(48)"
        )
    table = ingest.sql(
        "SELECT * FROM w", url=f"duckdb:///{path}", time_column="at", start="2013-01-02"
    )
    assert table.column("id").to_pylist() == list(range(24, 48))
    with pytest.raises(IngestError, match=r"the query failed on duckdb.*read-only"):
        ingest.sql("CREATE TABLE x AS SELECT 1 AS a", url=f"duckdb:///{path}")


def test_sql_errors_are_clear(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "f.db")
    with pytest.raises(IngestError, match=r"the query failed on sqlite.*no such table: flihgts"):
        ingest.sql("SELECT * FROM flihgts", url=url)
    with pytest.raises(IngestError, match=r"the query failed on duckdb:.*flihgts"):
        ingest.sql("SELECT * FROM flihgts")
    with pytest.raises(IngestError, match="not a usable SQLAlchemy URL"):
        ingest.sql("SELECT 1", url="nosuchdb://x")
    with pytest.raises(IngestError, match="no column 'dely' in the query on sqlite"):
        ingest.sql("SELECT * FROM flights", url=url, columns=["dely"])
    with pytest.raises(IngestError, match="time_column 'id' is int64, not a timestamp"):
        ingest.sql("SELECT * FROM flights", url=url, time_column="id", start="2013-01-01")


def test_empty_query_result_is_an_empty_dataset(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "f.db")
    table = ingest.sql(
        "SELECT * FROM flights WHERE id < 0", url=url, time_column="time_hour", start="2013-01-01"
    )
    assert table.num_rows == 0
    assert table.column_names == ["id", "time_hour", "carrier", "delay"]


@pytest.mark.postgres
def test_postgresql_through_sqlalchemy(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS ingest_events")
        connection.exec_driver_sql(
            "CREATE TABLE ingest_events AS SELECT g AS id, "
            "TIMESTAMPTZ '2013-01-01 00:00:00+00' + g * INTERVAL '1 hour' AS at, "
            "g::numeric / 4 AS amount FROM generate_series(0, 47) AS g"
        )
    engine.dispose()
    table = ingest.sql(
        "SELECT * FROM ingest_events ORDER BY id",
        url=postgres_url,
        time_column="at",
        start="2013-01-02T01:00:00+01:00",
        end="2013-01-02T03:00",
    )
    assert table.column("id").to_pylist() == [24, 25, 26]
    assert pa.types.is_timestamp(table.schema.field("at").type)
    assert table.schema.field("at").type.tz is not None
