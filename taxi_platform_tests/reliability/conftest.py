"""Fixtures of the reliability tests: a generated month served by a fault-injecting mirror."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.faulty_mirror import Faults, serve_faulty
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW

MONTH = "2021-01"
ROWS = 20_000


@dataclass
class FaultyMirror:
    """A mirror root holding yellow 2021-01, served with a fault schedule."""

    root: Path
    url: str
    faults: Faults

    @property
    def rel(self) -> str:
        """The month's path under the mirror root (the key of its faults)."""
        return f"{YELLOW.name}/{COURSE_MIRROR.file_name(YELLOW, MONTH)}"

    @property
    def file(self) -> Path:
        return self.root / self.rel

    def publish(self, seed: int) -> bytes:
        """(Re)write the month with another seed, as a re-published file; return its bytes."""
        write_month(YELLOW, MONTH, ROWS, self.root, seed=seed, compresslevel=1)
        return self.file.read_bytes()


@pytest.fixture
def faulty_mirror(tmp_path: Path) -> Iterator[FaultyMirror]:
    root = tmp_path / "mirror"
    with serve_faulty(root) as (url, faults):
        mirror = FaultyMirror(root, url, faults)
        mirror.publish(seed=1)
        yield mirror
