"""Download one source file into the lake: streamed, verified, atomic, retried with backoff.

Failure handling (each case has a test in taxi_platform_tests/reliability/test_source_faults.py):
- 408, 429 and 5xx answers, connect/read timeouts, connections dropped mid-body and bodies
  shorter than their Content-Length are transient: retried up to `attempts` times with
  exponential backoff (a numeric Retry-After is honoured, up to MAX_RETRY_AFTER_S), each retry
  logged as a warning.
- 403 (the TLC's CDN) and 404 raise NotPublishedError ("not published yet"); other 4xx raise
  DownloadError at once.
- Every read waits at most `timeout` seconds, and one attempt at most `attempt_timeout`
  (default: 10 x `timeout`), so a slow or stalled source cannot hang a run.
- A body that arrives complete but is not an intact gzip or parquet file (truncated, corrupt,
  an HTML page) raises DownloadError without retrying: the server would send the same bytes.
- The body is written to a temp file and renamed over the destination only when complete and
  verified, so the lake keeps the previously landed file (or nothing) when a download fails.
Messages name the file (whose name carries the month) and show the URL without credentials
or query string.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.parquet as pq
import requests
import urllib3

from taxi_platform.catalog import source_record_path
from taxi_platform.lib.files import atomic_write_path, atomic_write_text
from taxi_platform.lib.zones import zone_ids

CHUNK = 1 << 20
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
UNPUBLISHED_STATUSES = frozenset({403, 404})  # the TLC's CDN answers 403 for a missing file
MAX_RETRY_AFTER_S = 60.0
ATTEMPT_TIMEOUT_FACTOR = 10
PROBE_ATTEMPTS = 3
PROBE_BACKOFF_S = 1.0
PARQUET_MAGIC = b"PAR1"
_HEADERS = {"Accept-Encoding": "identity"}  # land the bytes as published, never re-encoded

_log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RemoteFile:
    """What the source says about a file, and (once landed) the sha256 of its bytes."""

    url: str
    etag: str | None
    size: int | None
    last_modified: str | None = None
    sha256: str | None = None

    def same_as(self, other: RemoteFile) -> bool:
        """Whether a probe (`other`) names the bytes this record landed, without fetching them:
        the same ETag where the server sends one, else the same size and Last-Modified."""
        if self.etag and other.etag:
            return self.etag == other.etag and self.size == other.size
        return (
            self.size is not None
            and self.last_modified is not None
            and (self.size, self.last_modified) == (other.size, other.last_modified)
        )


def read_record(landed: Path) -> RemoteFile | None:
    """The record written beside a landed file, if it still describes that file."""
    path = source_record_path(landed)
    if not landed.exists() or not path.exists():
        return None
    try:
        record = RemoteFile(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError):
        return None
    return record if record.size == landed.stat().st_size else None


def write_record(landed: Path, remote: RemoteFile) -> None:
    """Record beside a landed file what the source said about it."""
    atomic_write_text(source_record_path(landed), json.dumps(dataclasses.asdict(remote)))


class NotPublishedError(LookupError):
    """The source answered 403 or 404 (UNPUBLISHED_STATUSES): the month is not published (yet)."""


class DownloadError(RuntimeError):
    """The file could not be fetched intact, even after retries."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # read timeouts, resets and short bodies while streaming
    ConnectionError,
    TimeoutError,
    _Retryable,
)


