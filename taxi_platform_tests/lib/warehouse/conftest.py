"""One landed yellow month (source file, lake parquet, GCS object) for the engines' tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.tlc_parquet import write_official_month
from taxi_platform import catalog
from taxi_platform.catalog import YELLOW, TaxiDataset
from taxi_platform.lib.gcs import upload_if_changed
from taxi_platform.lib.lake_parquet import parquet_to_parquet
from taxi_platform.lib.warehouse.sink import LakeMonth

ROWS = 2_000


@dataclass(frozen=True)
class LandedMonth:
    """A month as the TLC publishes it, in the lake, and in GCS."""

    ds: TaxiDataset
    month: str
    source: Path
    lake: Path
    uri: str

    @property
    def lake_month(self) -> LakeMonth:
        """The month as the sinks take it (unversioned)."""
        return LakeMonth(self.month, self.lake, self.uri)


@pytest.fixture(scope="package")
def landed_month(
    tmp_path_factory: pytest.TempPathFactory, local_resources: dict[str, Any]
) -> LandedMonth:
    month = "2021-02"
    root = tmp_path_factory.mktemp("warehouse")
    source = write_official_month(YELLOW.name, month, ROWS, root / "mirror")
    lake = catalog.clean_path(root / "lake", YELLOW, month)
    parquet_to_parquet(source, lake, YELLOW, month)
    gcs = local_resources["gcs"]
    key = f"warehouse-tests/{catalog.gcs_key(YELLOW, month)}"
    uri = upload_if_changed(gcs.get_client(), gcs.bucket, key, lake).uri
    return LandedMonth(YELLOW, month, source, lake, uri)
