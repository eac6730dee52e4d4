"""A local HTTP mirror on 127.0.0.1 that serves a directory like the public TLC mirror.

Like GitHub release downloads it answers GET and HEAD with Content-Length, a strong content
ETag, Last-Modified and application/octet-stream, and 404 for anything that is not a file
(`missing_status=403` answers like the TLC's CloudFront host for a month not yet published).
Bodies are streamed by `MirrorHandler.send_file`, which a fault-injecting mirror can override.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

CHUNK_BYTES = 1 << 20


class MirrorHandler(BaseHTTPRequestHandler):
    """GET and HEAD for the files of a `MirrorServer`."""

    server: MirrorServer
    protocol_version = "HTTP/1.1"
    timeout = 60

    def do_GET(self) -> None:
        self.respond(send_body=True)

    def do_HEAD(self) -> None:
        self.respond(send_body=False)

    def respond(self, *, send_body: bool) -> None:
        path = self.server.resolve(self.path)
        if path is None:
            self.send_error(self.server.missing_status)
            return
        with path.open("rb") as f:
            stat = os.fstat(f.fileno())
            etag = self.server.etag(path, f, stat)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(stat.st_size))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
            self.end_headers()
            if send_body:
                self.send_file(f)

    def send_file(self, f: BinaryIO) -> None:
        """Stream the open file to the client in chunks, as announced in Content-Length."""
        shutil.copyfileobj(f, self.wfile, CHUNK_BYTES)

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing per request."""


class MirrorServer(ThreadingHTTPServer):
    """Serves the files under `root`; caches each file's ETag by (path, size, mtime, inode)."""

    daemon_threads = True

    def __init__(
        self,
        root: Path,
        port: int = 0,
        handler: type[MirrorHandler] = MirrorHandler,
        *,
        missing_status: int = HTTPStatus.NOT_FOUND,
    ) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.root = root.resolve()
        self.missing_status = HTTPStatus(missing_status)
        self._etags: dict[tuple[str, int, int, int], str] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def resolve(self, url_path: str) -> Path | None:
        """The file a request path names, or None if it is missing or outside the root."""
        relative = unquote(urlsplit(url_path).path).lstrip("/")
        if "\0" in relative:
            return None
        path = (self.root / relative).resolve()
        return path if path.is_relative_to(self.root) and path.is_file() else None

    def etag(self, path: Path, f: BinaryIO, stat: os.stat_result) -> str:
        """Quoted md5 of the open file's content, hashed once per file version."""
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            cached = self._etags.get(key)
        if cached is None:
            cached = f'"{hashlib.file_digest(f, "md5").hexdigest()}"'
            f.seek(0)
            with self._lock:
                self._etags[key] = cached
        return cached

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """Stay quiet when a client hangs up mid-download; report anything else."""
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve_directory(
    root: Path,
    port: int = 0,
    *,
    handler: type[MirrorHandler] = MirrorHandler,
    missing_status: int = HTTPStatus.NOT_FOUND,
) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 in a background thread; yield the base URL (with a slash)."""
    server = MirrorServer(root, port, handler, missing_status=missing_status)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="mirror", daemon=True
    )
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def served_instead(path: Path, body: bytes) -> Iterator[None]:
    """Serve `body` at `path` of a mirror for a while, then the original file again (its bytes
    and modification time)."""
    saved = path.with_name(path.name + ".saved")
    shutil.copy2(path, saved)
    path.write_bytes(body)
    try:
        yield
    finally:
        shutil.move(saved, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--missing-status",
        type=int,
        choices=(404, 403),
        default=404,
        help="status for anything that is not a file: 404 like GitHub, 403 like CloudFront",
    )
    args = parser.parse_args(argv)
    stop = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the server thread starts, so only sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    with serve_directory(args.root, args.port, missing_status=args.missing_status) as url:
        print(url, flush=True)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
