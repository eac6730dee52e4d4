"""What the source client makes of answers: 403 like 404, and a landed file's identity."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import requests

from devstack.mirror import serve_directory
from taxi_platform.lib.source import NotPublishedError, RemoteFile, download, probe, verify_parquet


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
