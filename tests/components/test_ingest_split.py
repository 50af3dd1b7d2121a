"""Splits recorded by ingest: by a fixed hash (stable across row orders, runs and formats,
about proportional) or by time (earliest rows first), and the errors of bad split options."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mloop.components import ingest
from mloop.components._split import hash_units
from mloop.errors import IngestError

START = datetime(2013, 1, 1, tzinfo=UTC)


def events(n: int, users: int = 500, seed: int = 0) -> pa.Table:
    rng = random.Random(seed)
    return pa.table(
        {
            "user": [f"u{rng.randrange(users)}" for _ in range(n)],
            "n": list(range(n)),
            "at": pa.array(
                [START + timedelta(minutes=i) for i in range(n)], pa.timestamp("s", "UTC")
            ),
        }
    )


def shuffled(table: pa.Table, seed: int) -> pa.Table:
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    return table.take(order)


def split_of(table: pa.Table, key: str) -> dict[object, str]:
    return dict(zip(table.column(key).to_pylist(), table.column("split").to_pylist(), strict=True))


def write(path: Path, table: pa.Table) -> str:
    pq.write_table(table, path)
    return str(path)


def test_hash_split_is_stable_across_row_order_and_runs(tmp_path: Path) -> None:
    table = events(4000)
    a = write(tmp_path / "a.parquet", table)
    b = write(tmp_path / "b.parquet", shuffled(table, seed=1))
    fractions = {"train": 0.8, "eval": 0.2}
    first = ingest.parquet(a, split=fractions, split_by="user")
    again = ingest.parquet(a, split=fractions, split_by="user")
    reordered = ingest.parquet(b, split=fractions, split_by="user")
    assert first.equals(again)
    assert split_of(first, "n") == split_of(reordered, "n")
    by_user: dict[str, set[str]] = {}
    for user, split in zip(
        first.column("user").to_pylist(), first.column("split").to_pylist(), strict=True
    ):
        by_user.setdefault(user, set()).add(split)
    assert all(len(splits) == 1 for splits in by_user.values())  # a key never straddles


def test_hash_split_is_about_proportional(tmp_path: Path) -> None:
    table = pa.table({"id": list(range(20_000))})
    out = ingest.parquet(
        write(tmp_path / "ids.parquet", table),
        split={"train": 0.7, "eval": 0.2, "test": 0.1},
        split_by="id",
    )
    counts = Counter(out.column("split").to_pylist())
    assert abs(counts["train"] / 20_000 - 0.7) < 0.02
    assert abs(counts["eval"] / 20_000 - 0.2) < 0.02
    assert abs(counts["test"] / 20_000 - 0.1) < 0.02


def test_hash_split_depends_on_the_value_not_its_type_or_format(tmp_path: Path) -> None:
    ids = list(range(300))
    narrow = write(tmp_path / "narrow.parquet", pa.table({"id": pa.array(ids, pa.int32())}))
    pacsv.write_csv(pa.table({"id": pa.array(ids, pa.int64())}), tmp_path / "wide.csv")
    fractions = {"train": 0.5, "eval": 0.5}
    from_parquet = ingest.parquet(narrow, split=fractions, split_by="id")
    from_csv = ingest.csv(str(tmp_path / "wide.csv"), split=fractions, split_by="id")
    assert split_of(from_parquet, "id") == split_of(from_csv, "id")
    # The order of a dict is not part of the split: it is not kept by the pipeline spec.
    reversed_dict = ingest.parquet(narrow, split={"eval": 0.5, "train": 0.5}, split_by="id")
    assert split_of(reversed_dict, "id") == split_of(from_parquet, "id")


def reference_unit(text: str) -> float:
    """FNV-1a 64 of the UTF-8 text, MurmurHash3 fmix64, top 53 bits: the documented hash."""
    mask = 2**64 - 1
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & mask
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & mask
    h ^= h >> 33
    h = (h * 0xC4CEB93E53FE1A85) & mask
    h ^= h >> 33
    return (h >> 11) / 2**53


def test_the_hash_is_the_documented_one_and_does_not_change() -> None:
    """A key's split must never change between mloop versions or platforms."""
    keys = ["a", "user-1", "", "ünïcödé", "x" * 300, "42"]
    units = hash_units({"k": pa.array(keys)})
    assert list(units) == [reference_unit(k) for k in keys]
    assert list(hash_units({"k": pa.array([42], pa.int16())})) == [reference_unit("42")]
    assert f"{reference_unit('user-1'):.12f}" == PINNED


PINNED = "0.538019123537"


