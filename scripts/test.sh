#!/usr/bin/env bash
# Install everything the tests need, lint, check that the definitions load (`dg check defs`),
# and run the whole suite (integration tests start their own PostgreSQL, GCS and BigQuery
# emulators and HTTP mirror). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/dg check defs
exec .venv/bin/python -m pytest -q "$@"
