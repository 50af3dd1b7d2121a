"""The trivial components of ``pipeline_overhead.py``, in an importable module.

Kept apart from ``_mloop_workload.py`` so the ``process`` executor's workers import them by
module name (the workload puts this directory on ``PYTHONPATH``) and not from ``__main__``.
No ``from __future__ import annotations``: the annotations are read as types.
"""

from mloop import component


@component
def inc(x: int) -> int:
    return x + 1


@component
def count(xs: list[int]) -> int:
    return len(xs)
