"""Sensors: months published at the source and not landed yet, and alerts on failed runs.

The new-month sensor's work is "published months that are not materialized, nor running",
not "the month after the cursor". Per tick it asks the source about the month after the
newest one it knows to be published (a binary search on a fresh start), about the months it
requested whose runs failed (a new file is requested again at once, any month again after
`TAXI_SENSOR_RETRY_SECONDS`) and about the newest `TAXI_RECHECK_MONTHS` landed months (a
re-issued file is requested again). It hands over up to `TAXI_SENSOR_MAX_REQUESTS` months
per tick, oldest first. Any answer from the source (200, 403, 404) ends a back-off.
"""

import json
import re
import time
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime

import dagster as dg
import requests

from taxi_platform import catalog
from taxi_platform.catalog import Source, TaxiDataset
from taxi_platform.defs.resources import AlertWebhook, LakeResource, TlcSource
from taxi_platform.lib.backlog import newest_published
from taxi_platform.lib.months import next_month
from taxi_platform.lib.source import DownloadError, NotPublishedError, RemoteFile, read_record
from taxi_platform.settings import Settings

MAX_BACKOFF_SECONDS = 24 * 3600
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
_EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Failure): ")


def _status(on: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def months_in_flight(instance: dg.DagsterInstance, keys: list[str]) -> set[str]:
    """Months a queued or running run covers, whichever trigger launched it."""
    months: set[str] = set()
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        tags = record.dagster_run.tags
        if "dagster/partition" in tags:
            months.add(tags["dagster/partition"])
        start = tags.get("dagster/asset_partition_range_start")
        end = tags.get("dagster/asset_partition_range_end")
        if start and end:
            months |= {k for k in keys if start <= k <= end}
    return months


@dataclass
class Ledger:
    """The new-month sensor's cursor."""

    newest: str | None = None
    requested: dict[str, dict[str, float]] = field(default_factory=dict)
    """Month -> when it was last requested ("at") and how often ("attempt")."""
    failures: int = 0
    retry_after: float = 0.0

    @classmethod
    def load(cls, cursor: str | None) -> "Ledger":
        try:
            return cls(**json.loads(cursor)) if cursor else cls()
        except (json.JSONDecodeError, TypeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class _Unreachable(Exception):
    """The source gave no answer about `month`."""

    def __init__(self, month: str, err: BaseException) -> None:
        super().__init__(_first_line(str(err)) or type(err).__name__)
        self.month = month


def _changed_since(remote: RemoteFile, when: float) -> bool:
    if not remote.last_modified:
        return False
    try:
        return parsedate_to_datetime(remote.last_modified).timestamp() > when
    except (TypeError, ValueError):
        return False


def build_new_month_sensor(
    ds: TaxiDataset,
    source: Source,
    job_name: str,
    partitions: dg.PartitionsDefinition,
    settings: Settings,
) -> dg.SensorDefinition:
    """Request `job_name` for every month the source has published and nothing has landed."""
    raw_key = dg.AssetKey(catalog.trip_key(ds, "raw"))

    def ask(tlc: TlcSource, month: str) -> RemoteFile:
        """HEAD the month's file once: NotPublishedError, or _Unreachable without an answer."""
        try:
            return tlc.probe(source.url(tlc.root(source), ds, month), attempts=1)
        except (requests.RequestException, DownloadError) as err:
            raise _Unreachable(month, err) from err

    def request(ledger: Ledger, month: str, now: float) -> dg.RunRequest:
        attempt = int(ledger.requested.get(month, {}).get("attempt", 0)) + 1
        ledger.requested[month] = {"at": now, "attempt": attempt}
        return dg.RunRequest(run_key=f"{ds.name}:{month}:{attempt}", partition_key=month)

    def reissued(tlc: TlcSource, lake: LakeResource, landed: set[str]) -> list[str]:
        """The newest landed months whose file the source has re-issued since."""
        months = []
        for month in sorted(landed, reverse=True)[: settings.recheck_months]:
            record = read_record(catalog.raw_path(lake.path, source, ds, month))
            try:
                remote = ask(tlc, month)
            except NotPublishedError:
                continue
            if record is not None and not record.same_as(remote):
                months.append(month)
        return months

    def plan(
        tlc: TlcSource,
        lake: LakeResource,
        ledger: Ledger,
        instance: dg.DagsterInstance,
        keys: list[str],
    ) -> list[dg.RunRequest]:
        landed = set(instance.get_materialized_partitions(raw_key))
        busy = months_in_flight(instance, keys)
        now = time.time()

        def published(month: str) -> bool:
            try:
                ask(tlc, month)
            except NotPublishedError:
                return False
            return True

        ledger.newest = newest_published(keys, published, ledger.newest)
        ledger.requested = {m: r for m, r in ledger.requested.items() if m not in landed}
        wanted = []
        for month in (k for k in keys if ledger.newest and k <= ledger.newest):
            if month in landed or month in busy:
                continue
            asked = ledger.requested.get(month)
            if asked and now - asked["at"] < settings.sensor_retry_seconds:
                try:
                    if not _changed_since(ask(tlc, month), asked["at"]):
                        continue  # its run failed and the file is the same: wait
                except NotPublishedError:
                    continue
            wanted.append(month)
            if len(wanted) == settings.sensor_max_requests:
                break
        wanted += [m for m in reissued(tlc, lake, landed) if m not in busy]
        return [request(ledger, month, now) for month in wanted]

    @dg.sensor(
        name=f"{ds.name}_new_month",
        job_name=job_name,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=_status(settings.sensors_on),
        description=f"Requests {ds.name}_monthly for every published {ds.name} month that has"
        " not landed, a failed month again when its file changes, and a landed month again"
        " when the source re-issues it.",
    )
    def new_month(context: dg.SensorEvaluationContext, tlc: TlcSource, lake: LakeResource):
        ledger = Ledger.load(context.cursor)
        if time.time() < ledger.retry_after:
            return dg.SkipReason(
                f"{ds.name}: the source was unreachable; next probe after "
                f"{time.strftime('%H:%M:%S', time.gmtime(ledger.retry_after))} UTC"
            )
        keys = partitions.get_partition_keys()
        try:
            run_requests = plan(tlc, lake, ledger, context.instance, keys)
        except _Unreachable as err:
            ledger.failures += 1
            delay = min(
                settings.sensor_interval_seconds * 2 ** (ledger.failures - 1), MAX_BACKOFF_SECONDS
            )
            ledger.retry_after = time.time() + delay
            context.update_cursor(ledger.dump())
            return dg.SkipReason(
                f"source unreachable while probing {ds.name} {err.month} ({err});"
                f" backing off {delay}s"
            )
        ledger.failures, ledger.retry_after = 0, 0.0
        context.update_cursor(ledger.dump())
        if run_requests:
            return run_requests
        if ledger.newest == keys[-1]:
            return dg.SkipReason(f"every {ds.name} month is landed, running or waiting to retry")
        after = next_month(ledger.newest) if ledger.newest else keys[0]
        return dg.SkipReason(f"{ds.name} {after} is not published yet")

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
    """The first line of an error, without the exception's class path."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return _EXCEPTION_PREFIX.sub("", line)[:limit]


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
