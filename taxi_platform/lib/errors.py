"""Errors shown in one line: in a sensor's skip reason or a run-failure alert."""

import errno
import re
import shutil
from pathlib import Path

_EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Failure): ")


def first_line(text: str, limit: int = 300) -> str:
    """The first line of an error, without the exception's class path."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return _EXCEPTION_PREFIX.sub("", line)[:limit]


def disk_full(err: OSError) -> bool:
    """Whether `err` says the disk it wrote to is full (ENOSPC, also from pyarrow)."""
    return err.errno == errno.ENOSPC


class DiskFullError(OSError):
    """A write that found no space left; the message names the path written and the disk's
    free space, so a full disk is never mistaken for a bad source file."""

    def __init__(self, path: Path) -> None:
        try:
            free = f"{shutil.disk_usage(path.parent).free:,} bytes free on its disk"
        except OSError:
            free = "free space unknown"
        super().__init__(errno.ENOSPC, f"the disk is full: no space left writing {path} ({free})")

    def __str__(self) -> str:
        return self.strerror or ""
