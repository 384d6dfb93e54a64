# youma's image: one binary, `youma`, on debian:12-slim with only its runtime
# libraries, running as uid 10001, and the HTTP front's assets (the region
# table and the built brand console) under /usr/share/youma/web, owned by
# root and read-only to youma. The Helm chart in helm/youma runs it as
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
#       --http-listen=0.0.0.0:8080 --web-assets=/usr/share/youma/web \
#       --mysql=mysql://youma@db:3306/youma --mysql-password-file=/run/secrets/pw \
#       --master-key-file=/run/secrets/master.key --keyset-dir=/run/secrets/keysets
#
# The HTTP front (the scan page a printed QR code opens, the JSON API under
# /api/v1/, the console under /console/, GET /healthz) runs beside the scan
# service. --web-assets must name /usr/share/youma/web: the binary's default
# is the build tree's folder, which is not in this image.

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
# The web assets are a dependency of it: CMake runs `npm ci` (Node.js and npm
# from install-deps.sh; the npm registry must be reachable) and writes the
# region table and the built console to /build/web. An image without them
# would not start its HTTP front, so the build stops here when one is missing.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build /build -j"${JOBS}" --target youma \
 && strip --strip-debug -o /youma /build/services/cli/youma \
 && /youma --help >/dev/null \
 && test -s /build/web/regions.tsv && test -s /build/web/console/index.html \
 && cp -R /build/web /web && chmod -R u=rwX,go=rX /web

# ---------------------------------------------------------------- runtime
FROM debian:12-slim
# 1 also installs mariadb-server, for `youma serve` without --mysql, and
# mariadb-backup, for `youma backup`.
ARG EMBEDDED_DB=0
COPY scripts/install-runtime.sh scripts/apt-install-missing.sh /usr/local/lib/youma/
RUN bash /usr/local/lib/youma/install-runtime.sh $([ "${EMBEDDED_DB}" = 1 ] && echo --embedded-db) \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 youma \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/youma --no-create-home \
      --shell /usr/sbin/nologin youma \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/youma
COPY --from=build /youma /usr/local/bin/youma
# Owned by root (COPY's default), files 0644 and folders 0755: uid 10001 reads
# them and cannot change them.
COPY --from=build /web /usr/share/youma/web
USER 10001:10001
WORKDIR /var/lib/youma
# gRPC, Prometheus /metrics, the HTTP front.
EXPOSE 7443 9464 8080
# Exec form: youma is PID 1 and gets SIGTERM itself; it finishes running calls
# for --grace-seconds and exits 0.
ENTRYPOINT ["/usr/local/bin/youma"]
CMD ["serve", "--listen=0.0.0.0:7443", "--metrics-listen=0.0.0.0:9464", "--data-dir=/var/lib/youma", \
     "--http-listen=0.0.0.0:8080", "--web-assets=/usr/share/youma/web"]
