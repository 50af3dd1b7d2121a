"""Typed settings: defaults → ``mloop.toml`` (or ``$MLOOP_CONFIG``) → ``MLOOP_*`` env vars."""

from mloop.config._settings import ExecutorName, Settings, load_settings

__all__ = ["ExecutorName", "Settings", "load_settings"]
