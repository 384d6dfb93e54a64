# youma's image: one binary, `youma`, on debian:12-slim with only its runtime
# libraries, running as uid 10001. The Helm chart in helm/youma runs it as
# `youma serve --services=<role> --mysql ...`; tests/docker_entrypoint_test.sh
# checks this file's final stage on a machine without Docker.
#
#   docker build -t youma .
#   docker build -t youma:embedded --build-arg EMBEDDED_DB=1 .   # with mariadb-server
#   docker run --rm youma --help
#
# The default command is `youma serve` on its embedded default (a private
# MariaDB under /var/lib/youma), which needs the image built with
# EMBEDDED_DB=1; otherwise give it a database:
#
#   docker run youma serve --listen=0.0.0.0:7443 --metrics-listen=0.0.0.0:9464 \
#       --mysql=mysql://youma@db:3306/youma --mysql-password-file=/run/secrets/pw \
#       --master-key-file=/run/secrets/master.key --keyset-dir=/run/secrets/keysets

# ---------------------------------------------------------------- build
FROM debian:12 AS build
# Parallel compile jobs; the gRPC-heavy files take much memory each, so the
# default matches scripts/build.sh (-j2). Raise it with --build-arg JOBS=N.
ARG JOBS=2
WORKDIR /src
# The dependencies first, so that a source change does not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Only the `youma` target: scripts/build.sh builds every test and benchmark too.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build /build -j"${JOBS}" --target youma \
 && strip --strip-debug -o /youma /build/services/cli/youma \
 && /youma --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM debian:12-slim
# 1 also installs mariadb-server, for `youma serve` without --mysql.
ARG EMBEDDED_DB=0
COPY scripts/install-runtime.sh /usr/local/lib/youma/install-runtime.sh
RUN bash /usr/local/lib/youma/install-runtime.sh $([ "${EMBEDDED_DB}" = 1 ] && echo --embedded-db) \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 youma \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/youma --no-create-home \
      --shell /usr/sbin/nologin youma \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/youma
COPY --from=build /youma /usr/local/bin/youma
USER 10001:10001
WORKDIR /var/lib/youma
# gRPC, Prometheus /metrics.
EXPOSE 7443 9464
# Exec form: youma is PID 1 and gets SIGTERM itself; it finishes running calls
# for --grace-seconds and exits 0.
ENTRYPOINT ["/usr/local/bin/youma"]
CMD ["serve", "--listen=0.0.0.0:7443", "--metrics-listen=0.0.0.0:9464", "--data-dir=/var/lib/youma"]
