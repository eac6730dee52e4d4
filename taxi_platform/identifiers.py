"""Validation of names that come from configuration and end up inside SQL."""

from __future__ import annotations

import re

_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")


def sql_name(value: str, what: str) -> str:
    """Return `value` if it is a plain SQL identifier (letters, digits, _), else refuse."""
    if not _SQL_NAME.fullmatch(value):
        raise ValueError(f"refusing {what} {value!r}: use letters, digits and _ only")
    return value


def gcp_project(value: str) -> str:
    """Return `value` if it is a valid Google Cloud project id, else refuse."""
    if not _GCP_PROJECT.fullmatch(value):
        raise ValueError(f"refusing GCP project id {value!r}")
    return value
