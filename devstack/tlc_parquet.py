"""Small parquet files laid out exactly like the official TLC trip files of a given month.

`official_schema` gives, per dataset and month, the column names in file order and the Arrow
types pyarrow reads from the footer of the file on the TLC's CloudFront host, era by era, as the
loader reference (TLC_REFERENCE.md §2.1-2.4) records them: null-typed all-null columns,
int32/int64/double drift, string timestamps in yellow 2009/2010, `__index_level_0__` in yellow
2010-02/03, `Airport_fee` and large_string from 2023-02, `cbd_congestion_fee` from 2025-01 and
`request_source` from 2026-06. Where the reference gives no boundary, one is chosen here
(marked "chosen"). One deliberate deviation: yellow 2019-01..2022-12 timestamps are written
as timestamp[ns], to give the loader an ns variant; the real files of 2022-01/2023-01 read
as timestamp[us].

Values are plausible and seeded by dataset and month, so the same arguments write the same
bytes: pickups in the month plus a handful up to three days outside it, zones 1..265, refunds
with negative amounts, some null passenger counts, padded fhv base numbers and the fhv
1989-01-01 drop-off placeholder.
"""

from __future__ import annotations

import argparse
import csv
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from devstack.sample_data import _zones

# One month per distinct file schema of each dataset (test_tlc_parquet checks the coverage).
ERA_MONTHS: dict[str, tuple[str, ...]] = {
    "yellow": (
        "2009-01",  # vendor_name, string timestamps, lat/lon
        "2010-01",  # vendor_id, string timestamps, lat/lon
        "2010-02",  # + __index_level_0__ (also 2010-03)
        "2011-01",  # zone ids, int64 counts, null congestion_surcharge/airport_fee
        "2018-09",  # double passenger_count/RatecodeID (chosen: from 2018-01)
        "2019-06",  # double counts, timestamp[ns], null airport_fee
        "2021-01",  # timestamp[ns], double airport_fee
        "2023-01",  # timestamp[us], last lower-case airport_fee
        "2023-02",  # Airport_fee, int32 ids, large_string
        "2025-01",  # + cbd_congestion_fee
        "2026-06",  # + request_source
    ),
    "green": (
        "2014-02",  # null ehail_fee/improvement_surcharge
        "2015-06",  # null ehail_fee (chosen: 2015-01..2018-12, and 2019-09..2023-01)
        "2019-01",  # double ehail_fee/payment_type/trip_type
        "2023-02",  # int32 ids, int64 codes, large_string
        "2025-01",  # + cbd_congestion_fee
        "2026-06",  # + request_source
    ),
    "fhv": (
        "2015-01",  # null SR_Flag, double location ids (chosen: also 2019-03..2023-01)
        "2017-05",  # double SR_Flag (chosen: 2017-01..2019-02)
        "2019-05",  # int64 location ids (2019-05..06)
        "2020-07",  # int64 DOlocationID
        "2023-02",  # large_string bases, int64 ids and SR_Flag
    ),
    "fhvhv": (
        "2019-02",  # null wav_match_flag (to 2019-03) and airport_fee
        "2019-04",  # null airport_fee (2019-04..06, 2020-04, 2020-10)
        "2021-01",  # 24 columns, string flags, int64 zones
        "2023-02",  # large_string, int32 zones
        "2025-01",  # + cbd_congestion_fee
    ),
}

_FIRST_MONTHS = {"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"}
# Paths on https://d37ci6vzurychx.cloudfront.net/, stated here rather than taken from the
# platform's catalog so that this stand-in for the TLC stays independent of the code it tests.
_TRIP_DIR = "trip-data"
_ZONE_LOOKUP = "misc/taxi_zone_lookup.csv"
_ZONE_HEADER = ("LocationID", "Borough", "Zone", "service_zone")

_I32, _I64, _F64 = pa.int32(), pa.int64(), pa.float64()
_STR, _LSTR, _NULL = pa.string(), pa.large_string(), pa.null()
_US, _NS = pa.timestamp("us"), pa.timestamp("ns")

# A file column: its name, its Arrow type and the key of its generated values.
_Col = tuple[str, pa.DataType, str]

