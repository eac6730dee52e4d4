"""Which published months still need landing, found with few requests: the new-month sensor's
plan, without Dagster.

Within a dataset the TLC publishes months in order, so the published months are mostly a
prefix of the partition keys: the newest published month is found by a binary search (about
log2 of the months, ~10 requests for the whole archive), and afterwards by one request per poll
(the month after the newest one known). A source may lack months (a mirror without the older
ones, or with a few old and a few new ones): when the month after the newest one found is
missing, the newest partition is asked too (from the newest end, doubling the step, when not
even the first partition is published), and the months between are a gap, missing at the
source, never requested; the newest month of each gap is asked again each tick. A requested
month whose run failed and that the source does not have is missing too, until it appears.

A tick's work is "published months that are not landed, nor running", not "the month after
the cursor". Besides the month after the newest one known, it asks the source about the
months it requested whose runs failed (a new file is requested again at once, any month again
after `retry_seconds`) and about the newest `recheck_months` landed months (a re-issued file
is requested again). It requests up to `max_requests` months, oldest first. Any answer from
the source (200, 403, 404) ends a back-off.

A month's first request has the run key `{dataset}:{month}:1` whichever trigger makes it (the
schedule or the sensor); retries are the sensor's and count on. A month another trigger has
requested is the sensor's to retry, as if it had requested it itself.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime

from taxi_platform.lib.errors import first_line
from taxi_platform.lib.months import next_month
from taxi_platform.lib.source import NotPublishedError, RemoteFile

MAX_BACKOFF_SECONDS = 24 * 3600

Gap = tuple[str, str]
"""The first and last of consecutive months the source does not have."""


def run_key(name: str, month: str, attempt: int) -> str:
    """The run key of a month's `attempt`-th request, the same from the schedule and the sensor."""
    return f"{name}:{month}:{attempt}"


def _last_published(
    keys: Sequence[str], published: Callable[[str], bool], low: int, high: int
) -> int:
    """The last published index in [low, high): keys[low] is published, keys[high] is not."""
    while high - low > 1:
        middle = (low + high) // 2
        if published(keys[middle]):
            low = middle
        else:
            high = middle
    return low


def _first_published(
    keys: Sequence[str], published: Callable[[str], bool], low: int, high: int
) -> int:
    """The first published index in (low, high]: keys[high] is published, keys[low] is not."""
    while high - low > 1:
        middle = (low + high) // 2
        if published(keys[middle]):
            high = middle
        else:
            low = middle
    return high


def newest_published(
    keys: Sequence[str], published: Callable[[str], bool], known: str | None
) -> str | None:
    """The newest of `keys` the source has published; `known` was published before."""
    low = keys.index(known) if known in keys else -1
    if low + 1 >= len(keys) or not published(keys[low + 1]):
        return known if low >= 0 else None
    return keys[_last_published(keys, published, low + 1, len(keys))]


def _island(
    keys: Sequence[str], published: Callable[[str], bool], below: int, gallop: bool
) -> tuple[int, int] | None:
    """Published months above keys[below] (which is not), as the first and last index, found
    from the newest key; stepping down, doubling the step, when `gallop`."""
    above, step = len(keys), 1
    while (probe := len(keys) - step) > below:
        if published(keys[probe]):
            first = _first_published(keys, published, below, probe)
            return first, _last_published(keys, published, probe, above)
        if not gallop:
            return None
        above, step = probe, step * 2
    return None


def _rechecked(keys: Sequence[str], published: Callable[[str], bool], gap: Gap) -> Gap | None:
    """The gap, shorter if the source now has its newest months; None once it has them all."""
    if gap[0] not in keys or gap[1] not in keys:
        return None
    start, end = keys.index(gap[0]), keys.index(gap[1])
    if not published(keys[end]):
        return gap
    first = _first_published(keys, published, start - 1, end)
    return (gap[0], keys[first - 1]) if first > start else None


