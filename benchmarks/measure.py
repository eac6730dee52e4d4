"""Run one benchmark step in a fresh Python process and measure it.

The parent starts `python -m benchmarks.measure MODULE FUNCTION KWARGS_JSON RESULT_PATH`. The
child imports MODULE, notes its RSS (the interpreter plus the libraries), calls
FUNCTION(**kwargs) under a wall clock, and writes a JSON result: the seconds, the peak RSS of
the process (VmHWM: the high-water mark of this process's own address space, so neither the
parent nor an earlier step can leak into it) and whatever the function returned (e.g. rows).

This module imports only the standard library, so it adds nothing to a step's memory.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import REPO_ROOT


class StepError(RuntimeError):
    """A benchmark step failed in its child process."""


@dataclass(frozen=True)
class Measurement:
    """What one step cost, measured in its own process."""

    seconds: float
    peak_rss_bytes: int
    import_rss_bytes: int
    result: dict[str, Any] = field(default_factory=dict)
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 2**20


def _proc_status_bytes(key: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM) in bytes; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss_bytes() -> int:
    """This process's peak RSS: VmHWM, else ru_maxrss (kB on Linux)."""
    hwm = _proc_status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_step(
    module: str,
    function: str,
    kwargs: dict[str, Any] | None = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 3600,
) -> Measurement:
    """Run `module.function(**kwargs)` in a new interpreter; return its measurement."""
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")])
    )
    with tempfile.TemporaryDirectory(prefix="taxi-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "child.log"
        load_before = os.getloadavg()[0]
        with log_path.open("wb") as log:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.measure",
                    module,
                    function,
                    json.dumps(kwargs or {}),
                    str(result_path),
                ],
                cwd=REPO_ROOT,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if done.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace")[-4000:]
            raise StepError(f"{module}.{function} failed (exit {done.returncode}):\n{tail}")
        data = json.loads(result_path.read_text())
    return Measurement(
        seconds=data["seconds"],
        peak_rss_bytes=data["peak_rss_bytes"],
        import_rss_bytes=data["import_rss_bytes"],
        result=data["result"],
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def _child(module: str, function: str, kwargs_json: str, result_path: str) -> None:
    target = getattr(importlib.import_module(module), function)
    kwargs = json.loads(kwargs_json)
    import_rss = _proc_status_bytes("VmRSS") or 0
    started = time.perf_counter()
    result = target(**kwargs) or {}
    seconds = time.perf_counter() - started
    payload = {
        "seconds": seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "import_rss_bytes": import_rss,
        "result": result,
    }
    Path(result_path).write_text(json.dumps(payload))


if __name__ == "__main__":
    _child(*sys.argv[1:5])
