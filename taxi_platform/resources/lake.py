"""The data lake root: a local directory (raw CSV.gz and clean parquet)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field


class LakeResource(dg.ConfigurableResource):
    """Root directory of the lake."""

    root: str = Field(description="Directory holding raw/ and clean/.")

    @property
    def path(self) -> Path:
        return Path(self.root).resolve()
