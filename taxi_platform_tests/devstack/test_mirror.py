import random
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from urllib.error import HTTPError

import pytest

from devstack import mirror
from devstack.mirror import serve_directory

REPO = Path(mirror.__file__).parents[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "mirror"
    root.mkdir()
    with serve_directory(root) as url:
        yield root, url


def fetch(url: str, method: str = "GET") -> tuple[Message, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, method=method)) as response:
        return response.headers, response.read()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_get_streams_the_file(served: tuple[Path, str]) -> None:
    root, url = served
    data = random.Random(0).randbytes(3_000_000)
    write(root / "yellow" / "yellow_tripdata_2021-01.csv.gz", data)
    headers, body = fetch(url + "yellow/yellow_tripdata_2021-01.csv.gz")
    assert body == data
    assert headers["Content-Length"] == str(len(data))
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Last-Modified"]


def test_head_matches_get(served: tuple[Path, str]) -> None:
    root, url = served
    write(root / "misc" / "taxi_zone_lookup.csv", b"LocationID,Borough\n1,EWR\n")
    head, body = fetch(url + "misc/taxi_zone_lookup.csv", "HEAD")
    get, _ = fetch(url + "misc/taxi_zone_lookup.csv")
    assert body == b""
    assert head["Content-Length"] == get["Content-Length"] == "25"
    assert head["ETag"] == get["ETag"]
    assert head["ETag"].startswith('"') and head["ETag"].endswith('"')


def test_etag_follows_content(served: tuple[Path, str]) -> None:
    root, url = served
    write(root / "a.csv.gz", b"first")
    first = fetch(url + "a.csv.gz", "HEAD")[0]["ETag"]
    assert fetch(url + "a.csv.gz", "HEAD")[0]["ETag"] == first
    write(root / "a.csv.gz", b"other")
    assert fetch(url + "a.csv.gz", "HEAD")[0]["ETag"] != first
    write(root / "a.csv.gz", b"first")
    assert fetch(url + "a.csv.gz", "HEAD")[0]["ETag"] == first


@pytest.mark.parametrize("path", ["missing.csv.gz", "sub/", "sub", "%2e%2e/outside.txt"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_404_for_anything_but_a_file_under_root(
    served: tuple[Path, str], path: str, method: str
) -> None:
    root, url = served
    (root / "sub").mkdir()
    (root.parent / "outside.txt").write_text("secret")
    with pytest.raises(HTTPError) as error:
        fetch(url + path, method)
    assert error.value.code == 404


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_403_like_cloudfront_when_configured(tmp_path: Path, method: str) -> None:
    write(tmp_path / "trip-data" / "fhv_tripdata_2026-07.parquet", b"PAR1")
    with serve_directory(tmp_path, missing_status=403) as url:
        assert fetch(url + "trip-data/fhv_tripdata_2026-07.parquet", method)[0]["ETag"]
        with pytest.raises(HTTPError) as error:
            fetch(url + "trip-data/fhv_tripdata_2026-08.parquet", method)
    assert error.value.code == 403


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_cli_serves_until_signalled(tmp_path: Path, stop: signal.Signals) -> None:
    write(tmp_path / "f.txt", b"payload")
    command = [sys.executable, "-m", "devstack.mirror", "--root", str(tmp_path)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert fetch(url + "f.txt")[1] == b"payload"
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
