"""Dagster's storage from deploy/dagster.yaml keeps its PostgreSQL connections open."""

from __future__ import annotations

import dagster as dg
import psutil
import psycopg
import pytest

pytestmark = pytest.mark.integration


@dg.asset
def tiny() -> int:
    return 1


def _held_by_this_process(stack: dict[str, str]) -> set[int]:
    """Server processes of Dagster's database that this process is connected to."""
    port = int(stack["DAGSTER_PG_PORT"])
    with psycopg.connect(
        host=stack["DAGSTER_PG_HOST"],
        port=port,
        user=stack["DAGSTER_PG_USER"],
        password=stack["DAGSTER_PG_PASSWORD"],
        dbname=stack["DAGSTER_PG_DATABASE"],
    ) as conn:
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
