"""The deployment environment and the few settings read when definitions are built."""

from __future__ import annotations

import os
from typing import Literal

Env = Literal["local", "prod"]


def get_env() -> Env:
    """`TAXI_ENV`: `local` (emulators; the default) or `prod` (real Google Cloud)."""
    value = os.getenv("TAXI_ENV", "local")
    if value not in ("local", "prod"):
        raise ValueError(f"TAXI_ENV must be 'local' or 'prod', not {value!r}")
    return value  # type: ignore[return-value]


def last_month() -> str | None:
    """`TAXI_LAST_MONTH` (YYYY-MM): the newest partition; unset means up to the current month."""
    return os.getenv("TAXI_LAST_MONTH") or None
