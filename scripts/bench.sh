#!/usr/bin/env bash
# The side-by-side benchmark of issue 5: this exporter against nginx serving the same bytes.
#
# Builds the shipped binary (`--profile dist`: fat LTO, one codegen unit); generates a SmartLead answer with N categories (default 1,000) and
# one with 100,000; starts nginx (one worker, loopback only, temporary prefix) serving both
# answers as the SmartLead stand-in and a static copy of the exporter's /metrics; starts the
# exporter against it; runs wrk on each, one after the other in the same run; and prints a
# table: requests/s, p99 and RSS of both, their ratio, the SmartLead calls counted during the
# load, start-up time, idle wake-ups, binary size, and memory at 100,000 categories. Then the
# 500-account rows (scripts/bench-accounts.sh) and the TLS rows (scripts/bench-tls.sh).
#
# Usage: scripts/bench.sh [N]     (as root, or with wrk and nginx already installed)
# Environment: BENCH_DURATION (wrk seconds, default 5), BENCH_CONNECTIONS (default 10),
#              BENCH_ROUNDS (alternating wrk runs per side, default 5; the median is shown),
#              BENCH_SKIP_BUILD=1 (use the existing target/dist binary),
#              BENCH_KEEP=1 (keep the temporary directory, for its logs),
#              BENCH_POLL_INTERVAL (seconds between the exporter's polls during the load, default 1),
#              BENCH_ONLY_ONE_ACCOUNT=1 (skip the 500-account and TLS scripts).
#
# Touches only 127.0.0.1. Every process it starts is stopped on exit, whatever the exit.

set -euo pipefail

# How many categories the throughput phase serves.
N="${1:-1000}"
# How many categories the memory phase polls (about 11 MB of JSON).
N_LARGE=100000
# wrk settings, as the issue fixes them.
DURATION="${BENCH_DURATION:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-10}"
# Poll interval during the load: short, so that several polls fall inside the wrk run and
# "one SmartLead call per interval, whatever the number of scrapers" is checked, not assumed.
POLL_INTERVAL_S="${BENCH_POLL_INTERVAL:-1}"
# How long the idle phase watches for wake-ups, with a poll interval far longer than that:
# longer than the upstream connection pool's 30 s idle timeout, so that a connection kept
# open and closed later would show.
IDLE_SECONDS=40
# wrk runs per side in the throughput phase, alternating; the median round is reported.
ROUNDS="${BENCH_ROUNDS:-5}"
# Start-up is measured this many times; the median is reported.
STARTUP_RUNS=5
# Any wait for a port or a poll gives up after this many seconds.
WAIT_TIMEOUT=30
# The memory phase needs more than the default 16 MiB body cap.
MAX_BODY_SIZE=64MiB

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
# The fully optimised build, as shipped in the image (Cargo.toml, [profile.dist]).
BINARY="$ROOT/target/dist/smartlead_exporter"

BENCH_NAME=bench.sh
# shellcheck source=scripts/bench-common.sh
source "$SCRIPTS/bench-common.sh"
[[ "$N" =~ ^[0-9]+$ ]] || die "N must be a number of categories, got '$N'"

# wait_polls PORT COUNT: until the exporter at PORT has attempted at least COUNT polls. Asks
# for gzip, as Prometheus does, so that the exporter never inflates its plain text for this.
polls_of() {
    curl -fsS --compressed --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk '/^smartlead_api_requests_total\{/ { n += $NF } END { print n + 0 }'
}
wait_polls() {
    local port="$1" count="$2" deadline=$((SECONDS + WAIT_TIMEOUT))
    until (($(polls_of "$port") >= count)); do
        ((SECONDS < deadline)) || die "the exporter on port $port did not finish $count polls in ${WAIT_TIMEOUT}s"
        sleep 0.1
    done
}

# ctx_switches PID: voluntary plus involuntary context switches of every thread.
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(nonvoluntary|voluntary)_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# upstream_calls: SmartLead stand-in requests logged by nginx so far.
upstream_calls() { wc -l <"$WORK/upstream.log"; }

