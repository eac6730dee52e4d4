"""Interruptions: a process SIGKILLed mid-write leaves every sink with the previous complete
month (or nothing), never a partial one; the next run repairs it; re-runs keep one copy.

Each operation runs in a forked child process (`killable.py`) on a month big enough that the kill
lands while it is under way; the parent waits for proof that it is (the temp parquet growing,
COPY progress, chunks of a resumable upload sent, the staging load submitted) before killing.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery
from psycopg import sql

from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets
from taxi_platform.lib.files import temp_files
from taxi_platform.lib.gcs import file_md5, upload_if_changed
from taxi_platform.lib.lake import csv_to_parquet
from taxi_platform.lib.months import month_start
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform.lib.warehouse.sink import LakeMonth
from taxi_platform_tests.reliability import killable
from taxi_platform_tests.reliability.stack import bigquery_client, gcs_bucket, pg_connect

MONTH = "2020-06"
SMALL_ROWS, BIG_ROWS = 20_000, 450_000  # the big parquet must exceed 8 MiB: resumable upload
NAMESPACE = "reliability_kill"  # PostgreSQL schema and BigQuery dataset of these tests
KEY_COLUMNS = (
    "tpep_pickup_datetime",
    "tpep_dropoff_datetime",
    "pu_location_id",
    "do_location_id",
    "trip_distance",
    "total_amount",
)


@dataclass(frozen=True)
class Version:
    """One version of the month: its CSV.gz, its parquet and its key counts."""

    csv: Path
    parquet: Path
    rows: int
    distinct: int


@dataclass(frozen=True)
class Versions:
    old: Version
    new: Version


def _version(root: Path, rows: int, seed: int) -> Version:
    csv = write_month(YELLOW, MONTH, rows, root, seed=seed, compresslevel=1)
    parquet = root / catalog.parquet_name(YELLOW, MONTH)
    csv_to_parquet(csv, parquet, YELLOW, MONTH)
    table = pq.read_table(parquet, columns=list(KEY_COLUMNS))
    return Version(
        csv, parquet, table.num_rows, table.group_by(list(KEY_COLUMNS)).aggregate([]).num_rows
    )


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """The previous (small) and the new (big) version of the month."""
    root = tmp_path_factory.mktemp("versions")
    return Versions(_version(root / "old", SMALL_ROWS, 1), _version(root / "new", BIG_ROWS, 2))


def _spawn(op: str, **args: Any) -> multiprocessing.Process:
    """Run `op` in a forked child: it shares the parent's imports, so it starts at once."""
    child = multiprocessing.get_context("fork").Process(target=killable.OPS[op], args=(args,))
    child.start()
    return child


def _kill_when(child: multiprocessing.Process, under_way: Callable[[], bool]) -> None:
    """SIGKILL `child` as soon as `under_way()`; fail if it finished or stalled first."""
    deadline = time.monotonic() + 60
    while not under_way():
        if not child.is_alive():
            pytest.fail(f"child finished (exit code {child.exitcode}) before it could be killed")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("operation not under way in time")
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=10)
    assert child.exitcode == -signal.SIGKILL


# --- lake parquet -------------------------------------------------------------------------------


def test_kill_mid_parquet_write_keeps_previous_file_and_rerun_repairs(
    versions: Versions, tmp_path: Path
) -> None:
    dst = tmp_path / "clean" / catalog.parquet_name(YELLOW, MONTH)
    dst.parent.mkdir()
    shutil.copyfile(versions.old.parquet, dst)
    before = dst.read_bytes()
    args = {"dataset": "yellow", "src": str(versions.new.csv), "dst": str(dst), "month": MONTH}

    child = _spawn("parquet", **args)
    _kill_when(child, lambda: any(p.stat().st_size > 0 for p in temp_files(dst)))

    assert dst.read_bytes() == before
    assert len(temp_files(dst)) == 1  # the killed writer's temp file, never renamed
    report = csv_to_parquet(versions.new.csv, dst, YELLOW, MONTH)
    assert pq.ParquetFile(dst).metadata.num_rows == report.rows_written == versions.new.rows
    assert temp_files(dst) == []  # the next write removed the dead writer's temp file


# --- GCS ----------------------------------------------------------------------------------------


@pytest.mark.integration
def test_kill_mid_gcs_upload_keeps_previous_object_and_rerun_repairs(
    stack: dict[str, str], versions: Versions, tmp_path: Path
) -> None:
    bucket = gcs_bucket()
    key = f"{NAMESPACE}/{catalog.parquet_name(YELLOW, MONTH)}"
    upload_if_changed(bucket.client, bucket.name, key, versions.old.parquet)
    marker = tmp_path / "marker"

    child = _spawn(
        "gcs",
        key=key,
        path=str(versions.new.parquet),
        hold_after_chunks=3,
        marker=str(marker),
    )
    _kill_when(child, marker.exists)

    blob = bucket.get_blob(key)
    assert blob.md5_hash == file_md5(versions.old.parquet)
    assert blob.size == versions.old.parquet.stat().st_size
    result = upload_if_changed(bucket.client, bucket.name, key, versions.new.parquet)
    assert result.uploaded
    assert bucket.get_blob(key).md5_hash == file_md5(versions.new.parquet)


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_counts(schema: str, month: str) -> tuple[int, int]:
    table = sql.Identifier(schema, catalog.trips_table(YELLOW))
    keys = sql.SQL(", ").join(sql.Identifier(c) for c in KEY_COLUMNS)
    query = sql.SQL("SELECT count(*), count(DISTINCT ({})) FROM {} WHERE source_month = %s")
    with pg_connect() as conn:
        return conn.execute(query.format(keys, table), (month_start(month),)).fetchone()


