"""A month's warehouse error that cannot succeed on a retry fails at the first attempt, in one
line naming step, dataset, month and cause; a transient one is retried (issue 24, item 2)."""

import dagster as dg
import psycopg
import pytest
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from taxi_platform.defs.month_runs import SINK_RETRY, run_batch, run_months

MONTH = "2021-02-01"
PARTITIONS = dg.MonthlyPartitionsDefinition(start_date="2021-01-01", end_date="2021-06-01")
# SINK_RETRY's attempts without its back-off, so a transient error's retries take no time.
QUICK_RETRY = dg.RetryPolicy(max_retries=SINK_RETRY.max_retries)

PERMANENT = [
    api.BadRequest("Syntax error: Unexpected identifier at [1:7]; reason: invalidQuery"),
    api.BadRequest("Conversion Error: Could not convert string 'zz' to BOOL"),
    api.Unauthorized("Request is missing required authentication credential"),
    api.Forbidden("Access Denied: Dataset p:taxi", errors=[{"reason": "accessDenied"}]),
    api.NotFound("Not found: Dataset p:taxi"),
    auth.DefaultCredentialsError("Your default credentials were not found"),
    auth.RefreshError("invalid_grant: Invalid JWT Signature."),
    psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed:'
        ' FATAL:  password authentication failed for user "taxi"'
    ),
    psycopg.errors.InvalidPassword('password authentication failed for user "taxi"'),
    psycopg.errors.UndefinedColumn('column "fare" of relation "yellow_trips" does not exist'),
    psycopg.errors.InsufficientPrivilege("permission denied for schema taxi"),
    psycopg.errors.InvalidTextRepresentation('invalid input syntax for type double: "x"'),
]
TRANSIENT = [
    api.ServiceUnavailable("Service unavailable"),
    api.InternalServerError("Internal error encountered"),
    api.TooManyRequests("Too many requests"),
    api.Forbidden("Exceeded rate limits", errors=[{"reason": "rateLimitExceeded"}]),
    api.BadRequest("Transaction is aborted due to concurrent update against table t"),
    auth.TransportError("connection reset"),
    psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed:'
        " Connection refused"
    ),
    psycopg.OperationalError("consuming input failed: server closed the connection"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    ConnectionResetError("Connection reset by peer"),
    TimeoutError("timed out"),
]


def _failing_asset(error: Exception, *, batch: bool) -> dg.AssetsDefinition:
    @dg.asset(name="yellow_trips_sink", partitions_def=PARTITIONS, retry_policy=QUICK_RETRY)
    def sink(context: dg.AssetExecutionContext) -> None:
        def fail(_: object) -> dict[str, int]:
            raise error

        (run_batch if batch else run_months)(context, "yellow", fail)

    return sink


def _run(error: Exception, *, batch: bool) -> tuple[int, str]:
    """The attempts the step made, and the message of its last failure."""
    result = dg.materialize(
        [_failing_asset(error, batch=batch)], partition_key=MONTH, raise_on_error=False
    )
    assert not result.success
    retries = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    [failure] = result.get_step_failure_events()
    return len(retries) + 1, failure.step_failure_data.user_failure_data.description


@pytest.mark.parametrize("batch", [False, True], ids=["run_months", "run_batch"])
@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_a_permanent_error_fails_at_the_first_attempt_in_one_line(
    error: Exception, batch: bool
) -> None:
    attempts, message = _run(error, batch=batch)

    assert attempts == 1
    assert message.startswith(
        "yellow 2021-02-01: yellow_trips_sink failed (attempt 1, not retried)"
    )
    assert f"{type(error).__name__}: " in message
    assert str(error).splitlines()[0][:60] in message
    assert "\n" not in message


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: f"{type(e).__name__}-{e}"[:40])
def test_a_transient_error_is_retried_and_the_last_attempt_named(error: Exception) -> None:
    attempts, message = _run(error, batch=True)

    assert attempts == SINK_RETRY.max_retries + 1
    assert message.startswith(f"yellow 2021-02-01: yellow_trips_sink failed (attempt {attempts}):")
    assert f"{type(error).__name__}: " in message
