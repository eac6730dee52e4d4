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
    ],
)
def test_a_bad_setting_fails_the_load_naming_it(
    name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=message) as raised:
        build_definitions()

    assert "secret" not in str(raised.value) and "token" not in str(raised.value)


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
