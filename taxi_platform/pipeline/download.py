"""Download one source file into the lake: streamed, verified, atomic, retried with backoff."""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import requests

from taxi_platform.pipeline.files import atomic_write_path

CHUNK = 1 << 20
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RemoteFile:
    """What the source says about a file: enough to tell whether it changed."""

    url: str
    etag: str | None
    size: int | None

    def same_as(self, other: RemoteFile) -> bool:
        if self.etag and other.etag:
            return self.etag == other.etag and self.size == other.size
        return self.size is not None and self.size == other.size


class NotPublishedError(LookupError):
    """The source answered 404: the month is not published (yet)."""


class DownloadError(RuntimeError):
    """The file could not be fetched intact, even after retries."""


class _Retryable(Exception):
    pass


_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    _Retryable,
)


def _remote(response: requests.Response, url: str) -> RemoteFile:
    length = response.headers.get("Content-Length")
    return RemoteFile(
        url=url, etag=response.headers.get("ETag"), size=int(length) if length else None
    )


def _check_status(response: requests.Response, url: str) -> None:
    if response.status_code == 404:
        raise NotPublishedError(f"not published yet: {url} answered 404")
    if response.status_code in RETRY_STATUSES:
        raise _Retryable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DownloadError(f"{url} answered HTTP {response.status_code}")


def probe(session: requests.Session, url: str, timeout: float) -> RemoteFile:
    """HEAD the file (following redirects); raises NotPublishedError on 404."""
    response = session.head(url, timeout=timeout, allow_redirects=True)
    if response.status_code in RETRY_STATUSES:
        raise DownloadError(f"{url} answered HTTP {response.status_code}")
    _check_status(response, url)
    return _remote(response, url)


def verify_gzip(path: Path) -> None:
    """Decompress the whole file (checking its CRC); raises ValueError if it is not intact."""
    decomp = zlib.decompressobj(wbits=47)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            decomp.decompress(chunk)
            while decomp.eof and decomp.unused_data:
                rest = decomp.unused_data
                decomp = zlib.decompressobj(wbits=47)
                decomp.decompress(rest)
    if not decomp.eof:
        raise ValueError("gzip stream is truncated")


def _fetch_once(
    session: requests.Session, url: str, dst: Path, timeout: float, gzip_expected: bool
) -> RemoteFile:
    started = time.monotonic()
    with session.get(url, stream=True, timeout=timeout) as response:
        _check_status(response, url)
        remote = _remote(response, url)
        with atomic_write_path(dst) as tmp:
            written = 0
            with tmp.open("wb") as fh:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
                    written += len(chunk)
                    if time.monotonic() - started > timeout * 10:
                        raise _Retryable(f"download slower than {timeout * 10:.0f}s in total")
            if remote.size is not None and written != remote.size:
                raise _Retryable(f"body has {written} bytes, Content-Length says {remote.size}")
            if gzip_expected:
                try:
                    verify_gzip(tmp)
                except (ValueError, zlib.error) as err:
                    raise DownloadError(f"{url} is not a valid gzip file: {err}") from err
    return RemoteFile(url=url, etag=remote.etag, size=written)


def download(
    session: requests.Session,
    url: str,
    dst: Path,
    *,
    timeout: float,
    attempts: int,
    backoff: float,
    log: logging.Logger | logging.LoggerAdapter,
    gzip_expected: bool = True,
) -> RemoteFile:
    """Fetch `url` into `dst` atomically; retries 5xx, timeouts and dropped connections."""
    attempt = 1
    while True:
        try:
            return _fetch_once(session, url, dst, timeout, gzip_expected)
        except _TRANSIENT as err:
            reason = str(err) or type(err).__name__
            if attempt >= attempts:
                raise DownloadError(f"{url}: gave up after {attempts} attempts: {reason}") from err
            delay = backoff * 2 ** (attempt - 1)
            log.warning(
                f"download attempt {attempt}/{attempts} of {url} failed ({reason});"
                f" retrying in {delay:.1f}s"
            )
            time.sleep(delay)
            attempt += 1
