#!/usr/bin/env bash
# Checks the Helm chart in helm/youma without helm or a cluster:
#
#   1. yamllint on Chart.yaml, values.yaml and the test values (helm/.yamllint),
#      and every field of values.yaml has a comment;
#   2. values.yaml, alone and with each tests/helm/good-values/*.yaml over it,
#      is valid against values.schema.json (ajv, JSON Schema draft-07);
#   3. each tests/helm/bad-values/*.yaml is refused by the schema, for the
#      reason its first line names (`# expect: keyword=... path=...`);
#   4. the templates render (tests/helm/render: Go's text/template with
#      sprig and Helm's functions) with each good-values file, and the
#      manifests hold what the chart promises (tests/helm/check-rendered.js);
#   5. each tests/helm/bad-render/*.yaml passes the schema but fails to
#      render, with the message its first line names (the `required` and
#      `fail` checks the schema cannot express).
#
# Needs yamllint, Go and sprig from Debian (scripts/install-deps.sh), Node.js
# and npm; installs the validator's packages from the npm registry with
# `npm ci` into tests/helm/node_modules the first time.
#
#   bash scripts/check-helm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=helm/youma
TESTS=tests/helm
SCHEMA=$CHART/values.schema.json
VALUES=$CHART/values.yaml
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "  ok: $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL: $*"; }
die() { echo "check-helm: $*" >&2; exit 1; }

# The reason a test file expects, from its first line: "# expect: TEXT".
expectation() { sed -n '1s/^# expect: //p' "$1"; }

echo "== tools =="
missing=()
command -v yamllint >/dev/null || missing+=("yamllint (Debian package yamllint)")
command -v node >/dev/null || missing+=("node (Node.js 18 or later)")
command -v npm >/dev/null || missing+=("npm")
command -v go >/dev/null || missing+=("go (Debian package golang-go)")
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] ||
  missing+=("sprig (Debian package golang-github-masterminds-sprig-dev)")
[ -d /usr/share/gocode/src/github.com/ghodss/yaml ] ||
  missing+=("ghodss/yaml (Debian package golang-github-ghodss-yaml-dev)")
if [ ${#missing[@]} -gt 0 ]; then
  printf '  missing: %s\n' "${missing[@]}" >&2
  die "install the missing tools (bash scripts/install-deps.sh installs the Debian ones)"
fi
echo "  yamllint $(yamllint --version | awk '{print $2}'), node $(node --version), $(go version | awk '{print $3}')"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== yamllint: Chart.yaml, values.yaml, test values =="
if yamllint -c helm/.yamllint -f parsable "$CHART/Chart.yaml" "$VALUES" \
     "$TESTS/good-values" "$TESTS/bad-values" "$TESTS/bad-render"; then
  pass "yamllint found nothing"
else
  fail "yamllint (above)"
fi

echo "== values.yaml: every field has a comment =="
if out=$(node "$TESTS/check-values-comments.js" "$VALUES"); then
  pass "$out"
else
  fail "undocumented values:"
  echo "$out" | sed 's/^/    /'
fi

echo "== the validator's packages (npm ci in $TESTS) =="
stamp=$TESTS/node_modules/.youma-installed-lock
if [ -f "$stamp" ] && cmp -s "$stamp" "$TESTS/package-lock.json"; then
  echo "  up to date with package-lock.json"
else
  (cd "$TESTS" && npm ci --no-audit --no-fund --loglevel=error) ||
    die "npm ci in $TESTS failed (the npm registry must be reachable the first time)"
  cp "$TESTS/package-lock.json" "$stamp"
fi

validate() { node "$TESTS/validate-values.js" "$SCHEMA" "$VALUES" "$@"; }

echo "== schema: values.yaml and tests/helm/good-values must pass =="
for f in "" "$TESTS"/good-values/*.yaml; do
  name=${f:-$VALUES alone}
  if out=$(validate ${f:+"$f"}); then
    pass "$name is valid"
  else
    fail "$name is refused by the schema:"
    echo "$out" | sed 's/^/    /'
  fi
done

echo "== schema: tests/helm/bad-values must fail, for the reason they name =="
for f in "$TESTS"/bad-values/*.yaml; do
  want=$(expectation "$f")
  if [ -z "$want" ]; then
    fail "$f has no '# expect: keyword=... path=...' first line"
    continue
  fi
  set +e
  out=$(validate "$f")
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    fail "$f passed the schema; it should fail with: $want"
  elif [ $rc -ne 1 ]; then
    fail "$f could not be checked (exit $rc):"
    echo "$out" | sed 's/^/    /'
  elif grep -qF -- "$want" <<<"$out"; then
    pass "$(basename "$f"): refused, $want"
  else
    fail "$f was refused, but not with: $want"
    echo "$out" | sed 's/^/    /'
  fi
done

echo "== templates: build the renderer (Go text/template + sprig, GOPATH mode, offline) =="
export GOCACHE=${GOCACHE:-${XDG_CACHE_HOME:-${HOME:-$work}/.cache}/go-build}
if GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= \
     go build -o "$work/render" "./$TESTS/render"; then
  echo "  built"
else
  die "the renderer in $TESTS/render does not build"
fi

echo "== templates: render with each good-values file and check the manifests =="
for f in "$TESTS"/good-values/*.yaml; do
  out=$work/$(basename "$f" .yaml).rendered.yaml
  if ! "$work/render" -chart "$CHART" -f "$f" >"$out" 2>"$work/err"; then
    fail "$(basename "$f"): the templates do not render:"
    sed 's/^/    /' "$work/err"
    continue
  fi
  docs=$(grep -c '^# Source:' "$out" || true)
  if report=$(node "$TESTS/check-rendered.js" "$out" "$VALUES" "$f"); then
    pass "$(basename "$f"): $docs manifests render and hold:"
    echo "$report" | sed 's/^/  /'
  else
    fail "$(basename "$f"): the rendered manifests break the chart's promises:"
    echo "$report" | sed 's/^/  /'
  fi
done

echo "== templates: tests/helm/bad-render must pass the schema and fail to render =="
for f in "$TESTS"/bad-render/*.yaml; do
  want=$(expectation "$f")
  if [ -z "$want" ]; then
    fail "$f has no '# expect: MESSAGE' first line"
    continue
  fi
  if ! validate "$f" >/dev/null; then
    fail "$f is refused by the schema already; it should test a render-time check"
    continue
  fi
  if "$work/render" -chart "$CHART" -f "$f" >/dev/null 2>"$work/err"; then
    fail "$f rendered; it should fail with: $want"
  elif grep -qF -- "$want" "$work/err"; then
    pass "$(basename "$f"): render fails with \"$want\""
  else
    fail "$f failed to render, but not with: $want"
    sed 's/^/    /' "$work/err"
  fi
done

echo "check-helm: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || die "the chart has problems (FAIL lines above)"
