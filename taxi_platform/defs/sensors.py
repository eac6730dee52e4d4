"""Sensors: a new month published at the source, and alerts on failed runs."""

import json
import time

import dagster as dg
import requests

from taxi_platform import catalog
from taxi_platform.catalog import Source, TaxiDataset
from taxi_platform.defs.resources import AlertWebhook, LakeResource, TlcSource
from taxi_platform.lib.source import DownloadError, NotPublishedError, read_record
from taxi_platform.settings import Settings

MAX_BACKOFF_SECONDS = 24 * 3600


def _status(on: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def next_month_to_request(
    keys: list[str], materialized: set[str], last_requested: str | None
) -> str | None:
    """The first month after both the newest materialized and the last requested month."""
    newest = max([*materialized, *([last_requested] if last_requested else [])], default=None)
    return next((k for k in keys if newest is None or k > newest), None)


def build_new_month_sensor(
    ds: TaxiDataset,
    source: Source,
    job_name: str,
    partitions: dg.PartitionsDefinition,
    settings: Settings,
) -> dg.SensorDefinition:
    """HEAD the source for the next month; when it is published, run `job_name` for exactly it."""
    raw_key = dg.AssetKey(catalog.trip_key(ds, "raw"))

    def revised(tlc: TlcSource, lake: LakeResource, materialized: set[str]) -> list[dg.RunRequest]:
        """Runs for the newest landed months whose file the source has re-issued since."""
        requests_ = []
        for month in (
            sorted(materialized)[-settings.recheck_months :] if settings.recheck_months else []
        ):
            raw = catalog.raw_path(lake.path, source, ds, month)
            landed = read_record(catalog.source_record_path(raw), raw)
            try:
                remote = tlc.probe(source.url(tlc.root(source), ds, month), attempts=1)
            except (NotPublishedError, DownloadError, requests.RequestException):
                continue
            if landed is not None and not landed.same_as(remote):
                identity = remote.etag or remote.last_modified or remote.size
                requests_.append(
                    dg.RunRequest(run_key=f"{ds.name}:{month}:{identity}", partition_key=month)
                )
        return requests_

    @dg.sensor(
        name=f"{ds.name}_new_month",
        job_name=job_name,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=_status(settings.sensors_on),
        description=f"Requests {ds.name}_monthly for the next month once the source has it, and"
        f" again for any of the newest {settings.recheck_months} landed months the source"
        " re-issued (TAXI_RECHECK_MONTHS).",
    )
    def new_month(context: dg.SensorEvaluationContext, tlc: TlcSource, lake: LakeResource):
        cursor = json.loads(context.cursor) if context.cursor else {}
        if time.time() < cursor.get("retry_after", 0):
            return dg.SkipReason(
                f"source unreachable earlier; next probe after "
                f"{time.strftime('%H:%M:%S', time.gmtime(cursor['retry_after']))} UTC"
            )
        materialized = set(context.instance.get_materialized_partitions(raw_key))
        reissued = revised(tlc, lake, materialized)
        month = next_month_to_request(
            partitions.get_partition_keys(), materialized, cursor.get("last_requested")
        )
        if month is None:
            return reissued or dg.SkipReason(
                f"every {ds.name} partition is materialized or requested"
            )
        try:
            tlc.probe(source.url(tlc.root(source), ds, month), attempts=1)
        except NotPublishedError:
            return reissued or dg.SkipReason(f"{ds.name} {month} is not published yet")
        except (requests.RequestException, DownloadError) as err:
            failures = cursor.get("failures", 0) + 1
            delay = min(settings.sensor_interval_seconds * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
            context.update_cursor(
                json.dumps({**cursor, "failures": failures, "retry_after": time.time() + delay})
            )
            return dg.SkipReason(
                f"source unreachable while probing {ds.name} {month} "
                f"({type(err).__name__}); backing off {delay}s"
            )
        context.update_cursor(json.dumps({"last_requested": month}))
        request = dg.RunRequest(run_key=f"{ds.name}:{month}", partition_key=month)
        return [*reissued, request] if reissued else request

    return new_month


def _partition_of(run: dg.DagsterRun) -> str:
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = (tags.get(f"dagster/asset_partition_range_{e}") for e in ("start", "end"))
    return f"{start}..{end}" if start else "-"


def failure_message(context: dg.RunFailureSensorContext, ui_url: str) -> str:
    """A Slack-style summary: job, partition, failing steps, error, link to the run."""
    run = context.dagster_run
    steps = [
        f"{event.step_key}: {_first_line(event.event_specific_data.error.message)}"
        for event in context.get_step_failure_events()
        if event.event_specific_data and event.event_specific_data.error
    ]
    lines = [
        f"taxi_platform run failed: job {run.job_name}, partition {_partition_of(run)}",
        *(f"failed step {s}" for s in steps or [_first_line(context.failure_event.message or "")]),
        f"{ui_url}/runs/{run.run_id}",
    ]
    return "\n".join(lines)


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


def build_failure_alert_sensor(settings: Settings) -> dg.SensorDefinition:
    """POST a JSON alert to the webhook (if configured) when any run of this location fails."""

    @dg.run_failure_sensor(
        name="alert_on_run_failure",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description='POSTs {"text": ...} to TAXI_ALERT_WEBHOOK_URL when a run fails.',
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook):
        if not alert_webhook.url:
            return
        try:
            alert_webhook.post(failure_message(context, settings.ui_url))
        except requests.RequestException as err:
            context.log.warning(
                f"alert webhook POST failed ({type(err).__name__}); "
                f"run {context.dagster_run.run_id} still failed"
            )

    return alert_on_run_failure
