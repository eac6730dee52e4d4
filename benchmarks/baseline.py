"""The course pipeline's steps, exactly as the course wrote them (the benchmark's baseline).

- raw CSV.gz -> parquet: the whole month through `pd.read_csv` with default dtypes, the
  `tpep_*` columns converted with `pd.to_datetime`, then `to_parquet(compression="gzip")`.
- parquet -> PostgreSQL: `pd.read_parquet`, then `to_sql(..., chunksize=100000,
  if_exists="append")` through SQLAlchemy and psycopg2, after creating the table from
  `df.head(n=0)` with `if_exists="replace"`, as the course's ingest script does.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL

from benchmarks import Postgres

TO_SQL_CHUNKSIZE = 100_000


def csv_to_parquet(src: str, dst: str) -> dict[str, int]:
    """Course `fetch` + `clean` + `write_local` on a local CSV.gz."""
    df = pd.read_csv(src)
    df["tpep_pickup_datetime"] = pd.to_datetime(df["tpep_pickup_datetime"])
    df["tpep_dropoff_datetime"] = pd.to_datetime(df["tpep_dropoff_datetime"])
    df.to_parquet(dst, compression="gzip")
    return {"rows": len(df)}


def _engine() -> Engine:
    pg = Postgres.from_env()
    url = URL.create(
        "postgresql+psycopg2",
        username=pg.user,
        password=pg.password,
        host=pg.host,
        port=pg.port,
        database=pg.dbname,
    )
    return create_engine(url)


def to_sql(src: str, schema: str, table: str, max_rows: int | None = None) -> dict[str, int]:
    """Course ingest into PostgreSQL; only the first `max_rows` rows when given (a capped run)."""
    if max_rows is None:
        df = pd.read_parquet(src)
    else:
        batch = next(pq.ParquetFile(src).iter_batches(batch_size=max_rows))
        df = batch.to_pandas()
    engine = _engine()
    try:
        df.head(n=0).to_sql(name=table, con=engine, schema=schema, if_exists="replace")
        df.to_sql(
            name=table,
            con=engine,
            schema=schema,
            if_exists="append",
            chunksize=TO_SQL_CHUNKSIZE,
        )
    finally:
        engine.dispose()
    return {"rows": len(df)}
