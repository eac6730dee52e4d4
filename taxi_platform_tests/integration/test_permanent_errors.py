"""Against the real local services, with the sinks' retry policy in effect: a wrong PostgreSQL
password, a BigQuery request the emulator answers 400 (a trip table whose column has the
wrong type) and a GCS bucket that does not exist fail the step at the first attempt, in one
line naming step, dataset, month and cause; so does a wrong password for the PostgreSQL mart
(issue 24, item 2)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from google.cloud import bigquery

from taxi_platform import catalog
from taxi_platform.catalog import BIGQUERY_TYPES, COURSE_MIRROR, YELLOW
from taxi_platform.defs.analytics import build_analytics_assets
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import (
    BigQueryDatasetResource,
    LakeBucketResource,
    PostgresResource,
    resources_for,
)
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

pytestmark = pytest.mark.integration
MONTH = "2021-02"
MISMATCH_DATASET = "taxi_type_mismatch"


def _materialize(
    assets: list[dg.AssetsDefinition], **overrides: dg.ConfigurableResource
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources={**resources_for("local"), **overrides},
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=MONTH,
        raise_on_error=False,
    )


def _attempts_and_message(result: dg.ExecuteInProcessResult) -> tuple[int, str]:
    """The attempts the failed step made, and the message its last failure shows."""
    assert not result.success
    retried = result.filter_events(lambda e: e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY)
    [failure] = result.get_step_failure_events()
    return len(retried) + 1, failure.step_failure_data.user_failure_data.description


def _wrong_password() -> PostgresResource:
    return PostgresResource(
        host=os.environ["PG_HOST"],
        port=int(os.environ["PG_PORT"]),
        user=os.environ["PG_USER"],
        password="wrong",
        database=os.environ["PG_DATABASE"],
    )


@pytest.fixture(scope="module")
def trip_assets(stack: dict[str, str]) -> dict[str, dg.AssetsDefinition]:
    """Yellow's assets by layer, with raw, lake and GCS landed for MONTH."""
    assets = build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
    by_layer = {
        layer: next(a for a in assets if a.key == key)
        for layer, key in trip_asset_keys(YELLOW).items()
    }
    assert _materialize([by_layer["raw"], by_layer["lake"], by_layer["gcs"]]).success
    return by_layer


@pytest.fixture
def mismatched_dataset(local_resources: dict[str, Any]) -> Iterator[BigQueryDatasetResource]:
    """A dataset whose yellow trip table has `fare_amount` as DATE instead of FLOAT64."""
    with local_resources["bigquery"].get_client() as client:
        client.create_dataset(MISMATCH_DATASET, exists_ok=True)
        schema = [
            bigquery.SchemaField(
                c.name, "DATE" if c.name == "fare_amount" else BIGQUERY_TYPES[c.kind]
            )
            for c in YELLOW.landed_columns
        ]
        table = f"{client.project}.{MISMATCH_DATASET}.{catalog.trips_table(YELLOW)}"
        client.create_table(bigquery.Table(table, schema), exists_ok=True)
        try:
            yield BigQueryDatasetResource(
                project=os.environ["GCP_PROJECT"],
                dataset=MISMATCH_DATASET,
                api_endpoint=os.environ["BIGQUERY_EMULATOR_HOST"],
            )
        finally:
            client.delete_dataset(MISMATCH_DATASET, delete_contents=True, not_found_ok=True)


def test_a_wrong_postgres_password_fails_the_trip_sink_at_the_first_attempt(
    trip_assets: dict[str, dg.AssetsDefinition],
) -> None:
    result = _materialize([trip_assets["postgres"]], postgres=_wrong_password())

    attempts, message = _attempts_and_message(result)
    assert attempts == 1
    assert message.startswith(
        f"yellow {MONTH}: postgres__taxi__yellow_trips_postgres failed (attempt 1, not retried):"
        " OperationalError: "
    )
    assert "password authentication failed" in message
    assert "\n" not in message and os.environ["PG_PASSWORD"] not in message


def test_a_missing_gcs_bucket_fails_the_upload_at_the_first_attempt(
    trip_assets: dict[str, dg.AssetsDefinition],
) -> None:
    missing = LakeBucketResource(project=os.environ["GCP_PROJECT"], bucket="taxi-no-such-bucket")

    result = _materialize([trip_assets["gcs"]], gcs=missing)

    attempts, message = _attempts_and_message(result)
    assert attempts == 1
    assert message.startswith(f"yellow {MONTH}: gcs__yellow__yellow_trips_gcs failed (attempt 1,")
    assert "not retried): NotFound: 404 " in message and "\n" not in message


def test_a_bigquery_400_fails_the_trip_sink_at_the_first_attempt(
    trip_assets: dict[str, dg.AssetsDefinition], mismatched_dataset: BigQueryDatasetResource
) -> None:
    result = _materialize([trip_assets["bigquery"]], bigquery=mismatched_dataset)

    attempts, message = _attempts_and_message(result)
    assert attempts == 1
    assert message.startswith(
        f"yellow {MONTH}: bigquery__taxi__yellow_trips_bigquery failed (attempt 1, not retried):"
        " BadRequest: 400 "
    )
    assert "\n" not in message


def test_a_wrong_postgres_password_fails_the_mart_at_the_first_attempt(
    stack: dict[str, str],
) -> None:
    [_, mart] = build_analytics_assets(monthly_partitions())

    result = _materialize([mart], postgres=_wrong_password())

    attempts, message = _attempts_and_message(result)
    assert attempts == 1
    assert "(attempt 1, not retried): OperationalError: " in message
    assert "password authentication failed" in message and "\n" not in message
