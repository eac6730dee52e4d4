import re
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from devstack.tlc_parquet import (
    ERA_MONTHS,
    main,
    official_schema,
    write_official_month,
    write_official_zone_lookup,
)

ROWS = 300
ERAS = [(dataset, month) for dataset, months in ERA_MONTHS.items() for month in months]
FIRST_MONTHS = {"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"}

YELLOW_2011 = [
    "VendorID",
    "tpep_pickup_datetime",
    "tpep_dropoff_datetime",
    "passenger_count",
    "trip_distance",
    "RatecodeID",
    "store_and_fwd_flag",
    "PULocationID",
    "DOLocationID",
    "payment_type",
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "total_amount",
    "congestion_surcharge",
]
EXACT_NAMES = {
    ("yellow", "2009-01"): [
        "vendor_name",
        "Trip_Pickup_DateTime",
        "Trip_Dropoff_DateTime",
        "Passenger_Count",
        "Trip_Distance",
        "Start_Lon",
        "Start_Lat",
        "Rate_Code",
        "store_and_forward",
        "End_Lon",
        "End_Lat",
        "Payment_Type",
        "Fare_Amt",
        "surcharge",
        "mta_tax",
        "Tip_Amt",
        "Tolls_Amt",
        "Total_Amt",
    ],
    ("yellow", "2010-02"): [
        "vendor_id",
        "pickup_datetime",
        "dropoff_datetime",
        "passenger_count",
        "trip_distance",
        "pickup_longitude",
        "pickup_latitude",
        "rate_code",
        "store_and_fwd_flag",
        "dropoff_longitude",
        "dropoff_latitude",
        "payment_type",
        "fare_amount",
        "surcharge",
        "mta_tax",
        "tip_amount",
        "tolls_amount",
        "total_amount",
        "__index_level_0__",
    ],
    ("yellow", "2011-01"): [*YELLOW_2011, "airport_fee"],
    ("yellow", "2023-02"): [*YELLOW_2011, "Airport_fee"],
    ("yellow", "2026-06"): [*YELLOW_2011, "Airport_fee", "cbd_congestion_fee", "request_source"],
    ("green", "2025-01"): [
        "VendorID",
        "lpep_pickup_datetime",
        "lpep_dropoff_datetime",
        "store_and_fwd_flag",
        "RatecodeID",
        "PULocationID",
        "DOLocationID",
        "passenger_count",
        "trip_distance",
        "fare_amount",
        "extra",
        "mta_tax",
        "tip_amount",
        "tolls_amount",
        "ehail_fee",
        "improvement_surcharge",
        "total_amount",
        "payment_type",
        "trip_type",
        "congestion_surcharge",
        "cbd_congestion_fee",
    ],
    ("fhv", "2023-02"): [
        "dispatching_base_num",
        "pickup_datetime",
        "dropOff_datetime",
        "PUlocationID",
        "DOlocationID",
        "SR_Flag",
        "Affiliated_base_number",
    ],
    ("fhvhv", "2025-01"): [
        "hvfhs_license_num",
        "dispatching_base_num",
        "originating_base_num",
        "request_datetime",
        "on_scene_datetime",
        "pickup_datetime",
        "dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "trip_miles",
        "trip_time",
        "base_passenger_fare",
        "tolls",
        "bcf",
        "sales_tax",
        "congestion_surcharge",
        "airport_fee",
        "tips",
        "driver_pay",
        "shared_request_flag",
        "shared_match_flag",
        "access_a_ride_flag",
        "wav_request_flag",
        "wav_match_flag",
        "cbd_congestion_fee",
    ],
}
NULL_COLUMNS = [
    ("yellow", "2011-01", "congestion_surcharge"),
    ("yellow", "2011-01", "airport_fee"),
    ("yellow", "2019-06", "airport_fee"),
    ("green", "2014-02", "ehail_fee"),
    ("green", "2014-02", "improvement_surcharge"),
    ("fhv", "2015-01", "SR_Flag"),
    ("fhvhv", "2019-02", "wav_match_flag"),
    ("fhvhv", "2019-02", "airport_fee"),
]
# (dataset, month, column, Arrow type as the reference reads it from the official footer)
TYPES = [
    ("yellow", "2009-01", "Trip_Pickup_DateTime", pa.string()),
    ("yellow", "2009-01", "Passenger_Count", pa.int64()),
    ("yellow", "2009-01", "Rate_Code", pa.float64()),
    ("yellow", "2009-01", "store_and_forward", pa.float64()),
    ("yellow", "2010-03", "__index_level_0__", pa.int64()),
    ("yellow", "2010-07", "rate_code", pa.string()),
    ("yellow", "2011-01", "tpep_pickup_datetime", pa.timestamp("us")),
    ("yellow", "2011-01", "passenger_count", pa.int64()),
    ("yellow", "2018-09", "passenger_count", pa.float64()),
    ("yellow", "2018-09", "RatecodeID", pa.float64()),
    ("yellow", "2019-06", "tpep_pickup_datetime", pa.timestamp("ns")),
    ("yellow", "2019-06", "passenger_count", pa.float64()),
    ("yellow", "2020-08", "airport_fee", pa.float64()),
    ("yellow", "2020-10", "airport_fee", pa.null()),
    ("yellow", "2022-12", "tpep_dropoff_datetime", pa.timestamp("ns")),
    ("yellow", "2023-01", "tpep_dropoff_datetime", pa.timestamp("us")),
    ("yellow", "2023-01", "VendorID", pa.int64()),
    ("yellow", "2023-02", "VendorID", pa.int32()),
    ("yellow", "2023-02", "PULocationID", pa.int32()),
    ("yellow", "2023-02", "passenger_count", pa.int64()),
    ("yellow", "2023-02", "RatecodeID", pa.int64()),
    ("yellow", "2023-02", "store_and_fwd_flag", pa.large_string()),
    ("yellow", "2023-02", "Airport_fee", pa.float64()),
    ("yellow", "2026-06", "request_source", pa.large_string()),
    ("green", "2019-01", "ehail_fee", pa.float64()),
    ("green", "2019-01", "payment_type", pa.float64()),
    ("green", "2019-01", "trip_type", pa.float64()),
    ("green", "2019-09", "ehail_fee", pa.null()),
    ("green", "2023-02", "ehail_fee", pa.float64()),
    ("green", "2023-02", "VendorID", pa.int32()),
    ("green", "2023-02", "payment_type", pa.int64()),
    ("green", "2023-02", "store_and_fwd_flag", pa.large_string()),
    ("fhv", "2015-01", "PUlocationID", pa.float64()),
    ("fhv", "2017-05", "SR_Flag", pa.float64()),
    ("fhv", "2019-03", "SR_Flag", pa.null()),
    ("fhv", "2019-05", "PUlocationID", pa.int64()),
    ("fhv", "2019-07", "PUlocationID", pa.float64()),
    ("fhv", "2020-07", "DOlocationID", pa.int64()),
    ("fhv", "2020-07", "PUlocationID", pa.float64()),
    ("fhv", "2023-02", "dispatching_base_num", pa.large_string()),
    ("fhv", "2023-02", "SR_Flag", pa.int64()),
    ("fhvhv", "2019-04", "wav_match_flag", pa.string()),
    ("fhvhv", "2019-06", "airport_fee", pa.null()),
    ("fhvhv", "2019-07", "airport_fee", pa.float64()),
    ("fhvhv", "2020-10", "airport_fee", pa.null()),
    ("fhvhv", "2022-12", "PULocationID", pa.int64()),
    ("fhvhv", "2023-02", "PULocationID", pa.int32()),
    ("fhvhv", "2023-02", "hvfhs_license_num", pa.large_string()),
    ("fhvhv", "2023-02", "trip_time", pa.int64()),
]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    out = tmp_path_factory.mktemp("cdn")
    return {(d, m): write_official_month(d, m, ROWS, out) for d, m in ERAS}


