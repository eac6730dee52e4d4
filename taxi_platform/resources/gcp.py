"""dagster-gcp's GCS and BigQuery resources, plus the bucket/dataset they write to.

Against the emulators only the endpoint and the credentials differ: GCS reads
`STORAGE_EMULATOR_HOST` itself; BigQuery gets `api_endpoint` and anonymous credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster_gcp import BigQueryResource, GCSResource
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from pydantic import Field

from taxi_platform.identifiers import sql_name


class LakeBucketResource(GCSResource):
    """GCS client plus the lake bucket name."""

    bucket: str = Field(description="Bucket receiving the lake's parquet files.")


class WarehouseResource(BigQueryResource):
    """BigQuery client plus the dataset holding the trip tables."""

    dataset: str = Field(default="taxi", description="BigQuery dataset of the trip tables.")
    api_endpoint: str | None = Field(
        default=None, description="Emulator URL; when set, anonymous credentials are used."
    )

    @property
    def dataset_id(self) -> str:
        return sql_name(self.dataset, "BigQuery dataset")

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        if not self.api_endpoint:
            with super().get_client() as client:
                yield client
            return
        yield bigquery.Client(
            project=self.project,
            location=self.location,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.api_endpoint),
        )
