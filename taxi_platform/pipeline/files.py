"""Atomic file writes: a reader sees the old complete file or the new one, never a partial."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write_path(dst: Path) -> Iterator[Path]:
    """Yield a temp path beside `dst`; rename it over `dst` only if the block succeeds."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
