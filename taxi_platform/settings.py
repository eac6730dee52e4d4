"""The only reader of the environment: the deployment and the settings read once, when
definitions are built (never at import)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taxi_platform.catalog import WAREHOUSE_SCHEMA, WarehouseTables
from taxi_platform.lib.identifiers import http_url
from taxi_platform.lib.months import month_start

Env = Literal["local", "prod"]


def get_env() -> Env:
    """`TAXI_ENV`: `local` (emulators; the default) or `prod` (real Google Cloud)."""
    value = os.getenv("TAXI_ENV", "local")
    if value not in ("local", "prod"):
        raise ValueError(f"TAXI_ENV must be 'local' or 'prod', not {value!r}")
    return value  # type: ignore[return-value]


def switch(name: str, default: bool) -> bool:
    """An on/off setting; anything else is refused, naming the variable."""
    text = os.getenv(name, "on" if default else "off")
    if text.lower() not in ("on", "off"):
        raise ValueError(f"{name} must be 'on' or 'off', not {text!r}")
    return text.lower() == "on"


def share(name: str, default: float) -> float:
    """A share from 0 to 1; anything else is refused, naming the variable."""
    text = os.getenv(name) or str(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a share from 0 to 1, not {text!r}")
    return value


def whole(name: str, default: int, minimum: int) -> int:
    """A whole number of at least `minimum`; anything else is refused, naming the variable."""
    text = os.getenv(name) or str(default)
    if not text.strip().isdigit() or int(text) < minimum:
        raise ValueError(f"refusing {name}={text!r}: use a whole number of at least {minimum}")
    return int(text)


def month(name: str) -> str | None:
    """A YYYY-MM month, or None when unset; anything else is refused, naming the variable."""
    text = os.getenv(name) or None
    if text is not None:
        try:
            month_start(text)
        except ValueError:
            raise ValueError(
                f"{name}={text!r} is not a YYYY-MM month (four-digit year, two-digit month)"
            ) from None
    return text


def timezone(name: str, default: str) -> str:
    """An IANA time zone name; anything else is refused, naming the variable."""
    text = os.getenv(name) or default
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"refusing {name}={text!r}: not an IANA time zone (e.g. America/New_York)"
        ) from None
    return text


_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?#-]+")


def cron(name: str, default: str) -> str:
    """A five-field cron expression (Dagster checks the fields' values when the schedule is
    built); anything else is refused, naming the variable."""
    text = os.getenv(name) or default
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError(
            f"refusing {name}={text!r}: use a cron expression of five fields (minute hour"
            " day-of-month month day-of-week)"
        )
    return text


def url(name: str, default: str) -> str:
    """An http(s) URL without credentials or query, its trailing / removed."""
    return http_url(os.getenv(name) or default, name).rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Orchestration settings (see docs/configuration.md)."""

    last_month: str | None
    schedule_cron: str
    schedule_timezone: str
    publication_lag_months: int
    schedules_on: bool
    sensors_on: bool
    automation_on: bool
    sensor_interval_seconds: int
    ui_url: str
    executor: str
    source: str
    """`TAXI_SOURCE`: `tlc` (the official parquet files; the default) or `course-mirror`."""
    recheck_months: int
    """`TAXI_RECHECK_MONTHS`: the newest landed months the new-month sensor re-checks."""
    sensor_max_requests: int
    """`TAXI_SENSOR_MAX_REQUESTS`: months the new-month sensor hands over per tick."""
    sensor_retry_seconds: int
    """`TAXI_SENSOR_RETRY_SECONDS`: when a requested month that did not land is asked again."""
    backfill_months_per_run: int
    """`TAXI_BACKFILL_MONTHS_PER_RUN`: the months one run of a backfill lands."""
    freshness_hours: int
    """`TAXI_FRESHNESS_HOURS`: how long a published month may stay unlanded before its
    dataset's freshness check fails."""
    bigquery_dataset: str
    """`BQ_DATASET`: the BigQuery dataset of the tables (named on the assets)."""
    postgres_schema: str
    """`PG_SCHEMA`: the PostgreSQL schema of the tables (named on the assets)."""
    bigquery_project: str
    """`GCP_PROJECT`: the BigQuery project of the dataset (named on the assets)."""
    postgres_database: str
    """`PG_DATABASE`: the PostgreSQL database of the schema (named on the assets)."""
    max_rejected_share: float
    """`TAXI_MAX_REJECTED_SHARE`: the most of a month's rows the lake may reject."""


def warehouse_tables(settings: Settings) -> WarehouseTables:
    return WarehouseTables(
        settings.bigquery_dataset,
        settings.postgres_schema,
        settings.bigquery_project,
        settings.postgres_database,
    )


def setting(name: str) -> str | None:
    """The raw value of the environment variable `name` (for validation when loading)."""
    return os.getenv(name) or None


def is_set(name: str) -> bool:
    """Whether the environment variable `name` is set (its value is not read here)."""
    return name in os.environ


def load_settings() -> Settings:
    """The settings; a bad value fails here in one line naming the variable and the reason."""
    return Settings(
        last_month=month("TAXI_LAST_MONTH"),
        schedule_cron=cron("TAXI_SCHEDULE_CRON", "0 6 5 * *"),
        schedule_timezone=timezone("TAXI_SCHEDULE_TIMEZONE", "America/New_York"),
        publication_lag_months=whole("TAXI_PUBLICATION_LAG_MONTHS", 2, minimum=0),
        schedules_on=switch("TAXI_SCHEDULES", default=False),
        sensors_on=switch("TAXI_SENSORS", default=False),
        automation_on=switch("TAXI_AUTOMATION", default=True),
        sensor_interval_seconds=whole("TAXI_SENSOR_INTERVAL_SECONDS", 3600, minimum=1),
        ui_url=url("TAXI_UI_URL", "http://127.0.0.1:3000"),
        executor=os.getenv("TAXI_EXECUTOR") or "in_process",
        source=os.getenv("TAXI_SOURCE") or "tlc",
        recheck_months=whole("TAXI_RECHECK_MONTHS", 3, minimum=0),
        sensor_max_requests=whole("TAXI_SENSOR_MAX_REQUESTS", 24, minimum=1),
        sensor_retry_seconds=whole("TAXI_SENSOR_RETRY_SECONDS", 6 * 3600, minimum=0),
        backfill_months_per_run=whole("TAXI_BACKFILL_MONTHS_PER_RUN", 24, minimum=1),
        freshness_hours=whole("TAXI_FRESHNESS_HOURS", 24, minimum=1),
        bigquery_dataset=os.getenv("BQ_DATASET") or WAREHOUSE_SCHEMA,
        postgres_schema=os.getenv("PG_SCHEMA") or WAREHOUSE_SCHEMA,
        bigquery_project=os.getenv("GCP_PROJECT") or WarehouseTables.bigquery_project,
        postgres_database=os.getenv("PG_DATABASE") or WarehouseTables.postgres_database,
        max_rejected_share=share("TAXI_MAX_REJECTED_SHARE", 0.01),
    )
