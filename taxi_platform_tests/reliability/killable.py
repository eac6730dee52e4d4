"""Child processes for the interruption tests: run one sink operation, to be SIGKILLed mid-way.

    python -m taxi_platform_tests.reliability.killable OP ARGS_JSON

The parent waits for a sign that the operation is under way (a temp file growing, COPY
progress in pg_stat_progress_copy, or a marker file written from inside the client library
after part of the work was sent) and then kills this process with SIGKILL. Connection
settings come from the environment of the test stack.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from taxi_platform.catalog import DATASETS_BY_NAME
from taxi_platform.lib.warehouse.sink import LakeMonth

HOLD_SECONDS = 60  # after the marker, wait here for the kill (far beyond any test's patience)


def _hold(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(HOLD_SECONDS)


def _parquet(args: dict[str, Any]) -> None:
    from taxi_platform.lib.lake import csv_to_parquet

    ds = DATASETS_BY_NAME[args["dataset"]]
    csv_to_parquet(Path(args["src"]), Path(args["dst"]), ds, args["month"])


def _gcs(args: dict[str, Any]) -> None:
    from google.cloud.storage._media.requests import ResumableUpload

    from taxi_platform.lib import gcs as gcs_upload
    from taxi_platform_tests.reliability.stack import gcs_bucket

    gcs_upload.UPLOAD_CHUNK_BYTES = 256 * 1024
    original = ResumableUpload.transmit_next_chunk
    sent = []

    def transmit_then_hold(self, *a, **kw):
        response = original(self, *a, **kw)
        sent.append(1)
        if len(sent) == args["hold_after_chunks"]:
            _hold(Path(args["marker"]))
        return response

    ResumableUpload.transmit_next_chunk = transmit_then_hold
    bucket = gcs_bucket()
    gcs_upload.upload_if_changed(bucket.client, bucket.name, args["key"], Path(args["path"]))


def _postgres(args: dict[str, Any]) -> None:
    from taxi_platform.lib.warehouse import postgres as postgres_engine
    from taxi_platform_tests.reliability.stack import pg_connect

    ds = DATASETS_BY_NAME[args["dataset"]]
    with pg_connect(application_name=args["application_name"]) as conn:
        lake_month = LakeMonth(args["month"], Path(args["path"]), "")
        postgres_engine.replace_months(conn, args["schema"], ds, [lake_month])


def _bigquery(args: dict[str, Any]) -> None:
    from google.cloud.bigquery.job import LoadJob

    from taxi_platform.lib.warehouse import bigquery as bigquery_engine
    from taxi_platform_tests.reliability.stack import bigquery_client

    original = LoadJob.result

    def submitted_then_hold(self, *a, **kw):
        _hold(Path(args["marker"]))  # the staging load is submitted; the swap is not
        return original(self, *a, **kw)

    LoadJob.result = submitted_then_hold
    ds = DATASETS_BY_NAME[args["dataset"]]
    lake_month = LakeMonth(args["month"], Path(args["path"]), args["uri"])
    bigquery_engine.replace_months(bigquery_client(), args["dataset_id"], ds, [lake_month])


OPS = {"parquet": _parquet, "gcs": _gcs, "postgres": _postgres, "bigquery": _bigquery}


if __name__ == "__main__":
    OPS[sys.argv[1]](json.loads(sys.argv[2]))
