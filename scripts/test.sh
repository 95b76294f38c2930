#!/usr/bin/env bash
# Runs every test of smartlead_exporter, after installing what they need on a fresh Debian
# machine: promtool and the Prometheus server (Debian's `prometheus`), podman, buildah and runc
# (the container image is built with scripts/image.sh and run), openssl and file, and a Python
# virtual environment (target/venv) with the Helm engine and the Kubernetes schema validator.
#
#   scripts/test.sh
#
# Checks, in order: formatting, clippy, unit and integration tests (real sockets on
# loopback), the micro-benchmarks in quick mode, then the chart, dashboard and alert checks
# against the real Helm engine, promtool and a real Prometheus scraping the exporter, and the
# container image (scripts/image.sh) run by podman.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The image tests (tests/deploy/test_image.py) run podman with runc: crun, podman's other
# runtime, cannot set rlimits on these machines.
for tool in podman buildah runc openssl file; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u)
fi

venv=target/venv
if [ ! -x "$venv/bin/python" ]; then
  step "creating the Python virtual environment in $venv"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/deploy/requirements.txt

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "unit and integration tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi

step "micro-benchmarks, quick mode (each benchmark runs once; not timed)"
cargo test --bench pipeline --quiet

step "chart, dashboard, alert and image checks (Helm engine, kubernetes-validate, promtool, Prometheus, podman)"
cargo build --quiet
SMARTLEAD_EXPORTER_BIN="$PWD/target/debug/smartlead_exporter" \
  "$venv/bin/python" -m pytest tests/deploy -q -p no:cacheprovider
