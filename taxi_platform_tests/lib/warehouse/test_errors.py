"""Which warehouse errors are permanent: the clients' own exceptions, and what the real local
PostgreSQL and BigQuery emulator raise for a wrong password and an invalid query."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from google.api_core import exceptions as api

from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse.errors import permanent
from taxi_platform_tests.defs.test_month_runs import PERMANENT, TRANSIENT


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_errors_that_cannot_succeed_on_a_retry_are_permanent(error: Exception) -> None:
    assert permanent(error)


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: f"{type(e).__name__}-{e}"[:40])
def test_transient_errors_are_not_permanent(error: Exception) -> None:
    assert not permanent(error)


def test_a_server_starting_up_or_full_is_not_permanent() -> None:
    for fatal in ("the database system is starting up", "sorry, too many clients already"):
        assert not permanent(psycopg.OperationalError(f"connection failed: FATAL:  {fatal}"))


def test_the_bigquery_client_retries_only_transient_errors() -> None:
    assert bigquery_engine.retryable(api.BadRequest("aborted due to concurrent update"))
    assert bigquery_engine.retryable(api.ServiceUnavailable("down"))
    assert not bigquery_engine.retryable(api.BadRequest("Syntax error"))


@pytest.mark.integration
def test_a_wrong_postgres_password_is_permanent(local_resources: dict[str, Any]) -> None:
    pg = local_resources["postgres"]
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect(
            host=pg.host, port=pg.port, user=pg.user, password="wrong", dbname=pg.database
        )

    assert permanent(raised.value)


@pytest.mark.integration
def test_an_invalid_bigquery_query_is_permanent(local_resources: dict[str, Any]) -> None:
    with (
        local_resources["bigquery"].get_client() as client,
        pytest.raises(api.BadRequest) as raised,
    ):
        client.query("SELEC 1", job_retry=None).result(timeout=60)

    assert permanent(raised.value)
