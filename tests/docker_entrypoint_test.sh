#!/usr/bin/env bash
# Exercises the Dockerfile's final stage on this machine, without Docker:
#
#   1. the final stage is debian:12-slim, installs its libraries with
#      scripts/install-runtime.sh, copies the web assets (region table and
#      built console) to /usr/share/youma/web, runs as uid 10001, exposes
#      7443, 9464 and 8080, and has the ENTRYPOINT and CMD this test then runs
#      (the CMD turns the HTTP front on and passes --web-assets);
#   2. scripts/install-runtime.sh succeeds (as root) and is idempotent;
#   3. the built binary finds every library (ldd), and every one of them
#      comes from install-runtime.sh's packages or their dependencies, so the
#      slim image has them too;
#   4. ENTRYPOINT + CMD run as uid 10001 (setpriv), as PID 1 of a new PID
#      namespace when this machine allows it (as in a container), on a data
#      dir owned by that uid, free ports and a root-owned, read-only copy of
#      the web assets: the server says "ready", serves /metrics, answers
#      GET /healthz with "ok" and GET /console/ with the console's HTML, and
#      on SIGTERM exits 0 within its grace period.
#
#   bash tests/docker_entrypoint_test.sh build/services/cli/youma [WEB_ASSETS]
#
# WEB_ASSETS is the folder the build writes the assets to (regions.tsv,
# console/index.html); by default the web/ folder of the build tree the
# binary is in (build/web for build/services/cli/youma).
#
# The CMD's embedded default starts mariadbd from this machine's
# mariadb-server (the image has it only when built with EMBEDDED_DB=1).
set -euo pipefail

BINARY=${1:?usage: docker_entrypoint_test.sh PATH/TO/youma [WEB_ASSETS]}
[ -x "$BINARY" ] || { echo "docker_entrypoint_test: $BINARY is not an executable" >&2; exit 2; }
BINARY=$(realpath "$BINARY")
REPO=$(realpath "$(dirname "$0")/..")
if [ -n "${2:-}" ]; then
  ASSETS=$2
elif [[ "$BINARY" == */services/cli/youma ]]; then
  ASSETS=${BINARY%/services/cli/youma}/web
else
  ASSETS=$REPO/build/web
fi
[ -s "$ASSETS/regions.tsv" ] && [ -s "$ASSETS/console/index.html" ] || {
  echo "docker_entrypoint_test: $ASSETS lacks regions.tsv or console/index.html (build the youma target first)" >&2
  exit 2
}
ASSETS=$(realpath "$ASSETS")
cd "$REPO"
DOCKERFILE=Dockerfile
UID_IMAGE=10001
GRACE=5
passed=0

