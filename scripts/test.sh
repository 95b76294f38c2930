#!/usr/bin/env bash
# Runs every test of smartlead_exporter, after installing what they need on a fresh Debian
# machine (bookworm): every program the tests start, from the table `tools` below (promtool
# and the Prometheus server, Alertmanager and amtool, VictoriaMetrics and vmalert, podman,
# buildah and runc for the container image built with scripts/image.sh, openssl, file, kill,
# git), and a Python virtual environment (target/venv) with the Helm engine and the Kubernetes
# schema validator.
# It needs a Rust toolchain (the crate's rust-version or newer) and root or sudo for apt-get.
#
#   scripts/test.sh                    install what is missing, then run every check
#   scripts/test.sh --list-packages    print the Debian packages it would install, one a line
#
# tests/deploy/test_tools.py finds every program the tests start and fails when this table
# does not install it.
#
# Checks, in order: formatting, clippy, unit and integration tests (real sockets on
# loopback), the micro-benchmarks in quick mode, then the chart, dashboard and alert checks
# against the real Helm engine, promtool, a real Prometheus, Alertmanager and VictoriaMetrics
# scraping the exporter, and the container image (scripts/image.sh) run by podman.
set -euo pipefail
case "${BASH_SOURCE[0]}" in
  */*) cd "${BASH_SOURCE[0]%/*}/.." ;;
  *) cd .. ;;
esac

# Every program the tests start, with the Debian package that provides it. Programs of
# Debian's essential set (sh, sed, grep, coreutils) need no entry.
tools=(
  promtool:prometheus
  prometheus:prometheus
  amtool:prometheus-alertmanager
  prometheus-alertmanager:prometheus-alertmanager
  victoria-metrics:victoria-metrics
  vmalert:victoria-metrics
  openssl:openssl
  # The image tests (tests/deploy/test_image.py) run podman with runc: crun, podman's other
  # runtime, cannot set rlimits on these machines. scripts/image.sh checks the binary with file.
  podman:podman
  buildah:buildah
  runc:runc
  file:file
  # The Rust tests signal the exporter with kill(1); test_image.py labels the image with git.
  kill:procps
  git:git
)

# The packages of the programs above that are not on PATH, each once; python3-venv when
# Python cannot make a virtual environment. Uses shell built-ins only, so that it can run with
# an empty PATH (as the test does).
missing_packages() {
  local -A listed=()
  local entry program package
  for entry in "${tools[@]}"; do
    program=${entry%%:*}
    package=${entry#*:}
    # type -P searches PATH only: `kill` is also a shell built-in, but the tests run the program.
    if ! type -P "$program" >/dev/null && [ -z "${listed[$package]:-}" ]; then
      listed[$package]=1
      printf '%s\n' "$package"
    fi
  done
  if ! { type -P python3 >/dev/null && python3 -c 'import venv, ensurepip' >/dev/null 2>&1; }; then
    printf '%s\n' python3-venv
  fi
}

case "${1:-}" in
  "") ;;
  --list-packages)
    missing_packages
    exit 0
    ;;
  *)
    echo "usage: $0 [--list-packages]" >&2
    exit 2
    ;;
esac

if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
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

step "chart, dashboard, alert and image checks (Helm engine, kubernetes-validate, promtool, Prometheus, Alertmanager, VictoriaMetrics, podman)"
cargo build --quiet
SMARTLEAD_EXPORTER_BIN="$PWD/target/debug/smartlead_exporter" \
  "$venv/bin/python" -m pytest tests/deploy -q -p no:cacheprovider
