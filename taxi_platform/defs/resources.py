"""The resources, wired from environment variables through `EnvVar`; secrets never printed.

Against the emulators only endpoints and credentials differ from Google Cloud: GCS reads
`STORAGE_EMULATOR_HOST` itself; BigQuery gets `api_endpoint` and anonymous credentials.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import requests
from dagster_gcp import BigQueryResource, GCSResource
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery
from google.oauth2 import service_account
from pydantic import Field

from taxi_platform.catalog import Source
from taxi_platform.lib.identifiers import (
    gcp_project,
    gcs_bucket,
    http_url,
    secret_http_url,
    sql_name,
    warehouse_name,
)
from taxi_platform.lib.source import RemoteFile, Verifier, download, probe
from taxi_platform.lib.versions import DEFAULT_KEEP
from taxi_platform.settings import Env, is_set, setting, switch


class SourceDownloader(dg.ConfigurableResource):
    """Where the source's files (the TLC's, or the course mirror's) are downloaded from, with
    timeout and retry settings."""

    base_url: str | None = Field(
        default=None, description="Root URL of a mirror of the source; default: the source's own."
    )
    timeout_seconds: float = Field(default=60.0, description="Per-request connect/read timeout.")
    attempt_timeout_seconds: float | None = Field(
        default=None, description="Limit of one download attempt; default 10 x timeout_seconds."
    )
    max_attempts: int = Field(default=5, description="Attempts per download (5xx, drops).")
    backoff_seconds: float = Field(default=2.0, description="First retry delay; doubles.")
    force_download: bool = Field(
        default=False, description="Fetch every file again, even when the source says unchanged."
    )

    def root(self, source: Source) -> str:
        """The URL files of `source` are fetched under."""
        return self.base_url or source.base_url

    def probe(
        self, url: str, log: logging.Logger | None = None, *, attempts: int | None = None
    ) -> RemoteFile:
        with requests.Session() as session:
            return probe(
                session,
                url,
                self.timeout_seconds,
                attempts=attempts or self.max_attempts,
                backoff=self.backoff_seconds,
                log=log,
            )

    def download(
        self, url: str, dst: Path, log: logging.Logger, *, verify: Verifier | None
    ) -> RemoteFile:
        with requests.Session() as session:
            return download(
                session,
                url,
                dst,
                timeout=self.timeout_seconds,
                attempts=self.max_attempts,
                backoff=self.backoff_seconds,
                log=log,
                verify=verify,
                attempt_timeout=self.attempt_timeout_seconds,
            )


class LakeResource(dg.ConfigurableResource):
    """Root directory of the lake, and how many versions of a month it keeps."""

    root: str = Field(description="Directory holding raw/, clean/, versions/ and manifest/.")
    # No `ge=1` here: pydantic would compare it with the EnvVar placeholder, not the value.
    versions_kept: int = Field(
        default=DEFAULT_KEEP, description="Versions of a month kept (the current one too), >= 1."
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        positive_count(str(self.versions_kept), "versions_kept")

    @property
    def path(self) -> Path:
        return Path(self.root).resolve()


class LakeBucketResource(GCSResource):
    """GCS client plus the lake bucket name."""

    bucket: str = Field(description="Bucket receiving the lake's parquet files.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        gcs_bucket(self.bucket)


class BigQueryDatasetResource(BigQueryResource):
    """BigQuery client plus the dataset holding the trip tables."""

    dataset: str = Field(default="taxi", description="BigQuery dataset of the trip tables.")
    api_endpoint: str | None = Field(
        default=None, description="Emulator URL; when set, anonymous credentials are used."
    )
    gcp_credentials: str | None = Field(
        default=None, repr=False, description="Secret: base64 service-account JSON (else ADC)."
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        warehouse_name(self.dataset, "BigQuery dataset")

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


class PostgresResource(dg.ConfigurableResource):
    """Connection to the PostgreSQL sink; the password never leaves this object."""

    host: str
    port: int = 5432
    user: str
    password: str = Field(repr=False, description="Secret: set through an environment variable.")
    database: str
    schema_name: str = Field(default="taxi", description="Schema holding the trip tables.")
    connect_timeout_seconds: int = 10

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        warehouse_name(self.schema_name, "PostgreSQL schema")

    @property
    def schema(self) -> str:
        return sql_name(self.schema_name, "PostgreSQL schema")

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        conn = psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            connect_timeout=self.connect_timeout_seconds,
            application_name="taxi_platform",
        )
        with conn:
            yield conn


class AlertWebhook(dg.ConfigurableResource):
    """A webhook receiving `{"text": ...}`; no URL means no alerts."""

    url: str | None = Field(default=None, repr=False, description="Secret: the webhook URL.")
    timeout_seconds: float = 10.0

    def post(self, text: str) -> None:
        """POST the message; raises requests.RequestException (its text never holds the URL)."""
        try:
            response = requests.post(self.url, json={"text": text}, timeout=self.timeout_seconds)
        except requests.RequestException as err:
            raise type(err)(f"alert webhook unreachable: {type(err).__name__}") from None
        if response.status_code >= 400:
            raise requests.HTTPError(f"alert webhook answered HTTP {response.status_code}")


def _env_or(name: str, default: Any) -> Any:
    """`EnvVar(name)` when the variable is set (its value stays out of the UI), else default."""
    return dg.EnvVar(name) if is_set(name) else default


def _env_int_or(name: str, default: int) -> Any:
    """`EnvVar.int(name)` when the variable is set, else default."""
    return dg.EnvVar.int(name) if is_set(name) else default


def positive_count(value: str, name: str) -> int:
    """`value` as a whole number of at least 1; else a ValueError naming `name`."""
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"refusing {name}={value!r}: use a whole number of at least 1")
    return int(value)


def port_number(value: str, name: str) -> int:
    """`value` as a TCP port, 1 to 65535; else a ValueError naming `name`."""
    if not value.strip().isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"refusing {name}={value!r}: use a port number from 1 to 65535")
    return int(value)


_CHECKED = {
    "TLC_BASE_URL": http_url,
    "TAXI_ALERT_WEBHOOK_URL": secret_http_url,
    "PG_SCHEMA": warehouse_name,
    "PG_PORT": port_number,
    "BQ_DATASET": warehouse_name,
    "GCP_PROJECT": gcp_project,
    "GCS_BUCKET": gcs_bucket,
    "TAXI_LAKE_VERSIONS_KEPT": positive_count,
}


def _bigquery(env: Env) -> BigQueryDatasetResource:
    """The emulator's endpoint locally; in prod Google's, with a location and credentials."""
    if env == "local":
        return BigQueryDatasetResource(
            project=dg.EnvVar("GCP_PROJECT"),
            dataset=dg.EnvVar("BQ_DATASET"),
            api_endpoint=dg.EnvVar("BIGQUERY_EMULATOR_HOST"),
        )
    return BigQueryDatasetResource(
        project=dg.EnvVar("GCP_PROJECT"),
        dataset=dg.EnvVar("BQ_DATASET"),
        location=_env_or("BQ_LOCATION", None),
        gcp_credentials=_env_or("GCP_CREDENTIALS", None),
    )


def resources_for(env: Env) -> dict[str, dg.ConfigurableResource]:
    """The resources of `env`: only endpoints and credentials differ between local and prod.
    Settings that would fail every run are refused here, when the definitions load."""
    for name, check in _CHECKED.items():
        if value := setting(name):
            check(value, name)
    return {
        "downloader": SourceDownloader(
            base_url=_env_or("TLC_BASE_URL", None),
            force_download=switch("TAXI_FORCE_DOWNLOAD", default=False),
        ),
        "lake": LakeResource(
            root=dg.EnvVar("TAXI_LAKE_DIR"),
            versions_kept=_env_int_or("TAXI_LAKE_VERSIONS_KEPT", DEFAULT_KEEP),
        ),
        "gcs": LakeBucketResource(project=dg.EnvVar("GCP_PROJECT"), bucket=dg.EnvVar("GCS_BUCKET")),
        "bigquery": _bigquery(env),
        "alert_webhook": AlertWebhook(url=_env_or("TAXI_ALERT_WEBHOOK_URL", None)),
        "postgres": PostgresResource(
            host=dg.EnvVar("PG_HOST"),
            port=dg.EnvVar.int("PG_PORT"),
            user=dg.EnvVar("PG_USER"),
            password=dg.EnvVar("PG_PASSWORD"),
            database=dg.EnvVar("PG_DATABASE"),
            schema_name=_env_or("PG_SCHEMA", "taxi"),
        ),
    }


@contextmanager
def initialized_resources(env: Env) -> Iterator[dict[str, dg.ConfigurableResource]]:
    """The resources of `env` with their environment variables resolved, for use outside runs."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(resource.process_config_and_initialize_cm())
            for name, resource in resources_for(env).items()
        }
