#!/usr/bin/env bash
# Make sure Debian's redis-server (the Celery broker of the local services) is installed.
# Prints its path; exits non-zero, with the reason on stderr, when it cannot be installed.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  command -v redis-server
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no redis-server and no apt-get to install Debian's redis-server package" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "no redis-server, and installing Debian's redis-server package needs root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt (a concurrent install) holds the lock: wait for it rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" update -qq >&2; then
  echo "apt-get update failed: no package index to install redis-server from" >&2
  exit 1
fi
# --no-install-recommends: the server only. The package's own service (port 6379), where the
# machine starts it, is not used: devstack/services.py runs one in the state dir.
if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
    redis-server >&2; then
  echo "apt-get install redis-server failed" >&2
  exit 1
fi
command -v redis-server
