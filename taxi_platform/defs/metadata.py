"""Metadata shown in the Dagster UI: schemas, previews, rejection samples; no empty entries."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from taxi_platform.catalog import BIGQUERY_TYPES, TaxiDataset
from taxi_platform.lib.lake import Rejection

MetadataEntry = (
    dg.MetadataValue | dg.TableSchema | dg.TableColumnLineage | str | int | float | bool | None
)
Metadata = dict[str, MetadataEntry]

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


def rejection_sample(examples: list[Rejection]) -> dg.MarkdownMetadataValue | None:
    """The rejected (or recoded) cells as a Markdown table; None when there are none."""
    if not examples:
        return None
    rows = [[e.line, e.column, e.value, e.reason] for e in sorted(examples, key=lambda e: e.line)]
    return dg.MetadataValue.md(_markdown(["line", "column", "value", "reason"], rows))


def without_empty_entries(metadata: Metadata) -> Metadata:
    """The metadata without empty entries (None, empty text): the UI shows only what is."""
    return {k: v for k, v in metadata.items() if v is not None and v != ""}
