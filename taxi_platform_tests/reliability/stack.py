"""Clients of the test stack, built from the environment (usable in child processes too).

Google's client libraries take seconds to import, so each is imported where it is used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    from google.cloud import bigquery, storage


def bigquery_client() -> bigquery.Client:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=os.environ["GCP_PROJECT"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=os.environ["BIGQUERY_EMULATOR_HOST"]),
    )


def gcs_bucket() -> storage.Bucket:
    from google.cloud import storage

    return storage.Client(project=os.environ["GCP_PROJECT"]).bucket(os.environ["GCS_BUCKET"])


def pg_connect(**kwargs: object) -> psycopg.Connection:
    import psycopg

    return psycopg.connect(
        host=os.environ["PG_HOST"],
        port=os.environ["PG_PORT"],
        user=os.environ["PG_USER"],
        password=os.environ["PG_PASSWORD"],
        dbname=os.environ["PG_DATABASE"],
        **kwargs,
    )
