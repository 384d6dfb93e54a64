#!/usr/bin/env bash
# Installs those of the given Debian packages that are not installed yet (one
# `apt-get update` first, only when some are missing); changes nothing when
# all are there. The install scripts share it, and so does the image's
# runtime stage, which copies it beside install-runtime.sh.
#
#   bash scripts/apt-install-missing.sh install-deps build-essential cmake ...
#   (the first argument names the caller in what it prints)
set -euo pipefail
who=$1
shift

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "$who: all $# packages are installed"
  exit 0
fi

echo "$who: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
