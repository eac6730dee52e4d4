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
            # Open after the run, one per holding storage in use (runs, event log); a
            # connection per event would leave none.
            assert 1 <= len(held) <= 2


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


def test_an_instance_holds_no_connection_once_disposed(stack: dict[str, str]) -> None:
    # A code server makes an instance per sensor or schedule evaluation: each must close its
    # connections when it is disposed, not when it is garbage collected.
    before = _held_by_this_process(stack)
    for _ in range(3):
        with dg.DagsterInstance.get() as instance:
            assert dg.materialize([tiny], instance=instance).success
            instance.all_instigator_state()  # the schedule storage too
            assert _held_by_this_process(stack) - before

    assert not _held_by_this_process(stack) - before


def test_making_an_instance_opens_no_connection_until_it_is_used(stack: dict[str, str]) -> None:
    before = _held_by_this_process(stack)
    instances = [dg.DagsterInstance.get() for _ in range(3)]

    assert not _held_by_this_process(stack) - before
    for instance in instances:
        instance.dispose()
