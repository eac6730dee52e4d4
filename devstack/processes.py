"""Stopping a process the dev stack started: TERM, then KILL after a grace time."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable


def terminate(pid: int, alive: Callable[[], bool], grace: float, poll: float = 0.05) -> None:
    """Send TERM to `pid` (its whole process group when it leads one), and KILL if `alive()`
    still holds after `grace` seconds; return once it is gone or was killed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive():
            return
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and alive():
            time.sleep(poll)
