"""Cleaning generated months with every real quirk into typed parquet."""

from __future__ import annotations

import gzip
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devstack.sample_data import float_int_month, mirror_columns, write_month
from devstack.tlc_parquet import write_official_month
from taxi_platform.catalog import FHV, GREEN, YELLOW, TaxiDataset
from taxi_platform.lib.eras import match_columns, parse_type
from taxi_platform.lib.lake import (
    CleanReport,
    MonthFile,
    SourceFileError,
    clean_batch,
    clean_text_batch,
    count_out_of_month,
    csv_to_parquet,
)
from taxi_platform.lib.lake_parquet import parquet_to_parquet

ROWS = 3_000

MIRROR_DATASETS = (YELLOW, GREEN, FHV)  # what the course mirror's generator writes


def _clean(tmp_path: Path, ds: TaxiDataset, month: str, **kwargs) -> tuple[Path, object]:
    src = write_month(ds, month, ROWS, tmp_path / "mirror", seed=3, **kwargs)
    dst = tmp_path / "clean.parquet"
    return dst, csv_to_parquet(src, dst, ds, month)


def _write_csv(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", newline="") as fh:
        fh.write(text)
    return path


@pytest.mark.parametrize("ds", MIRROR_DATASETS, ids=lambda ds: ds.name)
@pytest.mark.parametrize("month", ["2019-02", "2020-01", "2021-01"])
def test_generated_month_lands_typed_in_schema_order(tmp_path: Path, ds: TaxiDataset, month: str):
    dst, report = _clean(tmp_path, ds, month)

    table = pq.read_table(dst)
    assert table.schema.equals(ds.arrow_schema())
    assert report.rows_read == ROWS
    assert report.rows_written == table.num_rows == ROWS - report.rejected
    assert table.column(ds.pickup_col).null_count == 0


def test_float_integer_months_land_as_nullable_integers(tmp_path: Path) -> None:
    month = next(m for m in ("2021-01", "2021-02") if float_int_month(m))
    dst, _ = _clean(tmp_path, YELLOW, month)

    table = pq.read_table(dst)
    assert table.schema.field("passenger_count").type == pa.int64()
    assert table.column("passenger_count").null_count > 0


def test_flags_are_y_n_or_null_and_ehail_fee_is_empty(tmp_path: Path) -> None:
    dst, _ = _clean(tmp_path, GREEN, "2021-01")

    table = pq.read_table(dst)
    assert set(table.column("store_and_fwd_flag").drop_null().to_pylist()) <= {"Y", "N"}
    assert table.column("ehail_fee").null_count == table.num_rows


def test_out_of_month_pickups_stay_with_their_file_and_are_counted(tmp_path: Path) -> None:
    dst, report = _clean(tmp_path, YELLOW, "2021-03", out_of_month_share=0.3)

    table = pq.read_table(dst)
    assert report.out_of_month == count_out_of_month(
        table.column("tpep_pickup_datetime"), "2021-03"
    )
    assert 0.2 * ROWS < report.out_of_month < 0.4 * ROWS
    assert set(table.column("source_month").to_pylist()) == {date(2021, 3, 1)}


def test_fhv_header_case_drift_maps_to_the_same_columns(tmp_path: Path) -> None:
    old, _ = _clean(tmp_path / "old", FHV, "2019-05")
    new, _ = _clean(tmp_path / "new", FHV, "2020-05")

    assert pq.read_schema(old).equals(pq.read_schema(new))
    assert pq.read_table(old).column("pu_location_id").null_count < ROWS


def test_unparseable_cells_reject_rows_with_line_column_and_value(tmp_path: Path) -> None:
    header = ",".join(c.source for c in mirror_columns(YELLOW))
    good = "1,2021-01-01 00:30:10,2021-01-01 00:36:12,1,2.1,1,N,142,43,2,8,3,0.5,0,0,0.3,11.8,2.5"
    bad_time = good.replace("2021-01-01 00:30:10", "yesterday")
    bad_number = good.replace(",2.1,", ",two,")
    src = _write_csv(tmp_path / "y.csv.gz", "\n".join([header, good, bad_time, good, bad_number]))

    report = csv_to_parquet(src, tmp_path / "y.parquet", YELLOW, "2021-01")

    assert (report.rows_written, report.rejected) == (2, 2)
    found = {(e.line, e.column, e.value) for e in report.examples}
    assert found == {(3, "tpep_pickup_datetime", "yesterday"), (5, "trip_distance", "two")}


def test_timestamps_land_as_the_files_wall_clock_times_without_a_zone(tmp_path: Path) -> None:
    header = ",".join(c.source for c in mirror_columns(YELLOW))
    late = "1,2021-01-31 23:30:00,2021-02-01 00:10:00,1,2.1,1,N,142,43,2,8,3,0.5,0,0,0.3,11.8,2.5"
    next_day = late.replace("2021-01-31 23:30:00", "2021-02-01 00:05:00")
    src = _write_csv(tmp_path / "y.csv.gz", "\n".join([header, late, next_day]))

    report = csv_to_parquet(src, tmp_path / "y.parquet", YELLOW, "2021-01")

    pickups = pq.read_table(tmp_path / "y.parquet").column("tpep_pickup_datetime")
    assert pickups.type == pa.timestamp("us")
    assert pickups.to_pylist() == [datetime(2021, 1, 31, 23, 30), datetime(2021, 2, 1, 0, 5)]
    assert report.out_of_month == 1


def test_missing_required_column_names_file_month_and_column(tmp_path: Path) -> None:
    # Location ids are optional: the 2009-2010 files have coordinates instead.
    header = ",".join(c.source for c in mirror_columns(YELLOW) if c.source != "fare_amount")
    src = _write_csv(tmp_path / "yellow_tripdata_2021-01.csv.gz", header + "\n")

    with pytest.raises(
        SourceFileError, match=r"yellow_tripdata_2021-01.csv.gz.*2021-01.*fare_amount"
    ):
        csv_to_parquet(src, tmp_path / "y.parquet", YELLOW, "2021-01")


def test_bad_file_leaves_the_landed_parquet_untouched(tmp_path: Path) -> None:
    dst, _ = _clean(tmp_path, YELLOW, "2021-01")
    before = dst.read_bytes()
    header_only = _write_csv(
        tmp_path / "h.csv.gz", ",".join(c.source for c in mirror_columns(YELLOW))
    )
    not_gzip = tmp_path / "n.csv.gz"
    not_gzip.write_text("<html>Not Found</html>")

    for src in (header_only, not_gzip):
        with pytest.raises(SourceFileError):
            csv_to_parquet(src, dst, YELLOW, "2021-01")

    assert dst.read_bytes() == before
    assert [p.name for p in dst.parent.iterdir() if p.name.startswith(".")] == []


def test_a_batch_read_as_text_lands_like_the_same_batch_read_typed() -> None:
    header = [c.source for c in mirror_columns(YELLOW)]
    row = "1,2021-01-01 00:30:10,2021-01-01 00:36:12,,2.1,1,y,142,43,2,8,3,0.5,0,0,0.3,11.8,2.5"
    rows = [row.split(","), row.replace(",1,y,", ",1,N,").split(",")]
    cells = list(zip(*rows, strict=True))
    file = MonthFile(YELLOW, "2021-01", match_columns(header, YELLOW).columns)
    text = pa.record_batch([pa.array([c.encode() or None for c in col]) for col in cells], header)
    typed = pa.record_batch(
        [
            pa.array(text.column(i).to_pylist(), pa.string()).cast(parse_type(col))
            for i, col in enumerate(file.columns.values())
        ],
        header,
    )
    reports = CleanReport(), CleanReport()

    from_text = clean_text_batch(text, file, 2, reports[0])
    from_typed = clean_batch(typed, file, 2, reports[1])

    assert from_text.equals(from_typed)
    assert from_text.column("store_and_fwd_flag").to_pylist() == ["Y", "N"]
    assert reports[0] == reports[1]


def test_an_all_rejected_parquet_month_names_its_columns_and_an_example_value(
    tmp_path: Path,
) -> None:
    src = write_official_month("green", "2019-01", 20, tmp_path / "mirror")
    table = pq.read_table(src)
    at = table.schema.get_field_index("payment_type")
    table = table.set_column(at, "payment_type", pa.array([1.5] * 20, pa.float64()))
    pq.write_table(table, src)
    dst = tmp_path / "clean.parquet"

    with pytest.raises(SourceFileError) as raised:
        parquet_to_parquet(src, dst, GREEN, "2019-01")

    assert str(raised.value) == (
        "green_tripdata_2019-01.parquet (month 2019-01): all 20 rows rejected; first: row 1,"
        " column payment_type, value '1.5': not a whole number in int64 range;"
        " columns rejecting rows: payment_type"
    )
    assert not dst.exists()


def test_an_all_rejected_csv_month_names_every_column_rejecting_rows(tmp_path: Path) -> None:
    header = ",".join(c.source for c in mirror_columns(YELLOW))
    good = "1,2021-01-01 00:30:10,2021-01-01 00:36:12,1,2.1,1,N,142,43,2,8,3,0.5,0,0,0.3,11.8,2.5"
    lines = [header, good.replace(",2.1,", ",two,"), good.replace("2021-01-01 00:30:10", "soon")]
    src = _write_csv(tmp_path / "y.csv.gz", "\n".join(lines))

    with pytest.raises(SourceFileError) as raised:
        csv_to_parquet(src, tmp_path / "y.parquet", YELLOW, "2021-01")

    assert str(raised.value) == (
        "y.csv.gz (month 2021-01): all 2 data rows rejected; first: line 2, column"
        " trip_distance, value 'two': not a float; columns rejecting rows: trip_distance,"
        " tpep_pickup_datetime"
    )