def published_months(
    keys: Sequence[str], published: Callable[[str], bool], known: str | None, gaps: Sequence[Gap]
) -> tuple[str | None, tuple[Gap, ...]]:
    """The newest published month, and the gaps below it: every other month up to it is
    taken as published. `known` and `gaps` are what the last tick found."""
    newest = newest_published(keys, published, known)
    kept = tuple(g for g in (_rechecked(keys, published, gap) for gap in gaps) if g)
    below = keys.index(newest) + 1 if newest else 0  # asked: the source does not have it
    island = _island(keys, published, below, gallop=newest is None)
    if island is None:
        return newest, kept
    first, last = island
    return keys[last], (*kept, (keys[below], keys[first - 1]))


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
    gaps: tuple[Gap, ...] = ()
    """Months before `newest` the source does not have, never requested."""

    @classmethod
    def load(cls, text: str | None) -> SensorCursor:
        """The stored cursor; a fresh one if there is none or it cannot be read."""
        try:
            data = json.loads(text) if text else {}
            requested = {
                month: Requested(float(asked["at"]), int(asked.get("attempt", 0)))
                for month, asked in data.pop("requested", {}).items()
            }
            gaps = tuple((str(first), str(last)) for first, last in data.pop("gaps", []))
            return cls(**data, requested=requested, gaps=gaps)
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
    requested_elsewhere: Mapping[str, float] = field(default_factory=dict)
    """Months another trigger (the schedule) requested, with when (epoch seconds)."""


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
    """A tick's outcome: the months to request, or why none; the cursor to store; which
    months the source lacks (`note`, also in `skip`)."""

    requests: tuple[MonthRequest, ...]
    skip: str
    cursor: SensorCursor
    note: str = ""


def backing_off(cursor: SensorCursor, name: str, now: float) -> str | None:
    """Why this tick asks nothing, while a back-off lasts. The retry time counts to the whole
    second the message shows: a tick within that second probes (the ticks come one interval
    apart, so waiting out the fraction would cost a whole interval)."""
    probe_from = math.floor(cursor.retry_after)
    if now >= probe_from:
        return None
    until = time.strftime("%H:%M:%S", time.gmtime(probe_from))
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
        newest, gaps = published_months(months.keys, archive.published, cursor.newest, cursor.gaps)
        cursor = replace(cursor, newest=newest, gaps=gaps, requested=_requested(cursor, months))
        wanted, lacking = _unlanded(cursor, months, archive, policy, now)
        wanted += [m for m in _reissued(months, archive, policy) if m not in months.busy]
    except SourceUnreachable as err:
        return _backed_off(cursor, months.name, err, policy, now)
    requests, cursor = _request(cursor, months.name, wanted, now)
    cursor = replace(cursor, failures=0, retry_after=0.0)
    note = _missing_note(cursor.gaps, lacking)
    if requests:
        return Plan(requests, "", cursor, note)
    skip = "; ".join(part for part in (_nothing_to_request(cursor, months), note) if part)
    return Plan(requests, skip, cursor, note)


def _requested(cursor: SensorCursor, months: DatasetMonths) -> dict[str, Requested]:
    """The months requested and not landed: the sensor's, and the first request of another
    trigger for a month the sensor has not requested."""
    elsewhere = {m: Requested(at, 1) for m, at in months.requested_elsewhere.items()}
    requested = {**elsewhere, **cursor.requested}
    return {m: r for m, r in requested.items() if m not in months.landed}


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
) -> tuple[list[str], list[str]]:
    """Published months neither landed nor running, oldest first, up to `max_requests`; a
    month requested before only if the source has it, and `retry_seconds` have passed or its
    file changed since. Also the requested months the source lacks."""
    wanted: list[str] = []
    lacking: list[str] = []
    for month in _candidates(cursor, months):
        if (asked := cursor.requested.get(month)) is not None:
            try:
                remote = archive.probe(month)
            except NotPublishedError:
                lacking.append(month)
                continue
            if now - asked.at < policy.retry_seconds and not _changed_since(remote, asked.at):
                continue  # its run failed and the file is the same: wait
        wanted.append(month)
        if len(wanted) == policy.max_requests:
            break
    return wanted, lacking


def _candidates(cursor: SensorCursor, months: DatasetMonths) -> Iterable[str]:
    """Months up to the newest published, outside the gaps, neither landed nor running."""
    for month in (k for k in months.keys if cursor.newest and k <= cursor.newest):
        in_gap = any(first <= month <= last for first, last in cursor.gaps)
        if not in_gap and month not in months.landed and month not in months.busy:
            yield month


def _changed_since(remote: RemoteFile, when: float) -> bool:
    """Whether the source's file was modified after `when`."""
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
        requests.append(MonthRequest(month, run_key(name, month, attempt)))
    return tuple(requests), replace(cursor, requested=requested)


def _nothing_to_request(cursor: SensorCursor, months: DatasetMonths) -> str:
    if cursor.newest == months.keys[-1]:
        return f"every {months.name} month is landed, running or waiting to retry"
    after = next_month(cursor.newest) if cursor.newest else months.keys[0]
    return f"{months.name} {after} is not published yet"


def _missing_note(gaps: Sequence[Gap], lacking: Sequence[str]) -> str:
    """Which months the source lacks, as ranges: `missing at the source: 2009-01..2018-12`."""
    spans = sorted([*gaps, *((month, month) for month in lacking)])
    if not spans:
        return ""
    named = (first if first == last else f"{first}..{last}" for first, last in spans)
    return f"missing at the source: {', '.join(named)}"
