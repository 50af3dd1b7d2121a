"""Cache keys: what makes two executions of a step interchangeable."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mloop.orchestrator._task import ArtifactRef


def cache_key(
    component_fingerprint: str,
    params: dict[str, Any],
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]],
) -> str:
    """sha256 of the component fingerprint, the parameter values and the *content*
    fingerprints of the input artifacts.

    Keying on content rather than artifact ids means an upstream step that re-runs and
    produces identical bytes still lets every downstream step hit the cache.
    """
    inputs = {
        name: [r.fingerprint for r in ref] if isinstance(ref, list) else ref.fingerprint
        for name, ref in artifacts.items()
    }
    payload = json.dumps(
        {"component": component_fingerprint, "params": params, "artifacts": inputs},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