ok() { passed=$((passed + 1)); echo "  ok: $*"; }
die() { echo "  FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  # Only what this test started: the server, by the pid it got.
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== 1. the Dockerfile's final stage =="
# Instructions of the last stage, continuation lines joined, comments dropped.
python3 - "$DOCKERFILE" >"$work/stage" <<'PY'
import re, sys
lines, cur = [], ""
for raw in open(sys.argv[1]):
    line = raw.rstrip("\n")
    if not cur and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if line.endswith("\\"):
        cur += line[:-1] + " "
        continue
    lines.append(cur + line)
    cur = ""
last = max(i for i, l in enumerate(lines) if re.match(r"(?i)^FROM\s", l))
for l in lines[last:]:
    print(re.sub(r"\s+", " ", l.strip()))
PY
instr() { grep -i "^$1 " "$work/stage" || true; }
from=$(instr FROM)
[ "$from" = "FROM debian:12-slim" ] || die "the final stage is '$from', not FROM debian:12-slim"
ok "final stage: $from"
instr COPY | grep -q "scripts/install-runtime.sh" || die "the final stage does not copy scripts/install-runtime.sh"
instr COPY | grep "scripts/install-runtime.sh" | grep -q "scripts/apt-install-missing.sh" ||
  die "the final stage does not copy scripts/apt-install-missing.sh beside install-runtime.sh (which runs it)"
run_line=$(instr RUN | grep "install-runtime.sh" | head -1)
[ -n "$run_line" ] || die "the final stage does not RUN install-runtime.sh"
ok "installs its libraries with scripts/install-runtime.sh: ${run_line:0:100}..."
instr RUN | grep -q -- "--uid $UID_IMAGE" || die "the final stage creates no user with uid $UID_IMAGE"
[ "$(instr USER)" = "USER $UID_IMAGE:$UID_IMAGE" ] || die "USER is '$(instr USER)', not $UID_IMAGE:$UID_IMAGE"
ok "creates uid $UID_IMAGE and runs as $(instr USER)"
instr COPY | grep -q -- "--from=build /youma /usr/local/bin/youma" || die "the binary is not copied to /usr/local/bin/youma"
ok "copies the binary to /usr/local/bin/youma"
WEB_DIR=/usr/share/youma/web
web_copy=$(instr COPY | grep -E -- "^COPY (--[a-z]+=[^ ]+ )*/web/? $WEB_DIR/?\$" | grep -- " --from=build " || true)
[ -n "$web_copy" ] || die "the final stage does not copy the build's web assets to $WEB_DIR"
grep -q -- "--chown\|--chmod" <<<"$web_copy" && die "the web assets must stay root's, read-only: $web_copy"
grep -q -- "cp -R /build/web /web" "$DOCKERFILE" || die "the build stage does not put /build/web at /web"
grep -q -- "test -s /build/web/regions.tsv" "$DOCKERFILE" || die "the build stage does not check the region table was built"
ok "copies the web assets (region table, console) to $WEB_DIR, root's and read-only: $web_copy"
[ "$(instr EXPOSE)" = "EXPOSE 7443 9464 8080" ] || die "EXPOSE is '$(instr EXPOSE)', not 7443 9464 8080"
ok "$(instr EXPOSE)"
json_of() { instr "$1" | sed "s/^$1 //I"; }
entrypoint=$(json_of ENTRYPOINT)
cmd=$(json_of CMD)
[ "$entrypoint" = '["/usr/local/bin/youma"]' ] || die "ENTRYPOINT is $entrypoint, not [\"/usr/local/bin/youma\"]"
ok "ENTRYPOINT $entrypoint (exec form: youma is PID 1 and gets SIGTERM)"
mapfile -t cmd_args < <(python3 -c 'import json,sys; [print(a) for a in json.loads(sys.argv[1])]' "$cmd")
[ "${cmd_args[0]:-}" = serve ] || die "CMD $cmd does not run \`youma serve\`"
printf '%s\n' "${cmd_args[@]}" | grep -qx -- "--http-listen=0.0.0.0:8080" ||
  die "CMD $cmd does not serve the HTTP front on 0.0.0.0:8080 (--http-listen)"
printf '%s\n' "${cmd_args[@]}" | grep -qx -- "--web-assets=$WEB_DIR" ||
  die "CMD $cmd does not pass --web-assets=$WEB_DIR (the binary's default is the build tree)"
ok "CMD $cmd"

echo "== 2. scripts/install-runtime.sh =="
if [ "$(id -u)" -eq 0 ]; then
  # The same arguments as the Dockerfile's default build (EMBEDDED_DB=0).
  first=$(bash scripts/install-runtime.sh 2>&1) || die "install-runtime.sh failed: $first"
  ok "install-runtime.sh succeeds as root: $(tail -1 <<<"$first")"
  second=$(bash scripts/install-runtime.sh 2>&1) || die "install-runtime.sh failed on its second run: $second"
  grep -q "all .* packages are installed" <<<"$second" ||
    die "install-runtime.sh is not idempotent, its second run said: $second"
  ok "a second run changes nothing: $second"
else
  echo "  (not root: install-runtime.sh would need sudo; checking that its packages are installed instead)"
fi
mapfile -t runtime < <(bash scripts/install-runtime.sh --list)
for p in "${runtime[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || die "$p is not installed"
done
ok "${#runtime[@]} runtime packages installed: ${runtime[*]}"

echo "== 3. the binary's libraries =="
ldd_out=$(ldd "$BINARY")
if grep -q "not found" <<<"$ldd_out"; then
  grep "not found" <<<"$ldd_out" >&2
  die "ldd cannot find every library"
fi
ok "ldd finds all $(grep -c '=>' <<<"$ldd_out") libraries"
# The packages the slim image will have: install-runtime.sh's and what they
# depend on (apt's view of Debian 12). Every library must come from one.
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "${runtime[@]}" 2>/dev/null | grep -v '^ ' | sed 's/:amd64$//' | sort -u)
[ -n "$closure" ] || die "apt-cache knows nothing of the runtime packages (run apt-get update)"
outside=()
while read -r lib; do
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true)
  pkg=${pkg%%:*}
  grep -qx "$pkg" <<<"$closure" || outside+=("$lib (${pkg:-no package})")
