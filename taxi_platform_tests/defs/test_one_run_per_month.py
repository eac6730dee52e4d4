"""One run per month with the schedule and the new-month sensor both on: a month's first
request carries one run key from either, and each defers to the other's run through the
instance (issue 24, item 6); a month the mirror lacks hides no later month (item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from devstack.mirror import serve_directory
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import LakeResource, SourceDownloader, resources_for
from taxi_platform.defs.schedules import build_monthly_schedule
from taxi_platform.defs.sensors import build_new_month_sensor
from taxi_platform.defs.trips import build_trip_assets
from taxi_platform.settings import load_settings

JOB = "yellow_monthly"
PUBLISHED = [f"2020-{m:02d}" for m in range(1, 13)]
PARTITIONS = monthly_partitions("2020-12")  # from 2019-01: 2019 is not on the mirror


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mirror")
    for month in PUBLISHED:
        write_month(YELLOW, month, 5, root)
    with serve_directory(root) as url:
        yield url


def _sensor_requests(instance: dg.DagsterInstance, url: str, tmp_path: Path):
    sensor = build_new_month_sensor(YELLOW, COURSE_MIRROR, JOB, PARTITIONS, load_settings())
    resources = {
        "downloader": SourceDownloader(base_url=url),
        "lake": LakeResource(root=str(tmp_path)),
    }
    result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    return {r.partition_key: r.run_key for r in result.run_requests} or result.skip_reason


def _schedule_tick(instance: dg.DagsterInstance, when: datetime):
    """The schedule's tick at `when`, asking for the month two months before."""
    settings = dataclasses.replace(load_settings(), publication_lag_months=2)
    schedule = build_monthly_schedule(YELLOW, JOB, PARTITIONS, settings)
    defs = dg.Definitions(
        assets=build_trip_assets(YELLOW, PARTITIONS, COURSE_MIRROR),
        jobs=[dg.define_asset_job(JOB, selection=dg.AssetSelection.groups("yellow"))],
        schedules=[schedule],
        resources=resources_for("local"),
    )
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(context)


def _failed_run(instance: dg.DagsterInstance, month: str, trigger: dict[str, str]) -> None:
    tags = {"dagster/partition": month, "dagster/run_key": f"yellow:{month}:1", **trigger}
    instance.add_run(dg.DagsterRun(job_name=JOB, status=dg.DagsterRunStatus.FAILURE, tags=tags))


def test_the_schedule_and_the_sensor_request_a_month_under_one_run_key(
    mirror, tmp_path, schedule_instance: dg.DagsterInstance
):
    tick = _schedule_tick(schedule_instance, datetime(2020, 12, 5, 11, tzinfo=UTC))
    with dg.instance_for_test() as instance:
        sensor_keys = _sensor_requests(instance, mirror, tmp_path)

    [request] = tick.run_requests
    assert request.partition_key == "2020-10"
    assert request.run_key == sensor_keys["2020-10"] == "yellow:2020-10:1"


def test_the_schedule_does_not_request_a_month_the_sensor_launched(
    schedule_instance: dg.DagsterInstance,
):
    _failed_run(schedule_instance, "2020-11", {"dagster/sensor_name": "yellow_new_month"})

    tick = _schedule_tick(schedule_instance, datetime(2021, 1, 5, 11, tzinfo=UTC))

    assert not tick.run_requests
    assert "yellow 2020-11 was requested before (run key yellow:2020-11:1)" in tick.skip_message


def test_the_sensor_does_not_request_a_month_the_schedule_launched(mirror, tmp_path):
    with dg.instance_for_test() as instance:
        _failed_run(instance, "2020-09", {"dagster/schedule_name": "yellow_monthly_schedule"})
        requests = _sensor_requests(instance, mirror, tmp_path)

    assert "2020-09" not in requests
    assert set(requests) == set(PUBLISHED) - {"2020-09"}


def test_months_the_mirror_lacks_hide_no_later_month(mirror, tmp_path):
    with dg.instance_for_test() as instance:
        requests = _sensor_requests(instance, mirror, tmp_path)

    assert list(requests) == PUBLISHED  # 2019-01..12 are missing at the source
