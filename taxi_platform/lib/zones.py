"""The zone lookup CSV read through: every line a `LocationID,Borough,Zone,service_zone` row
with a distinct integer id, so a truncated file or an HTML page is refused before it is used."""

from __future__ import annotations

import csv
from pathlib import Path

from taxi_platform.catalog import ZONE_COLUMNS

EXCERPT = 60  # characters of a bad line quoted in a message


def _row_error(row: list[str], seen: set[int]) -> str | None:
    """Why `row` is not a zone row, or None."""
    text = ",".join(row)
    if "<" in text and ">" in text:
        return "HTML"
    if len(row) != len(ZONE_COLUMNS):
        return f"{len(row)} fields, not {len(ZONE_COLUMNS)}"
    try:
        location_id = int(row[0])
    except ValueError:
        return f"LocationID {row[0][:EXCERPT]!r} is not an integer"
    return f"LocationID {location_id} repeated" if location_id in seen else None


def _check_header(line: str) -> None:
    expected = [c.source for c in ZONE_COLUMNS]
    header = line.strip()
    if [c.strip().strip('"') for c in header.split(",")] != expected:
        raise ValueError(f"not the zone lookup: header {header[:EXCERPT]!r} is not {expected}")


def zone_ids(path: Path) -> frozenset[int]:
    """The LocationIDs of a zone lookup, read through; raises ValueError naming the header or
    the first line that is not a zone row, quoting at most EXCERPT characters of it."""
    seen: set[int] = set()
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        _check_header(fh.readline())
        rows = csv.reader(fh, strict=True)
        try:
            for row in rows:
                if not row:
                    continue
                if reason := _row_error(row, seen):
                    excerpt = ",".join(row)[:EXCERPT]
                    raise ValueError(
                        f"line {rows.line_num + 1} is not a zone row ({reason}): {excerpt!r}"
                    )
                seen.add(int(row[0]))
        except csv.Error as err:
            raise ValueError(f"line {rows.line_num + 1} is not a zone row ({err})") from None
    return frozenset(seen)


def landed_zone_ids(path: Path) -> frozenset[int]:
    """The LocationIDs of the landed lookup: none if it is missing or unreadable."""
    try:
        return zone_ids(path) if path.exists() else frozenset()
    except ValueError:
        return frozenset()