_CBD: _Col = ("cbd_congestion_fee", _F64, "cbd")
_REQUEST_SOURCE: _Col = ("request_source", _LSTR, "request_source")
_FHV_BASES = np.array([f"B{n:05d}" for n in (13, 111, 254, 310, 1051, 1145, 2510, 2617, 3016)])
_HV_LICENSES = np.array(["HV0002", "HV0003", "HV0004", "HV0005"])
_HV_BASES = np.array(["B02914", "B02764", "B02800", "B02510"])  # one base per licence
_DROPOFF_PLACEHOLDER = np.datetime64("1989-01-01", "s").astype(np.int64)
# Payment labels by code (1 card, 2 cash, 3 no charge, 4 dispute) in two spellings.
_PAYMENT_2009 = np.array(
    [["", ""], ["Credit", "CREDIT"], ["Cash", "CASH"], ["No Charge"] * 2, ["Dispute"] * 2]
)
_PAYMENT_2010 = np.array([["", ""], ["Cre", "CRD"], ["Cas", "CSH"], ["No "] * 2, ["Dis"] * 2])
# Zone labels of 264/265 since the lookup's re-issue of 2024-02-22.
_CURRENT_ZONE_LABELS = {264: ("Unknown", "N/A", "N/A"), 265: ("N/A", "Outside of NYC", "N/A")}


def official_schema(dataset: str, month: str) -> pa.Schema:
    """The schema of the official `dataset` file of `month` ("YYYY-MM")."""
    return pa.schema([(name, type_) for name, type_, _ in _columns(dataset, month)])


