"""Where every (dataset, month) lives: source URL, lake files, GCS keys and table names."""

from __future__ import annotations

from pathlib import Path

from taxi_platform.datasets import TaxiDataset

ZONE_LOOKUP_PATH = "misc/taxi_zone_lookup.csv"


def source_file_name(ds: TaxiDataset, month: str) -> str:
    return f"{ds.name}_tripdata_{month}.csv.gz"


def source_url(base_url: str, ds: TaxiDataset, month: str) -> str:
    """URL of the month's CSV.gz under a mirror laid out like the public TLC mirror."""
    return f"{base_url.rstrip('/')}/{ds.name}/{source_file_name(ds, month)}"


def zone_lookup_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{ZONE_LOOKUP_PATH}"


def raw_path(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    return lake_root / "raw" / ds.name / source_file_name(ds, month)


def parquet_name(ds: TaxiDataset, month: str) -> str:
    return f"{ds.name}_tripdata_{month}.parquet"


def clean_path(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    return lake_root / "clean" / ds.name / parquet_name(ds, month)


def zone_lookup_path(lake_root: Path) -> Path:
    return lake_root / "raw" / ZONE_LOOKUP_PATH


def gcs_key(ds: TaxiDataset, month: str) -> str:
    return f"data/{ds.name}/{parquet_name(ds, month)}"


def gcs_uri(bucket: str, ds: TaxiDataset, month: str) -> str:
    return f"gs://{bucket}/{gcs_key(ds, month)}"


def table_name(ds: TaxiDataset) -> str:
    """Table name of the dataset's trips in BigQuery and in PostgreSQL."""
    return f"{ds.name}_trips"


def staging_table_name(ds: TaxiDataset, month: str) -> str:
    return f"{table_name(ds)}__stage_{month.replace('-', '')}"
