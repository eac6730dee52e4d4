"""Run `dg dev` in the background and drive it through its GraphQL API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import requests

from devstack.processes import terminate
from devstack.services import stack_env

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 3000
LOCATION = "taxi_platform"  # the code location of the dg project (pyproject.toml)
REPOSITORY = "__repository__"  # what Dagster names a location's one Definitions
TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

_LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
  }
}
"""
_BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on PythonError { message }
  }
}
"""


def _pid_file(state_dir: Path) -> Path:
    return state_dir / "dg_dev.pid"


def _alive(pid: int) -> bool:
    """Whether `pid` runs; an exited child of this process is reaped (a zombie still answers
    signal 0, so without this `stop_ui` would wait its whole grace time)."""
    with suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def ui_url(port: int = DEFAULT_PORT) -> str:
    return f"http://127.0.0.1:{port}"


def graphql(url: str, query: str, variables: dict) -> dict:
    """POST a GraphQL query; raises on transport or GraphQL errors."""
    response = requests.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL error: {body['errors'][0].get('message')}")
    return body["data"]


def wait_ready(url: str, timeout: float = 120) -> None:
    """Wait until the webserver answers and the code location has loaded."""
    deadline = time.monotonic() + timeout
    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    while time.monotonic() < deadline:
        try:
            entries = graphql(url, query, {})["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (requests.RequestException, RuntimeError, KeyError):
            pass
        time.sleep(1)
    raise TimeoutError(f"dg dev at {url} not ready after {timeout:.0f}s")


def running_ui(state_dir: Path) -> str | None:
    """The URL of the `dg dev` already serving `state_dir`, if one runs (two servers must not
    share one DAGSTER_HOME)."""
    try:
        pid, url = _pid_file(state_dir).read_text().split()
    except (OSError, ValueError):
        return None
    return url if _alive(int(pid)) else None


def start_ui(
    state_dir: Path,
    port: int = DEFAULT_PORT,
    settings: dict[str, str] | None = None,
    project: Path = REPO_ROOT,
) -> str:
    """Start `dg dev` (the project in `project`'s pyproject.toml: this checkout, or another one
    to measure against) on 127.0.0.1 in its own process group, with extra `settings` in its
    environment; return its URL (that of the one already running for `state_dir`, if any)."""
    running = running_ui(state_dir)
    if running:
        wait_ready(running)
        return running
    url = ui_url(port)
    pid_file = _pid_file(state_dir)
    log = (state_dir / "logs").resolve()
    log.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **stack_env(state_dir), **(settings or {})}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dg")),
            "dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=project,
        env=env,
        stdout=(log / "dg_dev.log").open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    pid_file.write_text(f"{process.pid} {url}")
    wait_ready(url)
    return url


def stop_ui(state_dir: Path, grace: float = 15) -> None:
    """Stop the `dg dev` process group: TERM, then KILL after `grace` seconds."""
    pid_file = _pid_file(state_dir)
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    terminate(pid, lambda: _alive(pid), grace, poll=0.2)
    pid_file.unlink(missing_ok=True)


def launch_backfill(url: str, asset_keys: Sequence[Sequence[str]], partitions: list[str]) -> str:
    """Launch an asset backfill of `partitions`; returns the backfill id."""
    params = {
        "partitionNames": partitions,
        "assetSelection": [{"path": list(key)} for key in asset_keys],
        "title": f"taxi_platform {partitions[0]}..{partitions[-1]}",
    }
    result = graphql(url, _LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill not launched: {result}")
    return result["backfillId"]


def launch_job_backfill(url: str, job_name: str, partitions: list[str]) -> str:
    """Launch a backfill of the named partitioned job (one run per month, shown under the job's
    name in the Runs timeline); returns the backfill id."""
    params = {
        "selector": {
            "repositorySelector": {
                "repositoryName": REPOSITORY,
                "repositoryLocationName": LOCATION,
            },
            "partitionSetName": f"{job_name}_partition_set",
        },
        "partitionNames": partitions,
        "title": f"{job_name} {partitions[0]}..{partitions[-1]}",
    }
    result = graphql(url, _LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill of {job_name} not launched: {result}")
    return result["backfillId"]


def wait_backfill(url: str, backfill_id: str, timeout: float = 1800) -> str:
    """Poll until the backfill ends; returns its final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = graphql(url, _BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if status.get("status") in TERMINAL_BACKFILL:
            return status["status"]
        time.sleep(3)
    raise TimeoutError(f"backfill {backfill_id} still running after {timeout:.0f}s")
