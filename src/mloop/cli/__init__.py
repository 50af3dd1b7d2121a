"""The ``mloop`` command line (Typer + Rich). Nothing imports this package."""

from mloop.cli._app import app, main

__all__ = ["app", "main"]
