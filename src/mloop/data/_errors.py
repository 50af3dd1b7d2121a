"""Errors raised by :mod:`mloop.data`: :class:`mloop.errors.DataError`, which names the column."""

from __future__ import annotations

from mloop.errors import DataError

__all__ = ["DataError"]
