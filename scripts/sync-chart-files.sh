#!/usr/bin/env bash
# Copies the canonical dashboard and alert rules into the Helm chart.
#
#   scripts/sync-chart-files.sh           copy dashboards/ and alerts/ into helm/.../files/
#   scripts/sync-chart-files.sh --check   exit 1, naming the file, when a copy differs
#
# The chart keeps real copies, not symlinks: Flux's Git sources and checkouts without
# symlink support drop links, and a chart would then ship a path instead of the dashboard.
# dashboards/ and alerts/ stay the files people edit; run this after editing them
# (tests/deploy/test_chart.py fails while a copy differs from its source).
set -euo pipefail
cd "$(dirname "$0")/.."

dest=helm/smartlead-exporter/files
sources=(
  dashboards/smartlead-exporter.json
  alerts/smartlead-exporter.rules.yml
)

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

status=0
for src in "${sources[@]}"; do
  copy="$dest/$(basename "$src")"
  if $check; then
    if [ -L "$copy" ] || ! cmp -s "$src" "$copy"; then
      echo "$copy differs from $src: run scripts/sync-chart-files.sh" >&2
      status=1
    fi
  else
    mkdir -p "$dest"
    rm -f "$copy"  # replaces a symlink instead of writing through it
    cp "$src" "$copy"
    echo "copied $src -> $copy"
  fi
done
exit "$status"