# run_wrk NAME URL: writes wrk's report to $WORK/wrk-NAME.txt.
run_wrk() {
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2" >"$WORK/wrk-$1.txt" 2>&1 ||
        die "wrk failed against $2: $(cat "$WORK/wrk-$1.txt")"
    grep -q '^Requests/sec' "$WORK/wrk-$1.txt" || die "wrk printed no result for $2"
    if grep -q 'Non-2xx\|Socket errors' "$WORK/wrk-$1.txt"; then
        die "wrk saw errors against $2: $(grep 'Non-2xx\|Socket errors' "$WORK/wrk-$1.txt")"
    fi
}
# run_measured NAME PID URL: run_wrk, recording PID's CPU time over the run.
run_measured() {
    local before
    before="$(cpu_ticks "$2")"
    run_wrk "$1" "$3"
    echo $(($(cpu_ticks "$2") - before)) >"$WORK/cpu-$1.txt"
}

# start_exporter NAME PORT BASE_PATH EXTRA_ARGS...: starts one exporter, logs to $WORK/NAME.log.
start_exporter() {
    local name="$1" port="$2" base="$3"
    shift 3
    SMARTLEAD_API_KEY=bench "$BINARY" \
        --web.listen-address="127.0.0.1:$port" \
        --smartlead.base-url="http://127.0.0.1:$NGINX_PORT$base/api/v1" \
        --smartlead.max-body-size="$MAX_BODY_SIZE" \
        --log.level=warn "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_for "http://127.0.0.1:$port/-/healthy" "the exporter ($name)" "$LAST_PID"
}


# --- build and data ----------------------------------------------------------------------

build_dist
[[ -x "$BINARY" ]] || die "no binary at $BINARY"
BINARY_BYTES="$(stat -c %s "$BINARY")"

note "generating $N and $N_LARGE categories"
mkdir -p "$WORK/small/api/v1/leads" "$WORK/large/api/v1/leads" "$WORK/static"
python3 "$SCRIPTS/gen_categories.py" "$N" >"$WORK/small/api/v1/leads/fetch-categories"
python3 "$SCRIPTS/gen_categories.py" "$N_LARGE" >"$WORK/large-body.json"
cp "$WORK/large-body.json" "$WORK/large/api/v1/leads/fetch-categories"
: >"$WORK/upstream.log"

# --- nginx -------------------------------------------------------------------------------

NGINX_PORT="$(free_port)"
EXPORTER_PORT="$(free_port)"
LARGE_PORT="$(free_port)"
STARTUP_PORT="$(free_port)"
IDLE_PORT="$(free_port)"

# One worker, as the issue says; the master stays in the foreground so the trap can stop it.
# The static file gets no access log (a fair baseline: the exporter logs no scrapes) and
# keep-alive connections are not closed after 1,000 requests (wrk would reconnect, the
# exporter never closes them): nginx is measured at its best, not handicapped.
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path $WORK/tmp;
    proxy_temp_path $WORK/tmp;
    fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp;
    scgi_temp_path $WORK/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK;
        # The SmartLead stand-in: every call is logged, to count them.
        location ~ ^/(small|large)/api/v1/leads/fetch-categories\$ {
            access_log $WORK/upstream.log;
            default_type application/json;
        }
        # The exporter's /metrics, as a static file with the same bytes.
        location = /metrics {
            default_type "text/plain; version=0.0.4; charset=utf-8";
            alias $WORK/static/metrics;
        }
    }
}
EOF
mkdir -p "$WORK/tmp"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -t >"$WORK/nginx-test.log" 2>&1 ||
    die "nginx refused its configuration: $(cat "$WORK/nginx-test.log")"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for "http://127.0.0.1:$NGINX_PORT/small/api/v1/leads/fetch-categories" nginx "$NGINX_PID"
