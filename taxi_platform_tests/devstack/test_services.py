"""The local stack answers the official clients, restarts idempotently and stops cleanly."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from devstack import services
from devstack.services import (
    running_services,
    services_status,
    start_services,
    stop_services,
)

pytestmark = pytest.mark.integration

SERVICES = ("postgres", "gcs", "bigquery", "mirror", "redis")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services") / "state"


@pytest.fixture(scope="module")
def stack(state_dir: Path) -> Iterator[dict[str, str]]:
    with running_services(state_dir) as env:
        yield env


@pytest.fixture
def stack_environ(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in stack.items():
        monkeypatch.setenv(name, value)
    return stack


def pg_connect(env: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(
        host=env["PG_HOST"],
        port=int(env["PG_PORT"]),
        user=env["PG_USER"],
        password=env["PG_PASSWORD"],
        dbname=env["PG_DATABASE"],
        autocommit=True,
    )


def bq_client(env: dict[str, str]) -> bigquery.Client:
    return bigquery.Client(
        project=env["GCP_PROJECT"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=env["BIGQUERY_EMULATOR_HOST"]),
    )


def pids(state_dir: Path) -> dict[str, int]:
    files = {name: state_dir / "run" / f"{name}.pid" for name in SERVICES}
    files["postgres"] = state_dir / "postgres" / "data" / "postmaster.pid"
    return {name: int(path.read_text().split()[0]) for name, path in files.items()}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_postgres_accepts_taxi_with_its_password(stack: dict[str, str]) -> None:
    with pg_connect(stack) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("taxi",)
        owners = conn.execute(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database"
            " WHERE datname IN ('taxi', 'dagster') ORDER BY datname"
        ).fetchall()
        assert owners == [("dagster", "taxi"), ("taxi", "taxi")]
    with pytest.raises(psycopg.OperationalError):
        pg_connect({**stack, "PG_PASSWORD": "wrong"}).close()


def test_gcs_bucket_takes_and_returns_objects(stack_environ: dict[str, str]) -> None:
    bucket = storage.Client(project=stack_environ["GCP_PROJECT"]).bucket("taxi-lake")
    assert bucket.exists()
    blob = bucket.blob("tests/hello.txt")
    blob.upload_from_string(b"hello lake")
    assert bucket.blob("tests/hello.txt").download_as_bytes() == b"hello lake"


def test_bigquery_queries_and_loads_parquet_from_gcs(stack_environ: dict[str, str]) -> None:
    env = stack_environ
    client = bq_client(env)
    client.create_dataset(env["BQ_DATASET"], exists_ok=True)
    assert [tuple(row) for row in client.query("SELECT 1").result()] == [(1,)]

    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})
    local = Path(env["TAXI_LAKE_DIR"]) / "ids.parquet"
    pq.write_table(table, local)
    storage.Client(project=env["GCP_PROJECT"]).bucket(env["GCS_BUCKET"]).blob(
        "tests/ids.parquet"
    ).upload_from_filename(local)
    config = bigquery.LoadJobConfig(
        source_format="PARQUET",
        write_disposition="WRITE_TRUNCATE",
        schema=[bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("name", "STRING")],
    )
    table_id = f"{env['GCP_PROJECT']}.{env['BQ_DATASET']}.ids"
    uri = f"gs://{env['GCS_BUCKET']}/tests/ids.parquet"
    client.load_table_from_uri(uri, table_id, job_config=config).result(timeout=30)
    assert client.get_table(table_id).num_rows == 3
    # A multipart upload (media type */*), accepted thanks to the launcher's patch.
    with local.open("rb") as f:
        client.load_table_from_file(f, f"{table_id}_file", job_config=config).result(timeout=30)
    rows = client.query(f"SELECT SUM(id) AS s FROM `{env['BQ_DATASET']}.ids_file`").result()
    assert [row.s for row in rows] == [6]


def test_redis_answers_the_broker_url_and_only_with_its_password(
    stack: dict[str, str], state_dir: Path
) -> None:
    url = stack["TAXI_CELERY_BROKER_URL"]
    credentials, address = url.split("@")
    assert credentials.startswith("redis://:") and address.startswith("127.0.0.1:")

    with redis.Redis.from_url(url) as broker:
        assert broker.ping()
    with (
        redis.Redis.from_url(f"redis://:wrong@{address}") as stranger,
        pytest.raises(redis.AuthenticationError),
    ):
        stranger.ping()
    assert stat.S_IMODE((state_dir / "redis" / "redis.conf").stat().st_mode) == 0o600
    pid = pids(state_dir)["redis"]
    password = credentials.rsplit(":", 1)[1]
    assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_dagster_instance_storage_is_postgres(stack_environ: dict[str, str]) -> None:
    home = Path(stack_environ["DAGSTER_HOME"])
    assert (home / "dagster.yaml").is_file()
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
    with pg_connect({**stack_environ, "PG_DATABASE": "dagster"}) as conn:
        assert conn.execute("SELECT to_regclass('public.runs')").fetchone() == ("runs",)


def test_env_file_is_private_and_complete(stack: dict[str, str], state_dir: Path) -> None:
    env_sh = state_dir / "env.sh"
    assert stat.S_IMODE(env_sh.stat().st_mode) == 0o600
    assert stat.S_IMODE((state_dir / "secrets.json").stat().st_mode) == 0o600
    lines = env_sh.read_text().splitlines()
    assert lines == [f"export {name}='{value}'" for name, value in stack.items()]
    assert stack["TAXI_ENV"] == "local"
    assert stack["TLC_BASE_URL"].endswith("/")
    assert stack["DAGSTER_HOME"] == str(state_dir / "dagster_home")


def test_second_start_reuses_and_cli_hides_password(stack: dict[str, str], state_dir: Path) -> None:
    before = pids(state_dir)
    assert start_services(state_dir) == stack
    out = subprocess.run(
        [sys.executable, "-m", "devstack.services", "start", "--state-dir", state_dir],
        cwd=Path(services.__file__).parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert stack["PG_PASSWORD"] not in out
    for name in SERVICES:
        assert name in out
    assert pids(state_dir) == before
    assert services_status(state_dir) == dict.fromkeys(SERVICES, True)


def test_stop_frees_every_port_and_restart_keeps_data(
    stack_environ: dict[str, str], state_dir: Path
) -> None:
    env = stack_environ
    marker = uuid.uuid4().hex
    with pg_connect(env) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS markers (m text)")
        conn.execute("INSERT INTO markers VALUES (%s)", [marker])
    bucket = storage.Client(project=env["GCP_PROJECT"]).bucket(env["GCS_BUCKET"])
    bucket.blob(f"tests/{marker}").upload_from_string(marker)
    client = bq_client(env)
    client.query(
        f"CREATE OR REPLACE TABLE `{env['BQ_DATASET']}.m` AS SELECT '{marker}' AS m"
    ).result()
    with redis.Redis.from_url(env["TAXI_CELERY_BROKER_URL"]) as broker:
        broker.set("marker", marker)
    ports = json.loads((state_dir / "ports.json").read_text())

    stop_services(state_dir)
    assert [port for port in ports.values() if listening(port)] == []
    assert services_status(state_dir) == dict.fromkeys(SERVICES, False)

    assert start_services(state_dir) == env
    with pg_connect(env) as conn:
        assert conn.execute("SELECT m FROM markers WHERE m = %s", [marker]).fetchone()
    assert bucket.blob(f"tests/{marker}").download_as_text() == marker
    rows = client.query(f"SELECT m FROM `{env['BQ_DATASET']}.m`").result()
    assert [row.m for row in rows] == [marker]
    with redis.Redis.from_url(env["TAXI_CELERY_BROKER_URL"]) as broker:
        assert broker.get("marker") == marker.encode()  # the append-only file