def read(written: dict[tuple[str, str], Path], dataset: str, month: str) -> pa.Table:
    return pq.read_table(written[dataset, month])


def months_from(first: str, last: str = "2026-12") -> list[str]:
    year, month = map(int, first.split("-"))
    months = []
    while f"{year}-{month:02d}" <= last:
        months.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@pytest.mark.parametrize(("dataset", "month"), ERAS)
def test_file_has_the_official_layout(
    written: dict[tuple[str, str], Path], dataset: str, month: str
) -> None:
    path = written[dataset, month]
    assert path.parent.name == "trip-data"
    assert path.name == f"{dataset}_tripdata_{month}.parquet"
    assert pq.read_schema(path) == official_schema(dataset, month)
    metadata = pq.read_metadata(path)
    assert metadata.num_rows == ROWS
    assert metadata.num_row_groups > 1
    assert not list(path.parent.glob("*.part"))


@pytest.mark.parametrize(("dataset", "month"), EXACT_NAMES)
def test_column_names_in_file_order(dataset: str, month: str) -> None:
    assert official_schema(dataset, month).names == EXACT_NAMES[dataset, month]


@pytest.mark.parametrize(
    ("month", "has_index"),
    [("2010-01", False), ("2010-02", True), ("2010-03", True), ("2010-04", False)],
)
def test_yellow_2010_pandas_index_only_in_february_and_march(month: str, has_index: bool) -> None:
    assert ("__index_level_0__" in official_schema("yellow", month).names) is has_index


