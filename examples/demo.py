"""`make demo`: the example pipeline on real data, end to end, on the embedded defaults.

Runs the same commands a user types, and prints them first:
1. a run of examples/flights.py:flights_summary on January 2013 (every step executes);
2. the same run again (every step is a cache hit: same code, same inputs);
3. the run list, and the lineage of the final report back to the raw flights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "examples/flights.py:flights_summary"


def mloop(*args: str) -> None:
    print(f"\n\033[1m$ mloop {' '.join(args)}\033[0m", flush=True)
    done = subprocess.run([sys.executable, "-m", "mloop", *args], cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"demo step failed: mloop {' '.join(args)} (exit {done.returncode})")


def main() -> None:
    home = os.environ.get("MLOOP_HOME", ".mloop")
    print(f"mloop demo — state in {home}/ (SQLite metadata, local artifact store)")
    mloop("db", "upgrade")
    mloop("run", PIPELINE, "-p", "month=1")
    print("\nThe same pipeline again: same code, same inputs, so every step is a cache hit.")
    mloop("run", PIPELINE, "-p", "month=1")
    mloop("runs", "list", "--limit", "3")
    runs = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, mloop; c = mloop.Client(); "
                "print(json.dumps([r.id for r in c.runs(limit=1)]))",
            ],
            cwd=ROOT,
            text=True,
            capture_output=True,
            check=True,
        ).stdout
    )
    mloop("runs", "show", runs[0])
    mloop("lineage", f"{runs[0]}/report")
    mloop("artifacts", "show", f"{runs[0]}/report")


if __name__ == "__main__":
    main()
