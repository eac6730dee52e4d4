"""Settings that would fail every run are refused when the definitions load, naming the
variable, and without printing credentials or query strings."""

from __future__ import annotations

import pytest

from taxi_platform.definitions import build_definitions
from taxi_platform.defs.resources import resources_for


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TLC_BASE_URL", "file:///etc/", r"refusing TLC_BASE_URL .*use an http"),
        ("TLC_BASE_URL", "127.0.0.1:8000/mirror", r"refusing TLC_BASE_URL .*use an http"),
        ("TLC_BASE_URL", "https://mirror.test/base?token=abc", r"refusing TLC_BASE_URL .*query"),
        (
            "TLC_BASE_URL",
            "https://user:secret@mirror.test/",
            r"refusing TLC_BASE_URL .*credentials",
        ),
        ("PG_SCHEMA", "pg_catalog", r"refusing PG_SCHEMA 'pg_catalog': a name the warehouse"),
        ("BQ_DATASET", "INFORMATION_SCHEMA", r"refusing BQ_DATASET 'INFORMATION_SCHEMA'"),
        ("TAXI_LAST_MONTH", "2021-13", r"TAXI_LAST_MONTH='2021-13' is not a YYYY-MM month"),
        ("TAXI_LAST_MONTH", "2012-05", r"TAXI_LAST_MONTH=2012-05 is before the first month of"),
        ("TLC_BASE_URL", "http://[::1", r"refusing TLC_BASE_URL 'http://\[::1': not a URL \("),
        (
            "TLC_BASE_URL",
            "http://127.0.0.1:abc/",
            r"refusing TLC_BASE_URL http://127.0.0.1:abc/: .*port",
        ),
        ("TLC_BASE_URL", "http://127.0.0.1:70000/", r"refusing TLC_BASE_URL .*: .*port"),
        ("TAXI_LAST_MONTH", " 2025-01", r"TAXI_LAST_MONTH=' 2025-01' is not a YYYY-MM month"),
        ("TAXI_LAST_MONTH", "+2025-01", r"TAXI_LAST_MONTH='\+2025-01' is not a YYYY-MM month"),
        ("TAXI_LAST_MONTH", "2025-1", r"TAXI_LAST_MONTH='2025-1' is not a YYYY-MM month"),
        (
            "TAXI_PUBLICATION_LAG_MONTHS",
            "x",
            r"refusing TAXI_PUBLICATION_LAG_MONTHS='x': use a whole",
        ),
        ("TAXI_SENSOR_INTERVAL_SECONDS", "0", r"refusing TAXI_SENSOR_INTERVAL_SECONDS='0': use a"),
        ("TAXI_SENSOR_MAX_REQUESTS", "0", r"refusing TAXI_SENSOR_MAX_REQUESTS='0': use a whole"),
        ("TAXI_SENSOR_RETRY_SECONDS", "abc", r"refusing TAXI_SENSOR_RETRY_SECONDS='abc': use a"),
        ("TAXI_RECHECK_MONTHS", "-3", r"refusing TAXI_RECHECK_MONTHS='-3': use a whole number"),
        ("TAXI_BACKFILL_MONTHS_PER_RUN", "0", r"refusing TAXI_BACKFILL_MONTHS_PER_RUN='0': use a"),
        ("TAXI_UI_URL", "nope", r"refusing TAXI_UI_URL \(no scheme\): use an http"),
        (
            "TAXI_SCHEDULE_TIMEZONE",
            "Mars/Base",
            r"refusing TAXI_SCHEDULE_TIMEZONE='Mars/Base': not",
        ),
        ("TAXI_SCHEDULE_CRON", "every day", r"refusing TAXI_SCHEDULE_CRON='every day': use a cron"),
        ("PG_PORT", "abc", r"refusing PG_PORT='abc': use a port number from 1 to 65535"),
        ("PG_PORT", "70000", r"refusing PG_PORT='70000': use a port number from 1 to 65535"),
        ("GCS_BUCKET", "A", r"refusing GCS_BUCKET 'A': use 3-63 lower-case"),
        ("GCP_PROJECT", "X", r"refusing GCP_PROJECT 'X': use 6-30 lower-case"),
        (
            "TAXI_ALERT_WEBHOOK_URL",
            "hooks.test/secret",
            r"refusing TAXI_ALERT_WEBHOOK_URL \(a secret, not shown\): use an http",
        ),
    ],
)
def test_a_bad_setting_fails_the_load_naming_it(
    name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=message) as raised:
        build_definitions()

    shown = str(raised.value)
    assert "secret" not in shown.replace("a secret, not shown", "") and "token" not in shown
    assert "\n" not in shown and name in shown


def test_an_empty_base_url_means_the_sources_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLC_BASE_URL", "")

    build_definitions()


@pytest.mark.parametrize("kept", ["1", "3", "5"])
def test_the_versions_kept_can_be_set(kept: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXI_LAKE_VERSIONS_KEPT", kept)
    monkeypatch.setenv("TAXI_LAKE_DIR", "/tmp/lake")

    build_definitions()  # the code location loads
    with resources_for("local")["lake"].process_config_and_initialize_cm() as lake:
        assert lake.versions_kept == int(kept)


@pytest.mark.parametrize("kept", ["0", "-2", "three"])
def test_a_bad_versions_kept_fails_the_load_naming_it(
    kept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_LAKE_VERSIONS_KEPT", kept)

    with pytest.raises(ValueError, match=rf"refusing TAXI_LAKE_VERSIONS_KEPT={kept!r}: use"):
        build_definitions()
