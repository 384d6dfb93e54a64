#!/usr/bin/env bash
# The README's first command: installs what youma needs, builds it, runs
# `youma demo` (keys -> codes -> QR -> verification, then the issuer service:
# batches, exports, aggregation, shipment) and then keeps `youma serve`
# running on its embedded default (MariaDB under ./var) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
echo "built build/services/cli/youma"
build/services/cli/youma demo --dir youma-demo --data-dir var
echo
echo "== youma serve (embedded MariaDB under ./var); Ctrl-C stops it =="
exec build/services/cli/youma serve --data-dir var
