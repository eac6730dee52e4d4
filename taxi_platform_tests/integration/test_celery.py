"""The distributed path run for real: `TAXI_EXECUTOR=celery` with the local services' Redis as
broker and two Celery workers (`devstack.celery_workers`).

Yellow months launched at once, one run process per month as a backfill launches them
(`dg launch`), spread their steps over both workers and land exactly what an in-process run of
the same months lands: per month, the rows and the cents of each money column in the lake,
BigQuery and PostgreSQL. Then the worker process running a bigger month's PostgreSQL load is
SIGKILLed mid-COPY: the table shows the month landed before, never part of the new one, until
the step's retry (its retry policy; `taxi_platform/defs/celery_executor.py`) lands exactly one
copy of the new month.

Each path lands in a namespace of its own: lake, bucket, BigQuery dataset, PostgreSQL schema.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery
from psycopg import sql

from devstack.celery_workers import Worker, running_workers
from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets
from taxi_platform.lib.months import month_start
from taxi_platform_tests.conftest import SAMPLE_MONTHS

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DG = str(Path(sys.executable).with_name("dg"))
JOB = f"{YELLOW.name}_monthly"
BIG_MONTH = "2020-11"  # no other test uses it: landed small first, then big
SMALL_ROWS, BIG_ROWS = 2_000, 400_000  # the big month's COPY lasts long enough to be hit
MONTHS = (*SAMPLE_MONTHS[:2], BIG_MONTH)
MONEY = ("total_amount", "fare_amount", "tip_amount")
RUN_TIMEOUT_S = 180
# A COPY of the platform's connections (PostgresResource's application_name) under way.
COPY_PROGRESS = (
    "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)"
    " WHERE a.application_name = 'taxi_platform' AND p.tuples_processed > 0"
)

Stats = tuple[int, ...]
"""A month as landed: its rows, then the cents of each MONEY column."""


@dataclass(frozen=True)
class Namespace:
    """Where one path lands: a lake, bucket, BigQuery dataset and PostgreSQL schema of its own."""

    name: str
    lake: Path

    def settings(self) -> dict[str, str]:
        return {
            "TAXI_LAKE_DIR": str(self.lake),
            "GCS_BUCKET": self.name.replace("_", "-"),
            "BQ_DATASET": self.name,
            "PG_SCHEMA": self.name,
        }


@pytest.fixture(scope="module")
def namespaces(
    tmp_path_factory: pytest.TempPathFactory, local_resources: dict[str, Any]
) -> dict[str, Namespace]:
    """The in-process run's namespace and the celery runs' one, with their buckets."""
    root = tmp_path_factory.mktemp("celery")
    found = {
        "in_process": Namespace("celery_reference", root / "reference"),
        "celery": Namespace("celery_runs", root / "runs"),
    }
    client = local_resources["gcs"].get_client()
    for ns in found.values():
        bucket = ns.settings()["GCS_BUCKET"]
        if client.lookup_bucket(bucket) is None:
            client.create_bucket(bucket)
    return found


@pytest.fixture(scope="module")
def celery_settings(namespaces: dict[str, Namespace]) -> dict[str, str]:
    """What the run processes and the workers add to the stack's settings."""
    return {
        **namespaces["celery"].settings(),
        "TAXI_EXECUTOR": "celery",
        "TAXI_SOURCE": COURSE_MIRROR.name,
    }


@pytest.fixture(scope="module")
def workers(stack_dir: Path, celery_settings: dict[str, str]) -> Iterator[list[Worker]]:
    """Two Celery workers, one pool process each, on the stack's Redis."""
    with running_workers(stack_dir, 2, celery_settings) as started:
        yield started


@pytest.fixture(scope="module")
def big_month_v1(stack_dir: Path) -> str:
    """The big month's first, small version in the mirror."""
    write_month(YELLOW, BIG_MONTH, SMALL_ROWS, stack_dir / "mirror", seed=1)
    return BIG_MONTH


