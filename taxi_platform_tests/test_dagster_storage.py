"""Dagster's storage from deploy/dagster.yaml keeps its PostgreSQL connections open, and
replaces one the server has dropped before using it."""

from __future__ import annotations

import dagster as dg
import psutil
import psycopg
import pytest

pytestmark = pytest.mark.integration


@dg.asset
def tiny() -> int:
    return 1


def _connect(stack: dict[str, str]) -> psycopg.Connection:
    """A connection of the test's own to Dagster's database."""
    return psycopg.connect(
        host=stack["DAGSTER_PG_HOST"],
        port=int(stack["DAGSTER_PG_PORT"]),
        user=stack["DAGSTER_PG_USER"],
        password=stack["DAGSTER_PG_PASSWORD"],
        dbname=stack["DAGSTER_PG_DATABASE"],
        autocommit=True,
    )


def _held_by_this_process(stack: dict[str, str]) -> set[int]:
    """Server processes of Dagster's database that this process is connected to."""
    port = int(stack["DAGSTER_PG_PORT"])
    with _connect(stack) as conn:
        ours = [
            c.laddr.port
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port
        ]
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND client_port = ANY(%s) AND pid <> pg_backend_pid()",
            [ours],
        ).fetchall()
    return {pid for (pid,) in rows}


def test_runs_store_their_events_over_connections_held_open(stack: dict[str, str]) -> None:
    with dg.DagsterInstance.get() as instance:  # $DAGSTER_HOME/dagster.yaml of the stack
        for _ in range(2):
            result = dg.materialize([tiny], instance=instance)
            held = _held_by_this_process(stack)

            assert result.success and len(instance.all_logs(result.run_id)) > 10
            # Open after the run, one per storage in use (runs, event log, schedules); a
            # connection per event would leave none.
            assert 1 <= len(held) <= 3


def test_a_held_connection_the_server_dropped_is_replaced_before_use(
    stack: dict[str, str],
) -> None:
    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([tiny], instance=instance).success
        dropped = _held_by_this_process(stack)
        with _connect(stack) as conn:  # as a server restart or an idle cut would
            for pid in dropped:
                conn.execute("SELECT pg_terminate_backend(%s)", [pid])

        result = dg.materialize([tiny], instance=instance)

        assert result.success and len(instance.all_logs(result.run_id)) > 10
        assert dropped and not dropped & _held_by_this_process(stack)
