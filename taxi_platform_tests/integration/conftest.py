"""Fixtures for integration tests: a running `dg dev` on the test services."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.dagster_ui import start_ui, stop_ui


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="package")
def dagster_dev(stack: dict[str, str], stack_dir: Path) -> Iterator[str]:
    """A running `dg dev` (webserver + daemon) on the test services; yields its URL. Stopped
    after the integration tests, so its daemon's sensors and connections do not run on under
    the later tests."""
    url = start_ui(stack_dir, _free_port())
    try:
        yield url
    finally:
        stop_ui(stack_dir)
