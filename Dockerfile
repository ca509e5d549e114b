# A small tenantry image: built on Debian with the pinned Rust toolchain, run on distroless
# (glibc, CA certificates, no shell, no package manager) as the unprivileged `nonroot` user.
#
#   docker build --build-arg TENANTRY_GIT_COMMIT=$(git rev-parse --short=12 HEAD) \
#                --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) -t tenantry .
#   docker run -p 8080:8080 -v tenantry-data:/var/lib/tenantry \
#              -v /path/to/server_secret:/run/secrets/server_secret:ro tenantry
#
# The data directory is a volume; the server secret comes from a secret file (a container
# secret), not from the volume, so a replicated or restored database never carries it.
# See docs/operators.md, "Container image".

FROM rust:1.95-bookworm AS build
WORKDIR /src
# build.rs prints these in `tenantry --version` (.git is not sent to the build).
ARG TENANTRY_GIT_COMMIT=unknown
ARG SOURCE_DATE_EPOCH
COPY . .
RUN cargo build --release --locked \
    && install -D -m 0755 target/release/tenantry /out/usr/local/bin/tenantry \
    && install -d -m 0700 /out/var/lib/tenantry

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/tenantry /usr/local/bin/tenantry
COPY --from=build --chown=65532:65532 /out/var/lib/tenantry /var/lib/tenantry
# The secret's file path, not the secret.
# hadolint ignore=DL3064
ENV TENANTRY_DATA_DIR=/var/lib/tenantry \
    TENANTRY_LISTEN=0.0.0.0:8080 \
    TENANTRY_SERVER_SECRET_FILE=/run/secrets/server_secret \
    TENANTRY_LOG_FORMAT=json
VOLUME ["/var/lib/tenantry"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tenantry"]
CMD ["serve"]
