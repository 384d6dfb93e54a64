#!/usr/bin/env bash
# Installs everything youma builds and tests with, from Debian 12's packages.
# Idempotent: when every package is already installed it changes nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libsodium-dev libzxing-dev libpng-dev libjemalloc-dev
  libmysqlcppconn-dev mariadb-server mariadb-client mariadb-backup libcpp-httplib-dev
  prometheus-cpp-dev libabsl-dev libcli11-dev libspdlog-dev nlohmann-json3-dev
  doctest-dev openssl
  clang libclang-rt-14-dev
  yamllint golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev
  chromium fonts-noto-cjk
)

# Node.js and npm run the interop checkers (GS1's EPCIS validator, the chart's
# schema checks); a machine that has its own Node.js keeps it.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

bash "$(dirname "$0")/apt-install-missing.sh" install-deps "${PACKAGES[@]}"
