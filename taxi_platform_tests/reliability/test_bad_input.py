"""Bad input: every quirk is handled by a documented rule (transform.py) or rejected by name.

Rejected rows are counted and sampled (line, column, value); rejected files fail with a
message naming the file, the month, and the line/column; a rejected file leaves the lake's
previous parquet for the month untouched and no temp file behind.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from devstack.sample_data import mirror_columns
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, FHV, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import LakeResource
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.lib.files import temp_files
from taxi_platform.lib.lake import SourceFileError, csv_to_parquet

MONTH = "2021-01"
HEADER = [c.source for c in mirror_columns(YELLOW)]
GOOD = "1,2021-01-01 00:30:10,2021-01-01 00:36:12,1,2.1,1,N,142,43,2,8,3,0.5,0,0,0.3,11.8,2.5"
GOOD2 = "2,2021-01-02 10:00:00,2021-01-02 10:20:00,2,5.5,1,Y,1,265,1,20,0,0.5,4,0,0.3,24.8,0"


def _csv_gz(path: Path, lines: list[str], *, eol: str = "\n", prefix: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(prefix + eol.join(lines).encode("latin-1") + eol.encode())
    return path


def _src(tmp_path: Path, name: str = "yellow_tripdata_2021-01.csv.gz") -> Path:
    return tmp_path / "raw" / name


def _landed(tmp_path: Path) -> tuple[Path, bytes]:
    """A previously landed parquet for the month, to check that rejections leave it alone."""
    dst = tmp_path / "clean" / "yellow_tripdata_2021-01.parquet"
    csv_to_parquet(_csv_gz(tmp_path / "prev.csv.gz", [",".join(HEADER), GOOD]), dst, YELLOW, MONTH)
    return dst, dst.read_bytes()


def _with(row: str, column: str, value: str) -> str:
    cells = row.split(",")
    cells[HEADER.index(column)] = value
    return ",".join(cells)


# --- files rejected as a whole ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            [",".join(h for h in HEADER if h != "fare_amount"), GOOD.replace(",8,", ",")],
            r"yellow_tripdata_2021-01\.csv\.gz \(month 2021-01\): line 1 \(header\): "
            r"missing required column\(s\) fare_amount",
            id="missing-required-column",
        ),
        pytest.param(
            [",".join(h.replace("tpep_pickup_datetime", "pickup_time") for h in HEADER), GOOD],
            r"line 1 \(header\): missing required column\(s\) tpep_pickup_datetime.*pickup_time",
            id="renamed-beyond-recognition",
        ),
        pytest.param(None, r"\(month 2021-01\): empty file: no header line", id="empty-gzip"),
        pytest.param(b"", r"\(month 2021-01\): empty file: no header line", id="zero-bytes"),
        pytest.param(
            [",".join(HEADER)], r"header only: the file has no data rows", id="header-only"
        ),
        pytest.param(b"<html>Not Found</html>", r"not a readable gzip file", id="not-gzip"),
        pytest.param(
            [",".join(HEADER), _with(GOOD, "tpep_pickup_datetime", "soon")],
            r"all 1 data rows rejected; first: line 2, column tpep_pickup_datetime, "
            r"value 'soon': not a timestamp",
            id="every-row-rejected",
        ),
    ],
)
def test_rejected_file_names_file_month_and_place_and_keeps_the_landed_month(
    tmp_path: Path, content: list[str] | bytes | None, message: str
) -> None:
    dst, before = _landed(tmp_path)
    src = _src(tmp_path)
    if isinstance(content, bytes):
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(content)
    elif content is None:
        src.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(src, "wb"):
            pass
    else:
        _csv_gz(src, content)

    with pytest.raises(SourceFileError, match=message):
        csv_to_parquet(src, dst, YELLOW, MONTH)

    assert dst.read_bytes() == before
    assert temp_files(dst) == []


# --- rows rejected, counted and sampled ---------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("tpep_pickup_datetime", "2021-13-45 25:61:00", "not a timestamp"),
        ("tpep_dropoff_datetime", "yesterday", "not a timestamp"),
        ("trip_distance", "two", "not a float"),
        ("fare_amount", "12.5USD", "not a float"),
        ("passenger_count", "one", "not a int"),
        ("passenger_count", "1.5", "not a whole number in int64 range"),
        ("PULocationID", "1e30", "not a whole number in int64 range"),
        ("payment_type", "inf", "not a whole number in int64 range"),
        ("total_amount", "inf", "not a finite number"),
        ("tip_amount", "-inf", "not a finite number"),
        ("tpep_pickup_datetime", "", "missing"),
    ],
)
def test_unparseable_cell_rejects_its_row_with_line_column_and_value(
    tmp_path: Path, column: str, value: str, reason: str
) -> None:
    src = _csv_gz(_src(tmp_path), [",".join(HEADER), GOOD, _with(GOOD2, column, value), GOOD2])

    report = csv_to_parquet(src, tmp_path / "y.parquet", YELLOW, MONTH)

    assert (report.rows_read, report.rows_written, report.rejected) == (3, 2, 1)
    [example] = report.examples
    assert (example.line, example.column, example.reason) == (3, column, reason)
    if reason == "missing":
        assert example.value == ""
    elif example.value != value:  # the typed reader shows the number it parsed: 1e30 -> 1e+30
        assert float(example.value) == float(value)
    assert pq.read_table(tmp_path / "y.parquet").num_rows == 2


def test_ragged_rows_are_rejected_and_later_lines_stay_exact(tmp_path: Path) -> None:
    lines = [
        ",".join(HEADER),
        GOOD,
        GOOD + ",surplus",  # line 3: one field too many
        GOOD.rsplit(",", 2)[0],  # line 4: two fields short
        GOOD2,
        _with(GOOD, "trip_distance", "far"),  # line 6
    ]
    src = _csv_gz(_src(tmp_path), lines)

    report = csv_to_parquet(src, tmp_path / "y.parquet", YELLOW, MONTH)

    assert (report.rows_read, report.rows_written, report.rejected) == (5, 2, 3)
    found = [(e.line, e.column, e.reason) for e in report.examples]
    assert found == [
        (3, "(row)", "19 fields, header has 18"),
        (4, "(row)", "16 fields, header has 18"),
        (6, "trip_distance", "not a float"),
    ]


# --- quirks handled by rule ---------------------------------------------------------------------


def _clean_table(tmp_path: Path, name: str, lines: list[str], **kwargs):
    src = _csv_gz(tmp_path / name / "yellow_tripdata_2021-01.csv.gz", lines, **kwargs)
    dst = tmp_path / name / "out.parquet"
    report = csv_to_parquet(src, dst, YELLOW, MONTH)
    return pq.read_table(dst), report


def test_crlf_bom_and_header_drift_land_the_same_rows(tmp_path: Path) -> None:
    canonical = [",".join(HEADER), GOOD, GOOD2]
    reference, _ = _clean_table(tmp_path, "lf", canonical)
    drifted_header = ",".join(
        {
            "VendorID": "VENDORID",
            "tpep_pickup_datetime": "TPEP_Pickup_DateTime",
            "PULocationID": "pu_location_id",  # the landed name
            "DOLocationID": "DO Location ID",  # spaces
            "RatecodeID": '"ratecode-id"',  # quoted, dash
        }.get(h, h)
        for h in HEADER
    )

    variants = {
        "crlf": ([*canonical], {"eol": "\r\n"}),
        "bom": ([*canonical], {"prefix": b"\xef\xbb\xbf"}),
        "bom-crlf": ([*canonical], {"prefix": b"\xef\xbb\xbf", "eol": "\r\n"}),
        "drift": ([drifted_header, GOOD, GOOD2], {}),
    }
    for name, (lines, kwargs) in variants.items():
        table, report = _clean_table(tmp_path, name, lines, **kwargs)
        assert table.equals(reference), name
        assert (report.rejected, report.unknown_columns) == (0, []), name


def test_null_markers_are_nulls_and_keep_their_row(tmp_path: Path) -> None:
    lines = [
        ",".join(HEADER),
        _with(_with(GOOD, "passenger_count", "NA"), "congestion_surcharge", "nan"),
        _with(_with(GOOD2, "store_and_fwd_flag", "NULL"), "tip_amount", ""),
    ]

    table, report = _clean_table(tmp_path, "nulls", lines)

    assert (report.rows_written, report.rejected) == (2, 0)
    assert table.column("passenger_count").to_pylist() == [None, 2]
    assert table.column("congestion_surcharge").to_pylist() == [None, 0.0]
    assert table.column("store_and_fwd_flag").to_pylist() == ["N", None]
    assert table.column("tip_amount").to_pylist() == [0.0, None]


def test_unknown_extra_columns_are_dropped_and_listed(tmp_path: Path) -> None:
    lines = [",".join([*HEADER, "airport_fee", "note"]), GOOD + ",1.25,hello", GOOD2 + ",0,"]

    table, report = _clean_table(tmp_path, "extra", lines)

    assert report.unknown_columns == ["note"]
    assert table.schema.equals(YELLOW.arrow_schema())
    assert table.column("airport_fee").to_pylist() == [1.25, 0.0]  # a column of a newer era
    assert table.num_rows == 2


def test_missing_optional_column_lands_as_nulls(tmp_path: Path) -> None:
    lines = [",".join(HEADER[:-1]), GOOD.rsplit(",", 1)[0]]

    table, report = _clean_table(tmp_path, "optional", lines)

    assert "congestion_surcharge" in report.missing_optional_columns
    assert table.column("congestion_surcharge").null_count == 1


def test_latin1_bytes_are_read_as_latin1_and_counted(tmp_path: Path) -> None:
    header = ",".join(c.source for c in mirror_columns(FHV))
    good = "B00013,2021-01-01 00:27:00,2021-01-01 00:44:00,,,,B00013"
    accented = good.replace("B00013,2021", "B\xe9013,2021")  # latin-1 é: not UTF-8
    in_number = good.replace(",,,,", ",1\xb2,,,")  # latin-1 ²: read, then not a int
    src = _csv_gz(tmp_path / "fhv_tripdata_2021-01.csv.gz", [header, good, accented, in_number])
    dst = tmp_path / "fhv.parquet"

    report = csv_to_parquet(src, dst, FHV, MONTH)

    table = pq.read_table(dst)
    assert table.column("dispatching_base_num").to_pylist() == ["B00013", "Bé013"]
    assert report.recoded_cells == 2
    assert [(e.line, e.column, e.value) for e in report.recoded_examples] == [
        (3, "dispatching_base_num", "Bé013"),
        (4, "PUlocationID", "1²"),
    ]
    assert [(e.line, e.column, e.value, e.reason) for e in report.examples] == [
        (4, "PUlocationID", "1²", "not a int")
    ]


# --- through the asset: counts are metadata, failures name the month ----------------------------


def _lake_asset_run(
    tmp_path: Path, lines: list[str] | None, config: dict[str, float] | None = None
) -> dg.ExecuteInProcessResult:
    lake = tmp_path / "lake"
    raw = catalog.raw_path(lake, COURSE_MIRROR, YELLOW, MONTH)
    if lines is None:
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_bytes(b"")
    else:
        _csv_gz(raw, lines)
    assets = build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
    [lake_asset] = [a for a in assets if a.key == trip_asset_keys(YELLOW)["lake"]]
    return dg.materialize(
        [lake_asset],
        partition_key=MONTH,
        resources={"lake": LakeResource(root=str(lake))},
        run_config=dg.RunConfig(ops={lake_asset.op.name: {"config": config or {}}}),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_rejected_row_counts_are_asset_metadata(tmp_path: Path) -> None:
    lines = [",".join(HEADER), GOOD, _with(GOOD2, "trip_distance", "two"), GOOD2]

    # One row of three is rejected: more than the default share, so this run allows half.
    result = _lake_asset_run(tmp_path, lines, {"max_rejected_share": 0.5})

    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["rejected_rows"].value == 1
    assert metadata["rows_read"].value == 3
    assert metadata["month_row_count"].value == 2
    assert "| 3 | trip_distance | two | not a float |" in metadata["rejected_sample"].value


def test_rejected_file_fails_the_asset_naming_dataset_month_and_reason(tmp_path: Path) -> None:
    result = _lake_asset_run(tmp_path, [",".join(HEADER)])

    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert "yellow_tripdata_2021-01.csv.gz (month 2021-01): header only" in message
    clean = catalog.clean_path(tmp_path / "lake", YELLOW, MONTH)
    assert not clean.exists() and temp_files(clean) == []


def test_an_all_rejected_month_fails_its_check_with_its_sample_and_keeps_the_lake_file(
    tmp_path: Path,
) -> None:
    assert _lake_asset_run(tmp_path, [",".join(HEADER), GOOD]).success
    clean = catalog.clean_path(tmp_path / "lake", YELLOW, MONTH)
    before = clean.read_bytes()
    bad = _with(GOOD, "tpep_pickup_datetime", "soon")

    # Even a run allowing every row to be rejected fails a month that lands none.
    result = _lake_asset_run(tmp_path, [",".join(HEADER), bad], {"max_rejected_share": 1.0})

    assert not result.success
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "rejected_share"]
    assert not check.passed
    sample = check.metadata["rejected_sample"].value
    assert "| 2 | tpep_pickup_datetime | soon | not a timestamp |" in sample
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    raw = catalog.raw_path(tmp_path / "lake", COURSE_MIRROR, YELLOW, MONTH)
    assert f"yellow {MONTH}: " in message and "all 1 rows rejected" in message
    assert "column tpep_pickup_datetime, value 'soon': not a timestamp" in message
    assert f"source {raw}" in message
    assert clean.read_bytes() == before and temp_files(clean) == []