done < <(awk '/=>/ {print $3}' <<<"$ldd_out")
[ ${#outside[@]} -eq 0 ] || die "libraries the slim image would lack: ${outside[*]}"
ok "every library comes from install-runtime.sh's packages or their $(wc -l <<<"$closure") dependencies"

echo "== 4. ENTRYPOINT + CMD as uid $UID_IMAGE =="
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
grpc_port=$(free_port)
metrics_port=$(free_port)
while [ "$metrics_port" = "$grpc_port" ]; do metrics_port=$(free_port); done
http_port=$(free_port)
while [ "$http_port" = "$grpc_port" ] || [ "$http_port" = "$metrics_port" ]; do http_port=$(free_port); done
# The CMD's own flags, with this machine's free ports on loopback, a private
# data dir in place of the image's, and a copy of the build's web assets in
# place of /usr/share/youma/web: owned by whoever runs the test (root, as in
# the image), folders 0755 and files 0644, so the server only reads them.
data_dir=$work/data
web_dir=$work/web
cp -R "$ASSETS" "$web_dir"
chmod -R u=rwX,go=rX "$web_dir"
args=()
for a in "${cmd_args[@]}"; do
  case "$a" in
    --listen=*) args+=("--listen=127.0.0.1:$grpc_port") ;;
    --metrics-listen=*) args+=("--metrics-listen=127.0.0.1:$metrics_port") ;;
    --http-listen=*) args+=("--http-listen=127.0.0.1:$http_port") ;;
    --web-assets=*) args+=("--web-assets=$web_dir") ;;
    --data-dir=*) args+=("--data-dir=$data_dir") ;;
    *) args+=("$a") ;;
  esac
done
args+=("--grace-seconds=$GRACE")
# The binary and its data dir must be reachable by the unprivileged user.
install -m 0755 "$BINARY" "$work/youma"
mkdir -p "$data_dir"
chmod 0755 "$work"

runner=()
switched=0
as="the current user ($(id -un), uid $(id -u))"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
   setpriv --reuid=$UID_IMAGE --regid=$UID_IMAGE --clear-groups true 2>/dev/null; then
  chown -R $UID_IMAGE:$UID_IMAGE "$data_dir"
  runner=(setpriv --reuid=$UID_IMAGE --regid=$UID_IMAGE --clear-groups)
  switched=1
  as="uid $UID_IMAGE (setpriv)"
else
  echo "  note: cannot switch to uid $UID_IMAGE here (not root, or no setpriv): running as $(id -un) instead"
fi
pid1=""
if unshare --pid --fork --kill-child true 2>/dev/null; then
  runner=(unshare --pid --fork --kill-child "${runner[@]}")
  pid1=" as PID 1 of a new PID namespace"
else
  echo "  note: no new PID namespace here (unshare refused): youma is not PID 1 in this run"
fi
echo "  running$pid1 as $as:"
echo "    /usr/local/bin/youma ${args[*]}"
"${runner[@]}" "$work/youma" "${args[@]}" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!

ready=0
for _ in $(seq 1 600); do
  if grep -q "ready" "$work/stderr"; then ready=1; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if [ "$ready" -ne 1 ]; then
  sed 's/^/    /' "$work/stderr" >&2
  die "youma serve did not say \"ready\" within 120 s"
fi
ok "youma serve says: $(grep ready "$work/stderr")"

# The server process (youma itself, under unshare when there is one).
youma_pid=$server_pid
if [ -n "$pid1" ]; then
  youma_pid=$(pgrep -P "$server_pid" -x youma || true)
  [ -n "$youma_pid" ] || die "no youma process under unshare ($server_pid)"
  nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$youma_pid/status")
  [ "$nspid" = 1 ] || die "youma is pid $nspid in its namespace, not 1"
  ok "youma is PID 1 in its PID namespace"
