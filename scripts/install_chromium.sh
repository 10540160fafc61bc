#!/usr/bin/env bash
# Chromium and its WebDriver for the web UI's browser tests (Debian packages), installed
# only when missing. Exit 0 when both are present afterwards, non-zero otherwise; .ci/run
# turns a failure into skipped browser tests with a clear message.
set -euo pipefail

have() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

if have; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
else
  SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
have
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
