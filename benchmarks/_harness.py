"""What every benchmark harness shares: reading a contender subprocess's one JSON line."""

from __future__ import annotations

import json
import subprocess
from typing import Any

UNAVAILABLE = 3  # exit status of a workload whose tool cannot be imported


def parse_record(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The contender's result line, or ``{"unavailable": ...}`` / ``{"error": ...}``."""
    record = None
    for line in reversed(proc.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and '"contender"' in line:
            try:
                record = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if proc.returncode == UNAVAILABLE and record and "unavailable" in record:
        return {"unavailable": record["unavailable"]}
    if proc.returncode != 0 or record is None or "wall_s" not in record:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    return record
