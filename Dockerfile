# syntax=docker/dockerfile:1
#
# smartlead_exporter as a static musl binary in an otherwise empty image.
#   docker build --build-arg REVISION="$(git rev-parse --short=12 HEAD)" -t smartlead-exporter:0.1.0 .
#   docker run --rm -p 10072:10072 smartlead-exporter:0.1.0 --demo --web.listen-address=:10072
# TLS to SmartLead uses rustls with the webpki root certificates compiled in, so the image
# needs no CA bundle; it has no shell either.

FROM rust:1-alpine AS builder
# musl-dev and gcc: the C parts of ring (rustls' crypto) are compiled and linked statically.
RUN apk add --no-cache musl-dev gcc
WORKDIR /src
# The git revision for smartlead_exporter_build_info (.git is not in the build context).
ARG REVISION=unknown
ENV SMARTLEAD_EXPORTER_REVISION=${REVISION}
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Cargo.toml declares the benchmark target explicitly, and Cargo refuses a manifest whose
# declared targets are missing, even when building only the binary.
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin smartlead_exporter \
    && cp target/release/smartlead_exporter /smartlead_exporter

FROM scratch
COPY --from=builder /smartlead_exporter /smartlead_exporter
# nobody:nogroup; the Helm chart runs it with the same ids and a read-only root file system.
USER 65534:65534
EXPOSE 10072
ENTRYPOINT ["/smartlead_exporter"]
