"""BigQuery: the only module that talks to it. Ensures datasets and tables, replaces a month of
the trip tables and of the mart atomically, replaces the zone table, counts rows; one retry
policy and one job timeout for every call.

A month is replaced with one multi-statement transaction (DELETE the month + INSERT the new
rows), so readers see the old month or the new one. BigQuery runs one such transaction per table
at a time and aborts a conflicting one; the retry policy runs it again, so concurrent swaps of a
month follow one another. Trips are first loaded server-side from GCS into a staging table of
the call's own (partition decorators would be simpler on BigQuery, but the emulator lacks them),
dropped afterwards; one a killed process leaves expires within a day (the emulator ignores
expiration and keeps it). Timestamps are wall-clock DATETIME; tables made with TIMESTAMP columns
are converted. Project and dataset names come from configuration: they are validated before any
request and quoted with backticks in SQL. The month is a bound parameter, except inside
scripts, where the emulator ignores parameters and it is declared from a validated `date`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core.exceptions import NotFound
from google.api_core.retry import Retry, if_transient_error
from google.cloud import bigquery

from taxi_platform.catalog import (
    BIGQUERY_TYPES,
    MART_TABLE,
    SOURCE_MONTH,
    VERSION_COLUMNS,
    VERSIONS_TABLE,
    ZONE_COLUMNS,
    ZONE_TABLE,
    Column,
    Kind,
    TaxiDataset,
    staging_table,
    trips_table,
)
from taxi_platform.lib import marts
from taxi_platform.lib.identifiers import gcp_project, lake_version, sql_name
from taxi_platform.lib.months import month_start
from taxi_platform.lib.source import verify_zone_lookup
from taxi_platform.lib.warehouse.errors import concurrent_update
from taxi_platform.lib.warehouse.sink import LakeMonth

JOB_TIMEOUT_S = 900
UPLOAD_TIMEOUT_S = 60
STAGING_LIFETIME = timedelta(days=1)
DIALECT = "bigquery"
WALL_CLOCK = BIGQUERY_TYPES[Kind.TIMESTAMP]


def retryable(error: Exception) -> bool:
    """A transient error, or a transaction BigQuery aborted for a concurrent update of its
    table (`Transaction is aborted due to concurrent update`, `Could not serialize access`)."""
    return concurrent_update(error) or if_transient_error(error)


API_RETRY = Retry(predicate=retryable, deadline=120)


def table_id(client: bigquery.Client, dataset_id: str, table: str) -> str:
    """`project.dataset.table`, each name validated (they come from configuration)."""
    project = gcp_project(client.project)
    return f"{project}.{sql_name(dataset_id, 'BigQuery dataset')}.{sql_name(table, 'table')}"


def _sql_table(client: bigquery.Client, dataset_id: str, table: str) -> str:
    return f"`{table_id(client, dataset_id, table)}`"


def _quoted(name: str) -> str:
    return f"`{sql_name(name, 'BigQuery column')}`"


def _schema(columns: tuple[Column, ...]) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, BIGQUERY_TYPES[c.kind], description=c.description or None)
        for c in columns
    ]


def _to_wall_clock(
    client: bigquery.Client, full_id: str, table: bigquery.Table, wanted: list[bigquery.SchemaField]
) -> bigquery.Table:
    """Recreate `table` with its TIMESTAMP columns that `wanted` has as DATETIME converted (a
    UTC-labelled value keeps its digits), month-partitioned as before, descriptions kept."""
    wall_clock = {f.name for f in wanted if f.field_type == WALL_CLOCK}
    zoned = {f.name for f in table.schema if f.field_type == "TIMESTAMP" and f.name in wall_clock}
    if not zoned:
        return table
    target = f"`{full_id}`"
    select = ", ".join(
        f"DATETIME({_quoted(f.name)}, 'UTC') AS {_quoted(f.name)}"
        if f.name in zoned
        else _quoted(f.name)
        for f in table.schema
    )
    script = (
        f"CREATE OR REPLACE TABLE {target}"
        f" PARTITION BY DATE_TRUNC({_quoted(SOURCE_MONTH.name)}, MONTH)"
        f" AS SELECT {select} FROM {target}"
    )
    client.query(script, retry=API_RETRY, job_retry=None).result(timeout=JOB_TIMEOUT_S)
    recreated = client.get_table(full_id, retry=API_RETRY)
    recreated.schema = [
        bigquery.SchemaField(f.name, WALL_CLOCK, description=f.description)
        if f.name in zoned
        else f
        for f in table.schema
    ]
    recreated.description = table.description
    return client.update_table(recreated, ["schema", "description"], retry=API_RETRY)


def _ensure_table(
    client: bigquery.Client,
    dataset_id: str,
    table: str,
    schema: list[bigquery.SchemaField],
    description: str,
) -> str:
    """Create the dataset and the month-partitioned table if missing, convert its TIMESTAMP
    columns to wall-clock DATETIME, add the columns it lacks (history is not reloaded: older
    rows hold null there); return the table id."""
    full_id = table_id(client, dataset_id, table)
    definition = bigquery.Table(full_id, schema)
    client.create_dataset(dataset_id, exists_ok=True, retry=API_RETRY)
    definition.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field=SOURCE_MONTH.name
    )
    definition.description = description
    existing = client.create_table(definition, exists_ok=True, retry=API_RETRY)
    existing = _to_wall_clock(client, full_id, existing, schema)
    present = {f.name for f in existing.schema}
    if missing := [f for f in schema if f.name not in present]:
        existing.schema = [*existing.schema, *missing]
        client.update_table(existing, ["schema"], retry=API_RETRY)
    return full_id


def ensure_versions_table(client: bigquery.Client, dataset_id: str) -> str:
    return _ensure_table(
        client,
        dataset_id,
        VERSIONS_TABLE,
        _schema(VERSION_COLUMNS),
        "Which lake version of each month each trip table holds.",
    )


def held_versions(
    client: bigquery.Client, dataset_id: str, table: str, months: Sequence[str]
) -> dict[str, str | None]:
    """The lake version of each of `months` that `table` holds (None: not recorded)."""
    ensure_versions_table(client, dataset_id)
    sql = (
        f"SELECT {_quoted(SOURCE_MONTH.name)} AS month, version"
        f" FROM {_sql_table(client, dataset_id, VERSIONS_TABLE)}"
        f" WHERE table_name = @table AND {_quoted(SOURCE_MONTH.name)} IN UNNEST(@months)"
    )
    params = [*_months_param(months), bigquery.ScalarQueryParameter("table", "STRING", table)]
    found = {row.month: row.version for row in _query(client, sql, params)}
    return {month: found.get(month_start(month)) for month in months}


def ensure_trips_table(client: bigquery.Client, dataset_id: str, ds: TaxiDataset) -> str:
    return _ensure_table(
        client, dataset_id, trips_table(ds), _schema(ds.landed_columns), ds.description
    )


def table_exists(client: bigquery.Client, dataset_id: str, table: str) -> bool:
    try:
        client.get_table(table_id(client, dataset_id, table), retry=API_RETRY)
    except NotFound:
        return False
    return True


def _query(
    client: bigquery.Client, sql: str, params: list[bigquery.ScalarQueryParameter] | None = None
) -> list[bigquery.Row]:
    config = bigquery.QueryJobConfig(query_parameters=params or [])
    job = client.query(sql, job_config=config, retry=API_RETRY, job_retry=None)
    return list(job.result(timeout=JOB_TIMEOUT_S))


def _month_param(month: str) -> list[bigquery.ScalarQueryParameter]:
    return [bigquery.ScalarQueryParameter("month", "DATE", month_start(month))]


def _months_param(months: Sequence[str]) -> list[bigquery.ArrayQueryParameter]:
    return [bigquery.ArrayQueryParameter("months", "DATE", [month_start(m) for m in months])]


def month_row_counts(
    client: bigquery.Client, dataset_id: str, table: str, months: Sequence[str]
) -> dict[str, int]:
    """Rows of each of `months` in a month-partitioned table (0: none)."""
    sql = (
        f"SELECT {_quoted(SOURCE_MONTH.name)} AS month, COUNT(*) AS n"
        f" FROM {_sql_table(client, dataset_id, table)}"
        f" WHERE {_quoted(SOURCE_MONTH.name)} IN UNNEST(@months) GROUP BY 1"
    )
    found = {row.month: row.n for row in _query(client, sql, _months_param(months))}
    return {month: found.get(month_start(month), 0) for month in months}


def table_row_count(client: bigquery.Client, dataset_id: str, table: str) -> int:
    return _query(client, f"SELECT COUNT(*) AS n FROM {_sql_table(client, dataset_id, table)}")[0].n


def _replace_months(
    client: bigquery.Client,
    dataset_id: str,
    table: str,
    months: Sequence[str],
    columns: str,
    select: str,
    versions: Mapping[str, str | None] | None = None,
) -> None:
    """DELETE `months` from `table` and INSERT `select` in one transaction; the same
    transaction records each month's lake version in `versions` as the one the table holds.
    `select` may use `m`, the first month."""
    target = _sql_table(client, dataset_id, table)
    dates = ", ".join(f"DATE '{month_start(month).isoformat()}'" for month in months)
    record = ""
    if recorded := {month: v for month, v in (versions or {}).items() if v is not None}:
        # A literal: the emulator lacks CURRENT_DATETIME.
        loaded_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        versions_table = _sql_table(client, dataset_id, VERSIONS_TABLE)
        rows = ", ".join(
            f"('{table}', DATE '{month_start(month).isoformat()}', '{lake_version(version)}',"
            f" DATETIME '{loaded_at}')"
            for month, version in recorded.items()
        )
        record = f"""
        DELETE FROM {versions_table} WHERE table_name = '{sql_name(table, "table")}'
          AND {_quoted(SOURCE_MONTH.name)} IN ({dates});
        INSERT INTO {versions_table} (table_name, {_quoted(SOURCE_MONTH.name)}, version, loaded_at)
        VALUES {rows};"""
    script = f"""
        DECLARE m DATE DEFAULT DATE '{month_start(months[0]).isoformat()}';
        BEGIN TRANSACTION;
        DELETE FROM {target} WHERE {_quoted(SOURCE_MONTH.name)} IN ({dates});
        INSERT INTO {target} ({columns})
        {select};{record}
        COMMIT TRANSACTION;
    """
    client.query(script, retry=API_RETRY, job_retry=API_RETRY).result(timeout=JOB_TIMEOUT_S)


def _field(field: pa.Field) -> bigquery.SchemaField:
    """A staging column for a parquet column the canonical schema does not know."""
    kinds = [
        (pa.types.is_integer, "INT64"),
        (pa.types.is_floating, "FLOAT64"),
        (pa.types.is_timestamp, WALL_CLOCK),
        (pa.types.is_date, "DATE"),
        (pa.types.is_boolean, "BOOL"),
    ]
    kind = next((k for test, k in kinds if test(field.type)), "STRING")
    return bigquery.SchemaField(sql_name(field.name, "BigQuery column"), kind)


def _create_stage(
    client: bigquery.Client,
    dataset_id: str,
    ds: TaxiDataset,
    month: str,
    schema: list[bigquery.SchemaField],
) -> str:
    """Create an empty staging table for this call alone, expiring after STAGING_LIFETIME;
    return its id."""
    stage_id = table_id(client, dataset_id, f"{staging_table(ds, month)}_{uuid.uuid4().hex[:12]}")
    stage = bigquery.Table(stage_id, schema)
    stage.expires = datetime.now(UTC) + STAGING_LIFETIME
    client.create_table(stage, retry=API_RETRY)
    return stage_id


def _layouts(
    ds: TaxiDataset, files: Sequence[LakeMonth]
) -> dict[tuple[tuple[str, str], ...], list[LakeMonth]]:
    """The files grouped by the columns they hold beyond the canonical ones (one load job each)."""
    known = {c.name for c in ds.landed_columns}
    layouts: dict[tuple[tuple[str, str], ...], list[LakeMonth]] = {}
    for f in files:
        extra = [_field(field) for field in pq.read_schema(f.path) if field.name not in known]
        layouts.setdefault(tuple((x.name, x.field_type) for x in extra), []).append(f)
    return layouts


def replace_months(
    client: bigquery.Client, dataset_id: str, ds: TaxiDataset, files: Sequence[LakeMonth]
) -> dict[str, int]:
    """Make each month of the trip table exactly the rows of its file in the bucket, and record
    its version, all in one transaction; return each month's rows after commit. The files are
    loaded server-side into staging tables of this call alone, one load job per file layout."""
    ensure_trips_table(client, dataset_id, ds)
    if any(f.version is not None for f in files):
        ensure_versions_table(client, dataset_id)
    layouts = _layouts(ds, files)
    load_config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_EMPTY,
    )
    stages: list[str] = []
    try:
        for extra, group in layouts.items():
            fields = [bigquery.SchemaField(name, kind) for name, kind in extra]
            stage = _create_stage(
                client, dataset_id, ds, group[0].month, [*_schema(ds.landed_columns), *fields]
            )
            stages.append(stage)
            uris = [f.uri for f in group]
            client.load_table_from_uri(uris, stage, job_config=load_config, retry=API_RETRY).result(
                timeout=JOB_TIMEOUT_S
            )
        columns = ", ".join(_quoted(c.name) for c in ds.landed_columns)
        select = " UNION ALL ".join(f"SELECT {columns} FROM `{stage}`" for stage in stages)
        months = [f.month for f in files]
        versions = {f.month: f.version for f in files}
        _replace_months(client, dataset_id, trips_table(ds), months, columns, select, versions)
    finally:
        for stage in stages:
            client.delete_table(stage, not_found_ok=True, retry=API_RETRY)
    return month_row_counts(client, dataset_id, trips_table(ds), months)


def replace_zones(client: bigquery.Client, dataset_id: str, src: Path) -> int:
    """Replace the zone table with the lake CSV; return its rows. A CSV that is not the whole
    lookup is refused before the table is touched; the CSV is loaded into a staging table of
    this call alone and swapped in by one transaction (DELETE + INSERT), so a failed load (the
    emulator empties a WRITE_TRUNCATE target it fails to load) never reaches the zone table."""
    verify_zone_lookup(src)
    schema = _schema(ZONE_COLUMNS)
    target = table_id(client, dataset_id, ZONE_TABLE)
    client.create_dataset(dataset_id, exists_ok=True, retry=API_RETRY)
    client.create_table(bigquery.Table(target, schema), exists_ok=True, retry=API_RETRY)
    stage_id = f"{target}_staging_{uuid.uuid4().hex[:12]}"
    stage = bigquery.Table(stage_id, schema)
    stage.expires = datetime.now(UTC) + STAGING_LIFETIME
    client.create_table(stage, retry=API_RETRY)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.CSV,
        skip_leading_rows=1,
        schema=schema,
        write_disposition=bigquery.WriteDisposition.WRITE_EMPTY,
    )
    columns = ", ".join(_quoted(c.name) for c in ZONE_COLUMNS)
    script = f"""
        BEGIN TRANSACTION;
        DELETE FROM `{target}` WHERE TRUE;
        INSERT INTO `{target}` ({columns}) SELECT {columns} FROM `{stage_id}`;
        COMMIT TRANSACTION;
    """
    try:
        with src.open("rb") as data:
            job = client.load_table_from_file(
                data, stage, job_config=config, timeout=UPLOAD_TIMEOUT_S
            )
        job.result(timeout=JOB_TIMEOUT_S)
        client.query(script, retry=API_RETRY, job_retry=API_RETRY).result(timeout=JOB_TIMEOUT_S)
    finally:
        client.delete_table(stage, not_found_ok=True, retry=API_RETRY)
    return table_row_count(client, dataset_id, ZONE_TABLE)


def mart_month_summary(client: bigquery.Client, dataset_id: str, month: str) -> marts.MonthSummary:
    sql = marts.SUMMARY_SQL.format(table=_sql_table(client, dataset_id, MART_TABLE), month="@month")
    result = _query(client, sql, _month_param(month))
    return marts.MonthSummary(
        rows={r.service_type: r.row_count for r in result},
        trips={r.service_type: r.trips for r in result},
        revenue={r.service_type: r.revenue or 0.0 for r in result},
    )


def replace_mart_month(
    client: bigquery.Client, dataset_id: str, month: str
) -> tuple[marts.MonthSummary, tuple[TaxiDataset, ...]]:
    """Rebuild `month` of the mart; return its summary and the datasets it was built from."""
    where = f"{gcp_project(client.project)}.{sql_name(dataset_id, 'BigQuery dataset')}"
    sources = marts.mart_sources(partial(table_exists, client, dataset_id), where)
    for ds in sources:  # the query reads their current types (wall-clock pickups)
        ensure_trips_table(client, dataset_id, ds)
    mart_schema = [
        bigquery.SchemaField(c.name, BIGQUERY_TYPES[c.kind], description=c.description)
        for c in marts.COLUMNS
    ]
    _ensure_table(
        client,
        dataset_id,
        MART_TABLE,
        mart_schema,
        "Trips and revenue per day, service type and pickup zone.",
    )
    project = gcp_project(client.project)
    dataset = sql_name(dataset_id, "BigQuery dataset")
    names = [ZONE_TABLE, *(trips_table(ds) for ds in sources)]
    select = marts.month_select(month, sources, DIALECT, {n: (project, dataset) for n in names})
    columns = ", ".join(_quoted(c) for c in marts.COLUMN_NAMES)
    _replace_months(client, dataset_id, MART_TABLE, [month], columns, select)
    return mart_month_summary(client, dataset_id, month), sources
