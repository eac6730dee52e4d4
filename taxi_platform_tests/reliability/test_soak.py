"""The soak of issue 11: a year of yellow and green backfilled through `dg dev` while the source
misbehaves and the PostgreSQL sink is restarted mid-way.

The fault-injecting mirror answers 503s and drops connections mid-body on several months (one
month more often than the download's retry budget allows); once a third of the runs have
finished, the sink's PostgreSQL is stopped until a sink step has failed on it, then started
again. The failed months are re-run. Afterwards every month is in every sink exactly once: the
lake, the GCS object, BigQuery and PostgreSQL agree row for row (counts and money sums per
month), every fault was retried and logged, and the only failed run is the month whose faults
outlasted the retry budget.

Dagster's own storage is on another server (the test session's PostgreSQL), as
docs/guarantees.md advises, so the restart fails a step and not the run. Automation is off so
that only the backfills and the re-run land months, and a backfill runs one month per run, so
that each month's faults fail that month alone. The figures go to artifacts/soak.json.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from devstack.dagster_ui import launch_job_backfill, start_ui, stop_ui, wait_backfill
from devstack.faulty_mirror import DropMidBody, Fault, Faults, Status, serve_faulty
from devstack.sample_data import write_month
from devstack.services import running_services, start_services, stop_service
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, GREEN, YELLOW, TaxiDataset
from taxi_platform.defs.resources import SourceDownloader, initialized_resources
from taxi_platform.lib.gcs import file_md5, stored_object

pytestmark = pytest.mark.integration

DATASETS = (YELLOW, GREEN)
MONTHS = [f"2020-{m:02d}" for m in range(1, 13)]
ROWS = 2_500
MONEY = "total_amount"
RUN_STORAGE_DB = "dagster_soak"
ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "soak.json"
BUDGET = SourceDownloader().max_attempts  # download attempts before a month gives up
EXHAUSTED = ("yellow", "2020-03")  # its faults outlast the budget: the run fails
# Faults per (dataset, month), served in order to the month's GETs (HEAD: the probe's).
FAULTS: dict[tuple[str, str], list[tuple[Fault, str]]] = {
    ("yellow", "2020-02"): [(Status(503), "GET"), (Status(503), "GET")],
    EXHAUSTED: [(Status(503) if n % 2 else DropMidBody(), "GET") for n in range(BUDGET)],
    ("yellow", "2020-06"): [(DropMidBody(0.3), "GET")],
    ("yellow", "2020-09"): [(Status(503), "GET"), (DropMidBody(0.8), "GET")],
    ("green", "2020-01"): [(DropMidBody(), "GET")],
    ("green", "2020-05"): [(Status(503), "HEAD"), (Status(503), "GET")],
    ("green", "2020-08"): [(DropMidBody(0.2), "GET"), (DropMidBody(0.9), "GET")],
    ("green", "2020-11"): [(Status(502), "GET")],
}
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)

# Per month: (rows, money in cents).
MonthTotals = dict[str, tuple[int, int]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(done: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll `done` until it is true (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """Run with `env` added to os.environ; restore it afterwards."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _run_storage(stack: Mapping[str, str], stack_dir: Path) -> Iterator[dict[str, str]]:
    """A fresh database for Dagster's storage on the session's PostgreSQL (not the soak's);
    yields its DAGSTER_PG_* settings and drops it afterwards."""
    superuser = json.loads((stack_dir / "secrets.json").read_text())["pg_superuser_password"]
    server = {"host": stack["PG_HOST"], "port": int(stack["PG_PORT"]), "user": "postgres"}
    db = sql.Identifier(RUN_STORAGE_DB)

    def admin(statement: sql.Composable) -> None:
        with psycopg.connect(**server, password=superuser, dbname="postgres", autocommit=True) as c:
            c.execute(statement)

    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))
    admin(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, sql.Identifier(stack["PG_USER"])))
    try:
        yield {
            "DAGSTER_PG_HOST": stack["PG_HOST"],
            "DAGSTER_PG_PORT": stack["PG_PORT"],
            "DAGSTER_PG_USER": stack["PG_USER"],
            "DAGSTER_PG_PASSWORD": stack["PG_PASSWORD"],
            "DAGSTER_PG_DATABASE": RUN_STORAGE_DB,
        }
    finally:
        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))