NGINX_WORKER="$(pgrep -P "$NGINX_PID" | head -n1)"
[[ -n "$NGINX_WORKER" ]] || die "nginx started no worker process"

# --- phase 1: throughput, p99, RSS and upstream calls with N categories ------------------

note "phase 1: $N categories, wrk -t1 -c$CONNECTIONS -d${DURATION}s against each"
start_exporter exporter "$EXPORTER_PORT" /small --poll.interval="${POLL_INTERVAL_S}s"
EXPORTER_PID="$LAST_PID"
wait_polls "$EXPORTER_PORT" 1
curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics" -o "$WORK/static/metrics" ||
    die "cannot fetch the exporter's /metrics"
grep -q '^smartlead_up{account="[^"]*"} 1$' "$WORK/static/metrics" ||
    die "the exporter did not poll the stand-in successfully: $(grep '^smartlead_up' "$WORK/static/metrics"; cat "$WORK/exporter.log")"
SERIES="$(grep -c '^smartlead_category_info{' "$WORK/static/metrics" || true)"
((SERIES == N)) || die "expected $N smartlead_category_info series, found $SERIES"
METRICS_BYTES="$(stat -c %s "$WORK/static/metrics")"
curl -fsS "http://127.0.0.1:$NGINX_PORT/metrics" -o "$WORK/static-check" &&
    cmp -s "$WORK/static/metrics" "$WORK/static-check" || die "nginx does not serve the static copy"

# Warm both up briefly so neither pays first-touch costs inside the measurement.
wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$NGINX_PORT/metrics" >/dev/null 2>&1 || true
wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$EXPORTER_PORT/metrics" >/dev/null 2>&1 || true

# Alternate the two, ROUNDS times each, and report each side's median round: on a shared
# two-core machine a neighbour's burst then hits both sides alike or only one round.
calls_during=0
CALLS_MIN=0
CALLS_MAX=0
for round in $(seq "$ROUNDS"); do
    run_measured "nginx-$round" "$NGINX_WORKER" "http://127.0.0.1:$NGINX_PORT/metrics"
    calls_before="$(upstream_calls)"
    started_ns="$(date +%s%N)"
    run_measured "exporter-$round" "$EXPORTER_PID" "http://127.0.0.1:$EXPORTER_PORT/metrics"
    elapsed_ns=$(($(date +%s%N) - started_ns))
    calls_during=$((calls_during + $(upstream_calls) - calls_before))
    # One call per interval: the run spans elapsed/interval intervals, so floor or ceil of that.
    CALLS_MIN=$((CALLS_MIN + elapsed_ns / (POLL_INTERVAL_S * 1000000000)))
    CALLS_MAX=$((CALLS_MAX + elapsed_ns / (POLL_INTERVAL_S * 1000000000) + 1))
done
NGINX_RSS="$(status_kib "$NGINX_WORKER" VmRSS)"
EXPORTER_RSS="$(status_kib "$EXPORTER_PID" VmRSS)"
EXPORTER_HWM="$(status_kib "$EXPORTER_PID" VmHWM)"
stop "$EXPORTER_PID"

# --- phase 2: start-up and idle wake-ups --------------------------------------------------

note "phase 2: start-up ($STARTUP_RUNS runs) and ${IDLE_SECONDS}s idle"
startups=()
for _ in $(seq "$STARTUP_RUNS"); do
    ms="$(SMARTLEAD_API_KEY=bench python3 "$SCRIPTS/startup_time.py" "$STARTUP_PORT" "$BINARY" \
        --web.listen-address="127.0.0.1:$STARTUP_PORT" \
        --smartlead.base-url="http://127.0.0.1:$NGINX_PORT/small/api/v1" --log.level=warn)" ||
        die "start-up measurement failed"
    startups+=("$ms")
