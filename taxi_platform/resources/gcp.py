"""dagster-gcp's GCS and BigQuery resources, plus the bucket/dataset they write to.

Against the emulators only the endpoint and the credentials differ: GCS reads
`STORAGE_EMULATOR_HOST` itself; BigQuery gets `api_endpoint` and anonymous credentials.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_gcp import BigQueryResource, GCSResource
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery
from google.oauth2 import service_account
from pydantic import Field

from taxi_platform.identifiers import gcs_bucket, sql_name


class LakeBucketResource(GCSResource):
    """GCS client plus the lake bucket name."""

    bucket: str = Field(description="Bucket receiving the lake's parquet files.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        gcs_bucket(self.bucket)


class WarehouseResource(BigQueryResource):
    """BigQuery client plus the dataset holding the trip tables."""

    dataset: str = Field(default="taxi", description="BigQuery dataset of the trip tables.")
    api_endpoint: str | None = Field(
        default=None, description="Emulator URL; when set, anonymous credentials are used."
    )
    gcp_credentials: str | None = Field(
        default=None, repr=False, description="Secret: base64 service-account JSON (else ADC)."
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        sql_name(self.dataset, "BigQuery dataset")

    @property
    def dataset_id(self) -> str:
        return sql_name(self.dataset, "BigQuery dataset")

    def _credentials(self) -> Credentials | None:
        """Anonymous for an emulator; the service account, in memory only; else ADC (None)."""
        if self.api_endpoint:
            return AnonymousCredentials()
        if self.gcp_credentials:
            info = json.loads(base64.b64decode(self.gcp_credentials))
            return service_account.Credentials.from_service_account_info(info)
        return None

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
        yield bigquery.Client(
            project=self.project,
            location=self.location,
            credentials=self._credentials(),
            client_options=options,
        )
