# Build: the exporter alone (the simulator is compiled in for --demo).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin aws-flow-exporter

# Run: no shell, no package manager; glibc and CA certificates only.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/aws-flow-exporter /usr/local/bin/aws-flow-exporter
USER nonroot:nonroot
EXPOSE 9816
ENTRYPOINT ["/usr/local/bin/aws-flow-exporter"]
