#!/usr/bin/env bash
# Debian's Chromium + ChromeDriver (and CJK fonts) for the browser tests. Idempotent.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "[browser] run as root: apt-get install -y chromium chromium-driver fonts-noto-cjk" >&2
  exit 1
fi
echo "[browser] installing chromium, chromium-driver, fonts-noto-cjk from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >/dev/null
