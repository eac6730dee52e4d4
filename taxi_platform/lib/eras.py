"""Where a file of any schema era becomes its dataset's canonical schema. Both lake paths take
every column and value rule from here: `lake.py` (the course mirror's CSV.gz) and
`lake_parquet.py` (the TLC's parquet). The eras themselves are named in `catalog.py`
(`TaxiDataset.eras`); the names and codes each column had in every era are in `schemas.py`.

- Names: a file column lands as the canonical column whose current TLC name, landed name or
  older name (`Column.aliases`) it equals, ignoring case, spaces, dashes and underscores; never
  by position. Every era's names match in every month (the files drift and are re-issued).
- Values reach the landed type in two steps. First the column's read type (`parse_type`): a
  parquet column of any era's Arrow type through `normalise`, which also maps the 2009-2010 text
  codes (`Column.codes`; the CSV mirror starts in 2019), and a text cell through `parse_text`.
  Then `to_landed`: integers must be whole, floats finite (else the row is rejected); the fhv
  drop-off placeholder lands as null, base numbers are trimmed, `store_and_fwd_flag` is Y/N.
- A column no era names keeps its values in the parquet path (`unknown_type`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from taxi_platform.catalog import ARROW_TYPES, Column, Kind, TaxiDataset

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_TEXT_TIMESTAMP_FORMATS = (TIMESTAMP_FORMAT, "%Y-%m-%dT%H:%M:%S")
_PARSE_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.float64(),
    Kind.FLOAT: pa.float64(),
    Kind.STRING: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us"),
}
_INT64_LIMIT = 2.0**63
_NOT_KEY = re.compile(r"[^a-z0-9]")


def header_key(cell: str) -> str:
    """How column names are compared: lower case, without spaces, dashes and underscores."""
    return _NOT_KEY.sub("", cell.lower())


@dataclass(frozen=True)
class ColumnMatch:
    """A file's columns against its dataset's: the canonical column each file column lands as,
    the file columns no canonical column takes, and the canonical columns the file lacks."""

    columns: dict[str, Column]
    unknown: list[str]
    missing: list[Column]


def _columns_by_key(ds: TaxiDataset) -> dict[str, Column]:
    """Every era's name of every column, by `header_key`; two columns must not share one."""
    by_key: dict[str, Column] = {}
    for col in ds.columns:
        for key in {header_key(name) for name in (col.source, col.name, *col.aliases)}:
            if by_key.setdefault(key, col) is not col:
                raise AssertionError(f"{ds.name}: columns {col.name} and {by_key[key].name} clash")
    return by_key


def match_columns(names: list[str], ds: TaxiDataset) -> ColumnMatch:
    """Match a file's column names to the dataset's columns; a second name matching the same
    column counts as unknown."""
    by_key = _columns_by_key(ds)
    matched: dict[str, Column] = {}
    unknown: list[str] = []
    for name in names:
        col = by_key.get(header_key(name))
        if col is None or col in matched.values():
            unknown.append(name)
        else:
            matched[name] = col
    present = set(matched.values())
    return ColumnMatch(matched, unknown, [c for c in ds.columns if c not in present])


def parse_type(col: Column) -> pa.DataType:
    """The type a column is read as before `to_landed` gives it its landed type."""
    return _PARSE_TYPES[col.kind]


def parse_text(text: pa.Array, col: Column) -> pa.Array:
    """Parse a text column to its read type; unparseable cells become null."""
    if col.kind is Kind.STRING:
        return text
    if col.kind is Kind.TIMESTAMP:
        trimmed = pc.utf8_trim_whitespace(text)
        parsed = None
        for fmt in _TEXT_TIMESTAMP_FORMATS:
            attempt = pc.strptime(trimmed, format=fmt, unit="us", error_is_null=True)
            parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
        return parsed
    import pandas as pd  # only text columns need it: the typed CSV path stays pandas-free

    numbers = pd.to_numeric(text.to_pandas(), errors="coerce")
    return pa.array(numbers, type=pa.float64(), from_pandas=True)


def _coded(values: pa.Array, col: Column) -> pa.Array:
    """Replace old text codes (matched upper-case and trimmed) by today's values."""
    keys = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    index = pc.index_in(keys, value_set=pa.array(list(col.codes)))
    mapped = pc.take(pa.array([str(v) for v in col.codes.values()]), index)
    return pc.coalesce(mapped, values)


def normalise(values: pa.Array, col: Column) -> pa.Array:
    """One parquet column, in whatever Arrow type its era wrote, in the column's read type."""
    target = parse_type(col)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if col.kind is Kind.STRING:
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        return _coded(values, col) if col.codes else values
    if pa.types.is_string(values.type):
        return parse_text(_coded(values, col) if col.codes else values, col)
    if col.kind is Kind.TIMESTAMP:
        if values.type.tz is not None:
            values = values.cast(pa.timestamp(values.type.unit, tz="UTC"))
            values = pc.local_timestamp(values)
        return values.cast(target, safe=False)
    return values.cast(target)


def to_landed(values: pa.Array, col: Column) -> tuple[pa.Array, np.ndarray | None, str]:
    """A column in its read type -> its landed values, the rows to reject (None: none) and
    why they are rejected."""
    if col.kind is Kind.INT:
        whole = pc.and_(pc.equal(pc.floor(values), values), pc.less(pc.abs(values), _INT64_LIMIT))
        whole = pc.fill_null(whole, True)
        bad = ~whole.to_numpy(zero_copy_only=False)
        safe = pc.if_else(whole, values, None)
        return pc.cast(safe, pa.int64()), bad, "not a whole number in int64 range"
    if col.kind is Kind.FLOAT:
        finite = pc.fill_null(pc.is_finite(values), True)
        if pc.all(finite).as_py():
            return values, None, ""
        bad = ~finite.to_numpy(zero_copy_only=False)
        return pc.if_else(finite, values, None), bad, "not a finite number"
    if col.kind is Kind.TIMESTAMP and col.placeholder:
        placeholder = pa.scalar(datetime.fromisoformat(col.placeholder), values.type)
        return pc.if_else(pc.equal(values, placeholder), None, values), None, ""
    if col.name == "store_and_fwd_flag":
        flag = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        return pc.if_else(pc.is_in(flag, pa.array(["Y", "N"])), flag, None), None, ""
    if col.trim:
        return pc.utf8_trim_whitespace(values), None, ""
    return values, None, ""


def unknown_type(field: pa.Field) -> pa.DataType:
    """How a parquet column no era names is kept: text and timestamps normalised like the
    known ones, other types as they are."""
    if pa.types.is_large_string(field.type) or pa.types.is_null(field.type):
        return pa.string()
    if pa.types.is_timestamp(field.type):
        return ARROW_TYPES[Kind.TIMESTAMP]
    return field.type