@dataclass
class ConnectionPeak:
    """The most connections Dagster's storage database had at once while sampled."""

    most: int = 0


@contextmanager
def _sampling_connections(storage: Mapping[str, str]) -> Iterator[ConnectionPeak]:
    """Sample, every half second, how many connections the Dagster processes hold open on
    their storage database; a leak per instance shows as a peak that grows with the runs."""
    peak, stop = ConnectionPeak(), threading.Event()
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"

    def sample() -> None:
        with psycopg.connect(
            host=storage["DAGSTER_PG_HOST"],
            port=int(storage["DAGSTER_PG_PORT"]),
            user=storage["DAGSTER_PG_USER"],
            password=storage["DAGSTER_PG_PASSWORD"],
            dbname=storage["DAGSTER_PG_DATABASE"],
            autocommit=True,
        ) as conn:
            while not stop.wait(0.5):
                (count,) = conn.execute(query).fetchone() or (0,)
                peak.most = max(peak.most, count - 1)  # not the sampler's own

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join(timeout=5)


def _publish(root: Path) -> None:
    """Write every month of both datasets, course-mirror layout."""
    for ds in DATASETS:
        for month in MONTHS:
            write_month(ds, month, ROWS, root, seed=11, compresslevel=1)


def _schedule(faults: Faults) -> int:
    """Schedule FAULTS on the mirror; return how many there are."""
    for (name, month), planned in FAULTS.items():
        path = f"{name}/{COURSE_MIRROR.file_name(catalog.DATASETS_BY_NAME[name], month)}"
        for fault, method in planned:
            faults.add(path, fault, methods=(method,))
    return sum(len(planned) for planned in FAULTS.values())


def _described(fault: Fault, method: str) -> str:
    """A fault in words, e.g. "GET 503", "GET dropped at 30%"."""
    if isinstance(fault, Status):
        return f"{method} {fault.code}"
    if isinstance(fault, DropMidBody):
        return f"{method} dropped at {fault.fraction:.0%}"
    return f"{method} {fault.name}"


def _runs(instance: dg.DagsterInstance, backfill_ids: list[str]) -> list[dg.DagsterRun]:
    return [
        run
        for backfill_id in backfill_ids
        for run in instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    ]


def _month(run: dg.DagsterRun) -> str:
    return run.tags.get("dagster/partition") or run.tags["dagster/asset_partition_range_start"]


def _failed_months(runs: list[dg.DagsterRun], backfills: dict[str, str]) -> dict[str, list[str]]:
    """Per dataset, the months whose run in its backfill failed."""
    return {
        name: sorted(
            _month(r)
            for r in runs
            if r.tags["dagster/backfill"] == backfill and r.status == dg.DagsterRunStatus.FAILURE
        )
        for name, backfill in backfills.items()
    }


def _step_retries(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> Counter[str]:
    """Retries scheduled by the steps' retry policy (STEP_UP_FOR_RETRY), per step key."""
    retries: Counter[str] = Counter()
    for run in runs:
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
        ).records
        retries.update(r.event_log_entry.step_key for r in records)
    return retries


def _first_line(entry: dg.EventLogEntry) -> str:
    """The first line of a step failure's error."""
    error = entry.dagster_event.step_failure_data.error if entry.dagster_event else None
    return (error.message if error else entry.message).splitlines()[0][:300]


def _failure_causes(
    instance: dg.DagsterInstance, runs: list[dg.DagsterRun]
) -> dict[str, list[str]]:
    """Per failed run (dataset job and month), the first line of each step failure's error."""
    causes: dict[str, list[str]] = {}
    for run in runs:
        if run.status != dg.DagsterRunStatus.FAILURE:
            continue
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ).records
        causes[f"{run.job_name} {_month(run)}"] = [
            f"{r.event_log_entry.step_key}: {_first_line(r.event_log_entry)}" for r in records
        ] or [f"run failed: {run.run_id}"]
    return causes


