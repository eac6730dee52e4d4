"""Lake files: atomic writes (a reader sees the old complete file or the new one, never a
partial), and parquet files opened for streaming.

The new content goes to a hidden temp file beside the destination, named after the writing
process (`.{name}.{pid}.{token}.tmp`), and is renamed over the destination only when complete.
A process killed mid-write (SIGKILL, OOM) leaves that temp file behind; the next write of the
same destination removes temp files whose process is gone, so the lake holds no debris.
"""

from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq

from taxi_platform.lib.errors import DiskFullError, disk_full


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_files(dst: Path) -> list[Path]:
    """Temp files of writes to `dst` (finished, running or killed)."""
    return sorted(dst.parent.glob(f".{glob.escape(dst.name)}.*.tmp"))


def remove_stale_temps(dst: Path) -> list[Path]:
    """Remove temp files of `dst` left by processes that no longer run; return them."""
    removed = []
    prefix = f".{dst.name}."
    for path in temp_files(dst):
        pid = path.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def atomic_write_path(dst: Path) -> Iterator[Path]:
    """Yield a temp path beside `dst`; rename it over `dst` only if the block succeeds. A full
    disk raises DiskFullError naming `dst`."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, dst)
    except OSError as err:
        if disk_full(err) and not isinstance(err, DiskFullError):
            tmp.unlink(missing_ok=True)
            raise DiskFullError(dst) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(dst: Path, text: str) -> None:
    """Replace `dst` with `text` atomically (for small sidecar files)."""
    with atomic_write_path(dst) as tmp:
        tmp.write_text(text)


def open_parquet(path: Path) -> pq.ParquetFile:
    """A parquet file to stream batch by batch. Without pre-buffering: pyarrow's default
    pre-buffering holds column chunks of many row groups, so memory grows with the file."""
    return pq.ParquetFile(path, pre_buffer=False)
