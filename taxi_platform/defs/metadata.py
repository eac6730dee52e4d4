"""Metadata shown in the Dagster UI: schemas, previews and rejection samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from taxi_platform.catalog import BIGQUERY_TYPES, TaxiDataset
from taxi_platform.lib.lake import Rejection

PREVIEW_ROWS = 5


def table_schema(ds: TaxiDataset) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, BIGQUERY_TYPES[c.kind], description=c.description or None)
            for c in ds.landed_columns
        ]
    )


def _markdown(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def parquet_preview(path: Path) -> dg.MarkdownMetadataValue:
    """The first rows of a parquet file as a Markdown table."""
    batch = next(pq.ParquetFile(path).iter_batches(batch_size=PREVIEW_ROWS), None)
    rows = [] if batch is None else [list(r.values()) for r in batch.to_pylist()]
    names = pq.ParquetFile(path).schema_arrow.names
    return dg.MetadataValue.md(_markdown(names, rows))


def rejection_sample(examples: list[Rejection]) -> dg.MarkdownMetadataValue:
    rows = [[e.line, e.column, e.value, e.reason] for e in sorted(examples, key=lambda e: e.line)]
    return dg.MetadataValue.md(_markdown(["line", "column", "value", "reason"], rows))


def _total(values: list[int | float]) -> int | float:
    """A sum without float noise (to a thousandth: cents and milliseconds stay exact)."""
    total = sum(values)
    return round(total, 3) if isinstance(total, float) else total


def range_metadata(per_month: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One month's metadata as is; several months as totals of the numbers plus a per-month
    table of the numbers and the plain text values (e.g. each month's schema era)."""
    if len(per_month) == 1:
        return next(iter(per_month.values()))
    first = next(iter(per_month.values()))
    numeric = [
        k for k, v in first.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    shown = [k for k, v in first.items() if isinstance(v, int | float | str)]
    table = _markdown(
        ["month", *shown], [[m, *(md[k] for k in shown)] for m, md in per_month.items()]
    )
    totals = {f"{k}_total": _total([md[k] for md in per_month.values()]) for k in numeric}
    return {
        "months": ", ".join(per_month),
        **totals,
        "per_month": dg.MetadataValue.md(table),
    }
