"""Security: secrets stay out of logs, run metadata, the event log and exception messages;
names from configuration are validated before any SQL; everything listens on 127.0.0.1.

The secret-scanning tests run real materializations (the prod code path for credentials:
`GCP_CREDENTIALS` as a base64 service-account JSON, whose token endpoint is a local fake, with
BigQuery calls going to the emulator) on a persistent Dagster instance in a temp dir, then
grep every file of that instance (run and event-log storage, compute logs) plus the captured
Python logs and output for each secret value.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import dagster as dg
import psutil
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import dagster_ui, services
from taxi_platform.catalog import COURSE_MIRROR, GREEN, YELLOW, trips_table
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import (
    BigQueryDatasetResource,
    PostgresResource,
    SourceDownloader,
    resources_for,
)
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.lib import gcs as gcs_upload
from taxi_platform.lib.source import DownloadError, download
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform.lib.warehouse.sink import LakeMonth

REPO = Path(__file__).resolve().parents[2]
HOSTILE_NAMES = [
    'x"; DROP TABLE y; --',
    "taxi`; DROP TABLE taxi.yellow_trips; --",
    "taxi.yellow_trips",
    "taxi y",
    "1taxi",
    "",
    "a" * 64,
    "täxi",
]


# --- secrets ------------------------------------------------------------------------------------


class _TokenEndpoint(BaseHTTPRequestHandler):
    """OAuth token endpoint of the fake service account: grants any signed assertion."""

    grants: list[str] = []

    def do_POST(self) -> None:
        form = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.grants.append(form)
        body = json.dumps(
            {"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing per request."""


@pytest.fixture(scope="module")
def token_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


def _service_account(token_url: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "taxi-local",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": "loader@taxi-local.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_url,
    }