def _copy_progress(application_name: str) -> int:
    with pg_connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(max(p.tuples_processed), 0) FROM pg_stat_progress_copy p"
            " JOIN pg_stat_activity a USING (pid) WHERE a.application_name = %s",
            (application_name,),
        ).fetchone()
    return row[0]


def _wait_backend_gone(application_name: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with pg_connect(autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed client's backend is still there"
            time.sleep(0.05)


@pytest.mark.integration
def test_kill_mid_postgres_copy_keeps_previous_month_and_rerun_repairs(
    stack: dict[str, str], versions: Versions, tmp_path: Path
) -> None:
    with pg_connect() as conn:
        postgres_engine.replace_months(
            conn, NAMESPACE, YELLOW, [LakeMonth(MONTH, versions.old.parquet, "")]
        )
    app = f"reliability-{uuid.uuid4().hex[:8]}"

    child = _spawn(
        "postgres",
        dataset="yellow",
        schema=NAMESPACE,
        month=MONTH,
        path=str(versions.new.parquet),
        application_name=app,
    )
    _kill_when(child, lambda: _copy_progress(app) > 0)
    _wait_backend_gone(app)

    assert _pg_counts(NAMESPACE, MONTH) == (versions.old.rows, versions.old.distinct)
    with pg_connect() as conn:
        loaded = postgres_engine.replace_months(
            conn, NAMESPACE, YELLOW, [LakeMonth(MONTH, versions.new.parquet, "")]
        )[MONTH]
    assert loaded == versions.new.rows
    assert _pg_counts(NAMESPACE, MONTH) == (versions.new.rows, versions.new.distinct)


# --- BigQuery -----------------------------------------------------------------------------------


def _bq_counts(client: bigquery.Client, dataset: str, month: str) -> tuple[int, int]:
    table = f"`{client.project}.{dataset}.{catalog.trips_table(YELLOW)}`"
    keys = ", ".join(KEY_COLUMNS)
    query = (
        f"SELECT (SELECT COUNT(*) FROM {table} WHERE source_month = @m) AS n,"
        f" (SELECT COUNT(*) FROM (SELECT DISTINCT {keys} FROM {table}"
        " WHERE source_month = @m)) AS d"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("m", "DATE", month_start(month))]
    )
    row = next(iter(client.query(query, job_config=config, job_retry=None).result(timeout=120)))
    return row.n, row.d


@pytest.mark.integration
def test_kill_mid_bigquery_load_keeps_previous_month_and_rerun_repairs(
    stack: dict[str, str], versions: Versions, tmp_path: Path
) -> None:
    bucket, client = gcs_bucket(), bigquery_client()
    months = {}
    for name, version in (("old", versions.old), ("new", versions.new)):
        key = f"{NAMESPACE}/{name}/{catalog.parquet_name(YELLOW, MONTH)}"
        upload_if_changed(bucket.client, bucket.name, key, version.parquet)
        months[name] = LakeMonth(MONTH, version.parquet, f"gs://{bucket.name}/{key}")
    bigquery_engine.replace_months(client, NAMESPACE, YELLOW, [months["old"]])
    marker = tmp_path / "marker"

    child = _spawn(
        "bigquery",
        dataset="yellow",
        dataset_id=NAMESPACE,
        month=MONTH,
        uri=months["new"].uri,
        path=str(versions.new.parquet),
        marker=str(marker),
    )
    _kill_when(child, marker.exists)

    assert _bq_counts(client, NAMESPACE, MONTH) == (versions.old.rows, versions.old.distinct)
    loaded = bigquery_engine.replace_months(client, NAMESPACE, YELLOW, [months["new"]])[MONTH]
    assert loaded == versions.new.rows
    assert _bq_counts(client, NAMESPACE, MONTH) == (versions.new.rows, versions.new.distinct)
    # The killed run's own staging table expires a day later on BigQuery (the emulator keeps
    # it): lib/warehouse/test_bigquery.py checks the expiration every staging table asks for.


# --- re-materializing ---------------------------------------------------------------------------


@pytest.mark.integration
def test_rematerializing_a_month_keeps_exactly_one_copy_in_every_sink(
    local_resources: dict[str, Any],
) -> None:
    month, runs = "2021-01", 3
    assets = build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
    for _ in range(runs):
        result = dg.materialize(
            assets,
            partition_key=month,
            resources=resources_for("local"),
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success

    lake_file = catalog.clean_path(local_resources["lake"].path, YELLOW, month)
    table = pq.read_table(lake_file, columns=list(KEY_COLUMNS))
    lake = (table.num_rows, table.group_by(list(KEY_COLUMNS)).aggregate([]).num_rows)
    assert lake[0] > 0
    gcs = local_resources["gcs"]
    blob = gcs.get_client().bucket(gcs.bucket).get_blob(catalog.gcs_key(YELLOW, month))
    assert blob.md5_hash == file_md5(lake_file)
    schema = local_resources["postgres"].schema
    assert _pg_counts(schema, month) == lake
    with local_resources["bigquery"].get_client() as client:
        assert _bq_counts(client, local_resources["bigquery"].dataset_id, month) == lake
