"""Vectorized distinct counting: a HyperLogLog fed with whole arrays of 64-bit hashes.

DataSketches' HLL takes one item per Python call (~0.3 s per million distinct strings);
here a whole Arrow string array is hashed at once by DuckDB's ``hash`` (single-threaded,
in memory) and folded into the registers with ``np.maximum.at``. The estimate is Ertl's
improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches",
2017): no bias tables, accurate from 0 to far beyond 1e9 (relative standard error
1.04/sqrt(2**p)). Registers merge by element-wise maximum. Registers are only comparable
between sketches hashed by the same function (DuckDB's, which the statistics depend on).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pyarrow as pa

__all__ = ["HyperLogLog", "hash_strings"]

_local = threading.local()


def hash_strings(arr: pa.Array) -> np.ndarray:
    """64-bit hashes (DuckDB's ``hash``) of the values of a string array without nulls."""
    if len(arr) == 0:
        return np.empty(0, np.uint64)
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = _local.con = duckdb.connect(config={"threads": 1})
    values = pa.table({"v": arr})  # noqa: F841 - read by the query below
    out = con.execute("SELECT hash(v) AS h FROM values").fetchnumpy()["h"]
    return np.asarray(out, dtype=np.uint64)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_old = z
        z += x * y
        y += y
        if z == z_old:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        z_old = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == z_old:
            return z / 3.0


class HyperLogLog:
    """HyperLogLog over 64-bit hashes with 2**p one-byte registers (p=12: 4 KB, ~1.6%)."""

    __slots__ = ("p", "registers")

    def __init__(self, p: int = 12, registers: np.ndarray | None = None) -> None:
        self.p = p
        self.registers = registers if registers is not None else np.zeros(1 << p, dtype=np.uint8)

    def update_hashes(self, h: np.ndarray) -> None:
        """Fold 64-bit hashes into the registers (in place)."""
        if not len(h):
            return
        p = self.p
        idx = (h >> np.uint64(64 - p)).astype(np.intp)
        w = (h << np.uint64(p)) | np.uint64(1 << (p - 1))  # sentinel bit caps the run
        hi = (w >> np.uint64(32)).astype(np.float64)
        lo = (w & np.uint64(0xFFFFFFFF)).astype(np.float64)
        rho = np.where(hi > 0, 33 - np.frexp(hi)[1], 65 - np.frexp(lo)[1])
        np.maximum.at(self.registers, idx, rho.astype(np.uint8))

    def update_strings(self, arr: pa.Array) -> None:
        self.update_hashes(hash_strings(arr))

    def merged(self, other: HyperLogLog) -> HyperLogLog:
        if other.p != self.p:
            raise ValueError(f"cannot merge HLL of precision {self.p} and {other.p}")
        return HyperLogLog(self.p, np.maximum(self.registers, other.registers))

    def copy(self) -> HyperLogLog:
        return HyperLogLog(self.p, self.registers.copy())

    def estimate(self) -> float:
        m = 1 << self.p
        q = 64 - self.p
        c = np.bincount(self.registers, minlength=q + 2).astype(np.float64)
        z = m * _tau(1.0 - c[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + c[k])
        z += m * _sigma(c[0] / m)
        return m * m / (2.0 * math.log(2.0)) / z

    def to_bytes(self) -> bytes:
        return bytes([self.p]) + self.registers.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> HyperLogLog:
        return cls(data[0], np.frombuffer(data[1:], dtype=np.uint8).copy())