@pytest.mark.parametrize(("dataset", "month", "column", "type_"), TYPES)
def test_types_drift_by_era(dataset: str, month: str, column: str, type_: pa.DataType) -> None:
    assert official_schema(dataset, month).field(column).type == type_


@pytest.mark.parametrize(("dataset", "month", "column"), NULL_COLUMNS)
def test_null_typed_columns_are_written_all_null(
    written: dict[tuple[str, str], Path], dataset: str, month: str, column: str
) -> None:
    values = read(written, dataset, month).column(column)
    assert values.type == pa.null()
    assert values.null_count == ROWS


@pytest.mark.parametrize("dataset", ERA_MONTHS)
def test_era_months_name_one_month_per_schema(dataset: str) -> None:
    schemas = {str(official_schema(dataset, m)) for m in months_from(FIRST_MONTHS[dataset])}
    examples = [str(official_schema(dataset, m)) for m in ERA_MONTHS[dataset]]
    assert len(set(examples)) == len(examples)
    assert set(examples) == schemas


@pytest.mark.parametrize(
    ("dataset", "month"),
    [
        ("yellow", "2008-12"),
        ("green", "2013-12"),
        ("fhv", "2014-12"),
        ("fhvhv", "2019-01"),
        ("uber", "2020-01"),
        ("yellow", "2020-1"),
        ("yellow", "2020-13"),
    ],
)
def test_months_before_the_first_file_are_rejected(dataset: str, month: str) -> None:
    with pytest.raises(ValueError):
        official_schema(dataset, month)


def test_output_is_deterministic_per_dataset_and_month(tmp_path: Path) -> None:
    first = write_official_month("yellow", "2025-01", 50, tmp_path / "a").read_bytes()
    again = write_official_month("yellow", "2025-01", 50, tmp_path / "b").read_bytes()
    other = write_official_month("yellow", "2025-02", 50, tmp_path / "a").read_bytes()
    assert first == again
    assert first != other


