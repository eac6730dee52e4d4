"""Which warehouse errors cannot succeed on a retry: an invalid request, bad credentials, a
missing permission, a schema mismatch. Judged by the exception types of the official clients
(google-api-core, google-auth, psycopg) and, where a client gives no type, its message. Anything
else (a connection refused or reset, a 5xx, a 429, a timeout, a serialization failure or a
deadlock, an error of no known kind) is left to be retried."""

from __future__ import annotations

import psycopg
from google.api_core import exceptions as api
from google.auth import exceptions as auth

# SQLSTATE classes: 22 data exception (a value that does not fit its column), 28 invalid
# authorization, 3D/3F no such database/schema, 42 syntax error or access rule violation.
PERMANENT_SQLSTATE_CLASSES = ("22", "28", "3D", "3F", "42")
# What libpq says when it refuses a connection for good; psycopg.connect raises these as an
# OperationalError with no sqlstate.
PERMANENT_CONNECT_MESSAGES = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # the role or the database
    "permission denied",
)
# 403 reasons that mean "slow down", not "not allowed".
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


def concurrent_update(error: BaseException) -> bool:
    """A transaction BigQuery aborted for a concurrent update of its table: run it again."""
    return isinstance(error, api.BadRequest) and "due to concurrent update" in str(error)


def _reasons(error: api.GoogleAPICallError) -> set[str]:
    return {e.get("reason", "") for e in error.errors if isinstance(e, dict)}


def _permanent_google(error: BaseException) -> bool:
    if isinstance(error, auth.DefaultCredentialsError | auth.MalformedError):
        return True
    if isinstance(error, auth.RefreshError):
        return not getattr(error, "retryable", False)
    if isinstance(error, api.Forbidden):
        return not _reasons(error) & RATE_LIMIT_REASONS
    if isinstance(error, api.BadRequest):
        return not concurrent_update(error)
    return isinstance(error, api.Unauthorized | api.NotFound | api.Conflict | api.MethodNotAllowed)


def _permanent_postgres(error: psycopg.Error) -> bool:
    if error.sqlstate:
        return error.sqlstate[:2] in PERMANENT_SQLSTATE_CLASSES
    if isinstance(error, psycopg.OperationalError):
        fatal = str(error).partition("FATAL:")[2]
        return any(message in fatal for message in PERMANENT_CONNECT_MESSAGES)
    return isinstance(error, psycopg.ProgrammingError | psycopg.DataError)


def permanent(error: BaseException) -> bool:
    """True when running the same work again cannot succeed (see the module docstring)."""
    if isinstance(error, psycopg.Error):
        return _permanent_postgres(error)
    return _permanent_google(error)
