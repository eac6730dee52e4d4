"""Dagster's own storage (runs, event log, schedules) on PostgreSQL, each holding a connection
open in its process instead of opening one per statement.

dagster-postgres connects anew for every statement outside the webserver (a `NullPool`). A
run that lands a batch of months stores about a thousand events, and every connection costs a
password handshake and a server process: most of such a run's CPU went there. These keep one
connection per process, pinged before each use, so a restarted server costs a reconnect (with
dagster-postgres's retries), as before, not a failed write. `deploy/dagster.yaml` names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.auth import PgTokenProvider
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

POOL_RECYCLE_SECONDS = 3600  # reconnect hourly, before a server or proxy idle limit cuts it
POOL_OVERFLOW = 8  # connections beyond the held one while threads of a process overlap


class _HeldConnection:
    """Built from the same config as the stock class; keeps one connection per process."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: Any = None,
        token_provider: PgTokenProvider | None = None,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            postgres_url, should_autocreate_tables, inst_data, token_provider
        )
        self._engine = create_pg_engine(
            postgres_url,
            token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=1,
            max_overflow=POOL_OVERFLOW,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
        )

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Self:
        return cls(
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


class HeldConnectionRunStorage(_HeldConnection, PostgresRunStorage):
    """Dagster's run storage on PostgreSQL over one held connection per process."""


class HeldConnectionEventLogStorage(_HeldConnection, PostgresEventLogStorage):
    """Dagster's event log on PostgreSQL over one held connection per process."""


class HeldConnectionScheduleStorage(_HeldConnection, PostgresScheduleStorage):
    """Dagster's schedule storage on PostgreSQL over one held connection per process."""
