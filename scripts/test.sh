#!/usr/bin/env bash
# youma's test command: installs the dependencies, builds everything (-j2) and
# runs every test through one ctest run: the doctest suites, the benchmark in
# smoke mode, and a bounded libFuzzer run of the code parser (built with clang
# in build-fuzz/).
#
#   YOUMA_FUZZ_SECONDS=300 bash scripts/test.sh     # fuzz longer
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== building the fuzz targets (clang, ASan, UBSan) =="
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DYOUMA_FUZZ=ON
cmake --build build-fuzz -j2

echo "== building youma =="
bash scripts/build.sh -DYOUMA_FUZZ_BUILD_DIR="$PWD/build-fuzz" \
  -DYOUMA_FUZZ_SECONDS="${YOUMA_FUZZ_SECONDS:-30}"

echo "== installing the interop checkers (npm registry, locked versions) =="
npm ci --prefix tests/epcis --no-audit --no-fund --loglevel=error
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

echo "== running every test =="
cd build
ctest --output-on-failure -j2 --timeout 900
