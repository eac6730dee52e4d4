"""A fault-injecting TLC mirror on 127.0.0.1, for testing the download code against bad sources.

It serves a directory exactly like `mirror.py` (same handler, same server) until a fault is
scheduled for a path; each matching request then consumes the next scheduled fault:

    with serve_faulty(root) as (url, faults):
        faults.add("yellow/yellow_tripdata_2021-01.csv.gz", Status(503), times=2)
        faults.add("yellow/yellow_tripdata_2021-01.csv.gz", DropMidBody())
        ...  # the next two GETs answer 503, the third is cut mid-body, the rest are served

Every request is recorded (`faults.log`) so a test can count attempts. Faults apply to GET
unless scheduled with `methods=("HEAD",)` (or both).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

from devstack.mirror import MirrorHandler, serve_directory


@dataclass(frozen=True)
class Fault:
    """Base class: how one response goes wrong."""

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Status(Fault):
    """Answer `code` (e.g. 500, 503, 404) instead of the file."""

    code: int = 503
    retry_after: float | None = None


@dataclass(frozen=True)
class Stall(Fault):
    """Wait `seconds` before answering at all (a hung server)."""

    seconds: float = 30.0


@dataclass(frozen=True)
class DropMidBody(Fault):
    """Announce the full Content-Length, send `fraction` of the body, then reset (RST)."""

    fraction: float = 0.5


@dataclass(frozen=True)
class ShortBody(Fault):
    """Announce the full Content-Length, send `fraction` of the body, then close cleanly."""

    fraction: float = 0.5


@dataclass(frozen=True)
class Trickle(Fault):
    """Send the body `chunk` bytes at a time, `interval` seconds apart (a slow source)."""

    chunk: int = 1024
    interval: float = 0.05


@dataclass(frozen=True)
class Truncated(Fault):
    """Answer 200 with only the first `fraction` of the file (Content-Length to match)."""

    fraction: float = 0.5


@dataclass(frozen=True)
class Corrupt(Fault):
    """Answer 200 with the file's bytes, `count` of them flipped in the middle of the body."""

    count: int = 64


@dataclass
class Faults:
    """Faults scheduled per path, and the log of every request served."""

    _queues: dict[tuple[str, str], deque[Fault]] = field(default_factory=dict)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, path: str, fault: Fault, *, times: int = 1, methods: tuple[str, ...] = ("GET",)
    ) -> None:
        """Make the next `times` requests of `path` (after those already scheduled) fail."""
        with self._lock:
            for method in methods:
                queue = self._queues.setdefault((method, path.lstrip("/")), deque())
                queue.extend([fault] * times)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self.log.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            queue = self._queues.get((method, path))
            fault = queue.popleft() if queue else None
            self.log.append((method, path, fault.name if fault else "ok"))
            return fault

    def requests(self, path: str, method: str = "GET") -> list[str]:
        """Outcome of each request of `path` so far: a fault's name or "ok"."""
        with self._lock:
            return [o for m, p, o in self.log if m == method and p == path.lstrip("/")]


class FaultyMirrorHandler(MirrorHandler):
    """MirrorHandler that first consults its `faults` schedule."""

    faults: Faults

    def respond(self, *, send_body: bool) -> None:
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        fault = self.faults.take(self.command, relative)
        if fault is None:
            super().respond(send_body=send_body)
            return
        self.close_connection = True
        if isinstance(fault, Status):
            self._status(fault)
            return
        if isinstance(fault, Stall):
            if self.faults.stopping.wait(fault.seconds):
                return
            super().respond(send_body=send_body)
            return
        path = self.server.resolve(self.path)
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = path.read_bytes()
        body = self._body(fault, data)
        self._headers(len(data) if isinstance(fault, DropMidBody | ShortBody) else len(body))
        if not send_body:
            return
        if isinstance(fault, Trickle):
            self._trickle(body, fault)
        elif isinstance(fault, DropMidBody):
            self.wfile.write(body)
            self.wfile.flush()
            self._reset()
        else:
            self.wfile.write(body)

    def _status(self, fault: Status) -> None:
        self.send_response(fault.code)
        if fault.retry_after is not None:
            self.send_header("Retry-After", f"{fault.retry_after:g}")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    @staticmethod
    def _body(fault: Fault, data: bytes) -> bytes:
        if isinstance(fault, DropMidBody | ShortBody | Truncated):
            return data[: int(len(data) * fault.fraction)]
        if isinstance(fault, Corrupt):
            middle = len(data) // 2
            flipped = bytes(b ^ 0xFF for b in data[middle : middle + fault.count])
            return data[:middle] + flipped + data[middle + fault.count :]
        return data

    def _headers(self, length: int) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Last-Modified", formatdate(time.time(), usegmt=True))
        self.send_header("Connection", "close")
        self.end_headers()

    def _trickle(self, body: bytes, fault: Trickle) -> None:
        for start in range(0, len(body), fault.chunk):
            if self.faults.stopping.wait(fault.interval):
                return
            self.wfile.write(body[start : start + fault.chunk])
            self.wfile.flush()

    def _reset(self) -> None:
        """Abort the connection with a TCP reset, as a crashed proxy would."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def finish(self) -> None:
        with suppress(OSError, ValueError):  # the socket may be reset or closed already
            super().finish()


@contextmanager
def serve_faulty(root: Path, port: int = 0) -> Iterator[tuple[str, Faults]]:
    """Serve `root` on 127.0.0.1 with a fault schedule; yield (base URL, schedule)."""
    faults = Faults()
    handler = type("FaultyHandler", (FaultyMirrorHandler,), {"faults": faults})
    with serve_directory(root, port, handler=handler) as url:
        try:
            yield url, faults
        finally:
            faults.stopping.set()  # ends stalled and trickling responses
