#!/usr/bin/env bash
# Set up this machine and run the main job on the local default: services, sample months,
# a backfill through every layer, row counts per layer, and `dg dev` left running.
#   bash scripts/demo.sh          # run the demo (UI on http://127.0.0.1:3000)
#   bash scripts/demo.sh stop     # stop dagster dev and the local services
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m devstack.demo "$@"
