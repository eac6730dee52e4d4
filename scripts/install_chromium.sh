#!/usr/bin/env bash
# Make sure a headless Chromium is at /usr/bin/chromium for the UI test (Debian's package;
# never a browser download). Prints the browser's path; exits non-zero, with the reason on
# stderr, when none can be installed (the test is then skipped with that reason).
set -euo pipefail
BROWSER=${CHROMIUM_PATH:-/usr/bin/chromium}

if [ -x "$BROWSER" ]; then
  echo "$BROWSER"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no $BROWSER and no apt-get to install Debian's chromium package" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "no $BROWSER, and installing Debian's chromium package needs root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt (a concurrent install) holds the lock: wait for it rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" update -qq >&2; then
  echo "apt-get update failed: no package index to install chromium from" >&2
  exit 1
fi
if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
    chromium fonts-liberation >&2; then
  echo "apt-get install chromium failed" >&2
  exit 1
fi
if [ ! -x "$BROWSER" ]; then
  echo "chromium installed but $BROWSER is missing" >&2
  exit 1
fi
echo "$BROWSER"
