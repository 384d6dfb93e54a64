#!/usr/bin/env bash
# Installs what the built `youma` binary needs at run time, and nothing it
# needs to build, from Debian 12's packages: the final stage of the
# Dockerfile runs it on debian:12-slim. Each package is the one that ships a
# library the binary links (`readelf -d youma`); apt brings their own
# dependencies (OpenSSL, c-ares, RE2, libmariadb, civetweb, brotli, ...).
# Idempotent: when every package is already installed it changes nothing.
#
#   bash scripts/install-runtime.sh                # the server's libraries
#   bash scripts/install-runtime.sh --embedded-db  # and mariadb-server, for
#                                                  # `youma serve` without --mysql,
#                                                  # and mariadb-backup (`youma backup`)
#   bash scripts/install-runtime.sh --list         # print the packages, install nothing
set -euo pipefail

PACKAGES=(
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623
  libsodium23 libzxing2 libpng16-16 libjemalloc2
  libmysqlcppconn7v5
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libcpp-httplib0.11
)

list=0
for arg in "$@"; do
  case "$arg" in
    --embedded-db) PACKAGES+=(mariadb-server mariadb-backup) ;;
    --list) list=1 ;;
    *) echo "install-runtime: unknown argument $arg (--embedded-db, --list)" >&2; exit 2 ;;
  esac
done

if [ "$list" -eq 1 ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

bash "$(dirname "$0")/apt-install-missing.sh" install-runtime "${PACKAGES[@]}"
