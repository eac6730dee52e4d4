"""Shared fixtures: generated months, and the real local services for integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from devstack.sample_data import write_month, write_zone_lookup
from devstack.services import running_services
from taxi_platform.catalog import GREEN, YELLOW
from taxi_platform.defs.resources import initialized_resources

SAMPLE_ROWS = 2_000
SAMPLE_MONTHS = ("2021-01", "2021-02", "2021-03")


@pytest.fixture(scope="session")
def schedule_instance() -> Iterator[dg.DagsterInstance]:
    """A test instance for evaluating schedules, alive for the whole session: a schedule
    evaluation leaves Dagster's definitions-load context pointing at its instance."""
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State directory of the test session's local services."""
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def stack(stack_dir: Path) -> Iterator[dict[str, str]]:
    """The real local services (PostgreSQL, fake-gcs-server, bqemulator, HTTP mirror).

    Started in a private state dir for the test session and stopped afterwards; their
    settings are exported to os.environ, where the resources read them.
    """
    with running_services(stack_dir) as env:
        mirror = stack_dir / "mirror"
        for ds in (YELLOW, GREEN):
            for month in SAMPLE_MONTHS:
                write_month(ds, month, SAMPLE_ROWS, mirror, seed=7)
        write_zone_lookup(mirror)
        saved = dict(os.environ)
        # The course mirror's layout: what `write_month` generates (the official parquet
        # layout's tests choose their source explicitly).
        os.environ.update(env, TAXI_SOURCE="course-mirror")
        try:
            yield env
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="session")
def local_resources(stack: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The local resources with their settings resolved, to inspect what runs wrote."""
    with initialized_resources("local") as resources:
        yield resources
