#!/usr/bin/env bash
# Builds the container image: first a statically linked smartlead_exporter, then an image that
# holds only that binary (Dockerfile, FROM scratch), with docker, podman or buildah, whichever
# works here.
#
#   scripts/image.sh [IMAGE]
#
# IMAGE defaults to smartlead-exporter:VERSION (VERSION from Cargo.toml), the Helm chart's
# default image.repository and tag. CONTAINER_ENGINE=docker|podman|buildah picks the engine;
# IMAGE_SOURCE sets the org.opencontainers.image.source label (default: the git remote
# `origin`, if any). Prints the image's size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

# glibc's target: no musl target is needed. `--target` keeps RUSTFLAGS away from the build
# script and the proc macros, which run on the host and must stay dynamic.
target=x86_64-unknown-linux-gnu
profile=dist
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
image=${1:-smartlead-exporter:$version}
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
source_url=${IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || true)}

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null 2>&1; then
    engine=podman
  elif command -v buildah >/dev/null 2>&1; then
    engine=buildah
  else
    echo "scripts/image.sh: error: no container engine: install docker, podman or buildah" >&2
    exit 1
  fi
fi

printf '==> cargo build --profile %s --target %s (static)\n' "$profile" "$target"
# +crt-static links glibc into the binary: nothing is loaded at run time, so it runs in an
# empty image. Host names are resolved by hickory (Cargo.toml), not by glibc's NSS modules.
SMARTLEAD_EXPORTER_REVISION=$revision \
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --locked --profile "$profile" --target "$target" --bin smartlead_exporter
binary=target/$target/$profile/smartlead_exporter
if ! file "$binary" | grep -Eq 'statically linked|static-pie linked'; then
  echo "scripts/image.sh: error: $binary is not statically linked:" >&2
  file "$binary" >&2
  exit 1
fi

# The build context holds the Dockerfile and the binary, nothing else.
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp Dockerfile "$context/Dockerfile"
cp "$binary" "$context/smartlead_exporter"
chmod 0755 "$context/smartlead_exporter"

args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  --build-arg "SOURCE=$source_url" -t "$image" -f "$context/Dockerfile")
printf '==> %s build -t %s\n' "$engine" "$image"
case "$engine" in
  docker) docker build "${args[@]}" "$context" ;;
  podman) podman build --layers=false "${args[@]}" "$context" ;;
  buildah) buildah build --layers=false "${args[@]}" "$context" ;;
  *)
    echo "scripts/image.sh: error: CONTAINER_ENGINE=$engine: use docker, podman or buildah" >&2
    exit 1
    ;;
esac

case "$engine" in
  buildah) size=$(buildah images --noheading --format '{{.Size}}' "$image") ;;
  *) size="$("$engine" image inspect --format '{{.Size}}' "$image") bytes" ;;
esac
printf '==> built %s (%s uncompressed; binary %s bytes)\n' \
  "$image" "${size:-?}" "$(stat -c %s "$binary")"