def test_default_hash_is_of_the_whole_row_so_duplicates_stay_together(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2, 3] * 200, "b": ["x", "y", "z"] * 200})
    out = ingest.parquet(
        write(tmp_path / "dups.parquet", shuffled(table, 3)), split={"train": 0.5, "eval": 0.5}
    )
    seen: dict[tuple[object, object], set[str]] = {}
    for row in out.to_pylist():
        seen.setdefault((row["a"], row["b"]), set()).add(row["split"])
    assert all(len(splits) == 1 for splits in seen.values())


def test_time_split_gives_the_earliest_rows_to_the_first_split(tmp_path: Path) -> None:
    table = events(1000)
    path = write(tmp_path / "events.parquet", shuffled(table, 5))
    out = ingest.parquet(
        path, time_column="at", split=[("train", 0.8), ("eval", 0.2)], split_time=True
    ).sort_by("n")
    splits = out.column("split").to_pylist()
    assert splits == ["train"] * 800 + ["eval"] * 200


def test_time_split_keeps_equal_times_together(tmp_path: Path) -> None:
    hours = [START + timedelta(hours=i // 10) for i in range(100)]  # 10 rows per hour
    table = pa.table({"n": list(range(100)), "at": pa.array(hours, pa.timestamp("s", "UTC"))})
    out = ingest.parquet(
        write(tmp_path / "t.parquet", table),
        time_column="at",
        split=[("train", 0.75), ("eval", 0.25)],
        split_time=True,
    )
    per_hour: dict[object, set[str]] = {}
    for at, split in zip(
        out.column("at").to_pylist(), out.column("split").to_pylist(), strict=True
    ):
        per_hour.setdefault(at, set()).add(split)
    assert all(len(s) == 1 for s in per_hour.values())
    assert Counter(out.column("split").to_pylist()) == {"train": 80, "eval": 20}


def test_a_time_split_of_a_window(tmp_path: Path) -> None:
    path = write(tmp_path / "events.parquet", events(2000))
    out = ingest.parquet(
        path,
        time_column="at",
        start="2013-01-01T10:00",
        end="2013-01-01T20:00",
        split=[("train", 0.5), ("eval", 0.5)],
        split_time=True,
    )
    assert out.num_rows == 600
    first_eval = min(r["at"] for r in out.to_pylist() if r["split"] == "eval")
    assert first_eval == datetime(2013, 1, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"split": {"train": 0.7, "eval": 0.2}},
            "must sum to 1, not 0.9 \\(eval=0.2, train=0.7\\)",
        ),
        (
            {"split": {"train": 1.2, "eval": -0.2}},
            "split 'eval': the fraction must be a number > 0",
        ),
        ({"split": "train"}, "split must be a dict of fractions"),
        ({"split_by": "user"}, "split_by/split_time need split"),
        (
            {"split": {"train": 0.8, "eval": 0.2}, "split_time": True, "time_column": "at"},
            r"split_time needs the splits in time order.*\[\('eval', 0.2\), \('train', 0.8\)\]",
        ),
        ({"split": [("train", 1.0)], "split_time": True}, "split_time needs a time_column"),
        (
            {"split": {"a": 1.0}, "split_time": True, "split_by": "user", "time_column": "at"},
            "not both",
        ),
    ],
)
def test_bad_split_options(tmp_path: Path, options: dict[str, object], message: str) -> None:
    path = write(tmp_path / "e.parquet", events(10))
    with pytest.raises(IngestError, match=message):
        ingest.parquet(path, **options)


def test_a_split_column_in_the_data_is_an_error_unless_no_split_is_asked_for(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "e.parquet", events(10).append_column("split", pa.array(["x"] * 10)))
    with pytest.raises(IngestError, match="already has a column 'split'") as raised:
        ingest.parquet(path, split={"train": 0.5, "eval": 0.5})
    assert raised.value.fields["column"] == "split"
    assert ingest.parquet(path).column("split").to_pylist() == ["x"] * 10
    dropped = ingest.parquet(path, columns=["user", "n"], split={"train": 0.5, "eval": 0.5})
    assert dropped.column_names == ["user", "n", "split"]


def test_time_split_needs_a_time_for_every_row(tmp_path: Path) -> None:
    table = pa.table({"n": [1, 2], "at": pa.array([START, None], pa.timestamp("s", "UTC"))})
    with pytest.raises(IngestError, match="time_column 'at' has 1 rows without a time"):
        ingest.parquet(
            write(tmp_path / "t.parquet", table),
            time_column="at",
            split=[("train", 0.5), ("eval", 0.5)],
            split_time=True,
        )