@pytest.fixture(scope="module")
def instance(stack: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """The stack's Dagster instance, where the `dg launch` runs are recorded."""
    with dg.DagsterInstance.get() as found:
        yield found


# --- what landed ------------------------------------------------------------------------------


def _lake_stats(ns: Namespace, month: str) -> Stats:
    table = pq.read_table(catalog.clean_path(ns.lake, YELLOW, month), columns=list(MONEY))
    cents = [pc.sum(pc.round(pc.multiply(table[c], 100))).as_py() or 0 for c in MONEY]
    return (table.num_rows, *(int(c) for c in cents))


def _bigquery_stats(resources: dict[str, Any], ns: Namespace, month: str) -> Stats:
    sums = ", ".join(f"COALESCE(SUM(CAST(ROUND({c} * 100) AS INT64)), 0)" for c in MONEY)
    table = f"`{ns.name}.{catalog.trips_table(YELLOW)}`"
    query = f"SELECT COUNT(*), {sums} FROM {table} WHERE source_month = @month"
    month_param = bigquery.ScalarQueryParameter("month", "DATE", month_start(month))
    config = bigquery.QueryJobConfig(query_parameters=[month_param])
    with resources["bigquery"].get_client() as client:
        [row] = client.query(query, job_config=config, job_retry=None).result(timeout=60)
    return tuple(int(v) for v in row.values())


def _postgres_stats(resources: dict[str, Any], ns: Namespace, month: str) -> Stats:
    sums = sql.SQL(", ").join(
        sql.SQL("coalesce(sum(round({} * 100)), 0)::bigint").format(sql.Identifier(c))
        for c in MONEY
    )
    table = sql.Identifier(ns.name, catalog.trips_table(YELLOW))
    query = sql.SQL("SELECT count(*), {} FROM {} WHERE source_month = %s").format(sums, table)
    with resources["postgres"].connect() as conn:
        return tuple(conn.execute(query, (month_start(month),)).fetchone())


def _landed(resources: dict[str, Any], ns: Namespace, month: str) -> dict[str, Stats]:
    return {
        "lake": _lake_stats(ns, month),
        "bigquery": _bigquery_stats(resources, ns, month),
        "postgres": _postgres_stats(resources, ns, month),
    }


# --- runs -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def in_process(
    namespaces: dict[str, Namespace], big_month_v1: str, local_resources: dict[str, Any]
) -> dict[str, dict[str, Stats]]:
    """MONTHS landed by in-process runs (the default executor), layer by layer."""
    ns = namespaces["in_process"]
    with pytest.MonkeyPatch.context() as env:
        for name, value in ns.settings().items():
            env.setenv(name, value)
        for month in MONTHS:
            result = dg.materialize(
                build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
                partition_key=month,
                resources=resources_for("local"),
                instance=dg.DagsterInstance.ephemeral(),
            )
            assert result.success, month
    return {month: _landed(local_resources, ns, month) for month in MONTHS}


@dataclass
class Launched:
    """A `dg launch` of the yellow job for one month: its run process and output."""

    month: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait(self) -> int:
        return self.process.wait(timeout=RUN_TIMEOUT_S)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def _launched(
    months: Sequence[str], settings: dict[str, str], logs: Path
) -> Iterator[list[Launched]]:
    """Start a `dg launch` per month at once, each a run process as the run launcher starts
    one; kill any still running on exit."""
    env = {**os.environ, **settings}
    launched: list[Launched] = []
    try:
        for month in months:
            log = logs / f"dg_launch_{month}_{time.monotonic_ns()}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [DG, "launch", "--job", JOB, "--partition", month],
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            launched.append(Launched(month, process, log))
        yield launched
    finally:
        for item in launched:
            if item.process.poll() is None:
                item.process.kill()
                item.process.wait()


def _run_of(instance: dg.DagsterInstance, month: str, since: datetime) -> dg.DagsterRun | None:
    """The yellow job's run of `month` created after `since`, if any yet."""
    runs = instance.get_runs(
        dg.RunsFilter(job_name=JOB, tags={"dagster/partition": month}, created_after=since),
        limit=1,
    )
    return runs[0] if runs else None


def _step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Each step's Celery worker, from the event the worker records when it takes the step."""
    found = {}
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    for record in records.records:
        event = record.event_log_entry.dagster_event
        worker = event.engine_event_data.metadata.get("Celery worker")
        if worker is not None:
            found[event.step_key] = worker.value
    return found


