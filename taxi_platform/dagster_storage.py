"""Dagster's run and event-log storage on PostgreSQL, each holding a connection
open while its instance lives instead of opening one per statement.

dagster-postgres connects anew for every statement outside the webserver (a `NullPool`). A
run that lands a batch of months stores about a thousand events, and every connection costs a
password handshake and a server process: most of such a run's CPU went there. These take the
webserver's pooled engine (`optimize_for_webserver`, public on every Dagster storage) in every
process and ping its connection before each use, so a restarted server costs a reconnect (with
dagster-postgres's retries), as before, not a failed write. An instance connects when it is
first used and closes its connections when it is disposed (a code server makes one per sensor
or schedule evaluation), or at the latest when it is garbage collected, so instances never pile
up connections on the server. `deploy/dagster.yaml` names them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Self

from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from dagster_postgres.auth import PgTokenProvider
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy import Connection, Dialect, event
from sqlalchemy.exc import DisconnectionError

POOL_RECYCLE_SECONDS = 3600  # reconnect hourly, before a server or proxy idle limit cuts it
POOL_OVERFLOW = 8  # connections beyond the held one while threads of a process overlap
NO_STATEMENT_TIMEOUT = 0  # as dagster-postgres outside the webserver


def _ping_on_checkout(dialect: Dialect) -> Callable[[Any, Any, Any], None]:
    """A pool checkout listener: a dead connection is replaced, as `pool_pre_ping` does."""

    def ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError() from error

    return ping


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
        self.optimize_for_webserver(  # type: ignore[attr-defined]
            statement_timeout=NO_STATEMENT_TIMEOUT,
            pool_recycle=POOL_RECYCLE_SECONDS,
            max_overflow=POOL_OVERFLOW,
        )
        with self.held_connection() as conn:
            engine = conn.engine
        event.listen(engine, "checkout", _ping_on_checkout(engine.dialect))
        engine.dispose()  # connect on first use, not when an instance is made
        self._held_engine = engine
        weakref.finalize(self, engine.dispose)

    def dispose(self) -> None:
        """Close the held connection with the storage (Dagster disposes runs and event log)."""
        super().dispose()  # type: ignore[misc]
        self._held_engine.dispose()

    def held_connection(self) -> AbstractContextManager[Connection]:
        """A connection from the storage's engine."""
        return self.connect()  # type: ignore[attr-defined]

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Self:
        return cls(
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


class HeldConnectionRunStorage(_HeldConnection, PostgresRunStorage):
    """Dagster's run storage on PostgreSQL over one held connection per instance."""


class HeldConnectionEventLogStorage(_HeldConnection, PostgresEventLogStorage):
    """Dagster's event log on PostgreSQL over one held connection per instance."""

    def held_connection(self) -> AbstractContextManager[Connection]:
        """A connection from the storage's engine (the event log has no `connect`)."""
        return self.index_connection()
