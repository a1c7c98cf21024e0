# Build: the exporter alone. The simulated AWS of --demo is test code and stays
# out of the release image; the compose demo builds with FEATURES=demo.
FROM rust:1-bookworm AS build
ARG FEATURES=""
# The git revision for --version and build_info (.git is not copied in):
# docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) .
ARG REVISION=""
WORKDIR /src
COPY . .
RUN AFE_GIT_REVISION="${REVISION}" cargo build --release --locked --bin aws-flow-exporter --no-default-features --features "${FEATURES}"
# The default place for --storage.path, owned by the user the exporter runs as: a new named
# volume mounted there starts with this ownership, so it is writable without a chown.
RUN mkdir -p /state

# Run: no shell, no package manager; glibc and CA certificates only.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/aws-flow-exporter /usr/local/bin/aws-flow-exporter
COPY --from=build --chown=65532:65532 /state /var/lib/aws-flow-exporter
# glibc's per-thread caches off (see docs/operations.md, "The memory allocator"): set here, the
# exporter does not execute itself again at start to set it.
ENV GLIBC_TUNABLES=glibc.malloc.tcache_count=0
USER nonroot:nonroot
EXPOSE 9816
ENTRYPOINT ["/usr/local/bin/aws-flow-exporter"]
