"""Stopping a dev-stack process: TERM first, KILL when it ignores TERM past the grace time."""

from __future__ import annotations

import subprocess
import sys
import time

from devstack.processes import terminate

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def _start(code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    time.sleep(0.5)  # let it install its handler
    return proc


def test_a_process_that_stops_on_term_is_not_killed() -> None:
    proc = _start("import time; time.sleep(60)")

    terminate(proc.pid, lambda: proc.poll() is None, grace=10)

    assert proc.wait(timeout=1) == -15  # SIGTERM


def test_a_process_ignoring_term_is_killed_after_the_grace_time() -> None:
    proc = _start(IGNORES_TERM)

    terminate(proc.pid, lambda: proc.poll() is None, grace=0.5)

    assert proc.wait(timeout=1) == -9  # SIGKILL
