#!/usr/bin/env bash
# Debian packages the project uses: Chromium + ChromeDriver (browser tests), CJK fonts (Korean in
# screenshots), WordNet (METEOR). Idempotent: does nothing when all are installed.
set -euo pipefail
packages=(chromium chromium-driver fonts-noto-cjk wordnet-base)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "[debian] run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "[debian] installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
