"""Validation of names that come from configuration and end up inside SQL or storage paths.

Schema, dataset, project and bucket names are read from the environment, so they are checked
against a strict pattern before any statement or request is built from them, and SQL code
still quotes them (psycopg `sql.Identifier`, BigQuery backticks). Values are never
interpolated: they are bound parameters.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]")


def sql_name(value: str, what: str) -> str:
    """Return `value` if it is a plain SQL identifier (letters, digits, _), else refuse."""
    if not isinstance(value, str) or not _SQL_NAME.fullmatch(value):
        raise ValueError(
            f"refusing {what} {value!r}: use 1-63 letters, digits and _, not starting with a digit"
        )
    return value


def warehouse_name(value: str, what: str) -> str:
    """`value` if it is a plain SQL identifier the warehouse does not reserve (PostgreSQL's
    `pg_*` schemas, `information_schema`), else refuse."""
    sql_name(value, what)
    if value.lower().startswith("pg_") or value.lower() == "information_schema":
        raise ValueError(f"refusing {what} {value!r}: a name the warehouse reserves")
    return value


def _shown_url(value: str) -> str:
    """`value` without credentials, query string or fragment, for a message."""
    return re.sub(r"//[^/]*@", "//", re.split(r"[?#]", value, maxsplit=1)[0])


def http_url(value: str, what: str) -> str:
    """`value` if it is an http(s) URL with a host, a valid port (if any) and no credentials,
    query or fragment, else refuse; the message shows no credentials and no query string."""
    try:
        parts = urlsplit(value)
    except ValueError as err:
        raise ValueError(f"refusing {what} {_shown_url(value)!r}: not a URL ({err})") from None
    shown = (
        f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        if parts.scheme
        else "(no scheme)"
    )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"refusing {what} {shown}: use an http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"refusing {what} {shown}: the port must be a number from 1 to 65535")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            f"refusing {what} {shown}: no credentials, query string or fragment in the URL"
        )
    return value


def secret_http_url(value: str, what: str) -> str:
    """`value` if it is an http(s) URL with a host and a valid port, else refuse without
    showing it (a webhook's path or query is its secret)."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"refusing {what} (a secret, not shown): use an http:// or https:// URL")
    return value


def gcp_project(value: str, what: str = "GCP project id") -> str:
    """Return `value` if it is a valid Google Cloud project id, else refuse."""
    if not isinstance(value, str) or not _GCP_PROJECT.fullmatch(value):
        raise ValueError(
            f"refusing {what} {value!r}: use 6-30 lower-case letters, digits and -,"
            " starting with a letter and not ending with -"
        )
    return value


def gcs_bucket(value: str, what: str = "GCS bucket") -> str:
    """Return `value` if it is a valid GCS bucket name, else refuse."""
    if not isinstance(value, str) or not _GCS_BUCKET.fullmatch(value) or ".." in value:
        raise ValueError(
            f"refusing {what} {value!r}: use 3-63 lower-case letters, digits, _ - and ."
        )
    return value


_VERSION = re.compile(r"[0-9a-f]{16}")


def lake_version(value: str) -> str:
    """A lake version name (16 lower-case hex digits), checked before it goes into SQL."""
    if not _VERSION.fullmatch(value):
        raise ValueError(f"not a lake version (16 hex digits): {value[:40]!r}")
    return value
