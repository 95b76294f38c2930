# smartlead_exporter in an otherwise empty image, the way the Prometheus projects build theirs:
# the binary is built first (statically linked, by scripts/image.sh) and only copied here, so
# building the image needs no compiler image and no network.
#
#   scripts/image.sh                      # builds the binary, then smartlead-exporter:0.1.0
#
# The build context is a directory holding only this file and the binary (scripts/image.sh
# makes it). The image has no shell, no package manager, no CA store (rustls' public roots are
# compiled in; add a proxy's CA with --smartlead.ca-file) and no NSS (host names are resolved
# by the binary itself from /etc/resolv.conf and /etc/hosts, which the runtime mounts).
# Dockerfile.multistage builds the binary inside a Rust image instead, for a machine that can
# pull one.
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
# The repository URL; scripts/image.sh passes `git remote get-url origin` when there is one.
ARG SOURCE=
LABEL org.opencontainers.image.title="smartlead_exporter" \
      org.opencontainers.image.description="Prometheus exporter for SmartLead lead categories, API latency and errors" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY smartlead_exporter /smartlead_exporter
# nobody:nogroup; the Helm chart runs it with the same ids and a read-only root file system.
USER 65534:65534
EXPOSE 10072
ENTRYPOINT ["/smartlead_exporter"]