def _source_retries(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> int:
    """Download and probe retries, counted from the warnings the source logs for each."""
    return sum(
        "retrying in" in entry.user_message
        for run in runs
        for entry in instance.all_logs(run.run_id)
        if entry.dagster_event is None
    )


def _wait_runs(
    instance: dg.DagsterInstance, backfill_ids: list[str], expected: int, timeout: float
) -> list[dg.DagsterRun]:
    """Wait until the backfills' `expected` runs have all finished (sooner than their status,
    which the backfill daemon updates every 30 s); return them."""
    runs: list[dg.DagsterRun] = []

    def done() -> bool:
        nonlocal runs
        runs = _runs(instance, backfill_ids)
        return len(runs) >= expected and all(r.status in FINISHED for r in runs)

    assert _wait_for(done, timeout, interval=1), f"{len(runs)} of {expected} runs after {timeout}s"
    return runs


def _restart_postgres(
    instance: dg.DagsterInstance, soak_dir: Path, backfill_ids: list[str], after_runs: int
) -> dict[str, Any]:
    """Once `after_runs` runs have finished, stop the sink's PostgreSQL until a PostgreSQL step
    has failed on it (at most 120 s), then start it again on the same port and data."""

    def finished() -> int:
        return sum(run.status in FINISHED for run in _runs(instance, backfill_ids))

    def sink_failed() -> bool:
        running = [r for r in _runs(instance, backfill_ids) if r.status not in FINISHED]
        return any(k.startswith("postgres__") for k in _step_retries(instance, running))

    assert _wait_for(lambda: finished() >= after_runs, timeout=600), "backfills stalled"
    at = finished()
    stop_service("postgres", soak_dir)
    down = time.monotonic()
    hit = _wait_for(sink_failed, timeout=120)
    start_services(soak_dir)
    return {
        "after_runs_finished": at,
        "seconds_down": round(time.monotonic() - down, 1),
        "sink_step_failed_while_down": hit,
    }


def _lake_totals(lake: Path, ds: TaxiDataset) -> MonthTotals:
    totals = {}
    for month in MONTHS:
        money = pq.read_table(catalog.clean_path(lake, ds, month), columns=[MONEY])[MONEY]
        cents = pc.sum(pc.cast(pc.round(pc.multiply(money, 100)), "int64")).as_py() or 0
        totals[month] = (len(money), cents)
    return totals


def _bigquery_totals(resources: dict[str, Any], ds: TaxiDataset) -> MonthTotals:
    warehouse = resources["bigquery"]
    with warehouse.get_client() as client:
        table = f"{client.project}.{warehouse.dataset_id}.{catalog.trips_table(ds)}"
        rows = client.query(
            f"SELECT source_month, COUNT(*) AS n, SUM(CAST(ROUND({MONEY} * 100) AS INT64)) AS cents"
            f" FROM `{table}` GROUP BY source_month",
            job_retry=None,
        ).result(timeout=60)
        return {f"{row.source_month:%Y-%m}": (row.n, row.cents or 0) for row in rows}


def _postgres_totals(resources: dict[str, Any], ds: TaxiDataset) -> MonthTotals:
    postgres = resources["postgres"]
    query = sql.SQL(
        "SELECT source_month, count(*),"
        " coalesce(sum(round({money}::numeric * 100)), 0)::bigint FROM {table} GROUP BY 1"
    ).format(
        money=sql.Identifier(MONEY),
        table=sql.Identifier(postgres.schema, catalog.trips_table(ds)),
    )
    with postgres.connect() as conn:
        rows = conn.execute(query).fetchall()
    return {f"{month:%Y-%m}": (n, cents) for month, n, cents in rows}


def _gcs_copies(resources: dict[str, Any], ds: TaxiDataset) -> MonthTotals:
    """Months whose GCS object is the lake file (same MD5), with the lake's totals."""
    gcs, lake = resources["gcs"], resources["lake"].path
    client = gcs.get_client()
    lake_totals = _lake_totals(lake, ds)
    return {
        month: lake_totals[month]
        for month in MONTHS
        if (stored := stored_object(client, gcs.bucket, catalog.gcs_key(ds, month)))
        and stored.md5 == file_md5(catalog.clean_path(lake, ds, month))
    }


def _sink_totals(resources: dict[str, Any]) -> dict[str, dict[str, MonthTotals]]:
    """Per sink and dataset: each month's rows and money."""
    readers = {
        "lake": lambda ds: _lake_totals(resources["lake"].path, ds),
        "gcs": lambda ds: _gcs_copies(resources, ds),
        "bigquery": lambda ds: _bigquery_totals(resources, ds),
        "postgres": lambda ds: _postgres_totals(resources, ds),
    }
    return {sink: {ds.name: read(ds) for ds in DATASETS} for sink, read in readers.items()}


@dataclass
class Soak:
    """What the soak saw: runs, faults, retries, the restart, and what each sink holds."""

    scheduled: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    first_runs: list[dg.DagsterRun] = field(default_factory=list)
    first_status: dict[str, str] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)
    causes: dict[str, list[str]] = field(default_factory=dict)
    rerun_runs: list[dg.DagsterRun] = field(default_factory=list)
    source_retries: int = 0
    step_retries: Counter[str] = field(default_factory=Counter)
    restart: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, dict[str, MonthTotals]] = field(default_factory=dict)
    storage_connections: ConnectionPeak = field(default_factory=ConnectionPeak)
    phases: dict[str, float] = field(default_factory=lambda: {"start": time.monotonic()})

    def mark(self, phase: str) -> None:
        self.phases[phase] = time.monotonic()

    def figures(self) -> dict[str, Any]:
        """The figures for artifacts/soak.json and the issue's closing note."""
        by_sink = self.totals.items()
        return {
            "months_per_dataset": {ds.name: len(MONTHS) for ds in DATASETS},
            "rows_per_month_file": ROWS,
            "runs": {"first_pass": len(self.first_runs), "rerun": len(self.rerun_runs)},
            "first_pass_status": self.first_status,
            "failed_in_first_pass": self.failed,
            "failure_causes": self.causes,
            "rerun_run_status": sorted(r.status.value for r in self.rerun_runs),
            "faults_scheduled": self.scheduled,
            "faults_per_month": {
                f"{ds} {month}": [_described(fault, method) for fault, method in planned]
                for (ds, month), planned in FAULTS.items()
            },
            "faults_injected": dict(self.injected),
            "source_retries_logged": self.source_retries,
            "step_retries": dict(self.step_retries),
            "postgres_restarts": 1,
            "postgres_restart": self.restart,
            "dagster_storage_connections_peak": self.storage_connections.most,
            "rows": {
                sink: {name: sum(n for n, _ in months.values()) for name, months in by_ds.items()}
                for sink, by_ds in by_sink
            },
            "money": {
                sink: {name: sum(c for _, c in m.values()) / 100 for name, m in by_ds.items()}
                for sink, by_ds in by_sink
            },
            "seconds": {
                **{
                    f"{phase}_at": round(at - self.phases["start"], 1)
                    for phase, at in self.phases.items()
                    if phase != "start"
                },
                "wall": round(time.monotonic() - self.phases["start"], 1),
            },
        }


