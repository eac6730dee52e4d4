"""The new-month sensor on a living archive, evaluated with a real instance against a real
mirror: back-off that recovers, failed months asked for again, a published backlog handed over
at once with few requests, and never a month twice with the schedule on too."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from devstack.faulty_mirror import Faults, serve_faulty
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import LakeResource, SourceDownloader
from taxi_platform.defs.schedules import build_monthly_schedule
from taxi_platform.defs.sensors import build_new_month_sensor
from taxi_platform.settings import Settings, load_settings

JOB = "yellow_monthly"
PUBLISHED = [f"{y}-{m:02d}" for y in (2019, 2020) for m in range(1, 13)]  # 24 months
PARTITIONS = monthly_partitions("2021-06")  # 30 months, the last 6 not published


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Faults, Path]]:
    root = tmp_path / "mirror"
    for month in PUBLISHED:
        write_month(YELLOW, month, 5, root)
    with serve_faulty(root) as (url, faults):
        yield url, faults, root


def _sensor(**changes: object) -> dg.SensorDefinition:
    settings: Settings = dataclasses.replace(load_settings(), **changes)
    return build_new_month_sensor(YELLOW, COURSE_MIRROR, JOB, PARTITIONS, settings)


def _tick(sensor: dg.SensorDefinition, instance, url: str, cursor: str | None, tmp_path: Path):
    resources = {
        "downloader": SourceDownloader(base_url=url),
        "lake": LakeResource(root=str(tmp_path)),
    }
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(context)
    return result.run_requests, result.skip_reason, result.cursor


def _heads(faults: Faults) -> int:
    return sum(1 for method, _, _ in faults.log if method == "HEAD")


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_a_published_backlog_is_handed_over_in_one_tick_with_few_requests(mirror, tmp_path):
    url, faults, _ = mirror
    with dg.instance_for_test() as instance:
        requests, _, cursor = _tick(_sensor(), instance, url, None, tmp_path)
        heads_first = _heads(faults)
        again, result, _ = _tick(_sensor(), instance, url, cursor, tmp_path)

    assert [r.partition_key for r in requests] == PUBLISHED
    assert len({r.run_key for r in requests}) == 24
    assert heads_first <= 7  # a binary search over 30 months, not a probe per month
    assert again == [] and "waiting" not in result.skip_message  # requested, not yet landed
    assert _heads(faults) - heads_first <= 2 + 24  # the month after, and each failed month


def test_up_to_n_months_per_tick(mirror, tmp_path):
    url, _, _ = mirror
    with dg.instance_for_test() as instance:
        first, _, cursor = _tick(_sensor(sensor_max_requests=10), instance, url, None, tmp_path)

    assert [r.partition_key for r in first] == PUBLISHED[:10]


def test_any_answer_ends_the_back_off(mirror, tmp_path):
    url, _, _ = mirror
    sensor = _sensor(sensor_interval_seconds=30)
    with dg.instance_for_test() as instance:
        _, outage, cursor = _tick(sensor, instance, _closed_port_url(), None, tmp_path)
        cursor = json.dumps({**json.loads(cursor), "retry_after": 0})  # the back-off passed
        _, outage2, cursor = _tick(sensor, instance, _closed_port_url(), cursor, tmp_path)
        cursor = json.dumps({**json.loads(cursor), "retry_after": 0})
        recovered, _, cursor = _tick(sensor, instance, url, cursor, tmp_path)
        _, outage3, _ = _tick(sensor, instance, _closed_port_url(), cursor, tmp_path)

    assert "backing off 30s" in outage.skip_message
    assert "backing off 60s" in outage2.skip_message
    assert "connection refused" in outage.skip_message
    assert len(recovered) == 24
    assert "backing off 30s" in outage3.skip_message  # from the base again


def test_a_failed_month_is_asked_for_again_when_its_file_changes(mirror, tmp_path):
    url, _, root = mirror
    sensor = _sensor()
    with dg.instance_for_test() as instance:
        first, _, cursor = _tick(sensor, instance, url, None, tmp_path)
        waiting, _, cursor = _tick(sensor, instance, url, cursor, tmp_path)  # the runs failed
        time.sleep(1.1)  # Last-Modified has a one-second resolution
        write_month(YELLOW, "2020-03", 7, root)  # the TLC replaces the broken file
        again, _, _ = _tick(sensor, instance, url, cursor, tmp_path)

    assert waiting == []
    assert [(r.partition_key, r.run_key) for r in again] == [("2020-03", "yellow:2020-03:2")]


def test_a_failed_month_is_asked_for_again_after_the_retry_time(mirror, tmp_path):
    url, _, _ = mirror
    sensor = _sensor(sensor_retry_seconds=0)
    with dg.instance_for_test() as instance:
        _, _, cursor = _tick(sensor, instance, url, None, tmp_path)
        again, _, _ = _tick(sensor, instance, url, cursor, tmp_path)

    assert {r.run_key for r in again} == {f"yellow:{m}:2" for m in PUBLISHED}


def test_a_month_running_from_the_schedule_is_not_requested_again(
    mirror, tmp_path, schedule_instance: dg.DagsterInstance
):
    url, _, _ = mirror
    running = dg.DagsterRun(
        job_name=JOB,
        run_id="00000000-0000-0000-0000-000000000001",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": "2020-12", "dagster/schedule_name": "x"},
    )
    schedule_instance.add_run(running)  # the schedule's run of 2020-12
    schedule = build_monthly_schedule(YELLOW, JOB, PARTITIONS, load_settings())
    context = dg.build_schedule_context(
        instance=schedule_instance, scheduled_execution_time=datetime(2021, 2, 5, 11, tzinfo=UTC)
    )

    requests, _, _ = _tick(_sensor(), schedule_instance, url, None, tmp_path)
    tick = schedule.evaluate_tick(context)

    assert "2020-12" not in {r.partition_key for r in requests}
    assert tick.skip_message and "2020-12" in tick.skip_message
