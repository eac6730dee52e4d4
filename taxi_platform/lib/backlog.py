"""Which published months still need landing, found with few requests: the new-month sensor's
plan, without Dagster.

Within a dataset the TLC publishes months in order, so the published months are a prefix of
the partition keys: the newest published month is found by a binary search (about log2 of
the months, ~10 requests for the whole archive), and afterwards by one request per poll (the
month after the newest one known).

A tick's work is "published months that are not landed, nor running", not "the month after
the cursor". Besides the month after the newest one known, it asks the source about the
months it requested whose runs failed (a new file is requested again at once, any month again
after `retry_seconds`) and about the newest `recheck_months` landed months (a re-issued file
is requested again). It requests up to `max_requests` months, oldest first. Any answer from
the source (200, 403, 404) ends a back-off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime

from taxi_platform.lib.errors import first_line
from taxi_platform.lib.months import next_month
from taxi_platform.lib.source import NotPublishedError, RemoteFile

MAX_BACKOFF_SECONDS = 24 * 3600


def newest_published(
    keys: Sequence[str], published: Callable[[str], bool], known: str | None
) -> str | None:
    """The newest of `keys` the source has published; `known` was published before."""
    low = keys.index(known) if known in keys else -1
    if low + 1 >= len(keys) or not published(keys[low + 1]):
        return known if low >= 0 else None
    low, high = low + 1, len(keys) - 1  # keys[low] is published; find the last one that is
    while low < high:
        middle = (low + high + 1) // 2
        if published(keys[middle]):
            low = middle
        else:
            high = middle - 1
    return keys[low]


def months_covered(run_tags: Iterable[Mapping[str, str]], keys: Sequence[str]) -> set[str]:
    """The months runs with these tags cover: a partition, or a range of `keys`."""
    months: set[str] = set()
    for tags in run_tags:
        if "dagster/partition" in tags:
            months.add(tags["dagster/partition"])
        start = tags.get("dagster/asset_partition_range_start")
        end = tags.get("dagster/asset_partition_range_end")
        if start and end:
            months |= {k for k in keys if start <= k <= end}
    return months


class SourceUnreachable(Exception):
    """The source gave no answer (no HTTP status) about `month`."""

    def __init__(self, month: str, err: BaseException) -> None:
        super().__init__(first_line(str(err)) or type(err).__name__)
        self.month = month


@dataclass(frozen=True)
class Requested:
    """When a month was last requested (`at`, epoch seconds) and how often (`attempt`)."""

    at: float
    attempt: int


@dataclass(frozen=True)
class SensorCursor:
    """What the new-month sensor remembers between ticks, stored as JSON."""

    newest: str | None = None
    """The newest month known to be published."""
    requested: Mapping[str, Requested] = field(default_factory=dict)
    """The months requested and not landed yet."""
    failures: int = 0
    """Ticks in a row the source gave no answer."""
    retry_after: float = 0.0
    """No probe before this time (epoch seconds)."""

    @classmethod
    def load(cls, text: str | None) -> SensorCursor:
        """The stored cursor; a fresh one if there is none or it cannot be read."""
        try:
            data = json.loads(text) if text else {}
            requested = {
                month: Requested(float(asked["at"]), int(asked.get("attempt", 0)))
                for month, asked in data.pop("requested", {}).items()
            }
            return cls(**data, requested=requested)
        except (json.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class SensorPolicy:
    """How often the sensor asks, and how much it hands over."""

    interval_seconds: int
    """Between ticks; also the first back-off, doubled per unanswered tick up to a day."""
    retry_seconds: int
    """A requested month not landed is asked for again after this, even if unchanged."""
    max_requests: int
    """Unlanded months requested per tick."""
    recheck_months: int
    """The newest landed months whose source file is checked for a re-issue each tick."""


@dataclass(frozen=True)
class DatasetMonths:
    """A dataset's months as the instance sees them."""

    name: str
    keys: Sequence[str]
    """The partition keys, oldest first."""
    landed: frozenset[str]
    busy: frozenset[str]
    """Months a queued or running run covers."""


@dataclass(frozen=True)
class Archive:
    """How the planner asks the source about a month's file (`probe`: one HEAD, raising
    NotPublishedError or SourceUnreachable) and the lake what it landed (`landed_record`)."""

    probe: Callable[[str], RemoteFile]
    landed_record: Callable[[str], RemoteFile | None]

    def published(self, month: str) -> bool:
        try:
            self.probe(month)
        except NotPublishedError:
            return False
        return True


@dataclass(frozen=True)
class MonthRequest:
    month: str
    run_key: str