fi
uid=$(awk '/^Uid:/ {print $2}' "/proc/$youma_pid/status")
if [ "$switched" -eq 1 ]; then
  [ "$uid" = "$UID_IMAGE" ] || die "youma runs as uid $uid, not $UID_IMAGE"
fi
ok "youma runs as uid $uid; its data dir is owned by $(stat -c %u "$data_dir")"
rss=$(awk '/^VmRSS:/ {print $2 " " $3}' "/proc/$youma_pid/status")

metrics=$(exec 3<>"/dev/tcp/127.0.0.1/$metrics_port" &&
          printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3) ||
  die "nothing answers on the metrics port $metrics_port"
grep -q "^HTTP/1.[01] 200" <<<"$metrics" || die "GET /metrics did not answer 200: $(head -1 <<<"$metrics")"
ok "GET /metrics answers 200 with $(grep -c '^[a-z_]' <<<"$metrics") samples (youma RSS $rss)"

# The HTTP front: status, Content-Type and the body's first 64 KiB, or "000"
# when nothing answers.
http_get() {
  python3 - "http://127.0.0.1:$http_port$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    r = e
except Exception as e:
    print("000\t\t%s" % e)
    sys.exit(0)
body = r.read(65536).decode("utf-8", "replace")
print("%s\t%s" % (r.status, r.headers.get("Content-Type", "")))
print(body)
PY
}
healthz=$(http_get /healthz)
[ "$(head -1 <<<"$healthz" | cut -f1)" = 200 ] ||
  die "GET /healthz on the HTTP front (port $http_port) did not answer 200: $(head -1 <<<"$healthz")"
[ "$(sed -n 2p <<<"$healthz")" = ok ] || die "GET /healthz did not answer \"ok\": $(sed -n '2,$p' <<<"$healthz")"
ok "GET /healthz on the HTTP front answers 200 \"ok\""
console=$(http_get /console/)
status_type=$(head -1 <<<"$console")
[ "$(cut -f1 <<<"$status_type")" = 200 ] || die "GET /console/ did not answer 200: $status_type"
grep -qi "^text/html" <<<"$(cut -f2 <<<"$status_type")" || die "GET /console/ is not HTML: $status_type"
grep -qi "<html\|<!doctype html" <<<"${console#*$'\n'}" || die "GET /console/ has no HTML document in its body"
ok "GET /console/ answers 200 $(cut -f2 <<<"$status_type") from $ASSETS/console (read-only copy)"
# The files the page loads (vite writes them under assets/, linked relative to /console/).
script=$(grep -o '<script[^>]* src="[^"]*"' <<<"${console#*$'\n'}" | head -1 | sed 's/.* src="//; s/"$//' || true)
if [ -n "$script" ]; then
  case "$script" in
    /*) script_path=$script ;;
    *) script_path=/console/${script#./} ;;
  esac
  script_got=$(http_get "$script_path")
  script_got=${script_got%%$'\n'*}
  [ "$(cut -f1 <<<"$script_got")" = 200 ] || die "GET $script_path (the console's script) did not answer 200: $script_got"
  ok "GET $script_path answers 200 $(cut -f2 <<<"$script_got")"
fi

start=$(date +%s.%N)
kill -TERM "$youma_pid"
status=0
deadline=$((GRACE + 10))
for _ in $(seq 1 $((deadline * 10))); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  die "youma serve still runs $deadline s after SIGTERM (grace $GRACE s)"
fi
wait "$server_pid" || status=$?
server_pid=""
took=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$start")
[ "$status" -eq 0 ] || { sed 's/^/    /' "$work/stderr" >&2; die "youma serve exited $status after SIGTERM"; }
grep -q "SIGTERM: finishing running calls" "$work/stderr" || die "youma did not report the SIGTERM"
grep -q "stopped" "$work/stderr" || die "youma did not report that it stopped"
ok "SIGTERM: exit 0 after ${took} s (grace $GRACE s), \"$(tail -1 "$work/stderr")\""
if pgrep -f -- "--datadir=$data_dir/" >/dev/null; then
  die "a mariadbd of this test's data dir outlived youma"
fi
ok "no mariadbd of the data dir is left"

echo "docker_entrypoint_test: $passed passed, 0 failed"
