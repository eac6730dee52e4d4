"""The new-month sensor, against a real HTTP mirror on 127.0.0.1 (the alert: test_alerts.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from devstack.mirror import serve_directory
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import LakeResource, SourceDownloader
from taxi_platform.defs.sensors import build_new_month_sensor
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.settings import load_settings

JOB = dg.define_asset_job("yellow_monthly", selection=dg.AssetSelection.groups("yellow"))
SENSOR = build_new_month_sensor(
    YELLOW, COURSE_MIRROR, JOB.name, monthly_partitions("2019-06"), load_settings()
)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    write_month(YELLOW, "2019-01", 20, tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        yield url


def _tick(
    instance: dg.DagsterInstance, base_url: str, cursor: str | None = None, lake: str = "lake"
):
    resources = {"downloader": SourceDownloader(base_url=base_url), "lake": LakeResource(root=lake)}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = SENSOR(context)
    return result.run_requests or result.skip_reason, result.cursor


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_published_month_is_requested_once_then_nothing_new(mirror: str) -> None:
    with dg.instance_for_test() as instance:
        first, cursor = _tick(instance, mirror)
        second, cursor_after = _tick(instance, mirror, cursor)

    [request] = first
    assert (request.partition_key, request.run_key) == ("2019-01", "yellow:2019-01:1")
    assert isinstance(second, dg.SkipReason)
    assert second.skip_message == "yellow 2019-02 is not published yet"
    assert cursor_after == cursor


def test_materialized_months_are_not_requested_again(mirror: str, tmp_path: Path) -> None:
    raw = next(
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    )
    with dg.instance_for_test() as instance:
        dg.materialize(
            [raw],
            partition_key="2019-01",
            instance=instance,
            resources={
                "downloader": SourceDownloader(base_url=mirror),
                "lake": LakeResource(root=str(tmp_path / "lake")),
            },
        )
        result, _ = _tick(instance, mirror, lake=str(tmp_path / "lake"))

    assert isinstance(result, dg.SkipReason)
    assert "2019-02" in result.skip_message


def test_a_reissued_month_is_requested_again(mirror: str, tmp_path: Path) -> None:
    raw = next(
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    )
    lake = str(tmp_path / "lake")
    resources = {"downloader": SourceDownloader(base_url=mirror), "lake": LakeResource(root=lake)}
    with dg.instance_for_test() as instance:
        dg.materialize([raw], partition_key="2019-01", instance=instance, resources=resources)
        unchanged, _ = _tick(instance, mirror, lake=lake)
        write_month(YELLOW, "2019-01", 25, tmp_path / "mirror")  # the TLC re-issues the month
        reissued, _ = _tick(instance, mirror, lake=lake)

    assert isinstance(unchanged, dg.SkipReason)
    [request] = reissued
    assert request.partition_key == "2019-01"
    assert request.run_key.startswith("yellow:2019-01:")


def test_unreachable_source_backs_off_with_a_one_line_reason() -> None:
    with dg.instance_for_test() as instance:
        first, cursor = _tick(instance, _closed_port_url())
        second, _ = _tick(instance, _closed_port_url(), cursor)

    assert isinstance(first, dg.SkipReason)
    assert "source unreachable while probing yellow 2019-01" in first.skip_message
    assert "\n" not in first.skip_message
    assert isinstance(second, dg.SkipReason)
    assert "next probe after" in second.skip_message
