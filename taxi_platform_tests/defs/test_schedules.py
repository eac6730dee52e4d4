"""The monthly schedule asks for the month the source should have published by the tick."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.schedules import build_monthly_schedule
from taxi_platform.defs.trips import build_trip_assets
from taxi_platform.lib.months import months_before
from taxi_platform.settings import load_settings

JOB = dg.define_asset_job("yellow_monthly", selection=dg.AssetSelection.groups("yellow"))


def _evaluate(
    instance: dg.DagsterInstance, when: datetime, lag: int = 2, last_month: str | None = None
):
    settings = replace(load_settings(), publication_lag_months=lag)
    partitions = monthly_partitions(last_month)
    schedule = build_monthly_schedule(YELLOW, JOB.name, partitions, settings)
    defs = dg.Definitions(
        assets=build_trip_assets(YELLOW, partitions, COURSE_MIRROR),
        jobs=[JOB],
        schedules=[schedule],
        resources=resources_for("local"),
    )
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        repository_def=defs.get_repository_def(),
    )
    return schedule.evaluate_tick(context)


def test_expected_month_steps_back_over_year_ends() -> None:
    assert months_before(datetime(2021, 2, 5), 2) == "2020-12"
    assert months_before(datetime(2021, 5, 5), 0) == "2021-05"


def test_tick_requests_exactly_the_lagged_month(schedule_instance: dg.DagsterInstance) -> None:
    result = _evaluate(
        schedule_instance, datetime(2021, 5, 5, 6, tzinfo=ZoneInfo("America/New_York"))
    )

    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        ("2021-03", "yellow:2021-03:1")  # the sensor's key for a month's first request
    ]


def test_month_outside_the_partitions_is_skipped_with_a_reason(
    schedule_instance: dg.DagsterInstance,
) -> None:
    result = _evaluate(schedule_instance, datetime(2021, 5, 5, 6), lag=0, last_month="2021-04")

    assert not result.run_requests
    assert "2021-05 is outside the configured partitions" in result.skip_message


def test_schedule_is_off_unless_turned_on(monkeypatch) -> None:
    monkeypatch.setenv("TAXI_SCHEDULES", "on")
    on = build_monthly_schedule(YELLOW, JOB.name, monthly_partitions(), load_settings())
    monkeypatch.delenv("TAXI_SCHEDULES")
    off = build_monthly_schedule(YELLOW, JOB.name, monthly_partitions(), load_settings())

    assert on.default_status == dg.DefaultScheduleStatus.RUNNING
    assert off.default_status == dg.DefaultScheduleStatus.STOPPED
