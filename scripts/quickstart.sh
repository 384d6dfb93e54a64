#!/usr/bin/env bash
# The README's first command: installs what youma needs, builds it and runs
# `youma demo`, which walks through keys -> codes -> QR images -> verification.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
echo "built build/services/cli/youma"
exec build/services/cli/youma demo --dir youma-demo
