"""Every era's names and values reach the canonical schema through one module."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from taxi_platform.catalog import DATASETS, FHV, YELLOW
from taxi_platform.lib.eras import match_columns, normalise, parse_type, to_landed, unknown_type


def test_names_of_every_era_match_ignoring_case_and_separators() -> None:
    names = ["vendor_name", "Trip_Pickup_DateTime", "TPEP_DROPOFF_DATETIME", "pu-location-id"]

    match = match_columns(names, YELLOW)

    landed = {name: col.name for name, col in match.columns.items()}
    assert landed == {
        "vendor_name": "vendor_id",
        "Trip_Pickup_DateTime": "tpep_pickup_datetime",
        "TPEP_DROPOFF_DATETIME": "tpep_dropoff_datetime",
        "pu-location-id": "pu_location_id",
    }
    assert match.unknown == []


def test_a_second_name_for_one_column_and_a_name_no_era_has_are_unknown() -> None:
    match = match_columns(["PUlocationID", "pu_location_id", "future_fee"], FHV)

    assert list(match.columns) == ["PUlocationID"]
    assert match.unknown == ["pu_location_id", "future_fee"]
    assert "pickup_datetime" in {c.name for c in match.missing}


@pytest.mark.parametrize("ds", DATASETS, ids=lambda ds: ds.name)
def test_no_two_columns_of_a_dataset_share_a_name(ds) -> None:
    match = match_columns([c.source for c in ds.columns], ds)

    assert match.unknown == [] and match.missing == []


def test_old_text_codes_map_to_todays_and_unlisted_codes_land_as_null() -> None:
    vendor = YELLOW.column("vendor_id")

    read = normalise(pa.array([" cmt", "VTS", "XYZ", None]), vendor)
    landed, bad, _ = to_landed(read, vendor)

    assert landed.to_pylist() == [1, 2, None, None]
    assert not bad.any()


def test_a_null_typed_column_lands_as_nulls_of_its_read_type() -> None:
    fee = YELLOW.column("airport_fee")

    read = normalise(pa.nulls(3), fee)

    assert read.type == parse_type(fee) and read.null_count == 3


def test_timestamps_of_any_unit_and_text_land_as_wall_clock_microseconds() -> None:
    pickup = YELLOW.column("tpep_pickup_datetime")
    expected = [datetime(2009, 1, 2, 3, 4, 5)]

    for values in (
        pa.array(expected, pa.timestamp("ns")),
        pa.array(["2009-01-02 03:04:05"]),
        pa.array(["2009-01-02T03:04:05"], pa.large_string()),
    ):
        read = normalise(values, pickup)
        assert read.type == pa.timestamp("us") and read.to_pylist() == expected


def test_the_fhv_placeholder_lands_as_null_and_base_numbers_are_trimmed() -> None:
    dropoff, base = FHV.column("dropoff_datetime"), FHV.column("dispatching_base_num")
    times = pa.array([datetime(1989, 1, 1), datetime(2019, 1, 1, 1)], pa.timestamp("us"))

    assert to_landed(times, dropoff)[0].to_pylist() == [None, datetime(2019, 1, 1, 1)]
    assert to_landed(pa.array([" B00013 "]), base)[0].to_pylist() == ["B00013"]


def test_integers_that_are_not_whole_reject_their_rows() -> None:
    values, bad, reason = to_landed(pa.array([1.0, 1.5, None]), YELLOW.column("passenger_count"))

    assert values.to_pylist() == [1, None, None]
    assert bad.tolist() == [False, True, False]
    assert reason == "not a whole number in int64 range"


def test_unknown_columns_keep_their_values_with_text_and_times_normalised() -> None:
    assert unknown_type(pa.field("x", pa.large_string())) == pa.string()
    assert unknown_type(pa.field("x", pa.timestamp("ns"))) == pa.timestamp("us")
    assert unknown_type(pa.field("x", pa.int32())) == pa.int32()