def write_official_month(dataset: str, month: str, rows: int, out_dir: Path) -> Path:
    """Write `rows` trips to out_dir/trip-data/{dataset}_tripdata_{month}.parquet, atomically."""
    columns = _columns(dataset, month)
    values = _values(dataset, month, rows)
    table = pa.Table.from_arrays(
        [_conform(values[key], type_) for _, type_, key in columns],
        schema=official_schema(dataset, month),
    )
    path = out_dir / _TRIP_DIR / f"{dataset}_tripdata_{month}.parquet"
    with _atomic(path) as part:
        pq.write_table(table, part, row_group_size=rows // 3 + 1, compression="snappy")
    return path


def write_official_zone_lookup(out_dir: Path) -> Path:
    """Write out_dir/misc/taxi_zone_lookup.csv: 265 zones, quoted like the TLC's file."""
    path = out_dir / _ZONE_LOOKUP
    rows = [(i, *_CURRENT_ZONE_LABELS.get(i, labels)) for i, *labels in _zones()]
    with _atomic(path) as part, part.open("w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(_ZONE_HEADER)
        writer.writerows(rows)
    return path


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield part
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def _columns(dataset: str, month: str) -> list[_Col]:
    first = _FIRST_MONTHS.get(dataset)
    if first is None:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(_FIRST_MONTHS)}")
    try:
        valid = datetime.strptime(month, "%Y-%m").strftime("%Y-%m") == month
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    if month < first:
        raise ValueError(f"the first {dataset} file is {first}, got {month}")
    return {"yellow": _yellow, "green": _green, "fhv": _fhv, "fhvhv": _fhvhv}[dataset](month)


def _added(month: str, *columns: tuple[str, _Col]) -> list[_Col]:
    """The columns (each paired with its first month) that the file of `month` has."""
    return [column for since, column in columns if month >= since]


def _yellow(m: str) -> list[_Col]:
    if m < "2010-01":
        return _yellow_2009()
    if m < "2011-01":
        index = [("__index_level_0__", _I64, "row_index")] if m in ("2010-02", "2010-03") else []
        return _yellow_2010() + index
    new = m >= "2023-02"
    ids = _I32 if new else _I64
    counts = _F64 if "2018-01" <= m < "2023-02" else _I64
    airport = _NULL if m < "2020-08" or m == "2020-10" else _F64
    return [
        ("VendorID", ids, "vendor"),
        ("tpep_pickup_datetime", _NS if "2019-01" <= m <= "2022-12" else _US, "pickup"),
        ("tpep_dropoff_datetime", _NS if "2019-01" <= m <= "2022-12" else _US, "dropoff"),
        ("passenger_count", counts, "passengers"),
        ("trip_distance", _F64, "distance"),
        ("RatecodeID", counts, "ratecode"),
        ("store_and_fwd_flag", _LSTR if new else _STR, "flag"),
        ("PULocationID", ids, "pickup_zone"),
        ("DOLocationID", ids, "dropoff_zone"),
        ("payment_type", _I64, "payment"),
        *_taxi_amounts(),
        ("improvement_surcharge", _F64, "improvement"),
        ("total_amount", _F64, "total"),
        ("congestion_surcharge", _NULL if m < "2019-01" else _F64, "congestion"),
        ("Airport_fee" if new else "airport_fee", airport, "airport"),
        *_added(m, ("2025-01", _CBD), ("2026-06", _REQUEST_SOURCE)),
    ]


def _yellow_2009() -> list[_Col]:
    return [
        ("vendor_name", _STR, "vendor_code"),
        ("Trip_Pickup_DateTime", _STR, "pickup"),
        ("Trip_Dropoff_DateTime", _STR, "dropoff"),
        ("Passenger_Count", _I64, "passengers"),
        ("Trip_Distance", _F64, "distance"),
        ("Start_Lon", _F64, "pickup_lon"),
        ("Start_Lat", _F64, "pickup_lat"),
        ("Rate_Code", _F64, "sparse_ratecode"),
        ("store_and_forward", _F64, "sparse_flag"),
        ("End_Lon", _F64, "dropoff_lon"),
        ("End_Lat", _F64, "dropoff_lat"),
        ("Payment_Type", _STR, "payment_2009"),
        ("Fare_Amt", _F64, "fare"),
        ("surcharge", _F64, "extra"),
        ("mta_tax", _F64, "mta_tax"),
        ("Tip_Amt", _F64, "tip"),
        ("Tolls_Amt", _F64, "tolls"),
        ("Total_Amt", _F64, "total"),
    ]


def _yellow_2010() -> list[_Col]:
    return [
        ("vendor_id", _STR, "vendor_code"),
        ("pickup_datetime", _STR, "pickup"),
        ("dropoff_datetime", _STR, "dropoff"),
        ("passenger_count", _I64, "passengers"),
        ("trip_distance", _F64, "distance"),
        ("pickup_longitude", _F64, "pickup_lon"),
        ("pickup_latitude", _F64, "pickup_lat"),
        ("rate_code", _STR, "ratecode"),
        ("store_and_fwd_flag", _STR, "sparse_flag"),
        ("dropoff_longitude", _F64, "dropoff_lon"),
        ("dropoff_latitude", _F64, "dropoff_lat"),
        ("payment_type", _STR, "payment_2010"),
        ("fare_amount", _F64, "fare"),
        ("surcharge", _F64, "extra"),
        ("mta_tax", _F64, "mta_tax"),
        ("tip_amount", _F64, "tip"),
        ("tolls_amount", _F64, "tolls"),
        ("total_amount", _F64, "total"),
    ]


def _taxi_amounts() -> list[_Col]:
    return [
        ("fare_amount", _F64, "fare"),
        ("extra", _F64, "extra"),
        ("mta_tax", _F64, "mta_tax"),
        ("tip_amount", _F64, "tip"),
        ("tolls_amount", _F64, "tolls"),
    ]


def _green(m: str) -> list[_Col]:
    new = m >= "2023-02"
    ids = _I32 if new else _I64
    codes = _I64 if new else _F64
    ehail = _F64 if new or "2019-01" <= m < "2019-09" else _NULL
    return [
        ("VendorID", ids, "vendor"),
        ("lpep_pickup_datetime", _US, "pickup"),
        ("lpep_dropoff_datetime", _US, "dropoff"),
        ("store_and_fwd_flag", _LSTR if new else _STR, "flag"),
        ("RatecodeID", codes, "ratecode"),
        ("PULocationID", ids, "pickup_zone"),
        ("DOLocationID", ids, "dropoff_zone"),
        ("passenger_count", codes, "passengers"),
        ("trip_distance", _F64, "distance"),
        *_taxi_amounts(),
        ("ehail_fee", ehail, "ehail"),
        ("improvement_surcharge", _NULL if m < "2015-01" else _F64, "improvement"),
        ("total_amount", _F64, "total"),
        ("payment_type", codes, "payment"),
        ("trip_type", codes, "trip_type"),
        ("congestion_surcharge", _F64, "congestion"),
        *_added(m, ("2025-01", _CBD), ("2026-06", _REQUEST_SOURCE)),
    ]


def _fhv(m: str) -> list[_Col]:
    new = m >= "2023-02"
    pickup_zone = _I64 if new or "2019-05" <= m <= "2019-06" else _F64
    dropoff_zone = _I64 if m == "2020-07" else pickup_zone
    shared = _I64 if new else _F64 if "2017-01" <= m < "2019-03" else _NULL
    return [
        ("dispatching_base_num", _LSTR if new else _STR, "fhv_base"),
        ("pickup_datetime", _US, "pickup"),
        ("dropOff_datetime", _US, "fhv_dropoff"),
        ("PUlocationID", pickup_zone, "fhv_pickup_zone"),
        ("DOlocationID", dropoff_zone, "fhv_dropoff_zone"),
        ("SR_Flag", shared, "sr_flag"),
        ("Affiliated_base_number", _LSTR if new else _STR, "affiliated_base"),
    ]


def _fhvhv(m: str) -> list[_Col]:
    text = _LSTR if m >= "2023-02" else _STR
    airport = _NULL if m <= "2019-06" or m in ("2020-04", "2020-10") else _F64
    return [
        ("hvfhs_license_num", text, "license"),
        ("dispatching_base_num", text, "hv_base"),
        ("originating_base_num", text, "originating_base"),
        ("request_datetime", _US, "request"),
        ("on_scene_datetime", _US, "on_scene"),
        ("pickup_datetime", _US, "pickup"),
        ("dropoff_datetime", _US, "dropoff"),
        ("PULocationID", _I32 if m >= "2023-02" else _I64, "pickup_zone"),
        ("DOLocationID", _I32 if m >= "2023-02" else _I64, "dropoff_zone"),
        ("trip_miles", _F64, "distance"),
        ("trip_time", _I64, "trip_time"),
        ("base_passenger_fare", _F64, "fare"),
        ("tolls", _F64, "tolls"),
        ("bcf", _F64, "bcf"),
        ("sales_tax", _F64, "sales_tax"),
        ("congestion_surcharge", _F64, "congestion"),
        ("airport_fee", airport, "airport"),
        ("tips", _F64, "tip"),
        ("driver_pay", _F64, "driver_pay"),
        ("shared_request_flag", text, "shared_request"),
        ("shared_match_flag", text, "shared_match"),
        ("access_a_ride_flag", text, "access_a_ride"),
        ("wav_request_flag", text, "wav_request"),
        ("wav_match_flag", _NULL if m < "2019-04" else text, "wav_match"),
        *_added(m, ("2025-01", _CBD)),
    ]


def _conform(values: pa.Array, type_: pa.DataType) -> pa.Array:
    """`values` as a column of `type_`: all null for the null type, text for string times."""
    if pa.types.is_null(type_):
        return pa.nulls(len(values))
    if pa.types.is_timestamp(values.type) and pa.types.is_string(type_):
        return pc.strftime(values, format="%Y-%m-%d %H:%M:%S")
    return values.cast(type_)


def _values(dataset: str, month: str, n: int) -> dict[str, pa.Array]:
    """Every column's values for one file, keyed as in the column lists, in natural types."""
    year, number = (int(part) for part in month.split("-"))
    rng = np.random.default_rng([zlib.crc32(dataset.encode()), year, number])
    pickup = _pickups(rng, n, month)
    seconds = np.clip(rng.lognormal(np.log(780), 0.6, n), 60, 7200).astype(np.int64)
    speed = np.clip(rng.lognormal(np.log(11), 0.35, n), 2, 45)
    distance = np.round(seconds / 3600 * speed, 2)
    money = _money(rng, n, month, distance, seconds)
    return {
        "pickup": _timestamps(pickup),
        "dropoff": _timestamps(pickup + seconds),
        "distance": pa.array(distance),
        "trip_time": pa.array(seconds),
        "pickup_zone": pa.array(rng.integers(1, 266, n)),
        "dropoff_zone": pa.array(rng.integers(1, 266, n)),
        "row_index": pa.array(np.arange(n, dtype=np.int64)),
        **{key: pa.array(amounts) for key, amounts in money.items()},
        **_taxi_codes(rng, n),
        **_coordinates(rng, n),
        **_fhv_values(rng, n, pickup + seconds),
        **_fhvhv_values(rng, n, pickup),
    }


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds, pa.timestamp("s"))


