"""Sensors: months published at the source and not landed yet (the failure alert: alerts.py).

The new-month sensor is a shell around `taxi_platform.lib.backlog`, which plans each tick
(what to request, retries, back-off, the cursor): the sensor reads the instance, lets the
planner probe the source, and turns its plan into run requests or a skip reason.
"""

import time
from dataclasses import replace

import dagster as dg
import requests

from taxi_platform import catalog
from taxi_platform.catalog import Source, TaxiDataset
from taxi_platform.defs.freshness import freshness_evaluation, judge_dataset
from taxi_platform.defs.month_status import (
    landed_months,
    months_in_flight,
    scheduled_months,
    sensor_name,
)
from taxi_platform.defs.resources import LakeResource, SourceDownloader
from taxi_platform.lib.backlog import (
    Archive,
    DatasetMonths,
    Plan,
    SensorCursor,
    SensorPolicy,
    SourceUnreachable,
    backing_off,
    plan_tick,
)
from taxi_platform.lib.freshness import PublishedMonths, read_published, write_published
from taxi_platform.lib.source import DownloadError, RemoteFile, read_record
from taxi_platform.settings import Settings


def _status(on: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def _archive(
    ds: TaxiDataset, source: Source, downloader: SourceDownloader, lake: LakeResource
) -> Archive:
    """The source's files (one HEAD per question) and the records of the landed ones."""

    def probe(month: str) -> RemoteFile:
        try:
            return downloader.probe(source.url(downloader.root(source), ds, month), attempts=1)
        except (requests.RequestException, DownloadError) as err:
            raise SourceUnreachable(month, err) from err

    return Archive(probe, lambda month: read_record(catalog.raw_path(lake.path, source, ds, month)))


def _months(instance: dg.DagsterInstance, ds: TaxiDataset, keys: list[str]) -> DatasetMonths:
    landed = frozenset(landed_months(instance, ds))
    busy = frozenset(months_in_flight(instance, keys))
    return DatasetMonths(ds.name, keys, landed, busy, scheduled_months(instance, ds))


def _report_freshness(
    ds: TaxiDataset, lake: LakeResource, months: DatasetMonths, plan: Plan, settings: Settings
) -> list[dg.AssetCheckEvaluation]:
    """Record what this tick's probes found published, and report the dataset's freshness
    check when its verdict changed. A tick the source did not answer records nothing."""
    if plan.cursor.failures:
        return []
    path = catalog.published_record_path(lake.path, ds)
    before = read_published(path) or PublishedMonths()
    found = PublishedMonths(plan.cursor.newest, plan.cursor.gaps)
    unlanded = [m for m in found.published(months.keys) if m not in months.landed]
    record = before.after_probe(found.newest, found.gaps, unlanded, time.time())
    verdict = judge_dataset(ds, record, list(months.keys), months.landed, settings)
    changed = verdict.described != record.reported
    write_published(path, replace(record, reported=verdict.described))
    return [freshness_evaluation(ds, verdict)] if changed else []


def build_new_month_sensor(
    ds: TaxiDataset,
    source: Source,
    job_name: str,
    partitions: dg.PartitionsDefinition,
    settings: Settings,
) -> dg.SensorDefinition:
    """Request `job_name` for every month the source has published and nothing has landed."""
    policy = SensorPolicy(
        interval_seconds=settings.sensor_interval_seconds,
        retry_seconds=settings.sensor_retry_seconds,
        max_requests=settings.sensor_max_requests,
        recheck_months=settings.recheck_months,
    )

    @dg.sensor(
        name=sensor_name(ds),
        job_name=job_name,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=_status(settings.sensors_on),
        description=f"Requests {ds.name}_monthly for every published {ds.name} month that has"
        " not landed, a failed month again when its file changes, and a landed month again"
        " when the source re-issues it.",
    )
    def new_month(
        context: dg.SensorEvaluationContext, downloader: SourceDownloader, lake: LakeResource
    ):
        cursor = SensorCursor.load(context.cursor)
        if waiting := backing_off(cursor, ds.name, time.time()):
            return dg.SensorResult(skip_reason=waiting)
        months = _months(context.instance, ds, partitions.get_partition_keys())
        plan = plan_tick(cursor, months, _archive(ds, source, downloader, lake), policy)
        if plan.requests and plan.note:
            context.log.info(f"{ds.name}: {plan.note}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=r.run_key, partition_key=r.month) for r in plan.requests
            ],
            skip_reason=None if plan.requests else plan.skip,
            cursor=plan.cursor.dump(),
            asset_events=_report_freshness(ds, lake, months, plan, settings),
        )

    return new_month
