"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a seeded month, and
`dg dev` on the test services."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from devstack.dagster_ui import graphql, start_ui, stop_ui
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "taxi_platform_tests" / "artifacts"
SEEDED_MONTH = "2021-01"
# Debian's chromium, headless, nothing fetched in the background. Playwright adds --headless
# and gives every launch a fresh temporary profile (--user-data-dir) itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, installed by scripts/install_chromium.sh when missing."""
    script = REPO_ROOT / "scripts" / "install_chromium.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        pytest.skip(f"no Chromium could be installed: {lines[-1]}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots land (gitignored; CI keeps it as a test artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser(chromium_path: str, dagster_ui: str) -> Iterator[Browser]:
    """Chromium, launched once the UI is up (after the seeding run: Playwright's sync API keeps
    an event loop that in-process Dagster runs must not meet)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab at 1600x1000."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def seeded_month(stack: dict[str, str]) -> str:
    """One yellow month through every layer, recorded in the instance the UI reads."""
    assert os.environ["DAGSTER_HOME"] == stack["DAGSTER_HOME"]
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
            partition_key=SEEDED_MONTH,
            resources=resources_for("local"),
            instance=instance,
        )
    assert result.success
    return SEEDED_MONTH


def _dismiss_community_dialog(url: str) -> None:
    """Mark Dagster's one-time community dialog as seen, as its Skip button does, so no
    modal ever lies over a dialog a test is clicking in."""
    graphql(url, "mutation SetNuxSeen { setNuxSeen }", {})


@pytest.fixture(scope="module")
def dagster_ui(stack_dir: Path, seeded_month: str) -> Iterator[str]:
    """The URL of a fresh `dg dev` (workspace.yaml) on the test services, on a free port, with
    one month materialized. One left running by earlier tests is stopped first: after a whole
    suite's runs its webserver has been seen answering pages with 500s."""
    stop_ui(stack_dir)
    url = start_ui(stack_dir, _free_port())
    try:
        _dismiss_community_dialog(url)
        yield url
    finally:
        stop_ui(stack_dir)
