"""Is a run's orchestrator alive? Heartbeats while it runs, and a check of its process."""

from __future__ import annotations

import os
import socket
import threading
from typing import Protocol


class _Beating(Protocol):
    def heartbeat(self, run_id: str, owner: str) -> None: ...


def this_owner() -> str:
    """``host:pid`` of this process, as recorded on the runs it drives."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Keeps the run's heartbeat fresh while an inline step blocks the loop."""

    def __init__(self, store: _Beating, run_id: str, owner: str, interval: float) -> None:
        self._store, self._run_id, self._owner, self._interval = store, run_id, owner, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mloop-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._store.heartbeat(self._run_id, self._owner)
            except Exception:
                continue


def owner_is_dead(owner: str) -> bool:
    """True if ``owner`` ("host:pid") is a process on this host that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