def _pickups(rng: np.random.Generator, n: int, month: str) -> np.ndarray:
    """Epoch seconds in the month, but a handful (at least one) up to three days outside it."""
    start = np.datetime64(month, "M")
    first, end = (m.astype("datetime64[s]").astype(np.int64) for m in (start, start + 1))
    pickup = rng.integers(first, end, n)
    outside = rng.choice(n, size=min(n, max(1, n // 200)), replace=False)
    shift = rng.integers(3600, 3 * 86400, outside.size)
    pickup[outside] = np.where(rng.random(outside.size) < 0.5, first - shift, end + shift)
    return pickup


def _money(
    rng: np.random.Generator, n: int, month: str, distance: np.ndarray, seconds: np.ndarray
) -> dict[str, np.ndarray]:
    """Amounts in dollars, each fee zero before it existed; about 1 % are refunds (negative)."""
    fare = np.round(2.5 + 2.5 * distance + 0.35 * seconds / 60, 1)
    improvement = 1.0 if month >= "2022-12" else 0.3 if month >= "2015-01" else 0.0
    fees = {
        "extra": rng.choice([0.0, 0.5, 1.0, 2.5], n, p=[0.45, 0.3, 0.15, 0.1]),
        "mta_tax": np.full(n, 0.5),
        "tip": np.where(rng.random(n) < 0.6, np.round(fare * rng.uniform(0.1, 0.3, n), 2), 0.0),
        "tolls": np.where(rng.random(n) < 0.05, 6.94, 0.0),
        "improvement": np.full(n, improvement),
        "congestion": np.where((rng.random(n) < 0.85) & (month >= "2019-02"), 2.5, 0.0),
        "airport": np.where((rng.random(n) < 0.08) & (month >= "2019-02"), 1.75, 0.0),
        "cbd": np.where((rng.random(n) < 0.6) & (month >= "2025-01"), 0.75, 0.0),
    }
    sign = np.where(rng.random(n) < 0.01, -1.0, 1.0)
    amounts = {"fare": fare, **fees, "total": np.round(fare + sum(fees.values()), 2)}
    amounts.update(
        bcf=np.round(fare * 0.025, 2),
        sales_tax=np.round(fare * 0.08875, 2),
        driver_pay=np.round(fare * 0.72, 2),
    )
    return {key: sign * values for key, values in amounts.items()}


def _taxi_codes(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """Vendor, passenger, rate, flag and payment codes; unreported rows are null (payment 0)."""
    unreported = rng.random(n) < 0.03
    code = rng.choice([1, 2, 3, 4], n, p=[0.62, 0.35, 0.02, 0.01])
    spelling = rng.integers(0, 2, n)
    sparse = rng.random(n) < 0.9
    ratecode = rng.choice([1, 2, 3, 4, 5, 99], n, p=[0.95, 0.025, 0.005, 0.005, 0.01, 0.005])
    flag = rng.random(n) < 0.01
    return {
        "vendor": pa.array(rng.choice([1, 2], n, p=[0.3, 0.7])),
        "vendor_code": pa.array(rng.choice(["CMT", "VTS", "DDS"], n, p=[0.45, 0.5, 0.05])),
        "passengers": pa.array(
            rng.choice(7, n, p=[0.02, 0.72, 0.14, 0.04, 0.02, 0.04, 0.02]), mask=unreported
        ),
        "ratecode": pa.array(ratecode, mask=unreported),
        "sparse_ratecode": pa.array(ratecode, mask=sparse),
        "flag": pa.array(np.where(flag, "Y", "N"), mask=unreported),
        "sparse_flag": pa.array(flag.astype(np.int64), mask=sparse),
        "payment": pa.array(np.where(unreported, 0, code)),
        "payment_2009": pa.array(_PAYMENT_2009[code, spelling]),
        "payment_2010": pa.array(_PAYMENT_2010[code, spelling]),
        "trip_type": pa.array(np.where(rng.random(n) < 0.97, 1, 2)),
        "ehail": pa.nulls(n, _F64),
        "request_source": pa.array(rng.choice(["A", "HV0005"], n), mask=rng.random(n) < 0.95),
    }


def _coordinates(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """Pickup and drop-off lon/lat around Manhattan, 0.0 where the meter had no fix."""
    lon = np.round(-73.98 + rng.normal(0, 0.03, (2, n)), 6)
    lat = np.round(40.75 + rng.normal(0, 0.03, (2, n)), 6)
    no_fix = rng.random(n) < 0.01
    lon[:, no_fix] = lat[:, no_fix] = 0.0
    return {
        "pickup_lon": pa.array(lon[0]),
        "pickup_lat": pa.array(lat[0]),
        "dropoff_lon": pa.array(lon[1]),
        "dropoff_lat": pa.array(lat[1]),
    }


def _fhv_values(rng: np.random.Generator, n: int, dropoff: np.ndarray) -> dict[str, pa.Array]:
    """Base numbers (some padded to 9 characters), 1989-01-01 drop-offs, sparse zones and flag."""
    base = _FHV_BASES[rng.integers(0, _FHV_BASES.size, n)]
    padded = np.where(rng.random(n) < 0.3, np.char.ljust(base, 9), base)
    other = _FHV_BASES[rng.integers(0, _FHV_BASES.size, n)]
    affiliated = np.where(rng.random(n) < 0.1, other, base)
    affiliated[rng.random(n) < 0.02] = "#N/A"
    placeholder = rng.random(n) < 0.02
    return {
        "fhv_base": pa.array(padded),
        "fhv_dropoff": _timestamps(np.where(placeholder, _DROPOFF_PLACEHOLDER, dropoff)),
        "fhv_pickup_zone": pa.array(rng.integers(1, 266, n), mask=rng.random(n) < 0.15),
        "fhv_dropoff_zone": pa.array(rng.integers(1, 266, n), mask=rng.random(n) < 0.15),
        "sr_flag": pa.array(np.ones(n, dtype=np.int64), mask=rng.random(n) < 0.9),
        "affiliated_base": pa.array(affiliated, mask=rng.random(n) < 0.05),
    }


def _fhvhv_values(rng: np.random.Generator, n: int, pickup: np.ndarray) -> dict[str, pa.Array]:
    """Licences HV0002..5 with their base, request/on-scene times (none for Lyft), Y/N/' ' flags."""
    licence = rng.choice(4, n, p=[0.01, 0.72, 0.02, 0.25])
    lyft = licence == 3
    flags = ("shared_request", "shared_match", "access_a_ride", "wav_request", "wav_match")
    return {
        "license": pa.array(_HV_LICENSES[licence]),
        "hv_base": pa.array(_HV_BASES[licence]),
        "originating_base": pa.array(_HV_BASES[licence], mask=lyft),
        "request": _timestamps(pickup - rng.integers(60, 900, n)),
        "on_scene": pa.array(pickup - rng.integers(0, 180, n), pa.timestamp("s"), mask=lyft),
        **{key: pa.array(rng.choice(["N", "Y", " "], n, p=[0.95, 0.04, 0.01])) for key in flags},
    }


def _dataset_month(text: str) -> tuple[str, str]:
    """Parse "dataset:YYYY-MM" and check that the file exists officially."""
    dataset, _, month = text.partition(":")
    try:
        _columns(dataset, month)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return dataset, month


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("files", nargs="+", type=_dataset_month, metavar="DATASET:YYYY-MM")
    args = parser.parse_args(argv)
    for dataset, month in args.files:
        print(write_official_month(dataset, month, args.rows, args.out))
    print(write_official_zone_lookup(args.out))


if __name__ == "__main__":
    main()
