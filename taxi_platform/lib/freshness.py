"""Whether a dataset is behind its source, from what the new-month sensor's probes found.

Each tick the sensor records which months the source has published (the newest one and the
gaps below it, as its probes found them) and when it first saw each month that has not landed.
A month is behind while it is published and not landed; it is overdue once it has been behind
longer than the allowance (`TAXI_FRESHNESS_HOURS`). The dataset is fresh while no month is
overdue. Nothing here guesses a publication date: a month the sensor never saw is not judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from taxi_platform.lib.backlog import Gap
from taxi_platform.lib.files import atomic_write_text


@dataclass(frozen=True)
class PublishedMonths:
    """What the sensor's probes found at the source, and when."""

    newest: str | None = None
    """The newest month the source has published."""
    gaps: tuple[Gap, ...] = ()
    """Months before `newest` the source does not have."""
    first_seen: Mapping[str, float] = field(default_factory=dict)
    """Published months not landed, with when a probe first found them (epoch seconds)."""
    probed_at: float | None = None
    """When the sensor last asked the source."""
    reported: str = ""
    """The verdict the sensor last reported (it reports a verdict when it changes)."""

    def published(self, keys: Sequence[str]) -> list[str]:
        """The months of `keys` up to the newest, outside the gaps."""
        newest = self.newest
        return [
            k for k in keys if newest and k <= newest and not any(a <= k <= b for a, b in self.gaps)
        ]

    def after_probe(
        self, newest: str | None, gaps: Iterable[Gap], unlanded: Iterable[str], now: float
    ) -> PublishedMonths:
        """The record after a tick found `newest` and `gaps`, with `unlanded` the published
        months not landed: a month keeps the time it was first seen until it lands."""
        seen = {m: self.first_seen.get(m, now) for m in unlanded}
        return PublishedMonths(newest, tuple(gaps), seen, now, self.reported)


def read_published(path: Path) -> PublishedMonths | None:
    """The record the sensor left, or None if it never probed (or the file is unreadable)."""
    try:
        data = json.loads(path.read_text())
        return PublishedMonths(
            newest=data["newest"],
            gaps=tuple((str(a), str(b)) for a, b in data["gaps"]),
            first_seen={str(m): float(t) for m, t in data["first_seen"].items()},
            probed_at=float(data["probed_at"]),
            reported=str(data.get("reported", "")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_published(path: Path, record: PublishedMonths) -> None:
    data = {
        "newest": record.newest,
        "gaps": [list(gap) for gap in record.gaps],
        "first_seen": dict(sorted(record.first_seen.items())),
        "probed_at": record.probed_at,
        "reported": record.reported,
    }
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def spans(months: Sequence[str], keys: Sequence[str]) -> str:
    """Months as ranges of consecutive `keys`: `2024-01..2024-03, 2024-06`."""
    index = {k: i for i, k in enumerate(keys)}
    runs: list[list[str]] = []
    for month in sorted(months, key=index.__getitem__):
        if runs and index[month] == index[runs[-1][-1]] + 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)


@dataclass(frozen=True)
class Freshness:
    """A dataset's standing against its source."""

    name: str
    newest_published: str | None
    behind: tuple[str, ...]
    """Published months not landed, oldest first."""
    overdue: tuple[str, ...]
    """Of those, the ones behind for longer than the allowance."""
    allowance_hours: float
    described: str

    @property
    def fresh(self) -> bool:
        return not self.overdue


def judge(
    name: str,
    record: PublishedMonths,
    keys: Sequence[str],
    landed: frozenset[str],
    allowance_hours: float,
    now: float,
) -> Freshness:
    """How far `name` is behind what the sensor found published, at `now`."""
    behind = tuple(m for m in record.published(keys) if m not in landed)
    limit = allowance_hours * 3600
    overdue = tuple(m for m in behind if now - record.first_seen.get(m, now) > limit)
    if not behind:
        said = f"{name}: every month the source has published is landed"
        said += f" (newest {record.newest})" if record.newest else " (none published yet)"
    else:
        said = f"{name} is behind the source by {len(behind)} month(s): {spans(behind, keys)}"
        if overdue:
            said += f"; not landed {allowance_hours:g} h after publication: "
            said += spans(overdue, keys)
    return Freshness(name, record.newest, behind, overdue, allowance_hours, said)
