"""The HTTP source of TLC files (the public mirror, or any mirror laid out like it)."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import requests
from pydantic import Field

from taxi_platform.pipeline.download import RemoteFile, download, probe

DEFAULT_BASE_URL = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download/"


class TlcSource(dg.ConfigurableResource):
    """Where TLC files are downloaded from, with timeout and retry settings."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="Mirror root URL.")
    timeout_seconds: float = Field(default=60.0, description="Per-request connect/read timeout.")
    attempt_timeout_seconds: float | None = Field(
        default=None, description="Limit of one download attempt; default 10 x timeout_seconds."
    )
    max_attempts: int = Field(default=5, description="Attempts per download (5xx, drops).")
    backoff_seconds: float = Field(default=2.0, description="First retry delay; doubles.")

    def probe(
        self, url: str, log: logging.Logger | None = None, *, attempts: int | None = None
    ) -> RemoteFile:
        with requests.Session() as session:
            return probe(
                session,
                url,
                self.timeout_seconds,
                attempts=attempts or self.max_attempts,
                backoff=self.backoff_seconds,
                log=log,
            )

    def download(
        self, url: str, dst: Path, log: logging.Logger, *, gzip_expected: bool = True
    ) -> RemoteFile:
        with requests.Session() as session:
            return download(
                session,
                url,
                dst,
                timeout=self.timeout_seconds,
                attempts=self.max_attempts,
                backoff=self.backoff_seconds,
                log=log,
                gzip_expected=gzip_expected,
                attempt_timeout=self.attempt_timeout_seconds,
            )
