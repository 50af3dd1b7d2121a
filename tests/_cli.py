"""Run the ``mloop`` command in-process through its real entry point (error boundary included)."""

from __future__ import annotations

import sys

import pytest

from mloop.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``mloop ARGS...``: the exit code, stdout and stderr."""
    argv = sys.argv
    sys.argv = ["mloop", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, text: str) -> None:
    """The command failed as a client mistake: exit 2, one ``error:`` line containing ``text``."""
    assert code == 2, err
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    assert text in err, err
