import csv
import gzip
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devstack import sample_data
from devstack.sample_data import float_int_month, mirror_columns, write_month, write_zone_lookup
from taxi_platform.catalog import FHV, GREEN, YELLOW, ZONE_COLUMNS, TaxiDataset

AMOUNT_PARTS = (
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "congestion_surcharge",
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

MIRROR_DATASETS = (YELLOW, GREEN, FHV)  # what the course mirror's generator writes


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def column(rows: list[dict[str, str]], name: str) -> set[str]:
    return {row[name] for row in rows}


@pytest.mark.parametrize("ds", MIRROR_DATASETS, ids=lambda ds: ds.name)
def test_header_is_the_tlc_sources_in_order(ds: TaxiDataset, tmp_path: Path) -> None:
    path = write_month(ds, "2021-03", 10, tmp_path)
    assert path == tmp_path / ds.name / f"{ds.name}_tripdata_2021-03.csv.gz"
    header, rows = read(path)
    assert header == [c.source for c in mirror_columns(ds)]
    assert len(rows) == 10


@pytest.mark.parametrize(
    ("month", "header"),
    [
        (
            "2019-12",
            "dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,DOLocationID,"
            "SR_Flag,Affiliated_base_number",
        ),
        (
            "2020-01",
            "dispatching_base_num,pickup_datetime,dropOff_datetime,PUlocationID,DOlocationID,"
            "SR_Flag,Affiliated_base_number",
        ),
    ],
)
def test_fhv_header_case_drifts_by_year(month: str, header: str, tmp_path: Path) -> None:
    assert read(write_month(FHV, month, 5, tmp_path))[0] == header.split(",")


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    first = write_month(GREEN, "2021-02", 300, tmp_path / "a", seed=7).read_bytes()
    again = write_month(GREEN, "2021-02", 300, tmp_path / "b", seed=7).read_bytes()
    other = write_month(GREEN, "2021-02", 300, tmp_path / "c", seed=8).read_bytes()
    assert first == again
    assert first != other


def test_chunks_append_rows_under_one_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sample_data, "CHUNK_ROWS", 100)
    header, rows = read(write_month(YELLOW, "2021-01", 250, tmp_path))
    assert len(rows) == 250
    assert header[0] not in column(rows, header[0])


@pytest.mark.parametrize("month", ["2021-01", "2021-02"])
def test_integer_columns_are_floats_with_gaps_in_float_months(month: str, tmp_path: Path) -> None:
    _, rows = read(write_month(YELLOW, month, 500, tmp_path))
    vendors = column(rows, "VendorID")
    if float_int_month(month):
        assert vendors == {"1.0", "2.0", ""}
        assert "" in column(rows, "payment_type")
        assert {row["store_and_fwd_flag"] for row in rows if row["VendorID"] == ""} == {""}
    else:
        assert vendors == {"1", "2"}
        assert all(value.isdigit() for value in column(rows, "RatecodeID"))


def test_float_months_alternate() -> None:
    assert [float_int_month(f"2021-{m:02d}") for m in range(1, 5)] == [False, True, False, True]


def test_green_quirks(tmp_path: Path) -> None:
    _, rows = read(write_month(GREEN, "2021-01", 2000, tmp_path))
    assert column(rows, "ehail_fee") == {""}
    assert {"N", "Y", ""} == column(rows, "store_and_fwd_flag")
    assert {"0", ""} <= column(rows, "passenger_count")
    assert column(rows, "trip_type") == {"1", "2"}
    assert "99" in column(rows, "RatecodeID")


def test_amounts_add_up_and_include_refunds(tmp_path: Path) -> None:
    _, rows = read(write_month(YELLOW, "2021-02", 2000, tmp_path))
    for row in rows:
        parts = sum(float(row[name] or 0) for name in AMOUNT_PARTS)
        assert float(row["total_amount"]) == pytest.approx(parts, abs=0.005)
    assert any(float(row["fare_amount"]) < 0 for row in rows)
    assert any(float(row["total_amount"]) < 0 for row in rows)


def test_trips_are_plausible(tmp_path: Path) -> None:
    _, rows = read(write_month(YELLOW, "2021-01", 1000, tmp_path, out_of_month_share=0))
    for row in rows:
        pickup = datetime.strptime(row["tpep_pickup_datetime"], TIME_FORMAT)
        dropoff = datetime.strptime(row["tpep_dropoff_datetime"], TIME_FORMAT)
        assert (pickup.year, pickup.month) == (2021, 1)
        assert timedelta(minutes=1) < dropoff - pickup <= timedelta(minutes=60)
        assert 1 <= int(row["PULocationID"]) <= 265
        assert 1 <= int(row["DOLocationID"]) <= 265
        assert 0 <= int(row["passenger_count"] or 0) <= 6
    assert column(rows, "payment_type") <= {"1", "2", "3", "4", "5"}


@pytest.mark.parametrize(("share", "low", "high"), [(None, 1, 10), (0.3, 297, 303), (0, 0, 0)])
def test_out_of_month_rows(share: float | None, low: int, high: int, tmp_path: Path) -> None:
    _, rows = read(write_month(YELLOW, "2021-03", 1000, tmp_path, out_of_month_share=share))
    outside = [r for r in rows if not r["tpep_pickup_datetime"].startswith("2021-03-")]
    assert low <= len(outside) <= high
    assert all(r["tpep_pickup_datetime"] < "2021-03" for r in outside)


def test_fhv_values(tmp_path: Path) -> None:
    _, rows = read(write_month(FHV, "2021-02", 1000, tmp_path))
    assert all(len(b) == 6 and b.startswith("B") for b in column(rows, "dispatching_base_num"))
    assert "" in column(rows, "Affiliated_base_number")
    assert column(rows, "SR_Flag") == {"1.0", ""}
    assert "" in column(rows, "PUlocationID")


def test_zone_lookup(tmp_path: Path) -> None:
    path = write_zone_lookup(tmp_path)
    assert path == tmp_path / "misc" / "taxi_zone_lookup.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == [c.source for c in ZONE_COLUMNS]
    assert [int(r["LocationID"]) for r in rows] == list(range(1, 266))
    assert column(rows, "Borough") == {
        "Manhattan",
        "Brooklyn",
        "Queens",
        "Bronx",
        "Staten Island",
        "EWR",
        "Unknown",
    }
    assert column(rows, "service_zone") == {"Yellow Zone", "Boro Zone", "Airports", "EWR", "N/A"}


def test_cli_writes_months_and_zone_lookup(tmp_path: Path) -> None:
    sample_data.main(
        [
            "--out",
            str(tmp_path),
            "--datasets",
            "yellow",
            "fhv",
            "--months",
            "2021-01",
            "2021-02",
            "--rows",
            "20",
            "--compresslevel",
            "1",
        ]
    )
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*"))
    assert written == [
        "fhv/fhv_tripdata_2021-01.csv.gz",
        "fhv/fhv_tripdata_2021-02.csv.gz",
        "misc/taxi_zone_lookup.csv",
        "yellow/yellow_tripdata_2021-01.csv.gz",
        "yellow/yellow_tripdata_2021-02.csv.gz",
    ]