def test_trip_values_are_plausible(written: dict[tuple[str, str], Path]) -> None:
    trips = read(written, "yellow", "2025-01")
    pickup = trips.column("tpep_pickup_datetime").to_pylist()
    outside = [t for t in pickup if not datetime(2025, 1, 1) <= t < datetime(2025, 2, 1)]
    assert 0 < len(outside) < ROWS // 50
    assert all(datetime(2024, 12, 29) <= t < datetime(2025, 2, 4) for t in outside)
    dropoff = trips.column("tpep_dropoff_datetime").to_pylist()
    durations = [d - p for p, d in zip(pickup, dropoff, strict=True)]
    assert all(timedelta(0) < d <= timedelta(hours=2) for d in durations)
    zones = pc.min_max(trips.column("PULocationID")).as_py()
    assert zones["min"] >= 1 and zones["max"] <= 265
    assert pc.min(trips.column("total_amount")).as_py() < 0
    assert 0 < trips.column("passenger_count").null_count < ROWS // 10


def test_yellow_2009_and_2010_carry_text_codes_and_times(
    written: dict[tuple[str, str], Path],
) -> None:
    y2009, y2010 = read(written, "yellow", "2009-01"), read(written, "yellow", "2010-02")
    text_time = re.compile(r"2009-0[12]-\d\d \d\d:\d\d:\d\d|2008-12-\d\d \d\d:\d\d:\d\d")
    assert all(text_time.fullmatch(t) for t in y2009.column("Trip_Pickup_DateTime").to_pylist())
    assert set(y2009.column("vendor_name").to_pylist()) == {"CMT", "VTS", "DDS"}
    assert set(y2009.column("Payment_Type").to_pylist()) <= {
        "Cash",
        "CASH",
        "Credit",
        "CREDIT",
        "No Charge",
        "Dispute",
    }
    assert set(y2010.column("payment_type").to_pylist()) <= {
        "Cas",
        "CSH",
        "Cre",
        "CRD",
        "No ",
        "Dis",
    }
    assert y2010.column("__index_level_0__").to_pylist() == list(range(ROWS))


def test_fhv_keeps_padded_bases_and_the_1989_placeholder(
    written: dict[tuple[str, str], Path],
) -> None:
    trips = read(written, "fhv", "2017-05")
    bases = trips.column("dispatching_base_num").to_pylist()
    assert any(b.endswith(" ") and len(b) == 9 for b in bases)
    assert all(re.fullmatch(r"B\d{5}", b.rstrip()) for b in bases)
    assert datetime(1989, 1, 1) in trips.column("dropOff_datetime").to_pylist()


def test_fhvhv_licences_and_flags(written: dict[tuple[str, str], Path]) -> None:
    trips = read(written, "fhvhv", "2025-01")
    licences = set(trips.column("hvfhs_license_num").to_pylist())
    assert licences <= {"HV0002", "HV0003", "HV0004", "HV0005"} and "HV0003" in licences
    flags = set(trips.column("shared_request_flag").to_pylist())
    assert flags <= {"Y", "N", " "} and "N" in flags
    assert pc.max(trips.column("cbd_congestion_fee")).as_py() > 0


def test_zone_lookup_is_quoted_like_the_tlc_file(tmp_path: Path) -> None:
    path = write_official_zone_lookup(tmp_path)
    assert path == tmp_path / "misc" / "taxi_zone_lookup.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == '"LocationID","Borough","Zone","service_zone"'
    assert lines[1] == '1,"EWR","Newark Airport","EWR"'
    assert lines[-2:] == ['264,"Unknown","N/A","N/A"', '265,"N/A","Outside of NYC","N/A"']
    zones = pacsv.read_csv(path)
    assert zones.column("LocationID").to_pylist() == list(range(1, 266))


def test_cli_writes_the_named_months_and_the_zone_lookup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--out", str(tmp_path), "--rows", "20", "yellow:2025-01", "fhvhv:2019-02"])
    printed = capsys.readouterr().out.split()
    assert printed == [
        str(tmp_path / "trip-data" / "yellow_tripdata_2025-01.parquet"),
        str(tmp_path / "trip-data" / "fhvhv_tripdata_2019-02.parquet"),
        str(tmp_path / "misc" / "taxi_zone_lookup.csv"),
    ]
    assert pq.read_metadata(printed[1]).num_rows == 20


def test_cli_rejects_a_month_before_the_first_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--rows", "20", "green:2013-12"])
