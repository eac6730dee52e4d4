"""PostgreSQL sink connection settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from taxi_platform.identifiers import sql_name


class PostgresResource(dg.ConfigurableResource):
    """Connection to the PostgreSQL sink; the password never leaves this object."""

    host: str
    port: int = 5432
    user: str
    password: str = Field(repr=False, description="Secret: set through an environment variable.")
    database: str
    schema_name: str = Field(default="taxi", description="Schema holding the trip tables.")
    connect_timeout_seconds: int = 10

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        sql_name(self.schema_name, "PostgreSQL schema")

    @property
    def schema(self) -> str:
        return sql_name(self.schema_name, "PostgreSQL schema")

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        conn = psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            connect_timeout=self.connect_timeout_seconds,
            application_name="taxi_platform",
        )
        with conn:
            yield conn
