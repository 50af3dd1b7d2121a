"""Seeded synthetic data for ``data_stats.py`` and ``drift.py``: a baseline and a drifted
"current" Parquet file, the same input files for every contender.

20 columns, mixed types, with nulls/NaNs:

- ``f00``..``f09``, float64: normal, lognormal, exponential, uniform, bimodal, gamma,
  Student t, ...; 1 % to 5.5 % NaN (``f04`` also has nulls). Current: ``f00`` shifted by
  +0.5 sd, ``f01`` scaled x1.5, ``f02`` shifted +1, ``f03`` gets a 5 % outlier component;
  ``f04``..``f08`` are fresh samples of the same distributions; ``f09`` is **identical**
  (the same values in both files).
- ``i00``..``i04``, int64: Poisson (3 % null), uniform, zipf (capped), binary, negative
  binomial. Current: ``i00`` rate x1.3, ``i01`` range shifted by 100; the rest unchanged.
- ``s_low`` (~10 categories, 2 % null): current reweighted and a **new category**
  ``cat_new`` (8 %). ``s_mid`` (~1,000 categories, zipf, 1 % null) and ``s_high`` (~100,000
  categories, uniform): unchanged. ``s_id``: near-unique ids ``id-<16 hex>``, new ids in the
  current file.
- ``ts``, timestamp[us] (0.5 % null): one year from 2026-01-01; current one month later.

Files are written once into a cache directory (default ``benchmarks/.data/``, gitignored) as
``baseline-<rows>-s<seed>-v<generator version>.parquet`` / ``current-...parquet`` (+ a
``.json`` manifest) and reused; an existing pair is never regenerated unless ``--force``.

    python benchmarks/_data_gen.py --rows 1000000        # prints the two paths
    python benchmarks/_data_gen.py --rows 20000 --force

Only numpy and pyarrow (mloop's own dependencies) are used; run it with mloop's python.

This module is also the small toolbox every workload subprocess shares (mloop's and the
peers', whatever their venv): the column lists, :func:`load` and :class:`Probe`, which
measures a region's wall time, CPU time and peak memory the same way for every contender.
Its top level imports only the standard library.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / ".data"
SEED = 20261122
GENERATOR_VERSION = 1  # bump when the data changes: a new file name, never a stale cache

FLOAT_COLS = [f"f{i:02d}" for i in range(10)]
INT_COLS = [f"i{i:02d}" for i in range(5)]
STRING_COLS = ["s_low", "s_mid", "s_high", "s_id"]
TS_COL = "ts"
COLUMNS = FLOAT_COLS + INT_COLS + STRING_COLS + [TS_COL]
NUMERIC_COLS = FLOAT_COLS + INT_COLS

# Which columns the generator drifts (for the reader of the results, not used by contenders).
DRIFTED = ["f00", "f01", "f02", "f03", "i00", "i01", "s_low", "s_id", "ts"]
UNCHANGED = [c for c in COLUMNS if c not in DRIFTED]
IDENTICAL = ["f09"]


def paths(rows: int, seed: int = SEED, data_dir: Path = DEFAULT_DIR) -> tuple[Path, Path]:
    tag = f"{rows}-s{seed}-v{GENERATOR_VERSION}"
    return data_dir / f"baseline-{tag}.parquet", data_dir / f"current-{tag}.parquet"


def _nullify(pa, rng, values, fraction: float):  # type: ignore[no-untyped-def]
    """A pyarrow array of ``values`` with about ``fraction`` of the entries null."""
    if fraction <= 0:
        return pa.array(values)
    mask = rng.random(len(values)) < fraction
    return pa.array(values, mask=mask)


def _categories(prefix: str, k: int) -> list[str]:
    return [f"{prefix}_{i}" for i in range(k)]


def _strings(pa, np, rng, cats: list[str], probs, n: int, null_frac: float):  # type: ignore[no-untyped-def]
    """Dictionary-decoded string column drawn from ``cats`` with probabilities ``probs``."""
    idx = rng.choice(len(cats), size=n, p=probs).astype(np.int32)
    mask = rng.random(n) < null_frac if null_frac > 0 else None
    dictionary = pa.array(cats, type=pa.string())
    arr = pa.DictionaryArray.from_arrays(pa.array(idx, mask=mask), dictionary)
    return arr.cast(pa.string())  # plain string column: what most users' Parquet files hold


def _zipf_probs(np, k: int, a: float):  # type: ignore[no-untyped-def]
    w = 1.0 / np.arange(1, k + 1) ** a
    return w / w.sum()


def make_table(rows: int, seed: int, drifted: bool):  # type: ignore[no-untyped-def]
    import numpy as np
    import pyarrow as pa

    # Baseline and current share a seed for the unchanged columns' *distribution* but draw
    # fresh values (a second sample of the same population), except f09 which is identical.
    rng = np.random.default_rng([seed, 1 if drifted else 0])
    same = np.random.default_rng([seed, 99])  # for the identical column
    n = rows
    cols: dict[str, object] = {}

    # ---- float64 ----------------------------------------------------------------------------
    f = {}
    f["f00"] = rng.normal(0.0, 1.0, n) + (0.5 if drifted else 0.0)
    f["f01"] = rng.normal(10.0, 2.0, n) * (1.5 if drifted else 1.0)
    f["f02"] = rng.lognormal(0.0, 0.75, n) + (1.0 if drifted else 0.0)
    base3 = rng.exponential(3.0, n)
    if drifted:
        outlier = rng.random(n) < 0.05
        base3 = np.where(outlier, rng.normal(50.0, 5.0, n), base3)
    f["f03"] = base3
    f["f04"] = rng.uniform(-100.0, 100.0, n)
    f["f05"] = np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(3, 1.0, n))
    f["f06"] = rng.gamma(2.0, 2.0, n)
    f["f07"] = rng.standard_t(5, n)
    f["f08"] = rng.normal(1e6, 1e4, n)
    f["f09"] = same.normal(0.0, 1.0, n)  # identical in both files
    nan_frac = {c: 0.01 + 0.005 * i for i, c in enumerate(FLOAT_COLS)}  # 1 % .. 5.5 %
    for c in FLOAT_COLS:
        v = f[c]
        r = same if c == "f09" else rng
        v[r.random(n) < nan_frac[c]] = np.nan  # NaN, not null: what pandas users produce
        cols[c] = pa.array(v, type=pa.float64())
    # one column also has real nulls on top of NaNs
    cols["f04"] = _nullify(pa, rng, f["f04"], 0.02)

    # ---- int64 ------------------------------------------------------------------------------
    cols["i00"] = _nullify(pa, rng, rng.poisson(4.0 * (1.3 if drifted else 1.0), n), 0.03)
    lo = 100 if drifted else 0
    cols["i01"] = pa.array(rng.integers(lo, lo + 1000, n), type=pa.int64())
    cols["i02"] = pa.array(np.minimum(rng.zipf(1.8, n), 10_000), type=pa.int64())
    cols["i03"] = pa.array(rng.integers(0, 2, n), type=pa.int64())
    cols["i04"] = pa.array(rng.negative_binomial(5, 0.1, n), type=pa.int64())

    # ---- strings ----------------------------------------------------------------------------
    low = _categories("cat", 10)
    p_low = _zipf_probs(np, 10, 0.8)
    if drifted:
        low = [*low, "cat_new"]
        p_low = np.concatenate([p_low[::-1] * 0.92, [0.08]])  # reweighted + a new category
    cols["s_low"] = _strings(pa, np, rng, low, p_low, n, 0.02)
    mid = _categories("m", 1000)
    cols["s_mid"] = _strings(pa, np, rng, mid, _zipf_probs(np, 1000, 1.1), n, 0.01)
    # ~100,000 categories: uniform draws over 100k labels (1M rows see ~all of them)
    k_high = 100_000
    high_idx = rng.integers(0, k_high, n)
    high = pa.array(np.char.add("h", high_idx.astype("U6")).astype(object), type=pa.string())
    cols["s_high"] = high
    # near-unique id: 16 hex digits from a 64-bit draw (disjoint between the two files)
    ids = rng.integers(0, 2**63 - 1, n, dtype=np.int64)
    cols["s_id"] = pa.array([f"id-{x:016x}" for x in ids.tolist()], type=pa.string())

    # ---- timestamp --------------------------------------------------------------------------
    start = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64)
    year_us = 365 * 24 * 3600 * 10**6
    offset = 31 * 24 * 3600 * 10**6 if drifted else 0
    ts = start + offset + rng.integers(0, year_us, n)
    cols[TS_COL] = _nullify(pa, rng, ts.astype("datetime64[us]"), 0.005)

    return pa.table({c: cols[c] for c in COLUMNS})


def ensure(
    rows: int, seed: int = SEED, data_dir: Path = DEFAULT_DIR, force: bool = False
) -> tuple[Path, Path]:
    """Write the baseline/current pair for ``rows`` unless it is already cached."""
    import pyarrow.parquet as pq

    base, cur = paths(rows, seed, data_dir)
    if not force and base.exists() and cur.exists():
        return base, cur
    data_dir.mkdir(parents=True, exist_ok=True)
    for path, drifted in ((base, False), (cur, True)):
        t0 = time.perf_counter()
        table = make_table(rows, seed, drifted)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        # one row group per ~128k rows (pyarrow's default is 1M rows); snappy
        pq.write_table(table, tmp, row_group_size=131_072, compression="snappy")
        tmp.replace(path)  # atomic: a half-written file is never picked up
        print(
            f"_data_gen: wrote {path.name} ({rows:,} rows, "
            f"{path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    manifest = {
        "rows": rows,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "columns": COLUMNS,
        "drifted": DRIFTED,
        "unchanged": UNCHANGED,
        "identical": IDENTICAL,
        "baseline": base.name,
        "current": cur.name,
    }
    base.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return base, cur


# ---- shared by the workload subprocesses ----------------------------------------------------


def load(path: Path | str, form: str, rows: int | None = None):  # type: ignore[no-untyped-def]
    """The Parquet file as a pyarrow Table (``form="arrow"``) or a pandas DataFrame
    (``"pandas"``: ``Table.to_pandas()`` with its defaults: object strings, NaN for nulls in
    floats, float64 for nullable ints). ``rows`` keeps only the first rows (warm-ups)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if rows is not None:
        table = table.slice(0, rows)
    return table.to_pandas() if form == "pandas" else table


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Probe:
    """Wall time, CPU time (all threads of this process) and peak memory of a ``with`` block.

    Memory: right before the block, ``gc.collect()``, the kernel's peak-RSS mark is reset to
    the current RSS (``/proc/self/clear_refs``) and the RSS is read (``rss_before``: the
    interpreter, the tool's imports and the loaded input); after it, the peak RSS of the
    block is read back (``VmHWM``). ``peak_delta`` = peak - before: what the work needed on
    top of holding its input. Where the mark cannot be reset, ``ru_maxrss`` is used instead
    (then the peak may include the loading: ``peak_method`` says which).
    """

    def __enter__(self) -> Probe:
        gc.collect()
        self.method = "VmHWM after clear_refs" if _reset_peak() else "ru_maxrss"
        self.rss_before_kb = _status_kb("VmRSS") or 0
        self.cpu0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.t0
        self.cpu_s = time.process_time() - self.cpu0
        hwm = _status_kb("VmHWM") if self.method.startswith("VmHWM") else None
        self.peak_kb = hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def record(self) -> dict:
        return {
            "wall_s": round(self.wall_s, 6),
            "cpu_s": round(self.cpu_s, 6),
            "rss_before_mb": round(self.rss_before_kb / 1024, 1),
            "peak_rss_mb": round(self.peak_kb / 1024, 1),
            "peak_delta_mb": round(max(self.peak_kb - self.rss_before_kb, 0) / 1024, 1),
            "peak_method": self.method,
        }


def emit(record: dict) -> None:
    """The workload's one JSON line on stdout (the harness reads the last such line)."""
    print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = ap.parse_args(argv)
    base, cur = ensure(args.rows, args.seed, args.dir, args.force)
    print(base)
    print(cur)
    return 0


if __name__ == "__main__":
    sys.exit(main())
