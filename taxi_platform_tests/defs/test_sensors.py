"""The new-month sensor and the run-failure alert, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from devstack.mirror import serve_directory
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import AlertWebhook, LakeResource, SourceDownloader
from taxi_platform.defs.sensors import build_failure_alert_sensor, build_new_month_sensor
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.settings import load_settings

JOB = dg.define_asset_job("yellow_monthly", selection=dg.AssetSelection.groups("yellow"))
SENSOR = build_new_month_sensor(
    YELLOW, COURSE_MIRROR, JOB.name, monthly_partitions("2019-06"), load_settings()
)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    write_month(YELLOW, "2019-01", 20, tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        yield url


def _tick(
    instance: dg.DagsterInstance, base_url: str, cursor: str | None = None, lake: str = "lake"
):
    resources = {"downloader": SourceDownloader(base_url=base_url), "lake": LakeResource(root=lake)}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return SENSOR(context), context.cursor


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_published_month_is_requested_once_then_nothing_new(mirror: str) -> None:
    with dg.instance_for_test() as instance:
        first, cursor = _tick(instance, mirror)
        second, cursor_after = _tick(instance, mirror, cursor)

    [request] = first
    assert (request.partition_key, request.run_key) == ("2019-01", "yellow:2019-01:1")
    assert isinstance(second, dg.SkipReason)
    assert second.skip_message == "yellow 2019-02 is not published yet"
    assert cursor_after == cursor


def test_materialized_months_are_not_requested_again(mirror: str, tmp_path: Path) -> None:
    raw = next(
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    )
    with dg.instance_for_test() as instance:
        dg.materialize(
            [raw],
            partition_key="2019-01",
            instance=instance,
            resources={
                "downloader": SourceDownloader(base_url=mirror),
                "lake": LakeResource(root=str(tmp_path / "lake")),
            },
        )
        result, _ = _tick(instance, mirror, lake=str(tmp_path / "lake"))

    assert isinstance(result, dg.SkipReason)
    assert "2019-02" in result.skip_message


def test_a_reissued_month_is_requested_again(mirror: str, tmp_path: Path) -> None:
    raw = next(
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    )
    lake = str(tmp_path / "lake")
    resources = {"downloader": SourceDownloader(base_url=mirror), "lake": LakeResource(root=lake)}
    with dg.instance_for_test() as instance:
        dg.materialize([raw], partition_key="2019-01", instance=instance, resources=resources)
        unchanged, _ = _tick(instance, mirror, lake=lake)
        write_month(YELLOW, "2019-01", 25, tmp_path / "mirror")  # the TLC re-issues the month
        reissued, _ = _tick(instance, mirror, lake=lake)

    assert isinstance(unchanged, dg.SkipReason)
    [request] = reissued
    assert request.partition_key == "2019-01"
    assert request.run_key.startswith("yellow:2019-01:")


def test_unreachable_source_backs_off_with_a_one_line_reason() -> None:
    with dg.instance_for_test() as instance:
        first, cursor = _tick(instance, _closed_port_url())
        second, _ = _tick(instance, _closed_port_url(), cursor)

    assert isinstance(first, dg.SkipReason)
    assert "source unreachable while probing yellow 2019-01" in first.skip_message
    assert "\n" not in first.skip_message
    assert isinstance(second, dg.SkipReason)
    assert "next probe after" in second.skip_message


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