done
STARTUP_MS="$(printf '%s\n' "${startups[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
STARTUP_MAX_MS="$(printf '%s\n' "${startups[@]}" | sort -n | tail -n1)"

start_exporter idle "$IDLE_PORT" /small --poll.interval=1h --poll.max-backoff=1h --metrics.stale-after=2h
IDLE_PID="$LAST_PID"
wait_polls "$IDLE_PORT" 1
sleep 1
switches_before="$(ctx_switches "$IDLE_PID")"
sleep "$IDLE_SECONDS"
IDLE_SWITCHES=$(($(ctx_switches "$IDLE_PID") - switches_before))
IDLE_RSS="$(status_kib "$IDLE_PID" VmRSS)"
stop "$IDLE_PID"

# --- phase 3: memory with 100,000 categories, then back to N -------------------------------

note "phase 3: $N_LARGE categories ($(($(stat -c %s "$WORK/large-body.json") / 1000)) kB of JSON), then $N again"
start_exporter large "$LARGE_PORT" /large --poll.interval=1s
LARGE_PID="$LAST_PID"
wait_polls "$LARGE_PORT" 3
# Scrapes as Prometheus makes them (gzip), then plain ones, which make the exporter keep the
# inflated text too until the next poll; both count towards the peak.
for _ in 1 2 3; do
    curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$LARGE_PORT/metrics"
done
LARGE_GZIP_RSS="$(status_kib "$LARGE_PID" VmRSS)"
for _ in 1 2 3; do
    curl -fsS -o /dev/null "http://127.0.0.1:$LARGE_PORT/metrics"
done
LARGE_SERIES="$(curl -fsS "http://127.0.0.1:$LARGE_PORT/metrics" | grep -c '^smartlead_category_info{' || true)"
((LARGE_SERIES == N_LARGE)) || die "expected $N_LARGE series in the memory phase, found $LARGE_SERIES"
LARGE_RSS="$(status_kib "$LARGE_PID" VmRSS)"
wait_polls "$LARGE_PORT" $(($(polls_of "$LARGE_PORT") + 2))
LARGE_HWM="$(status_kib "$LARGE_PID" VmHWM)"
# The account shrinks back: the stand-in now answers N categories (an atomic rename).
cp "$WORK/small/api/v1/leads/fetch-categories" "$WORK/shrunk.json"
mv "$WORK/shrunk.json" "$WORK/large/api/v1/leads/fetch-categories"
polls="$(polls_of "$LARGE_PORT")"
wait_polls "$LARGE_PORT" $((polls + 3))
curl -fsS -o /dev/null "http://127.0.0.1:$LARGE_PORT/metrics"
curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$LARGE_PORT/metrics"
AFTER_SERIES="$(curl -fsS "http://127.0.0.1:$LARGE_PORT/metrics" | grep -c '^smartlead_category_info{' || true)"
((AFTER_SERIES == N)) || die "expected $N series after shrinking, found $AFTER_SERIES"
AFTER_RSS="$(status_kib "$LARGE_PID" VmRSS)"
stop "$LARGE_PID"

# --- report ------------------------------------------------------------------------------

NGINX_RPS="$(median_of nginx rps_of)"
EXPORTER_RPS="$(median_of exporter rps_of)"
NGINX_P99="$(median_of nginx p99_us_of)"
EXPORTER_P99="$(median_of exporter p99_us_of)"
NGINX_CPU="$(median_of nginx cpu_us_of)"
EXPORTER_CPU="$(median_of exporter cpu_us_of)"
rounds_of() {
    local round
    for round in $(seq "$ROUNDS"); do
        printf '%s/%s/%s us ' "$(rps_of "$1-$round")" "$(fmt_us "$(p99_us_of "$1-$round")")" "$(cpu_us_of "$1-$round")"
    done
}
RATIO="$(awk -v e="$EXPORTER_RPS" -v n="$NGINX_RPS" 'BEGIN { printf "%.0f%%", 100 * e / n }')"
verdict() { if eval "$1"; then echo "ok"; else echo "MISSED"; fi; }
PER_CATEGORY_BYTES="$(awk -v l="$LARGE_GZIP_RSS" -v s="$IDLE_RSS" -v nl="$N_LARGE" -v ns="$N" \
    'BEGIN { printf "%.0f", (l - s) * 1024 / (nl - ns) }')"

cat <<EOF

smartlead_exporter benchmark: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }')
$N categories: /metrics is $METRICS_BYTES bytes; wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, loopback,
$ROUNDS alternating rounds per side, median shown (every round, requests/s / p99 / CPU per request:
exporter $(rounds_of exporter)
nginx    $(rounds_of nginx))

| | exporter | nginx (static file, 1 worker) | exporter / nginx | target |
|---|---:|---:|---:|---|
| requests/s | $EXPORTER_RPS | $NGINX_RPS | $RATIO | >= 70% $(verdict "((EXPORTER_RPS * 10 >= NGINX_RPS * 7))") |
| p99 latency | $(fmt_us "$EXPORTER_P99") | $(fmt_us "$NGINX_P99") | | < 1 ms $(verdict "((EXPORTER_P99 < 1000))") |
| server CPU time per request | $EXPORTER_CPU us | $NGINX_CPU us | $(awk -v e="$EXPORTER_CPU" -v n="$NGINX_CPU" 'BEGIN { printf "%.0f%%", 100 * e / n }') | |
| RSS after the load | $(mib "$EXPORTER_RSS") (peak $(mib "$EXPORTER_HWM")) | $(mib "$NGINX_RSS") (worker) | | <= 8 MiB $(verdict "((EXPORTER_RSS <= 8192))") |

| measure | value | target |
|---|---:|---|
| SmartLead calls during the exporter's wrk runs | $calls_during (expected $CALLS_MIN-$CALLS_MAX: one per ${POLL_INTERVAL_S}s poll interval) | one per interval $(verdict "((calls_during >= CALLS_MIN && calls_during <= CALLS_MAX))") |
| start-up: exec to /-/healthy answering | $STARTUP_MS ms median, $STARTUP_MAX_MS ms worst of $STARTUP_RUNS | < 50 ms $(verdict "awk -v m=$STARTUP_MAX_MS 'BEGIN { exit !(m < 50) }'") |
| idle: context switches in ${IDLE_SECONDS}s (poll interval 1h) | $IDLE_SWITCHES | none $(verdict "((IDLE_SWITCHES == 0))") |
| idle RSS after one poll of $N categories | $(mib "$IDLE_RSS") | |
| dist binary | $(mib $((BINARY_BYTES / 1024))) | < 10 MiB $(verdict "((BINARY_BYTES < 10 * 1024 * 1024))") |
| $N_LARGE categories: peak RSS (VmHWM) | $(mib "$LARGE_HWM") | < 64 MiB $(verdict "((LARGE_HWM < 65536))") |
| $N_LARGE categories: RSS, gzip scrapes only (as Prometheus) | $(mib "$LARGE_GZIP_RSS") | |
| $N_LARGE categories: RSS, plain scrapes too | $(mib "$LARGE_RSS") | |
| back to $N categories: RSS | $(mib "$AFTER_RSS") | near baseline ($(mib "$EXPORTER_RSS")) |
| memory per category | ~$PER_CATEGORY_BYTES bytes | (RSS at $N_LARGE minus idle RSS at $N, gzip scrapes only, over the difference) |
EOF

# The rows of the later issues, each from its own script against the same dist binary, one
# after the other in this run: 500 accounts (start-up, schedule, memory per account, reload,
# gzip scrapes of their exposition against nginx's gzip_static) and scrapes over TLS (gzip,
# keep-alive, and new handshakes, against nginx with the same certificate).
# BENCH_ONLY_ONE_ACCOUNT=1 skips them.
if [[ "${BENCH_ONLY_ONE_ACCOUNT:-0}" != 1 ]]; then
    echo
    BENCH_SKIP_BUILD=1 "$SCRIPTS/bench-accounts.sh"
    echo
    BENCH_SKIP_BUILD=1 "$SCRIPTS/bench-tls.sh"
fi
