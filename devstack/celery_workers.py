"""Start and stop Celery workers for `TAXI_EXECUTOR=celery` on the local services' broker.

    python -m devstack.celery_workers start|stop [--count N] [--state-dir DIR]

Each worker is `celery -A dagster_celery.app worker` (one pool process: one step at a time),
named `taxi-worker-{i}@{host}`, in its own process group, with the stack's settings (plus any
given) and its log and pid file in the state dir. Celery reads the broker and the result
backend from CELERY_BROKER_URL and CELERY_RESULT_BACKEND, set here from the stack's
TAXI_CELERY_BROKER_URL (and TAXI_CELERY_BACKEND_URL), so the URL stays off the command line.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import terminate
from devstack.services import REPO_ROOT, ServiceError, stack_env, state_dir_path

START_TIMEOUT_SECONDS = 90.0
STOP_GRACE_SECONDS = 20.0  # TERM lets a worker finish its step; KILL after this

# Workers started by this interpreter, so that stopping them also reaps them.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Worker:
    """A running worker: its Celery node name and the pid of its main process."""

    name: str
    pid: int


def start_workers(
    state_dir: Path | None = None, count: int = 2, settings: Mapping[str, str] | None = None
) -> list[Worker]:
    """Start `count` workers (stopping any left in `state_dir`) and wait until each answers a
    ping through the broker."""
    root = state_dir_path(state_dir)
    stop_workers(root)
    env = _worker_env(root, settings)
    workers = [_spawn(root, name, env) for name in _worker_names(count)]
    try:
        _wait_ready(root, workers, env["CELERY_BROKER_URL"])
    except BaseException:
        stop_workers(root)
        raise
    return workers


def stop_workers(state_dir: Path | None = None) -> None:
    """Stop every worker of `state_dir`: TERM to its process group, then KILL."""
    root = state_dir_path(state_dir)
    for pid_file in sorted((root / "run").glob("taxi-worker-*.pid")):
        pid = int(pid_file.read_text())
        _terminate(pid)
        pid_file.unlink()


@contextmanager
def running_workers(
    state_dir: Path | None = None, count: int = 2, settings: Mapping[str, str] | None = None
) -> Iterator[list[Worker]]:
    """Yield `count` running workers; stop them on exit."""
    root = state_dir_path(state_dir)
    try:
        yield start_workers(root, count, settings)
    finally:
        stop_workers(root)


def _worker_names(count: int) -> list[str]:
    """The node names of `count` workers on this host."""
    return [f"taxi-worker-{i}@{socket.gethostname()}" for i in range(1, count + 1)]


def _worker_env(state_dir: Path, settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker: the stack's settings, `settings`, and Celery's own."""
    env = {**os.environ, **stack_env(state_dir), **(settings or {})}
    broker = env["TAXI_CELERY_BROKER_URL"]
    env["CELERY_BROKER_URL"] = broker
    env["CELERY_RESULT_BACKEND"] = env.get("TAXI_CELERY_BACKEND_URL") or broker
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _short(name: str) -> str:
    return name.split("@", 1)[0]


def _spawn(root: Path, name: str, env: dict[str, str]) -> Worker:
    cmd = [
        sys.executable, "-m", "celery", "-A", "dagster_celery.app", "worker",
        "--hostname", name, "--concurrency", "1", "--prefetch-multiplier", "1",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "run").mkdir(parents=True, exist_ok=True)
    with (root / "logs" / f"{_short(name)}.log").open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    (root / "run" / f"{_short(name)}.pid").write_text(str(proc.pid))
    return Worker(name, proc.pid)


def _wait_ready(root: Path, workers: list[Worker], broker: str) -> None:
    from celery import Celery  # here: `stop` does not need it

    app = Celery(broker=broker)
    waiting = {w.name for w in workers}
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while waiting:
            for worker in workers:
                if not _alive(worker.pid):
                    log = root / "logs" / f"{_short(worker.name)}.log"
                    raise ServiceError(f"{worker.name} exited during start-up; see {log}")
            if time.monotonic() > deadline:
                raise ServiceError(f"workers {sorted(waiting)} did not answer a ping in time")
            for reply in app.control.ping(destination=sorted(waiting), timeout=1.0):
                waiting -= set(reply)
    finally:
        app.close()


def _alive(pid: int) -> bool:
    """Whether `pid` is a Celery worker (not a zombie, nor a reused pid)."""
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]  # reaped
        return False
    try:
        return b"dagster_celery.app" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _terminate(pid: int) -> None:
    terminate(pid, lambda: _alive(pid), STOP_GRACE_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Celery workers on the local services.")
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            for worker in start_workers(args.state_dir, args.count):
                print(f"{worker.name} pid {worker.pid}")
        else:
            stop_workers(args.state_dir)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