@pytest.fixture
def secret_env(
    stack: dict[str, str], token_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Prod-style secrets in the environment; returns each secret value by name."""
    account = _service_account(token_url)
    credentials = base64.b64encode(json.dumps(account).encode()).decode()
    webhook = f"http://127.0.0.1:9/services/T0/B0/{secrets.token_urlsafe(24)}"
    monkeypatch.setenv("GCP_CREDENTIALS", credentials)
    monkeypatch.setenv("TAXI_ALERT_WEBHOOK_URL", webhook)
    monkeypatch.setenv("TAXI_ENV", "prod")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    key_body = "".join(account["private_key"].splitlines()[1:-1])
    return {
        "PG_PASSWORD": stack["PG_PASSWORD"],
        "GCP_CREDENTIALS": credentials,
        "private_key": key_body[100:160],  # any stretch of the key material
        "private_key_id": account["private_key_id"],
        "TAXI_ALERT_WEBHOOK_URL": webhook,
        "webhook_token": webhook.rsplit("/", 1)[1],
    }


def _leaks(secret_values: dict[str, str], instance_dir: Path, *texts: str) -> list[tuple[str, str]]:
    """(secret name, where) for every secret found in the instance's files or in `texts`."""
    found = []
    files = [p for p in instance_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "no event log storage to scan"
    assert any(p.suffix == ".err" for p in files), "no compute logs to scan"
    for name, value in secret_values.items():
        needle = value.encode()
        found += [(name, str(p)) for p in files if needle in p.read_bytes()]
        found += [(name, f"text #{i}") for i, text in enumerate(texts) if value in text]
    return found


def _messages(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> list[str]:
    """Every log line, failure message and cause of the run."""
    lines = [entry.user_message for entry in instance.all_logs(result.run_id)]
    for failure in result.get_step_failure_events():
        error = failure.step_failure_data.error
        while error is not None:
            lines.append(error.to_string())
            error = error.cause or error.context
    return lines


@pytest.mark.integration
def test_secrets_stay_out_of_event_log_compute_logs_and_messages(
    secret_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    instance_dir = tmp_path / "dagster_home"
    instance_dir.mkdir()
    instance = dg.DagsterInstance.local_temp(str(instance_dir))
    resources = resources_for("prod")
    resources["downloader"] = SourceDownloader(
        base_url=dg.EnvVar("TLC_BASE_URL"), backoff_seconds=0.05
    )
    try:
        ok = dg.materialize(
            build_trip_assets(GREEN, monthly_partitions(), COURSE_MIRROR),
            partition_key="2021-01",
            resources=resources,
            instance=instance,
        )
        messages = _messages(ok, instance)
    finally:
        instance.dispose()

    assert ok.success
    assert _TokenEndpoint.grants, "BigQuery did not authenticate with the service account"
    assert _leaks({"run_id": ok.run_id}, instance_dir), "the scan reads nothing"
    bigquery_event = next(
        e
        for e in ok.get_asset_materialization_events()
        if e.asset_key == trip_asset_keys(GREEN)["bigquery"]
    )
    assert bigquery_event.materialization.metadata["dagster/row_count"].value > 0
    out, err = capfd.readouterr()
    assert _leaks(secret_env, instance_dir, caplog.text, out, err, *messages) == []


@pytest.fixture
def wrong_secrets(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A wrong PostgreSQL password and a mirror URL with credentials, for failing runs."""
    values = {
        "PG_PASSWORD": f"wrong-{secrets.token_urlsafe(16)}",
        "mirror_password": secrets.token_urlsafe(16),
    }
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("PG_PASSWORD", values["PG_PASSWORD"])
    monkeypatch.setenv(
        "TLC_BASE_URL", f"http://mirror:{values['mirror_password']}@127.0.0.1:{closed_port}/"
    )
    return values


@dg.asset
def postgres_probe(postgres: PostgresResource) -> None:
    """Connects to the sink: fails with the connection's error when the password is wrong."""
    with postgres.connect() as conn:
        conn.execute("SELECT 1")


@pytest.mark.integration
def test_failing_runs_name_the_connection_but_not_the_secret(
    wrong_secrets: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    instance_dir = tmp_path / "dagster_home"
    instance_dir.mkdir()
    instance = dg.DagsterInstance.local_temp(str(instance_dir))
    [raw] = [
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    ]
    with pytest.raises(ValueError, match="refusing TLC_BASE_URL") as refused:
        resources_for("local")  # a URL with credentials is refused when definitions load
    assert wrong_secrets["mirror_password"] not in str(refused.value)
    with pytest.MonkeyPatch.context() as env:
        env.delenv("TLC_BASE_URL")
        resources = resources_for("local")
    # The download path still never prints them, should such a URL reach it.
    resources["downloader"] = SourceDownloader(
        base_url=dg.EnvVar("TLC_BASE_URL"), max_attempts=2, backoff_seconds=0.01
    )
    try:
        failed = dg.materialize(
            [raw, postgres_probe],
            partition_key="2021-01",
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
        messages = _messages(failed, instance)
    finally:
        instance.dispose()

    assert not failed.success
    text = "\n".join(messages)
    assert 'password authentication failed for user "taxi"' in text
    assert "connection refused" in text and "http://127.0.0.1:" in text
    out, err = capfd.readouterr()
    assert _leaks(wrong_secrets, instance_dir, caplog.text, out, err, *messages) == []


def test_download_messages_show_urls_without_credentials(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://user:hunter2@127.0.0.1:{port}/yellow/f.csv.gz?token=abc123"
    log = logging.getLogger("test_download_messages")

    import requests

    with requests.Session() as session, pytest.raises(DownloadError) as error:
        download(session, url, tmp_path / "f", timeout=1, attempts=2, backoff=0, log=log)

    message = str(error.value)
    assert f"http://127.0.0.1:{port}/yellow/f.csv.gz" in message
    assert "hunter2" not in message and "abc123" not in message and "user" not in message


def test_alert_webhook_errors_do_not_contain_the_url() -> None:
    import requests

    from taxi_platform.defs.resources import AlertWebhook

    token = secrets.token_urlsafe(24)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = AlertWebhook(url=f"http://127.0.0.1:{port}/services/{token}", timeout_seconds=2)

    with pytest.raises(requests.RequestException) as error:
        hook.post("a run failed")

    assert token not in str(error.value) and token not in repr(error.value)


def test_resource_reprs_hide_secrets() -> None:
    from taxi_platform.defs.resources import AlertWebhook

    shown = [
        repr(PostgresResource(host="h", user="u", password="pg-secret", database="d")),
        repr(AlertWebhook(url="http://127.0.0.1/hook-secret")),
        repr(BigQueryDatasetResource(project="taxi-local", gcp_credentials="gcp-secret")),
    ]
    assert not [s for s in shown if "secret" in s]


# --- identifiers from configuration -------------------------------------------------------------


class _NoSqlAllowed:
    """A connection/client stand-in that fails the test if anything is sent through it."""

    project = "taxi-local"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was called: a statement or request ran before the refusal")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_postgres_schema_is_refused_before_any_sql(name: str, tmp_path: Path) -> None:
    conn: Any = _NoSqlAllowed()
    month, src = "2021-01", tmp_path / "unused.parquet"

    with pytest.raises(ValueError, match=r"refusing PostgreSQL schema"):
        _ = PostgresResource(
            host="h", user="u", password="p", database="d", schema_name=name
        ).schema
    for call in (
        lambda: postgres_engine.ensure_trips_table(conn, name, YELLOW),
        lambda: postgres_engine.month_row_counts(conn, name, trips_table(YELLOW), [month]),
        lambda: postgres_engine.replace_months(conn, name, YELLOW, [LakeMonth(month, src, "")]),
    ):
        with pytest.raises(ValueError, match=r"refusing PostgreSQL schema .*: use 1-63 letters"):
            call()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_bigquery_dataset_is_refused_before_any_request(name: str) -> None:
    client: Any = _NoSqlAllowed()
    month, uri = "2021-01", "gs://taxi-lake/data/yellow/x.parquet"
    src = Path("unused.parquet")

    with pytest.raises(ValueError, match=r"refusing BigQuery dataset"):
        _ = BigQueryDatasetResource(project="taxi-local", dataset=name).dataset_id
    for call in (
        lambda: bigquery_engine.ensure_trips_table(client, name, YELLOW),
        lambda: bigquery_engine.month_row_counts(client, name, trips_table(YELLOW), [month]),
        lambda: bigquery_engine.replace_months(client, name, YELLOW, [LakeMonth(month, src, uri)]),
    ):
        with pytest.raises(ValueError, match=r"refusing BigQuery dataset"):
            call()


@pytest.mark.parametrize("project", ["taxi-local`; DROP", "Taxi-Local", "x", "p.q"])
def test_hostile_gcp_project_is_refused(project: str) -> None:
    client: Any = _NoSqlAllowed()
    client.__dict__["project"] = project

    with pytest.raises(ValueError, match=r"refusing GCP project id"):
        bigquery_engine.replace_months(
            client, "taxi", YELLOW, [LakeMonth("2021-01", Path("unused.parquet"), "gs://b/k")]
        )


@pytest.mark.parametrize("bucket", ["../etc", "Taxi-Lake", "a", "lake/../../x", "x..y"])
def test_hostile_gcs_bucket_is_refused(bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    path.write_bytes(b"PAR1")

    with pytest.raises(ValueError, match=r"refusing GCS bucket"):
        gcs_upload.upload_if_changed(_NoSqlAllowed(), bucket, "data/x.parquet", path)


@pytest.mark.integration
def test_hostile_schema_leaves_the_database_untouched(local_resources: dict[str, Any]) -> None:
    postgres = local_resources["postgres"]
    with postgres.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.y (id int)")
        conn.commit()
        with pytest.raises(ValueError, match="refusing PostgreSQL schema"):
            postgres_engine.replace_months(
                conn, HOSTILE_NAMES[0], YELLOW, [LakeMonth("2021-01", Path("unused.parquet"), "")]
            )
        conn.rollback()
        assert conn.execute("SELECT to_regclass('public.y')").fetchone()[0] == "y"
        schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'x%'")
        assert schemas.fetchall() == []


# --- loopback only ------------------------------------------------------------------------------


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _listening(pids: set[int]) -> list[tuple[str, int, int]]:
    return [
        (c.laddr.ip, c.laddr.port, c.pid)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


@pytest.mark.integration
def test_local_services_listen_on_loopback_only(stack_dir: Path, stack: dict[str, str]) -> None:
    pid_files = [*(stack_dir / "run").glob("*.pid"), stack_dir / "postgres/data/postmaster.pid"]
    roots = {int(p.read_text().split()[0]) for p in pid_files if p.exists()}
    pids = set(roots)
    for pid in roots:
        pids |= {child.pid for child in psutil.Process(pid).children(recursive=True)}

    sockets = _listening(pids)

    ports = json.loads((stack_dir / "ports.json").read_text())
    assert {port for _, port, _ in sockets} >= {ports[n] for n in ("postgres", "gcs", "bigquery")}
    assert [s for s in sockets if not _loopback(s[0])] == []


def test_dagster_dev_is_started_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ports.json").write_text(
        json.dumps({"mirror": 1, "gcs": 2, "bigquery": 3, "postgres": 4, "redis": 5})
    )
    (tmp_path / "secrets.json").write_text(json.dumps({"pg_password": "x", "redis_password": "y"}))
    started: list[list[str]] = []

    class _Process:
        pid = 0

        def __init__(self, argv: list[str], **kwargs: object) -> None:
            started.append(argv)

    monkeypatch.setattr(dagster_ui.subprocess, "Popen", _Process)
    monkeypatch.setattr(dagster_ui, "wait_ready", lambda url, timeout=120: None)

    url = dagster_ui.start_ui(tmp_path, port=3999)

    [argv] = started
    assert argv[argv.index("dev") :].count("--host") == 1
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert url.startswith("http://127.0.0.1:")


def test_services_and_mirrors_bind_loopback() -> None:
    assert services.HOST == "127.0.0.1"
    from devstack.faulty_mirror import serve_faulty
    from devstack.mirror import serve_directory

    with serve_directory(REPO) as url:
        assert url.startswith("http://127.0.0.1:")
    with serve_faulty(REPO) as (url, _):
        assert url.startswith("http://127.0.0.1:")


def test_docker_compose_publishes_ports_on_loopback_only() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())

    published = [
        (name, port)
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    ]

    def loopback(port: str | dict) -> bool:  # short ("IP:HOST:CONTAINER") or long syntax
        if isinstance(port, dict):
            return port.get("host_ip") == "127.0.0.1"
        return str(port).startswith("127.0.0.1:")

    assert published, "docker-compose.yaml publishes no port"
    assert [p for p in published if not loopback(p[1])] == []