@dataclass(frozen=True)
class Plan:
    """A tick's outcome: the months to request, or why none; the cursor to store."""

    requests: tuple[MonthRequest, ...]
    skip: str
    cursor: SensorCursor


def backing_off(cursor: SensorCursor, name: str, now: float) -> str | None:
    """Why this tick asks nothing, while a back-off lasts."""
    if now >= cursor.retry_after:
        return None
    until = time.strftime("%H:%M:%S", time.gmtime(cursor.retry_after))
    return f"{name}: the source was unreachable; next probe after {until} UTC"


def plan_tick(
    cursor: SensorCursor,
    months: DatasetMonths,
    archive: Archive,
    policy: SensorPolicy,
    clock: Callable[[], float] = time.time,
) -> Plan:
    """The months to request this tick, and the cursor after it; a back-off when the source
    gives no answer (the newest published month found before is kept)."""
    now = clock()
    try:
        newest = newest_published(months.keys, archive.published, cursor.newest)
        requested = {m: r for m, r in cursor.requested.items() if m not in months.landed}
        cursor = replace(cursor, newest=newest, requested=requested)
        wanted = _unlanded(cursor, months, archive, policy, now)
        wanted += [m for m in _reissued(months, archive, policy) if m not in months.busy]
    except SourceUnreachable as err:
        return _backed_off(cursor, months.name, err, policy, clock())
    requests, cursor = _request(cursor, months.name, wanted, now)
    cursor = replace(cursor, failures=0, retry_after=0.0)
    return Plan(requests, "" if requests else _nothing_to_request(cursor, months), cursor)


def backoff_seconds(failures: int, interval_seconds: int) -> int:
    """The wait after `failures` unanswered ticks in a row: the interval, doubled each time."""
    return min(interval_seconds * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)


def _backed_off(
    cursor: SensorCursor, name: str, err: SourceUnreachable, policy: SensorPolicy, now: float
) -> Plan:
    failures = cursor.failures + 1
    delay = backoff_seconds(failures, policy.interval_seconds)
    cursor = replace(cursor, failures=failures, retry_after=now + delay)
    reason = f"source unreachable while probing {name} {err.month} ({err}); backing off {delay}s"
    return Plan((), reason, cursor)


def _unlanded(
    cursor: SensorCursor,
    months: DatasetMonths,
    archive: Archive,
    policy: SensorPolicy,
    now: float,
) -> list[str]:
    """Published months neither landed nor running, oldest first, up to `max_requests`; a
    month requested less than `retry_seconds` ago only if its file changed since."""
    wanted: list[str] = []
    for month in (k for k in months.keys if cursor.newest and k <= cursor.newest):
        if month in months.landed or month in months.busy:
            continue
        asked = cursor.requested.get(month)
        if (
            asked is not None
            and now - asked.at < policy.retry_seconds
            and not _changed_since(archive, month, asked.at)
        ):
            continue  # its run failed and the file is the same: wait
        wanted.append(month)
        if len(wanted) == policy.max_requests:
            break
    return wanted


def _changed_since(archive: Archive, month: str, when: float) -> bool:
    """Whether the source's file of `month` was modified after `when` (not if it is gone)."""
    try:
        remote = archive.probe(month)
    except NotPublishedError:
        return False
    if not remote.last_modified:
        return False
    try:
        return parsedate_to_datetime(remote.last_modified).timestamp() > when
    except (TypeError, ValueError):
        return False


def _reissued(months: DatasetMonths, archive: Archive, policy: SensorPolicy) -> list[str]:
    """The newest landed months whose file the source has re-issued since."""
    found = []
    for month in sorted(months.landed, reverse=True)[: policy.recheck_months]:
        record = archive.landed_record(month)
        try:
            remote = archive.probe(month)
        except NotPublishedError:
            continue
        if record is not None and not record.same_as(remote):
            found.append(month)
    return found


def _request(
    cursor: SensorCursor, name: str, wanted: list[str], now: float
) -> tuple[tuple[MonthRequest, ...], SensorCursor]:
    """A request per month, its run key counting the attempts; the cursor recording them."""
    requested = dict(cursor.requested)
    requests = []
    for month in wanted:
        asked = requested.get(month)
        attempt = (asked.attempt if asked else 0) + 1
        requested[month] = Requested(now, attempt)
        requests.append(MonthRequest(month, f"{name}:{month}:{attempt}"))
    return tuple(requests), replace(cursor, requested=requested)


def _nothing_to_request(cursor: SensorCursor, months: DatasetMonths) -> str:
    if cursor.newest == months.keys[-1]:
        return f"every {months.name} month is landed, running or waiting to retry"
    after = next_month(cursor.newest) if cursor.newest else months.keys[0]
    return f"{months.name} {after} is not published yet"
