"""Deterministic TLC-like monthly trip files, quirks included.

The files imitate the public mirror's CSVs: the TLC headers in dataset order (fhv headers
change case between 2019 and 2020), and the dirt real files carry. In every month a small
share of rows has a pickup outside the month, negative (refund) amounts, passenger_count 0 or
empty, and store_and_fwd_flag empty or "Y"; ehail_fee is always empty. In "float months"
(even calendar months, see `float_int_month`) some rows are left blank by the source, so
nullable integer columns are written as "1.0" with empty cells, as pandas writes them.

Rows are generated and written in chunks, each seeded from (seed, dataset, month, chunk), so
memory stays bounded and the same arguments give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import zlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from taxi_platform.catalog import (
    COURSE_MIRROR,
    DATASETS_BY_NAME,
    FHV,
    ZONE_COLUMNS,
    ZONE_LOOKUP_PATH,
    Column,
    Kind,
    TaxiDataset,
)

CHUNK_ROWS = 500_000
_PARQUET_ONLY = frozenset(
    {"airport_fee", "cbd_congestion_fee", "request_source"}
    | {f"{end}_{axis}" for end in ("pickup", "dropoff") for axis in ("longitude", "latitude")}
)
OUT_OF_MONTH_SHARE = 0.002
ZONE_COUNT = 265

# Before 2020 the fhv files carry these headers instead of the canonical (2020+) sources.
_FHV_2019_HEADERS = {
    "dropoff_datetime": "dropoff_datetime",
    "pu_location_id": "PULocationID",
    "do_location_id": "DOLocationID",
}
# Relative pickup volume per hour of day.
_HOUR_WEIGHTS = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 3, 5, 6, 6, 6, 6, 6.5, 6.5, 7, 7, 7, 7.5, 8, 7.5, 7, 6.5, 6, 4.5]
)
_BASES = np.array(
    [f"B{n:05d}" for n in (13, 111, 254, 310, 1051, 1145, 1239, 2510, 2617, 2764, 2800, 3016)],
    dtype=object,
)
_FLAGS = np.array(["N", "Y"], dtype=object)
_FLOAT_INT_LABELS = pa.array([f"{i}.0" for i in range(ZONE_COUNT + 1)])
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")

# A column's values and its null mask (None when the column has no empty cells).
Values = tuple[np.ndarray, np.ndarray | None]


def float_int_month(month: str) -> bool:
    """Whether nullable integer columns are written as floats ("1.0") in this month."""
    return _parse_month(month).month % 2 == 0


def write_month(
    ds: TaxiDataset,
    month: str,
    rows: int,
    out_dir: Path,
    *,
    seed: int = 0,
    compresslevel: int = 6,
    out_of_month_share: float | None = None,
) -> Path:
    """Write `rows` trips for `month` ("YYYY-MM") to out_dir/<ds>/<ds>_tripdata_<month>.csv.gz."""
    start = _parse_month(month)
    share = OUT_OF_MONTH_SHARE if out_of_month_share is None else out_of_month_share
    path = out_dir / ds.name / COURSE_MIRROR.file_name(ds, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with (
        part.open("wb") as raw,
        gzip.GzipFile(path.name, "wb", compresslevel, raw, mtime=0) as gz,
    ):
        gz.write((",".join(_headers(ds, start.year)) + "\n").encode())
        for chunk, offset in enumerate(range(0, rows, CHUNK_ROWS)):
            key = [seed, zlib.crc32(ds.name.encode()), start.year, start.month, chunk]
            rng = np.random.default_rng(key)
            table = _table(rng, min(CHUNK_ROWS, rows - offset), ds, month, share)
            pacsv.write_csv(table, gz, _CSV_OPTIONS)
    part.replace(path)
    return path


def write_zone_lookup(out_dir: Path) -> Path:
    """Write out_dir/misc/taxi_zone_lookup.csv: 265 zones with TLC-like boroughs."""
    path = out_dir / ZONE_LOOKUP_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(c.source for c in ZONE_COLUMNS)
        writer.writerows(_zones())
    return path


def _zones() -> list[tuple[int, str, str, str]]:
    special = {
        1: ("EWR", "Newark Airport", "EWR"),
        132: ("Queens", "JFK Airport", "Airports"),
        138: ("Queens", "LaGuardia Airport", "Airports"),
        264: ("Unknown", "NV", "N/A"),
        265: ("Unknown", "NA", "N/A"),
    }
    counts = {"Manhattan": 69, "Brooklyn": 61, "Queens": 67, "Bronx": 43, "Staten Island": 20}
    boroughs = iter(
        np.random.default_rng(0).permutation(np.repeat(list(counts), list(counts.values())))
    )
    rows = []
    for location_id in range(1, ZONE_COUNT + 1):
        if location_id in special:
            rows.append((location_id, *special[location_id]))
            continue
        borough = str(next(boroughs))
        service = "Yellow Zone" if borough == "Manhattan" else "Boro Zone"
        rows.append((location_id, borough, f"{borough} zone {location_id}", service))
    return rows


def _parse_month(month: str) -> datetime:
    return datetime.strptime(month, "%Y-%m")


def mirror_columns(ds: TaxiDataset) -> list[Column]:
    """The columns of the course mirror's CSVs: the old TLC layout, without the columns the
    official parquet files gained later."""
    return [c for c in ds.columns if c.name not in _PARQUET_ONLY]


def _headers(ds: TaxiDataset, year: int) -> list[str]:
    drift = _FHV_2019_HEADERS if ds is FHV and year < 2020 else {}
    return [drift.get(c.name, c.source) for c in mirror_columns(ds)]


def _pick(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Mask of round(share * n) rows, at least one when share > 0, so even tiny files show it."""
    k = min(n, max(1, round(share * n))) if share > 0 else 0
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def _month_span(months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (epoch seconds) and length in seconds of each datetime64[M] month."""
    start = months.astype("datetime64[s]")
    return start.astype(np.int64), ((months + 1).astype("datetime64[s]") - start).astype(np.int64)


def _pickups(rng: np.random.Generator, n: int, month: str, share: float) -> np.ndarray:
    """Pickup times in epoch seconds; `share` of them in the previous month or years earlier."""
    m = np.datetime64(month, "M")
    start, length = _month_span(m)
    offset = (
        rng.integers(0, length // 86400, n) * 86400
        + rng.choice(24, n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()) * 3600
        + rng.integers(0, 3600, n)
    )
    pickup = start + offset
    outside = np.flatnonzero(_pick(rng, n, share))
    years_back = rng.integers(2, 13, outside.size)
    other_start, other_length = _month_span(
        m - np.where(rng.random(outside.size) < 0.5, 1, 12 * years_back)
    )
    pickup[outside] = other_start + offset[outside] % other_length
    return pickup


def _trips(
    rng: np.random.Generator, n: int, ds: TaxiDataset, month: str, out_of_month_share: float
) -> dict[str, Values]:
    """Every column any dataset needs, keyed by landed column name."""
    floats = float_int_month(month)
    blank = _pick(rng, n, 0.02 if floats else 0)
    blank_mask = blank if floats else None
    location_mask = blank_mask if ds is FHV else None
    pickup = _pickups(rng, n, month, out_of_month_share)
    seconds = np.clip(rng.lognormal(np.log(720), 0.6, n), 120, 3600).astype(np.int64)
    speed = np.clip(rng.lognormal(np.log(11), 0.35, n), 3, 45)
    distance = np.round(seconds / 3600 * speed, 2)
    distance[_pick(rng, n, 0.01)] = 0.0

    payment = rng.choice(np.arange(1, 6), n, p=[0.7, 0.27, 0.015, 0.012, 0.003])
    refund = _pick(rng, n, 0.001)
    payment[refund] = 4
    passengers = rng.choice(np.arange(1, 7), n, p=[0.75, 0.14, 0.04, 0.02, 0.03, 0.02])
    passengers[_pick(rng, n, 0.02)] = 0
    ratecode = rng.choice(np.arange(1, 7), n, p=[0.95, 0.02, 0.005, 0.005, 0.018, 0.002])
    ratecode[_pick(rng, n, 0.0005)] = 99
    base = rng.integers(0, _BASES.size, n)
    affiliated = np.where(rng.random(n) < 0.1, rng.integers(0, _BASES.size, n), base)

    fare = np.rint((250 + 250 * distance + 50 * seconds / 60) / 50).astype(np.int64) * 50
    tipped = (payment == 1) & (rng.random(n) < 0.85)
    cents = {
        "fare_amount": fare,
        "extra": rng.choice([0, 50, 100, 250, 350], n, p=[0.45, 0.3, 0.1, 0.1, 0.05]),
        "mta_tax": np.full(n, 50),
        "tip_amount": np.where(tipped, np.rint(fare * rng.uniform(0.1, 0.3, n)), 0),
        "tolls_amount": np.where(rng.random(n) < 0.05, 655, 0),
        "improvement_surcharge": np.full(n, 30),
        "congestion_surcharge": np.where(blank | (rng.random(n) < 0.15), 0, 250),
    }
    cents["total_amount"] = sum(cents.values())
    sign = np.where(refund, -1, 1)
    amounts: dict[str, Values] = {
        k: (sign * v.astype(np.int64) / 100, None) for k, v in cents.items()
    }
    amounts["congestion_surcharge"] = (amounts["congestion_surcharge"][0], blank_mask)

    return {
        **amounts,
        ds.pickup_col: (pickup, None),
        ds.dropoff_col: (pickup + seconds, None),
        "vendor_id": (rng.choice([1, 2], n, p=[0.35, 0.65]), blank_mask),
        "passenger_count": (passengers, blank | _pick(rng, n, 0.003)),
        "trip_distance": (distance, None),
        "ratecode_id": (ratecode, blank_mask),
        "store_and_fwd_flag": (
            _FLAGS[_pick(rng, n, 0.01).astype(int)],
            blank | _pick(rng, n, 0.003),
        ),
        "pu_location_id": (rng.integers(1, ZONE_COUNT + 1, n), location_mask),
        "do_location_id": (rng.integers(1, ZONE_COUNT + 1, n), location_mask),
        "payment_type": (payment, blank_mask),
        "ehail_fee": (np.zeros(n), np.ones(n, dtype=bool)),
        "trip_type": (np.where(rng.random(n) < 0.97, 1, 2), blank_mask),
        "dispatching_base_num": (_BASES[base], None),
        "sr_flag": (np.ones(n, dtype=np.int64), ~_pick(rng, n, 0.1)),
        "affiliated_base_number": (_BASES[affiliated], rng.random(n) < 0.1),
    }


def _table(
    rng: np.random.Generator, n: int, ds: TaxiDataset, month: str, out_of_month_share: float
) -> pa.Table:
    values = _trips(rng, n, ds, month, out_of_month_share)
    floats = float_int_month(month)
    columns = mirror_columns(ds)
    arrays = [_arrow(c.kind, *values[c.name], floats) for c in columns]
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def _arrow(kind: Kind, values: np.ndarray, mask: np.ndarray | None, float_ints: bool) -> pa.Array:
    if kind is Kind.TIMESTAMP:
        return pa.array(values, type=pa.timestamp("s"))
    if kind is Kind.INT and float_ints and mask is not None:
        return pc.take(_FLOAT_INT_LABELS, pa.array(values, mask=mask))
    return pa.array(values, mask=mask)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS_BY_NAME, required=True)
    parser.add_argument("--months", nargs="+", required=True, help="YYYY-MM")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compresslevel", type=int, default=6)
    args = parser.parse_args(argv)
    for name in args.datasets:
        for month in args.months:
            path = write_month(
                DATASETS_BY_NAME[name],
                month,
                args.rows,
                args.out,
                seed=args.seed,
                compresslevel=args.compresslevel,
            )
            print(path)
    print(write_zone_lookup(args.out))


if __name__ == "__main__":
    main()
