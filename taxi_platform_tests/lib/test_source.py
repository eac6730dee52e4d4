"""What the source client makes of answers: 403 like 404, and a landed file's identity."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import requests

from devstack.mirror import serve_directory
from taxi_platform.lib.source import (
    NotPublishedError,
    RemoteFile,
    download,
    probe,
    verify_parquet,
    verify_zone_lookup,
)


@pytest.mark.parametrize("status", [403, 404])
def test_a_missing_file_is_not_published_yet(tmp_path: Path, status: int) -> None:
    missing = "trip-data/yellow_tripdata_2031-01.parquet"
    with (
        serve_directory(tmp_path, missing_status=status) as url,
        requests.Session() as session,
        pytest.raises(NotPublishedError, match=f"not published yet.*answered {status}"),
    ):
        probe(session, f"{url}/{missing}", 5, attempts=1)


def test_identity_is_the_etag_else_size_and_last_modified() -> None:
    landed = RemoteFile("u", None, 100, "Mon, 01 Jan 2024 00:00:00 GMT", "abc")

    assert landed.same_as(RemoteFile("u", None, 100, "Mon, 01 Jan 2024 00:00:00 GMT"))
    assert not landed.same_as(RemoteFile("u", None, 100, "Tue, 02 Jan 2024 00:00:00 GMT"))
    assert RemoteFile("u", '"e1"', 100).same_as(RemoteFile("u", '"e1"', 100, "other date"))
    assert not RemoteFile("u", '"e1"', 100).same_as(RemoteFile("u", '"e2"', 100))


def test_a_download_records_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 1000)
    with serve_directory(tmp_path) as url, requests.Session() as session:
        remote = download(
            session, f"{url}/f.bin", tmp_path / "out.bin", timeout=5, attempts=1, backoff=0,
            log=logging.getLogger(__name__), verify=None,
        )  # fmt: skip

    assert remote.sha256 == hashlib.sha256(b"x" * 1000).hexdigest()
    assert remote.last_modified


def test_an_html_page_is_not_parquet(tmp_path: Path) -> None:
    page = tmp_path / "p.parquet"
    page.write_bytes(b"<html>" + b"x" * 3000 + b"</html>")

    with pytest.raises(ValueError, match="no PAR1 magic"):
        verify_parquet(page)


ZONE_HEADER = b'"LocationID","Borough","Zone","service_zone"\n'
ZONE_ROWS = b'1,"EWR","Newark Airport","EWR"\n2,"Queens","Jamaica Bay","Boro Zone"\n'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (ZONE_ROWS + b"<html><body>502 Bad Gateway</body></html>\n", "line 4 .*HTML"),
        (ZONE_ROWS + b"3,Manhattan", r"line 4 is not a zone row \(2 fields, not 4\)"),
        (ZONE_ROWS + b'3,"Manhattan,Alphabet City\n', "line 4 is not a zone row"),
        (ZONE_ROWS + b"three,Manhattan,Alphabet City,Yellow Zone\n", "'three' is not an integer"),
        (ZONE_ROWS + b"2,Manhattan,Alphabet City,Yellow Zone\n", "LocationID 2 repeated"),
        (b"\n", "header only"),
    ],
)
def test_a_zone_lookup_must_parse_completely(tmp_path: Path, body: bytes, reason: str) -> None:
    lookup = tmp_path / "taxi_zone_lookup.csv"
    lookup.write_bytes(ZONE_HEADER + body)

    with pytest.raises(ValueError, match=reason):
        verify_zone_lookup(lookup)


def test_a_zone_lookup_may_add_zones_but_not_drop_landed_ones(tmp_path: Path) -> None:
    lookup = tmp_path / "taxi_zone_lookup.csv"
    lookup.write_bytes(ZONE_HEADER + ZONE_ROWS)

    verify_zone_lookup(lookup, frozenset({1}))
    with pytest.raises(ValueError, match=r"would drop 1 of the landed zones \(LocationID 3\)"):
        verify_zone_lookup(lookup, frozenset({1, 2, 3}))
