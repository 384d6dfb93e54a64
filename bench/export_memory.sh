#!/usr/bin/env bash
# Peak memory of a large CSV export: `youma serve` (embedded MariaDB) and the
# `youma export` client as separate processes, each beside the 150 MB target.
#
#   bash bench/export_memory.sh build/services/cli/youma            # 20,000,000 codes
#   bash bench/export_memory.sh build/services/cli/youma --smoke    # 200,000 codes
set -euo pipefail
YOUMA=$(realpath "${1:?usage: export_memory.sh PATH/TO/youma [--smoke]}")
CODES=20000000
if [ "${2:-}" = "--smoke" ]; then CODES=200000; fi
LIMIT_MB=150

DIR=$(mktemp -d /tmp/youma-export-mem-XXXXXX)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"
PORT=$((20000 + RANDOM % 20000))
"$YOUMA" serve --data-dir var --listen 127.0.0.1:$PORT --metrics-listen "" > serve.log 2>&1 &
SERVER=$!
for _ in $(seq 1 200); do
  [ -f var/admin.token ] && grep -q ready serve.log && break
  sleep 0.1
done
export YOUMA_MASTER_KEY=$(cat var/master.key) YOUMA_SERVER=127.0.0.1:$PORT
"$YOUMA" keys create --keyset var/keysets/bench.keyset --brand bench > /dev/null
sleep 1.2   # the server re-reads its keyset folder at most once a second
export YOUMA_TOKEN=$(cat var/admin.token)
"$YOUMA" products create --brand bench --gtin 06901234567892 --name bench > /dev/null
BATCH=$("$YOUMA" batch create --brand bench --gtin 06901234567892 --kind bottle \
          --quantity $CODES --request-id mem-1 | grep '"batch_id"' | grep -o '[0-9]\+')

peak_kb() { awk '/VmHWM/ {print $2}' /proc/$1/status 2>/dev/null || echo 0; }
START=$(date +%s.%N)
"$YOUMA" export --brand bench --batch "$BATCH" --format csv --out export.csv > export.log 2>&1 &
CLIENT=$!
CLIENT_KB=0
while kill -0 $CLIENT 2>/dev/null; do
  KB=$(peak_kb $CLIENT); [ "${KB:-0}" -gt "$CLIENT_KB" ] && CLIENT_KB=$KB
  sleep 0.05
done
wait $CLIENT
END=$(date +%s.%N)
SERVER_KB=$(peak_kb $SERVER)
LINES=$(($(wc -l < export.csv) - 1))
[ "$LINES" -eq "$CODES" ] || { echo "export has $LINES codes, expected $CODES"; exit 1; }
SECS=$(awk "BEGIN {print $END - $START}")
printf 'youma export memory: %d codes to CSV (%s MB) in %.1f s\n\n' "$CODES" \
  "$(( $(stat -c %s export.csv) / 1048576 ))" "$SECS"
printf '%-30s %10s %10s %7s\n' "process" "peak MB" "target MB" "ratio"
for row in "youma serve (issuer)|$SERVER_KB" "youma export (client)|$CLIENT_KB"; do
  NAME=${row%|*}; KB=${row#*|}
  printf '%-30s %10.1f %10d %6.0f%%\n' "$NAME" "$(awk "BEGIN {print $KB / 1024}")" $LIMIT_MB \
    "$(awk "BEGIN {print 100 * $KB / 1024 / $LIMIT_MB}")"
done
