"""Faults at the source: the real raw asset against a fault-injecting mirror on 127.0.0.1.

Transient faults (5xx, dropped connections, short bodies) are retried and logged, and the month
lands once and intact; a corrupt file fails naming the month and keeps the landed file; a
missing month fails as "not published yet"; a stalled or trickling source times out.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from devstack.faulty_mirror import (
    Corrupt,
    DropMidBody,
    ShortBody,
    Stall,
    Status,
    Trickle,
    Truncated,
)
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import LakeResource, SourceDownloader
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.lib.files import temp_files
from taxi_platform.lib.source import probe
from taxi_platform_tests.reliability.conftest import MONTH, FaultyMirror


def _raw_asset() -> dg.AssetsDefinition:
    [raw] = [
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    ]
    return raw


def _land(
    mirror: FaultyMirror, lake: Path, month: str = MONTH, **tlc: float
) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """Materialize the raw asset for `month`; return the result and the run's log messages."""
    instance = dg.DagsterInstance.ephemeral()
    settings = {"timeout_seconds": 5.0, "backoff_seconds": 0.05, **tlc}
    result = dg.materialize(
        [_raw_asset()],
        partition_key=month,
        resources={
            "downloader": SourceDownloader(base_url=mirror.url, **settings),
            "lake": LakeResource(root=str(lake)),
        },
        instance=instance,
        raise_on_error=False,
    )
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, messages


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    [failure] = result.get_step_failure_events()
    return failure.step_failure_data.user_failure_data.description


def _raw(lake: Path, month: str = MONTH) -> Path:
    return catalog.raw_path(lake, COURSE_MIRROR, YELLOW, month)


def _lake_files(lake: Path) -> list[str]:
    return sorted(p.name for p in (lake / "raw" / YELLOW.name).iterdir())


def test_5xx_a_few_times_then_success_lands_once_with_retries_logged(
    faulty_mirror: FaultyMirror, tmp_path: Path
) -> None:
    faulty_mirror.faults.add(faulty_mirror.rel, Status(500))
    faulty_mirror.faults.add(faulty_mirror.rel, Status(503), times=2)
    lake = tmp_path / "lake"

    result, logs = _land(faulty_mirror, lake)

    assert result.success
    assert faulty_mirror.faults.requests(faulty_mirror.rel) == ["Status"] * 3 + ["ok"]
    retries = [m for m in logs if "failed (HTTP 50" in m and "retrying in" in m]
    assert [m.split(" of ")[0] for m in retries] == [
        "download attempt 1/5",
        "download attempt 2/5",
        "download attempt 3/5",
    ]
    assert any("succeeded on attempt 4/5" in m for m in logs)
    assert _raw(lake).read_bytes() == faulty_mirror.file.read_bytes()
    assert _lake_files(lake) == [_raw(lake).name, _raw(lake).name + ".source.json"]


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([DropMidBody(0.5)], id="dropped-mid-body"),
        pytest.param([ShortBody(0.3)], id="short-body"),
        pytest.param([DropMidBody(0.1), ShortBody(0.9), DropMidBody(0.99)], id="mixed"),
    ],
)
def test_broken_transfers_are_retried_and_never_land_truncated(
    faulty_mirror: FaultyMirror, tmp_path: Path, faults: list
) -> None:
    for fault in faults:
        faulty_mirror.faults.add(faulty_mirror.rel, fault)
    lake = tmp_path / "lake"

    result, logs = _land(faulty_mirror, lake)

    assert result.success
    outcomes = faulty_mirror.faults.requests(faulty_mirror.rel)
    assert outcomes == [f.name for f in faults] + ["ok"]
    assert len([m for m in logs if "retrying in" in m]) == len(faults)
    assert _raw(lake).read_bytes() == faulty_mirror.file.read_bytes()
    assert temp_files(_raw(lake)) == []


