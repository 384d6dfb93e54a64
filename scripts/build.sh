#!/usr/bin/env bash
# Configures and builds youma into build/ (-j2). Extra arguments go to cmake's
# configure step, e.g. -DCMAKE_BUILD_TYPE=Release.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build build -j2
