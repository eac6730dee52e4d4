"""A full lake disk is reported as a full disk naming the path written, not as an unreadable
source file; the disk is a real one: a 64 KiB tmpfs, which needs root to mount."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.sample_data import write_month
from devstack.tlc_parquet import write_official_month
from taxi_platform.catalog import YELLOW
from taxi_platform.lib.errors import DiskFullError
from taxi_platform.lib.files import atomic_write_path
from taxi_platform.lib.lake import csv_to_parquet
from taxi_platform.lib.lake_parquet import parquet_to_parquet

MONTH = "2021-01"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 64 KiB disk: a month of 20,000 trips does not fit."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _assert_disk_full(raised: pytest.ExceptionInfo[DiskFullError], dst: Path) -> None:
    message = str(raised.value)
    assert message.startswith(f"the disk is full: no space left writing {dst}")
    assert "unreadable" not in message and "\n" not in message
    assert [p.name for p in dst.parent.iterdir()] == []  # no temp file left behind


def test_a_parquet_month_on_a_full_disk_says_the_disk_is_full(
    tmp_path: Path, full_disk: Path
) -> None:
    src = write_official_month("yellow", MONTH, 20_000, tmp_path / "mirror")
    dst = full_disk / "clean" / "yellow.parquet"

    with pytest.raises(DiskFullError) as raised:
        parquet_to_parquet(src, dst, YELLOW, MONTH)

    _assert_disk_full(raised, dst)


def test_a_csv_month_on_a_full_disk_says_the_disk_is_full(tmp_path: Path, full_disk: Path) -> None:
    src = write_month(YELLOW, MONTH, 20_000, tmp_path / "mirror", seed=3)
    dst = full_disk / "clean" / "yellow.parquet"

    with pytest.raises(DiskFullError) as raised:
        csv_to_parquet(src, dst, YELLOW, MONTH)

    _assert_disk_full(raised, dst)


def test_any_atomic_write_on_a_full_disk_says_the_disk_is_full(full_disk: Path) -> None:
    dst = full_disk / "raw" / "yellow_tripdata_2021-01.parquet"

    with pytest.raises(DiskFullError) as raised, atomic_write_path(dst) as tmp:
        tmp.write_bytes(b"x" * 200_000)

    _assert_disk_full(raised, dst)