def _step_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """The process that started each step."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START)
    return {
        r.event_log_entry.step_key: r.event_log_entry.dagster_event.pid for r in records.records
    }


def _pool_processes(workers: list[Worker]) -> set[int]:
    return {child.pid for w in workers for child in psutil.Process(w.pid).children()}


@pytest.fixture(scope="module")
def celery_runs(
    workers: list[Worker],
    celery_settings: dict[str, str],
    big_month_v1: str,
    instance: dg.DagsterInstance,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[dg.DagsterRun]:
    """MONTHS launched at once with the celery executor; each run process has ended."""
    since = datetime.now(UTC)
    with _launched(MONTHS, celery_settings, tmp_path_factory.mktemp("runs")) as launched:
        for item in launched:
            assert item.wait() == 0, item.output()
    return [_run_of(instance, month, since) for month in MONTHS]


# --- the tests --------------------------------------------------------------------------------


def test_runs_spread_over_both_workers_and_land_what_in_process_runs_land(
    celery_runs: list[dg.DagsterRun],
    workers: list[Worker],
    in_process: dict[str, dict[str, Stats]],
    namespaces: dict[str, Namespace],
    instance: dg.DagsterInstance,
    local_resources: dict[str, Any],
) -> None:
    assert [run.status for run in celery_runs] == [dg.DagsterRunStatus.SUCCESS] * len(MONTHS)
    by_step = [_step_workers(instance, run.run_id) for run in celery_runs]
    assert all(len(steps) == len(catalog.LAYERS) for steps in by_step), by_step
    assert {w for steps in by_step for w in steps.values()} == {w.name for w in workers}
    pools = _pool_processes(workers)
    for run in celery_runs:
        assert set(_step_pids(instance, run.run_id).values()) <= pools

    landed = {m: _landed(local_resources, namespaces["celery"], m) for m in MONTHS}

    assert landed == in_process
    for month, layers in landed.items():
        assert len(set(layers.values())) == 1, (month, layers)  # lake, BigQuery, PostgreSQL
        assert layers["lake"][0] > 0


def _kill_mid_copy(
    launched: Launched,
    since: datetime,
    instance: dg.DagsterInstance,
    workers: list[Worker],
    resources: dict[str, Any],
) -> None:
    """SIGKILL the worker process running the PostgreSQL step of `launched` once its COPY is
    under way."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    pid = None
    with resources["postgres"].connect() as conn:
        conn.autocommit = True  # each poll sees the live progress view
        while pid is None or not conn.execute(COPY_PROGRESS).fetchone()[0]:
            if launched.process.poll() is not None:
                pytest.fail(f"the run ended before the kill:\n{launched.output()}")
            if time.monotonic() > deadline:
                pytest.fail("the PostgreSQL step's COPY was not seen under way")
            run = _run_of(instance, launched.month, since) if pid is None else None
            if run is not None:
                steps = _step_pids(instance, run.run_id)
                pid = next((p for step, p in steps.items() if step.startswith("postgres")), None)
            time.sleep(0.01)
    assert psutil.Process(pid).ppid() in {w.pid for w in workers}  # a worker's pool process
    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_mid_copy_leaves_the_month_whole_and_the_retry_lands_one_copy(
    celery_runs: list[dg.DagsterRun],
    workers: list[Worker],
    celery_settings: dict[str, str],
    namespaces: dict[str, Namespace],
    instance: dg.DagsterInstance,
    local_resources: dict[str, Any],
    stack_dir: Path,
    tmp_path: Path,
) -> None:
    ns = namespaces["celery"]
    before = _landed(local_resources, ns, BIG_MONTH)
    write_month(YELLOW, BIG_MONTH, BIG_ROWS, stack_dir / "mirror", seed=2, compresslevel=1)

    since = datetime.now(UTC)
    with _launched([BIG_MONTH], celery_settings, tmp_path) as [launched]:
        _kill_mid_copy(launched, since, instance, workers, local_resources)
        new = _lake_stats(ns, BIG_MONTH)  # the lake step had landed the big version
        seen = [_postgres_stats(local_resources, ns, BIG_MONTH)]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while launched.process.poll() is None:  # until the step's retry has run
            assert time.monotonic() < deadline, f"the run did not end:\n{launched.output()}"
            seen.append(_postgres_stats(local_resources, ns, BIG_MONTH))
        assert launched.wait() == 0, launched.output()

    assert new[0] > before["lake"][0]
    assert seen[0] == before["postgres"]  # right after the kill: the month landed before
    assert set(seen) <= {before["postgres"], new}, "a partial month was visible"
    run = _run_of(instance, BIG_MONTH, since)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    [retry] = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
    ).records
    assert retry.event_log_entry.step_key.startswith("postgres")
    error = retry.event_log_entry.dagster_event.event_specific_data.error.to_string()
    assert "WorkerLostError" in error and "SIGKILL" in error, error
    assert all(psutil.Process(w.pid).is_running() for w in workers)
    landed = _landed(local_resources, ns, BIG_MONTH)
    assert landed["postgres"] == landed["bigquery"] == landed["lake"] == new  # one copy