def test_persistent_drops_give_up_without_landing_anything(
    faulty_mirror: FaultyMirror, tmp_path: Path
) -> None:
    faulty_mirror.faults.add(faulty_mirror.rel, ShortBody(0.5), times=10)
    lake = tmp_path / "lake"

    result, _ = _land(faulty_mirror, lake, max_attempts=3)

    message = _failure(result)
    assert message.startswith("yellow 2021-01: yellow_tripdata_2021-01.csv.gz: download gave up")
    assert "after 3 attempt(s): body shorter than Content-Length" in message
    assert not _raw(lake).exists() and temp_files(_raw(lake)) == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Truncated(0.6), "not a valid gzip file (gzip stream is truncated)"),
        (Corrupt(), "not a valid gzip file (Error -3 while decompressing data"),
    ],
)
def test_corrupt_gzip_fails_naming_month_and_reason_and_keeps_the_landed_file(
    faulty_mirror: FaultyMirror, tmp_path: Path, fault, reason: str
) -> None:
    lake = tmp_path / "lake"
    assert _land(faulty_mirror, lake)[0].success
    landed = _raw(lake).read_bytes()
    sidecar = _raw(lake).with_name(_raw(lake).name + ".source.json").read_text()
    republished = faulty_mirror.publish(seed=2)  # a new version, served broken once
    faulty_mirror.faults.add(faulty_mirror.rel, fault)

    result, _ = _land(faulty_mirror, lake)

    message = _failure(result)
    assert message.startswith("yellow 2021-01: yellow_tripdata_2021-01.csv.gz: ")
    assert reason in message
    assert faulty_mirror.faults.requests(faulty_mirror.rel) == ["ok", fault.name]  # no retry
    assert _raw(lake).read_bytes() == landed
    assert _raw(lake).with_name(_raw(lake).name + ".source.json").read_text() == sidecar
    assert temp_files(_raw(lake)) == []

    repaired, _ = _land(faulty_mirror, lake)
    assert repaired.success and _raw(lake).read_bytes() == republished
    assert (
        json.loads(sidecar)["etag"]
        != json.loads(_raw(lake).with_name(_raw(lake).name + ".source.json").read_text())["etag"]
    )


def test_unpublished_month_fails_as_not_published_yet(
    faulty_mirror: FaultyMirror, tmp_path: Path
) -> None:
    result, _ = _land(faulty_mirror, tmp_path / "lake", month="2021-03")

    message = _failure(result)
    assert message.startswith("yellow 2021-03: not published yet: yellow_tripdata_2021-03.csv.gz")
    assert "\n" not in message and "Traceback" not in message
    [failure] = result.get_step_failure_events()
    assert failure.step_failure_data.error.cls_name == "Failure"


@pytest.mark.parametrize(
    ("fault", "tlc", "reason"),
    [
        pytest.param(
            Stall(30),
            {"timeout_seconds": 0.25, "max_attempts": 2},
            "gave up after 2 attempt(s): timed out",
            id="stalled-before-answering",
        ),
        pytest.param(  # bytes keep coming (no read timeout), but too slowly for the attempt
            Trickle(chunk=256, interval=0.02),
            {"timeout_seconds": 0.4, "max_attempts": 1},
            "gave up after 1 attempt(s): timed out: not complete after 4s",
            id="trickling",
        ),
    ],
)
def test_slow_source_hits_the_configured_timeout(
    faulty_mirror: FaultyMirror, tmp_path: Path, fault, tlc: dict, reason: str
) -> None:
    faulty_mirror.faults.add(faulty_mirror.rel, fault, times=2)
    lake = tmp_path / "lake"
    started = time.monotonic()

    result, logs = _land(faulty_mirror, lake, **tlc)

    elapsed = time.monotonic() - started
    assert reason in _failure(result)
    assert elapsed < 15, f"timeout did not fire: {elapsed:.1f}s"
    if tlc["max_attempts"] > 1:
        assert any("download attempt 1/2" in m and "timed out" in m for m in logs)
    assert not _raw(lake).exists() and temp_files(_raw(lake)) == []


def test_probe_retries_5xx_and_logs(faulty_mirror: FaultyMirror, caplog) -> None:
    faulty_mirror.faults.add(
        faulty_mirror.rel, Status(503, retry_after=0), times=2, methods=("HEAD",)
    )
    caplog.set_level(logging.WARNING)

    with requests.Session() as session:
        remote = probe(session, faulty_mirror.url + faulty_mirror.rel, 5, backoff=0.01)

    assert remote.size == faulty_mirror.file.stat().st_size
    assert faulty_mirror.faults.requests(faulty_mirror.rel, "HEAD") == ["Status", "Status", "ok"]
    assert [r.getMessage().split(" of ")[0] for r in caplog.records] == [
        "probe attempt 1/3",
        "probe attempt 2/3",
    ]
