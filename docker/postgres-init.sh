#!/bin/sh
# First start of the postgres container: Dagster's own storage gets a database beside the
# sink's ($POSTGRES_DB), owned by the same role.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$DAGSTER_PG_DATABASE" <<'SQL'
CREATE DATABASE :"db" OWNER CURRENT_USER;
SQL
