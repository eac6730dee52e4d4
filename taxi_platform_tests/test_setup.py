"""The set-up leaves an environment whose run processes start without compiling source."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

# What every run process imports before its first step (Dagster, the Google clients, Arrow).
RUN_IMPORTS = ("dagster", "dagster_gcp", "dagster_postgres", "google.cloud.bigquery", "pyarrow")


@pytest.mark.parametrize("name", RUN_IMPORTS)
def test_the_packages_a_run_imports_are_compiled_to_bytecode(name: str) -> None:
    package = Path(importlib.import_module(name).__file__ or "").parent
    sources = sorted(package.rglob("*.py"))
    missing = [s for s in sources if not Path(importlib.util.cache_from_source(str(s))).exists()]

    assert sources
    assert missing == []
