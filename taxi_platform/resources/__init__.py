"""Resources for each environment, wired from environment variables (see README)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import dagster as dg

from taxi_platform.env import Env
from taxi_platform.resources.alerts import AlertWebhook
from taxi_platform.resources.gcp import LakeBucketResource, WarehouseResource
from taxi_platform.resources.lake import LakeResource
from taxi_platform.resources.postgres import PostgresResource
from taxi_platform.resources.tlc import DEFAULT_BASE_URL, TlcSource


def _env_or(name: str, default: Any) -> Any:
    """`EnvVar(name)` when the variable is set (its value stays out of the UI), else default."""
    return dg.EnvVar(name) if name in os.environ else default


def resources_for(env: Env) -> dict[str, dg.ConfigurableResource]:
    """The resources of `env`: only endpoints and credentials differ between local and prod."""
    warehouse: dict[str, Any] = {
        "project": dg.EnvVar("GCP_PROJECT"),
        "dataset": dg.EnvVar("BQ_DATASET"),
    }
    if env == "local":
        warehouse["api_endpoint"] = dg.EnvVar("BIGQUERY_EMULATOR_HOST")
    else:
        warehouse["location"] = _env_or("BQ_LOCATION", None)
        warehouse["gcp_credentials"] = _env_or("GCP_CREDENTIALS", None)
    return {
        "tlc": TlcSource(base_url=_env_or("TLC_BASE_URL", DEFAULT_BASE_URL)),
        "lake": LakeResource(root=dg.EnvVar("TAXI_LAKE_DIR")),
        "gcs": LakeBucketResource(project=dg.EnvVar("GCP_PROJECT"), bucket=dg.EnvVar("GCS_BUCKET")),
        "bigquery": WarehouseResource(**warehouse),
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
def initialized_resources(env: Env) -> Iterator[dict[str, Any]]:
    """The resources of `env` with their environment variables resolved, for use outside runs."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(resource.process_config_and_initialize_cm())
            for name, resource in resources_for(env).items()
        }