def _write_figures(figures: dict[str, Any]) -> None:
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


def _backfill_with_faults_and_restart(
    soak: Soak, url: str, instance: dg.DagsterInstance, soak_dir: Path, faults: Faults
) -> None:
    """Backfill every month of both datasets through the faults, restarting PostgreSQL a third
    of the way; then clear the faults and re-run the failed months."""
    jobs = {ds.name: f"{ds.name}_monthly" for ds in DATASETS}
    first = {name: launch_job_backfill(url, job, MONTHS) for name, job in jobs.items()}
    total = len(DATASETS) * len(MONTHS)
    soak.restart = _restart_postgres(instance, soak_dir, list(first.values()), total // 3)
    soak.first_runs = _wait_runs(instance, list(first.values()), total, timeout=900)
    soak.mark("first_pass")
    soak.injected = Counter(outcome for _, _, outcome in faults.log if outcome != "ok")
    soak.failed = _failed_months(soak.first_runs, first)
    soak.causes = _failure_causes(instance, soak.first_runs)
    faults.clear()
    rerun = [
        launch_job_backfill(url, jobs[n], months) for n, months in soak.failed.items() if months
    ]
    expected = sum(len(months) for months in soak.failed.values())
    soak.rerun_runs = _wait_runs(instance, rerun, expected, timeout=300)
    soak.mark("rerun")
    soak.step_retries = _step_retries(instance, soak.first_runs + soak.rerun_runs)
    soak.source_retries = _source_retries(instance, soak.first_runs)
    soak.first_status = {n: wait_backfill(url, b, timeout=120) for n, b in first.items()}


def test_a_year_of_two_datasets_lands_once_through_source_faults_and_a_postgres_restart(
    stack: dict[str, str], stack_dir: Path, tmp_path: Path
) -> None:
    soak = Soak()
    soak_dir, source = tmp_path / "soak", tmp_path / "source"
    _publish(source)
    with (
        running_services(soak_dir) as soak_env,
        _run_storage(stack, stack_dir) as storage,
        _sampling_connections(storage) as soak.storage_connections,
        serve_faulty(source) as (mirror_url, faults),
    ):
        soak.scheduled = _schedule(faults)
        settings = {
            **storage,
            "TAXI_SOURCE": "course-mirror",
            "TLC_BASE_URL": mirror_url,
            "TAXI_AUTOMATION": "off",
            "TAXI_BACKFILL_MONTHS_PER_RUN": "1",  # each month fails or lands on its own
        }
        try:
            url = start_ui(soak_dir, _free_port(), settings)
            soak.mark("ui_ready")
            with (
                _environ({**soak_env, **settings}),
                dg.DagsterInstance.from_config(soak_env["DAGSTER_HOME"]) as instance,
            ):
                _backfill_with_faults_and_restart(soak, url, instance, soak_dir, faults)
                with initialized_resources("local") as resources:
                    soak.totals = _sink_totals(resources)
                soak.mark("sinks_read")
        finally:
            stop_ui(soak_dir)
    _write_figures(soak.figures())

    # The source: every scheduled fault was served, and each was retried and logged, except the
    # last of the month that ran out of attempts; that month is the only failed run.
    assert len(soak.first_runs) == len(DATASETS) * len(MONTHS)
    assert sum(soak.injected.values()) == soak.scheduled
    assert soak.source_retries == soak.scheduled - 1
    assert soak.failed == {"yellow": [EXHAUSTED[1]], "green": []}, soak.causes
    assert soak.rerun_runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in soak.rerun_runs)
    # The restart failed a sink step, which the step's retry policy then landed.
    assert soak.restart["sink_step_failed_while_down"]
    assert any(key.startswith("postgres__") for key in soak.step_retries)
    # Dagster's processes hold a bounded number of storage connections: two per live instance
    # (11 seen), not one set per instance ever made (60 seen when a code server's sensor
    # evaluations kept theirs until garbage collection, which ran a 100-slot server out).
    assert soak.storage_connections.most <= 40
    # Every month in every sink exactly once: rows and money agree with the lake, month by month.
    lake = soak.totals["lake"]
    for name in lake:
        assert set(lake[name]) == set(MONTHS) and all(n > 0 for n, _ in lake[name].values())
        for sink in ("gcs", "bigquery", "postgres"):
            assert soak.totals[sink][name] == lake[name], (sink, name)
