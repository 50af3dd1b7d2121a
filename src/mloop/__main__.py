"""``python -m mloop`` is the ``mloop`` command."""

from mloop.cli import main

main()