def shown_url(url: str) -> str:
    """`url` without user:password and query string, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _file_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1] or shown_url(url)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None


def _remote(response: requests.Response, url: str) -> RemoteFile:
    length = response.headers.get("Content-Length")
    return RemoteFile(
        url=url,
        etag=response.headers.get("ETag"),
        size=int(length) if length else None,
        last_modified=response.headers.get("Last-Modified"),
    )


def _check_status(response: requests.Response, url: str) -> None:
    if response.status_code in UNPUBLISHED_STATUSES:
        raise NotPublishedError(
            f"not published yet: {_file_name(url)}"
            f" ({shown_url(url)} answered {response.status_code})"
        )
    if response.status_code in RETRY_STATUSES:
        raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
    if response.status_code >= 400:
        raise DownloadError(
            f"{_file_name(url)}: {shown_url(url)} answered HTTP {response.status_code}"
        )


def _retrying(
    what: str,
    url: str,
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    log: logging.Logger | logging.LoggerAdapter,
) -> T:
    """Run `call()` until it succeeds, retrying transient errors with exponential backoff."""
    attempt = 1
    while True:
        try:
            result = call()
        except _TRANSIENT as err:
            reason = _reason(err)
            if attempt >= attempts:
                raise DownloadError(
                    f"{_file_name(url)}: {what} gave up after {attempts} attempt(s): {reason}"
                    f" ({shown_url(url)})"
                ) from None
            delay = backoff * 2 ** (attempt - 1)
            if isinstance(err, _Retryable) and err.retry_after is not None:
                delay = max(delay, err.retry_after)
            log.warning(
                f"{what} attempt {attempt}/{attempts} of {shown_url(url)} failed ({reason});"
                f" retrying in {delay:.2f}s"
            )
            time.sleep(delay)
            attempt += 1
            continue
        if attempt > 1:
            log.info(f"{what} of {shown_url(url)} succeeded on attempt {attempt}/{attempts}")
        return result


def _reason(err: BaseException) -> str:
    """A short cause, without the URLs that requests/urllib3 put into their messages."""
    if isinstance(err, _Retryable):
        return str(err)
    if isinstance(err, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    seen: list[BaseException] = []
    todo: list[BaseException] = [err]
    while todo and len(seen) < 10:
        cause = todo.pop()
        seen.append(cause)
        if isinstance(cause, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
            return "body shorter than Content-Length (connection closed early)"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "connection dropped mid-transfer"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        todo += [a for a in cause.args if isinstance(a, BaseException)]
        todo += [c for c in (cause.__cause__, cause.__context__) if c is not None]
    return f"connection broken ({type(err).__name__})"


def probe(
    session: requests.Session,
    url: str,
    timeout: float,
    *,
    attempts: int = PROBE_ATTEMPTS,
    backoff: float = PROBE_BACKOFF_S,
    log: logging.Logger | logging.LoggerAdapter | None = None,
) -> RemoteFile:
    """HEAD the file (following redirects); raises NotPublishedError on 403 or 404."""

    def head() -> RemoteFile:
        response = session.head(url, timeout=timeout, allow_redirects=True, headers=_HEADERS)
        _check_status(response, url)
        return _remote(response, url)

    return _retrying("probe", url, head, attempts=attempts, backoff=backoff, log=log or _log)


def verify_gzip(path: Path) -> None:
    """Decompress the whole file (checking its CRC) and look for a data row after the header;
    raises ValueError if it is not an intact gzip file with data."""
    decomp = zlib.decompressobj(wbits=47)
    head = b""  # the text up to the first non-blank byte after the header line
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                data = decomp.decompress(chunk)
                while decomp.eof and decomp.unused_data:
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=47)
                    data += decomp.decompress(rest)
                if not _has_data_row(head):
                    head += data[:CHUNK]
    except zlib.error as err:
        raise ValueError(f"not a valid gzip file ({err})") from None
    if not decomp.eof:
        raise ValueError("not a valid gzip file (gzip stream is truncated)")
    if not _has_data_row(head):
        raise ValueError("no data rows: the file holds a header only")


def _has_data_row(text: bytes) -> bool:
    _, newline, rest = text.partition(b"\n")
    return bool(newline) and bool(rest.strip())


def verify_zone_lookup(path: Path, landed: frozenset[int] = frozenset()) -> None:
    """The TLC zone lookup read through (lib.zones.zone_ids), with at least one zone and every
    LocationID of `landed`; raises ValueError quoting at most a short excerpt of anything else
    (an HTML page, a truncated line, an empty file)."""
    ids = zone_ids(path)
    if not ids:
        raise ValueError("no data rows: the zone lookup holds a header only")
    if dropped := sorted(landed - ids):
        raise ValueError(
            f"would drop {len(dropped)} of the landed zones (LocationID"
            f" {', '.join(map(str, dropped[:5]))}{', ...' if len(dropped) > 5 else ''}):"
            f" it has {len(ids)} zones, the landed lookup {len(landed)}"
        )


def verify_parquet(path: Path) -> None:
    """Read the parquet footer; raises ValueError if the file is not an intact parquet file."""
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(max(path.stat().st_size - 4, 0))
        tail = fh.read(4)
    if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        raise ValueError(
            "not a valid parquet file (no PAR1 magic at start and end: truncated, or not parquet)"
        )
    try:
        rows = pq.read_metadata(path).num_rows
    except (pa.ArrowInvalid, OSError) as err:
        reason = str(err).splitlines()[0][:120]
        raise ValueError(f"not a valid parquet file (unreadable footer: {reason})") from None
    if rows == 0:
        raise ValueError("no data rows: the parquet file holds a schema only")


Verifier = Callable[[Path], None]


def _fetch_once(
    session: requests.Session,
    url: str,
    dst: Path,
    timeout: float,
    attempt_timeout: float,
    verify: Verifier | None,
) -> RemoteFile:
    deadline = time.monotonic() + attempt_timeout
    with session.get(url, stream=True, timeout=timeout, headers=_HEADERS) as response:
        _check_status(response, url)
        remote = _remote(response, url)
        with atomic_write_path(dst) as tmp:
            written, digest = 0, hashlib.sha256()
            with tmp.open("wb") as fh:
                # read1 returns what has arrived (each read waits at most `timeout`), so the
                # deadline is checked even when a slow source trickles bytes.
                while chunk := response.raw.read1(CHUNK, decode_content=False):
                    fh.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    if time.monotonic() > deadline:
                        raise _Retryable(f"timed out: not complete after {attempt_timeout:g}s")
            if remote.size is not None and written != remote.size:
                raise _Retryable(f"body has {written} bytes, Content-Length says {remote.size}")
            if verify is not None:
                try:
                    verify(tmp)
                except (ValueError, zlib.error) as err:
                    raise DownloadError(
                        f"{_file_name(url)}: {err}; served by {shown_url(url)}"
                    ) from None
    return RemoteFile(url, remote.etag, written, remote.last_modified, digest.hexdigest())


def download(
    session: requests.Session,
    url: str,
    dst: Path,
    *,
    timeout: float,
    attempts: int,
    backoff: float,
    log: logging.Logger | logging.LoggerAdapter,
    verify: Verifier | None = verify_gzip,
    attempt_timeout: float | None = None,
) -> RemoteFile:
    """Fetch `url` into `dst` atomically; retries 5xx, timeouts and dropped connections.
    `verify` checks the complete body before it replaces `dst`."""
    limit = attempt_timeout if attempt_timeout is not None else timeout * ATTEMPT_TIMEOUT_FACTOR
    return _retrying(
        "download",
        url,
        lambda: _fetch_once(session, url, dst, timeout, limit, verify),
        attempts=attempts,
        backoff=backoff,
        log=log,
    )
