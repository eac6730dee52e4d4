"""Errors shown in one line: in a sensor's skip reason or a run-failure alert."""

import re

_EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Failure): ")


def first_line(text: str, limit: int = 300) -> str:
    """The first line of an error, without the exception's class path."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return _EXCEPTION_PREFIX.sub("", line)[:limit]
