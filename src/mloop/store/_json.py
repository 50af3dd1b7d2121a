"""Fast decoding of the JSON that the store itself wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["json_loads"]

# The C scanner behind json.loads; JSONDecoder sets it in __init__ (typeshed omits it).
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_loads(text: str | bytes | memoryview) -> Any:
    """``json.loads`` for the values mloop itself wrote, at about twice the speed.

    It calls the C scanner that ``json.loads`` wraps, skipping the wrapper's whitespace and
    error handling; anything the scanner does not consume whole (leading or trailing
    whitespace, invalid JSON) goes through ``json.loads`` for its usual result or error.
    Lineage and listing decode thousands of parameter and property objects per call.
    """
    if not isinstance(text, str):  # psycopg hands over bytes or a memoryview
        text = bytes(text).decode()
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)
