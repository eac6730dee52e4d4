"""The run-failure alert, POSTing to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from devstack.mirror import serve_directory
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.alerts import build_failure_alert_sensor, is_ours, job_label
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import AlertWebhook, LakeResource, SourceDownloader
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.defs.zones import build_zone_assets
from taxi_platform.settings import load_settings

RANGE = {
    "dagster/asset_partition_range_start": "2019-03",
    "dagster/asset_partition_range_end": "2019-05",
}


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    write_month(YELLOW, "2019-01", 20, tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        yield url


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.bodies = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.bodies
    finally:
        server.shutdown()


def _failed_run_alert(mirror: str, tmp_path: Path, webhook: AlertWebhook) -> None:
    """Fail a run (a month the mirror lacks), then evaluate the failure sensor on it."""
    raw = next(
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [raw],
            partition_key="2019-03",
            instance=instance,
            raise_on_error=False,
            resources={
                "downloader": SourceDownloader(base_url=mirror),
                "lake": LakeResource(root=str(tmp_path)),
            },
        )
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"alert_webhook": webhook},
        ).for_run_failure()
        build_failure_alert_sensor(load_settings())(context)


def test_failed_run_posts_slack_json_to_the_webhook(mirror, receiver, tmp_path: Path) -> None:
    url, bodies = receiver

    _failed_run_alert(mirror, tmp_path, AlertWebhook(url=url))

    [body] = bodies
    text = body["text"]
    assert "partition 2019-03" in text
    assert "raw__yellow__yellow_trips_raw" in text
    assert "raw__yellow__yellow_trips_raw: yellow 2019-03: not published yet" in text  # plain words
    assert "dagster._core" not in text and "Failure:" not in text
    assert "/runs/" in text


def test_unreachable_webhook_or_none_configured_raises_nothing(mirror, tmp_path: Path) -> None:
    _failed_run_alert(mirror, tmp_path, AlertWebhook(url=_closed_port_url(), timeout_seconds=2))
    _failed_run_alert(mirror, tmp_path, AlertWebhook())


def _location(mirror: str, tmp_path: Path) -> dg.Definitions:
    """Yellow's five assets, its job and the zones, with the resources a raw step needs (the
    others are never set up: every run here fails at its raw step)."""
    placeholder = dg.ResourceDefinition.none_resource()
    return dg.Definitions(
        assets=[*build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)]
        + build_zone_assets(COURSE_MIRROR),
        jobs=[dg.define_asset_job("yellow_monthly", selection=dg.AssetSelection.groups("yellow"))],
        resources={
            "downloader": SourceDownloader(base_url=mirror),
            "lake": LakeResource(root=str(tmp_path)),
            **dict.fromkeys(("gcs", "bigquery", "postgres"), placeholder),
        },
    )


def _alert_on_asset_run(
    defs: dg.Definitions, url: str, keys: set[dg.AssetKey], tags: Mapping[str, str]
) -> None:
    """Fail a run of Dagster's `__ASSET_JOB` over `keys`, as `dg launch --assets` makes it, then
    evaluate the failure sensor on it in this code location."""
    repo = defs.get_repository_def()
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=list(keys), tags=tags, raise_on_error=False
        )
        assert not result.success and result.dagster_run.job_name == "__ASSET_JOB"
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"alert_webhook": AlertWebhook(url=url)},
            repository_def=repo,
        ).for_run_failure()
        build_failure_alert_sensor(load_settings())(context)


@pytest.mark.parametrize(
    ("tags", "partition"),
    [
        ({"dagster/partition": "2019-03"}, "partition 2019-03"),
        (RANGE, "partition 2019-03..2019-05"),
    ],
)
def test_an_asset_run_alert_names_the_datasets_job_and_its_months(
    mirror, receiver, tmp_path: Path, tags: dict[str, str], partition: str
) -> None:
    url, bodies = receiver
    defs = _location(mirror, tmp_path)

    _alert_on_asset_run(defs, url, set(trip_asset_keys(YELLOW).values()), tags)

    [body] = bodies
    first_line = body["text"].splitlines()[0]
    assert first_line == f"taxi_platform run failed: job yellow_monthly, {partition}"
    assert (
        "failed step raw__yellow__yellow_trips_raw: yellow 2019-03: not published yet"
        in (body["text"])
    )


def test_an_asset_run_names_whole_groups_and_single_assets(mirror, tmp_path: Path) -> None:
    repo = _location(mirror, tmp_path).get_repository_def()
    zones = repo.asset_graph.get_all_asset_keys() - set(trip_asset_keys(YELLOW).values())
    raw = trip_asset_keys(YELLOW)["raw"]

    def label(keys: set[dg.AssetKey], job: str = "__ASSET_JOB") -> str:
        return job_label(dg.DagsterRun(job_name=job, asset_selection=frozenset(keys)), repo)

    assert label(zones) == "assets group:zones"
    assert label({raw}) == "assets raw/yellow/yellow_trips_raw"
    assert label(zones | {raw}) == "assets group:zones, raw/yellow/yellow_trips_raw"
    assert label({raw}, job="yellow_monthly") == "job yellow_monthly"


def test_runs_of_other_code_locations_are_not_ours(mirror, tmp_path: Path) -> None:
    repo = _location(mirror, tmp_path).get_repository_def()
    raw = trip_asset_keys(YELLOW)["raw"]

    assert is_ours(dg.DagsterRun(job_name="yellow_monthly"), repo)
    assert is_ours(dg.DagsterRun(job_name="__ASSET_JOB", asset_selection=frozenset({raw})), repo)
    assert not is_ours(dg.DagsterRun(job_name="their_job"), repo)
    other = frozenset({dg.AssetKey("their_asset")})
    assert not is_ours(dg.DagsterRun(job_name="__ASSET_JOB", asset_selection=other), repo)
