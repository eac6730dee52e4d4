"""Failed `dg launch` runs alert through the daemon's sensor, as daemon-launched runs do: the
real `dagster-daemon` and `dg launch` on one DAGSTER_HOME, the webhook on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from devstack.mirror import serve_directory
from taxi_platform_tests.defs.test_alerts import receiver  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Values the run's resources accept; every run here fails at its raw step, before using them.
PLACEHOLDERS = {
    "GCP_PROJECT": "taxi-local",
    "GCS_BUCKET": "taxi-lake",
    "BQ_DATASET": "taxi",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9",
    "PG_HOST": "127.0.0.1",
    "PG_PORT": "9",
    "PG_USER": "taxi",
    "PG_PASSWORD": "unused",
    "PG_DATABASE": "taxi",
}


@pytest.fixture
def env(tmp_path: Path, receiver: tuple[str, list[dict]]) -> Iterator[dict[str, str]]:  # noqa: F811
    """One DAGSTER_HOME for the daemon and `dg launch`, a mirror holding no month."""
    (tmp_path / "home").mkdir()
    (tmp_path / "mirror").mkdir()
    with serve_directory(tmp_path / "mirror") as mirror:
        yield {
            **os.environ,
            **PLACEHOLDERS,
            "DAGSTER_HOME": str(tmp_path / "home"),
            "TAXI_ALERT_WEBHOOK_URL": receiver[0],
            "TAXI_SOURCE": "course-mirror",
            "TLC_BASE_URL": mirror,
            "TAXI_LAKE_DIR": str(tmp_path / "lake"),
        }


def _sensor_started(home: str) -> bool:
    """Whether the alert sensor has ticked once (its cursor set), so it sees later failures."""
    with dg.DagsterInstance.from_config(home) as instance:
        return any(
            state.name == "alert_on_run_failure" and getattr(state.instigator_data, "cursor", None)
            for state in instance.all_instigator_state()
        )


@pytest.fixture
def daemon(env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    """`dagster-daemon run` on workspace.yaml, once its alert sensor has ticked."""
    log = (tmp_path / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _sensor_started(env["DAGSTER_HOME"]):
            assert time.monotonic() < deadline, "the alert sensor never ticked"
            time.sleep(1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def _launch(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "dg"), "launch", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0, done.stdout


def test_failed_dg_launch_runs_each_post_one_alert(
    env: dict[str, str],
    daemon: None,
    receiver: tuple[str, list[dict]],  # noqa: F811
) -> None:
    _, bodies = receiver

    _launch(env, "--assets", "group:yellow", "--partition", "2019-03")
    _launch(env, "--job", "yellow_monthly", "--partition", "2019-04")
    deadline = time.monotonic() + 120
    while len(bodies) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2)  # a duplicate would come with the same tick

    heads = sorted(body["text"].splitlines()[0] for body in bodies)
    assert heads == [
        "taxi_platform run failed: job yellow_monthly, partition 2019-03",
        "taxi_platform run failed: job yellow_monthly, partition 2019-04",
    ]
    for body in bodies:
        assert "failed step raw__yellow__yellow_trips_raw: yellow 2019-0" in body["text"]
        assert "/runs/" in body["text"] and "unused" not in body["text"]
