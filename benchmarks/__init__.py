"""Benchmarks of taxi_platform: `python -m benchmarks [target ...]` (see `benchmarks/__main__.py`).

What every benchmark shares lives here, importing only the standard library: a measured
step's process imports this package too, so it adds nothing to the step's memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"
ISSUE_COMMIT = "64bf58b"  # the code issue 14 measured: 12.97 dataset-months/min


def _knob(default: Any, about: str) -> Any:
    return field(default=default, metadata={"help": about})


@dataclass(frozen=True)
class Options:
    """The runner's knobs, one command-line option each; a target reads only its own."""

    out: Path = _knob(RESULTS, "where every target writes (and the tables read) results")
    work: Path = _knob(REPO_ROOT / "benchmarks" / "work", "course: services and input (wiped)")
    sizes: tuple[int, ...] = _knob((1_400_000, 7_000_000), "course: rows of each yellow month")
    backfill_rows: int = _knob(50_000, "course: rows of each backfilled month")
    skip_backfill: bool = _knob(False, "course: no 12-month backfill")
    to_sql_cap: int = _knob(1_000_000, "course: to_sql loads only this many rows of a month...")
    to_sql_cap_above: int = _knob(2_000_000, "... bigger than this, extrapolated to the month")
    memory_rows: tuple[int, ...] = _knob((2_000_000, 20_000_000), "memory: rows of each month")
    months: int = _knob(24, "backfill: months of each dataset, from 2024-01")
    month_rows: int = _knob(20_000, "backfill, full-history: rows of each month")
    baseline: str = _knob(ISSUE_COMMIT, "backfill: also measure this commit's code ('': none)")
    workers: tuple[int, ...] = _knob((1, 2, 4, 8), "projection: machines to project for")
    bandwidth_mib_s: float = _knob(50.0, "projection: download bandwidth")
    pg_streams: int = _knob(4, "projection: COPY streams the PostgreSQL server takes at once")
    months_per_run: int = _knob(24, "projection: months a backfill run lands")
    command: str = ""  # the command line, as the course report quotes it


@dataclass(frozen=True)
class Postgres:
    """The local PostgreSQL as the services' environment names it (PG_HOST, PG_PORT, PG_USER,
    PG_PASSWORD, PG_DATABASE), never the command line."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Postgres:
        return cls(
            host=env["PG_HOST"],
            port=int(env["PG_PORT"]),
            user=env["PG_USER"],
            password=env["PG_PASSWORD"],
            dbname=env["PG_DATABASE"],
        )

    def connect(self, **options: Any) -> psycopg.Connection:
        """A psycopg connection, as `PostgresResource` opens one, without importing Dagster."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            connect_timeout=10,
            application_name="taxi_platform_benchmark",
            **options,
        )
