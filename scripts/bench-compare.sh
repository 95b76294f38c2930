#!/usr/bin/env bash
# Two builds of the exporter side by side, with nginx as the common reference.
#
# BEFORE_BIN and AFTER_BIN (any two builds, e.g. the `dist` binary of tag pre-reshape and the
# current one) run at the same time on this machine against the same SmartLead stand-in, and
# wrk scrapes one server at a time in alternating rounds: nginx with BEFORE's bytes, BEFORE,
# AFTER, nginx with AFTER's bytes in odd rounds, the reverse in even ones, so that a
# neighbour's burst hits one round, not one side.
# Two cases, one after the other:
#   one account:  BENCH_CATEGORIES categories (default 1,000), polled every
#                 BENCH_POLL_INTERVAL seconds (default 1, as in scripts/bench.sh: polls fall
#                 inside every wrk run);
#   many accounts: BENCH_ACCOUNTS accounts (default 500) of 12 categories each, from an
#                 accounts file, every account polled every 60 s (as scripts/bench-accounts.sh).
# In each case, first gzip scrapes (`Accept-Encoding: gzip`, what Prometheus always sends),
# then plain ones (a secondary row). Per side it reports the medians of the rounds:
# requests/s, p99, the server's CPU time per request, and RSS (VmRSS) once every account has
# polled, after the gzip rounds and after the plain rounds, and the peak (VmHWM). nginx (one
# worker, `gzip_static`) serves each side's gzip and plain bytes as its reference, so that a
# side whose answer is larger is also compared with nginx sending those same bytes. Each RSS
# figure is the median of several readings, and both binaries are dropped from the page cache
# before each case, so that each side's file-backed pages are those its own run reads in.
# After the one-account case it counts what a gzip scrape costs, which the machine's load does
# not change: user-space instructions (callgrind, three counts per side) and system calls
# (strace), over BENCH_COUNT_SCRAPES scrapes on one connection.
#
# Both sides do the same work: a build that has the collectors of the campaigns, mailboxes and
# replies endpoints gets `--no-collector.NAME` for each, and the largest API budget
# (`--smartlead.max-calls-per-minute`, `-per-hour`), so that nothing throttles; the flags are
# read from each binary's --help, so an older build gets none. The script then checks it:
# each side may have called only /leads/fetch-categories, every call answered 200, and its
# exposition names no collector but `categories`.
#
# Before any timing, every server must really answer: each side 200 with
# `Content-Encoding: gzip`, a non-empty body that inflates and holds every account up and every
# category series, and 200 with a non-empty plain body; nginx 200 with byte for byte the
# reference. After every wrk run: no non-2xx answer, no socket error, and the bytes read per
# answer are those of the body checked before plus headers (so a gzip run really got gzip).
#
# Usage: scripts/bench-compare.sh BEFORE_BIN AFTER_BIN
#        (as root, or with wrk, nginx, valgrind and strace already installed; builds nothing)
# Environment: BENCH_ROUNDS (rounds per side and kind, default 5; odd, so that each median is
#              one round's value: with an even count the lower middle one is taken),
#              BENCH_DURATION (wrk seconds, default 5), BENCH_CONNECTIONS (default 10),
#              BENCH_CATEGORIES (one-account case, default 1000),
#              BENCH_POLL_INTERVAL (seconds, one-account case, default 1),
#              BENCH_ACCOUNTS (default 500; 0 skips that case),
#              BENCH_COUNT_SCRAPES (scrapes per count, default 2000),
#              BENCH_IDLE_SECONDS (how long each case reads both sides' CPU while scraped
#              as Prometheus scrapes, default 60),
#              BENCH_BEFORE_NAME / BENCH_AFTER_NAME (labels, default before / after),
#              BENCH_LOG (where the report is written too, default
#              bench-results/compare-UTCTIME.txt, ignored by git),
#              BENCH_KEEP=1 (keep the temporary directory: every wrk report and log).
# How to build the two binaries and read the report: docs/performance.md, "Before and after
# the core reshape".
#
# Touches only 127.0.0.1. Every process it starts is stopped on exit, whatever the exit.

set -euo pipefail

ROUNDS="${BENCH_ROUNDS:-5}"
DURATION="${BENCH_DURATION:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-10}"
# The one-account case: categories in the answer and seconds between polls.
CATEGORIES="${BENCH_CATEGORIES:-1000}"
POLL_INTERVAL_S="${BENCH_POLL_INTERVAL:-1}"
# The many-accounts case: accounts, categories in each one's answer, seconds between polls.
ACCOUNTS="${BENCH_ACCOUNTS:-500}"
ACCOUNT_CATEGORIES=12
ACCOUNT_INTERVAL_S=60
# The largest API budget a build with one accepts (src/settings.rs: 5 calls a second for a
# minute, and for an hour): never reached by one call per interval and account.
CALLS_PER_MINUTE=300
CALLS_PER_HOUR=18000
# RSS allowed above BEFORE's, in KiB, and the throughput share of BEFORE's AFTER must reach.
RSS_ALLOWANCE_KIB=512
RPS_SHARE=0.95
# Any wait for a port gives up after this many seconds.
WAIT_TIMEOUT=30
# RSS is the median of this many readings, a tenth of a second apart: one reading can fall
# in the middle of a poll and its rebuild, which hold a few hundred KiB for a moment.
RSS_READINGS=11
# The counted cost of a gzip scrape (one-account case): this many scrapes over one connection,
# counted this many times per side (median shown), with polls this far apart so that no poll
# falls among the counted scrapes.
COUNT_SCRAPES="${BENCH_COUNT_SCRAPES:-2000}"
COUNT_RUNS=3
COUNT_POLL_INTERVAL=4m
# The path users take: both sides polled and scraped with gzip every IDLE_SCRAPE_EVERY_S
# seconds, as Prometheus scrapes, for IDLE_S seconds; their CPU time over that is reported.
IDLE_S="${BENCH_IDLE_SECONDS:-60}"
IDLE_SCRAPE_EVERY_S=15

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="${BENCH_LOG:-$ROOT/bench-results/compare-$STAMP.txt}"

BENCH_NAME=bench-compare.sh
BENCH_TOOLS="gzip valgrind strace"
# shellcheck source=scripts/bench-common.sh
source "$SCRIPTS/bench-common.sh"
# nginx's worker runs as nobody: everything it serves must be readable by anyone.
chmod 755 "$WORK"

(($# == 2)) || die "usage: scripts/bench-compare.sh BEFORE_BIN AFTER_BIN"
declare -A BIN=([A]="$(realpath -e "$1" 2>/dev/null || true)" [B]="$(realpath -e "$2" 2>/dev/null || true)")
declare -A LABEL=([A]="${BENCH_BEFORE_NAME:-before}" [B]="${BENCH_AFTER_NAME:-after}")
[[ -n "${BIN[A]}" && -x "${BIN[A]}" ]] || die "BEFORE_BIN is not an executable file: $1"
[[ -n "${BIN[B]}" && -x "${BIN[B]}" ]] || die "AFTER_BIN is not an executable file: $2"
for value in ROUNDS DURATION CONNECTIONS CATEGORIES POLL_INTERVAL_S ACCOUNTS COUNT_SCRAPES IDLE_S; do
    [[ "${!value}" =~ ^[0-9]+$ ]] || die "$value must be a whole number, got '${!value}'"
done
((ROUNDS >= 1 && DURATION >= 1 && CONNECTIONS >= 1 && CATEGORIES >= 1 && POLL_INTERVAL_S >= 1)) ||
    die "BENCH_ROUNDS, BENCH_DURATION, BENCH_CONNECTIONS, BENCH_CATEGORIES and BENCH_POLL_INTERVAL must be at least 1"
((ACCOUNTS == 0 || ACCOUNTS >= 2)) || die "BENCH_ACCOUNTS must be 0 (skip) or at least 2"
((COUNT_SCRAPES >= 100)) || die "BENCH_COUNT_SCRAPES must be at least 100"
((IDLE_S >= IDLE_SCRAPE_EVERY_S)) || die "BENCH_IDLE_SECONDS must be at least $IDLE_SCRAPE_EVERY_S"
# The exporter reads some settings from the environment; only the flags below may count.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^SMARTLEAD_' || true)

# side_flags BIN: one flag a line, those that make BIN do what a build without collectors
# beyond categories does: each further collector off, the largest API budget.
side_flags() {
    local help name
    help="$("$1" --help 2>&1)" || die "$1 --help failed: $help"
    for name in replies campaigns mailboxes; do
        if grep -q -- "--no-collector\.$name\b" <<<"$help"; then
            echo "--no-collector.$name"
        elif grep -Eq -- "--collector\.$name([^.a-z_-]|$)" <<<"$help"; then
            die "$1 has --collector.$name but no --no-collector.$name to turn it off"
        fi
    done
    if grep -q -- '--smartlead\.max-calls-per-minute' <<<"$help"; then
        echo "--smartlead.max-calls-per-minute=$CALLS_PER_MINUTE"
    fi
    if grep -q -- '--smartlead\.max-calls-per-hour' <<<"$help"; then
        echo "--smartlead.max-calls-per-hour=$CALLS_PER_HOUR"
    fi
}
FLAGS_TEXT_A="$(side_flags "${BIN[A]}")"
FLAGS_TEXT_B="$(side_flags "${BIN[B]}")"
mapfile -t FLAGS_A <<<"$FLAGS_TEXT_A"
mapfile -t FLAGS_B <<<"$FLAGS_TEXT_B"
# mapfile of an empty string gives one empty element.
[[ -n "$FLAGS_TEXT_A" ]] || FLAGS_A=()
[[ -n "$FLAGS_TEXT_B" ]] || FLAGS_B=()

# describe SIDE: the binary, its checksum, size and --version line.
describe() {
    local bin="${BIN[$1]}"
    printf '%s %s (sha256 %s, %s bytes, %s)' "${LABEL[$1]}:" "$bin" \
        "$(sha256sum "$bin" | cut -c1-12)" "$(stat -c %s "$bin")" \
        "$("$bin" --version 2>&1 | head -n1 || true)"
}

# --- results -----------------------------------------------------------------------------

# Per case ("one", "many") and side (A, B, nginx): the checked body sizes, RSS readings.
# The RSS arrays are written and read through name references, which shellcheck does not follow.
# shellcheck disable=SC2034
declare -A GZIP_BYTES PLAIN_BYTES RSS_POLLED RSS_GZIP RSS_PLAIN RSS_PEAK RSS_ANON RSS_FILE CALLS SAMPLES
declare -A INSTRUCTIONS SYSCALLS IDLE_CPU
declare -A CASE_TITLE

# check_exposition FILE WHAT ACCOUNTS SERIES: every account up, the category series all there,
# no collector but categories.
check_exposition() {
    local file="$1" what="$2" up series collectors
    up="$(grep -c '^smartlead_up{.*} 1$' "$file" || true)"
    ((up == $3)) || die "$what: $up of $3 accounts up"
    series="$(grep -c '^smartlead_category_info{' "$file" || true)"
    ((series == $4)) || die "$what: $series smartlead_category_info series, expected $4"
    collectors="$(grep -o 'collector="[^"]*"' "$file" | sort -u | tr '\n' ' ' || true)"
    [[ -z "$collectors" || "$collectors" == 'collector="categories" ' ]] ||
        die "$what: collectors other than categories run ($collectors); the sides would not do the same work"
}

# check_gzip CASE SIDE PORT ACCOUNTS SERIES: the side's gzip scrape; records its size.
check_gzip() {
    local key="$1-$2"
    fetch "$key-gzip" "http://127.0.0.1:$3/metrics" 1
    gzip -dc "$WORK/check/$key-gzip.body" >"$WORK/check/$key-gzip.txt" 2>/dev/null ||
        die "${LABEL[$2]} ($1): the gzip body does not inflate"
    check_exposition "$WORK/check/$key-gzip.txt" "${LABEL[$2]} ($1), gzip" "$4" "$5"
    GZIP_BYTES[$key]="$(stat -c %s "$WORK/check/$key-gzip.body")"
    SAMPLES[$key]="$(grep -vc '^#' "$WORK/check/$key-gzip.txt" || true)"
}

# check_plain CASE SIDE PORT ACCOUNTS SERIES: the side's plain scrape; records its size.
check_plain() {
    local key="$1-$2"
    fetch "$key-plain" "http://127.0.0.1:$3/metrics" 0
    check_exposition "$WORK/check/$key-plain.body" "${LABEL[$2]} ($1), plain" "$4" "$5"
    PLAIN_BYTES[$key]="$(stat -c %s "$WORK/check/$key-plain.body")"
}

# check_calls CASE SIDE: the side called the stand-in, only for categories, and got 200 each time.
check_calls() {
    local prefix="/$1-$2/" calls other failed
    calls="$(awk -v p="$prefix" 'index($2, p) == 1' "$WORK/upstream.log" | wc -l)"
    other="$(awk -v p="$prefix" 'index($2, p) == 1 && $2 !~ /\/leads\/fetch-categories$/' "$WORK/upstream.log" | wc -l)"
    failed="$(awk -v p="$prefix" 'index($2, p) == 1 && $3 != 200' "$WORK/upstream.log" | wc -l)"
    ((calls > 0)) || die "${LABEL[$2]} ($1) never called the stand-in"
    ((other == 0)) || die "${LABEL[$2]} ($1) called other endpoints than fetch-categories ($other calls, e.g. $(awk -v p="$prefix" 'index($2, p) == 1 && $2 !~ /fetch-categories$/ { print $2; exit }' "$WORK/upstream.log"))"
    ((failed == 0)) || die "${LABEL[$2]} ($1): $failed stand-in calls did not answer 200"
    CALLS[$1-$2]="$calls"
}

# start_side SIDE CASE PORT ARGS...: starts SIDE's binary on PORT with its own flags and ARGS
# against the stand-in's /CASE-SIDE/ prefix, logging to $WORK/CASE-SIDE.log; sets LAST_PID.
# The binary runs under the command in WRAP when it has one (valgrind, for the counts).
WRAP=()
start_side() {
    local side="$1" case="$2" port="$3" flags
    shift 3
    if [[ "$side" == A ]]; then flags=("${FLAGS_A[@]}"); else flags=("${FLAGS_B[@]}"); fi
    "${WRAP[@]}" "${BIN[$side]}" --web.listen-address="127.0.0.1:$port" \
        --smartlead.base-url="http://127.0.0.1:$NGINX_PORT/$case-$side/api/v1" \
        --log.level=warn "${flags[@]}" "$@" >"$WORK/$case-$side.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# --- the stand-in and the reference: one nginx ---------------------------------------------

mkdir -p "$WORK/www" "$WORK/tmp"
python3 "$SCRIPTS/gen_categories.py" "$CATEGORIES" >"$WORK/one.json"
python3 "$SCRIPTS/gen_categories.py" "$ACCOUNT_CATEGORIES" >"$WORK/many.json"
# One prefix per case and side, so that the access log says who called what.
# The counts ("count") serve the one-account answer.
for case in one many count; do
    for side in A B; do
        mkdir -p "$WORK/www/$case-$side/api/v1/leads"
        cp "$WORK/${case/count/one}.json" "$WORK/www/$case-$side/api/v1/leads/fetch-categories"
    done
    mkdir -p "$WORK/www/ref-$case-A" "$WORK/www/ref-$case-B"
done
chmod -R a+rX "$WORK/www"
: >"$WORK/upstream.log"

NGINX_PORT="$(free_port)"
# One worker (as nobody); the master stays in the foreground so the trap can stop it. The
# stand-in logs every call with its path and status; the reference logs nothing (the exporter
# logs no scrapes) and keeps connections for ever (wrk would reconnect after nginx's default
# of 1,000 requests; the exporter never closes them): nginx is measured at its best.
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user nobody nogroup;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    log_format calls '\$msec \$uri \$status';
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
        root $WORK/www;
        # The SmartLead stand-in, one prefix per case and side; any other path answers 404.
        location ~ ^/(one|many|count)-[AB]/ {
            access_log $WORK/upstream.log calls;
            default_type application/json;
        }
        # The references: each side's /metrics, plain and gzip (metrics.gz beside it).
        location ~ ^/ref-(one|many)-[AB]/metrics\$ {
            gzip_static on;
            default_type "text/plain; version=0.0.4; charset=utf-8";
        }
    }
}
EOF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -t >"$WORK/nginx-test.log" 2>&1 ||
    die "nginx refused its configuration: $(cat "$WORK/nginx-test.log")"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for "http://127.0.0.1:$NGINX_PORT/one-A/api/v1/leads/fetch-categories" nginx "$NGINX_PID"
NGINX_WORKER="$(pgrep -P "$NGINX_PID" | head -n1)"
[[ -n "$NGINX_WORKER" ]] || die "nginx started no worker process"
: >"$WORK/upstream.log"

# set_reference CASE: nginx serves each side's checked gzip body and its inflated text;
# checks that it answers both with 200 and the same bytes.
set_reference() {
    local side dir url
    for side in A B; do
        dir="$WORK/www/ref-$1-$side"
        url="http://127.0.0.1:$NGINX_PORT/ref-$1-$side/metrics"
        cp "$WORK/check/$1-$side-gzip.body" "$dir/metrics.gz"
        cp "$WORK/check/$1-$side-gzip.txt" "$dir/metrics"
        chmod a+r "$dir/metrics" "$dir/metrics.gz"
        fetch "ref-$1-$side-gzip" "$url" 1
        cmp -s "$WORK/check/ref-$1-$side-gzip.body" "$dir/metrics.gz" || die "nginx's gzip body of $side differs from the reference"
        fetch "ref-$1-$side-plain" "$url" 0
        cmp -s "$WORK/check/ref-$1-$side-plain.body" "$dir/metrics" || die "nginx's plain body of $side differs from the reference"
        GZIP_BYTES[$1-nginx$side]="$(stat -c %s "$dir/metrics.gz")"
        PLAIN_BYTES[$1-nginx$side]="$(stat -c %s "$dir/metrics")"
    done
}

# measure CASE KIND: warm-up, then ROUNDS alternating rounds of KIND (gzip or plain) against
# both sides and nginx serving each side's bytes (nginxA, nginxB); reports in
# $WORK/wrk-CASE-KIND-{nginxA,A,B,nginxB}-ROUND.txt.
measure() {
    local case="$1" kind="$2" round target order url pid body
    local -A urls=([nginxA]="http://127.0.0.1:$NGINX_PORT/ref-$case-A/metrics"
        [nginxB]="http://127.0.0.1:$NGINX_PORT/ref-$case-B/metrics"
        [A]="http://127.0.0.1:$PORT_A/metrics" [B]="http://127.0.0.1:$PORT_B/metrics")
    local -A pids=([nginxA]="$NGINX_WORKER" [nginxB]="$NGINX_WORKER" [A]="$PID_A" [B]="$PID_B")
    local -A bodies
    for target in nginxA A B nginxB; do
        if [[ "$kind" == gzip ]]; then bodies[$target]="${GZIP_BYTES[$case-$target]}"; else bodies[$target]="${PLAIN_BYTES[$case-$target]}"; fi
    done
    note "$case: $kind scrapes, wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds"
    for target in nginxA A B nginxB; do
        if [[ "$kind" == gzip ]]; then
            wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "${urls[$target]}" >/dev/null 2>&1 || true
        else
            wrk -t1 -c"$CONNECTIONS" -d1s "${urls[$target]}" >/dev/null 2>&1 || true
        fi
    done
    for round in $(seq "$ROUNDS"); do
        if ((round % 2)); then order=(nginxA A B nginxB); else order=(nginxB B A nginxA); fi
        for target in "${order[@]}"; do
            url="${urls[$target]}"
            pid="${pids[$target]}"
            body="${bodies[$target]}"
            kill -0 "$pid" 2>/dev/null || die "$target ($case) is gone; see $WORK/$case-$target.log (BENCH_KEEP=1 keeps it)"
            run_round "$case-$kind-$target-$round" "$url" "$pid" "$body" "$kind"
        done
    done
}

# settled_kib PID: VmRSS, RssAnon and RssFile in KiB on one line, each the median of
# RSS_READINGS readings a tenth of a second apart.
settled_kib() {
    python3 - "$1" "$RSS_READINGS" <<'EOF' || die "process $1 is gone; see $WORK/*.log (BENCH_KEEP=1 keeps them)"
import statistics, sys, time
pid, readings = sys.argv[1], int(sys.argv[2])
seen = {"VmRSS": [], "RssAnon": [], "RssFile": []}
for reading in range(readings):
    if reading:
        time.sleep(0.1)
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in seen:
                seen[name].append(int(value.split()[0]))
print(*(statistics.median_low(values) for values in seen.values()))
EOF
}

# pid_of TARGET: the process of side A, side B or nginx (its worker).
pid_of() {
    case "$1" in
        A) echo "$PID_A" ;;
        B) echo "$PID_B" ;;
        *) echo "$NGINX_WORKER" ;;
    esac
}

# read_rss CASE ARRAY [SPLIT]: every server's settled VmRSS into ARRAY[CASE-TARGET]; with
# SPLIT, its RssAnon and RssFile into RSS_ANON and RSS_FILE too.
# shellcheck disable=SC2034
read_rss() {
    local -n into="$2"
    local target rss anon file
    for target in A B nginx; do
        read -r rss anon file <<<"$(settled_kib "$(pid_of "$target")")"
        into["$1-$target"]="$rss"
        if [[ -n "${3:-}" ]]; then
            RSS_ANON["$1-$target"]="$anon"
            RSS_FILE["$1-$target"]="$file"
        fi
    done
}

# evict FILE: drops FILE's pages from the page cache, so that the pages of a binary started
# next are those its run reads in, whatever wrote or read the file before (the kernel maps
# the cached neighbours of each page a process touches into its RSS).
evict() {
    python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1" || die "cannot drop $1 from the page cache"
}

# idle_cpu CASE: both sides' CPU over IDLE_S seconds, in milliseconds per second, while they
# poll and are scraped with gzip every IDLE_SCRAPE_EVERY_S seconds (each scrape checked: 200
# and a gzip body); into IDLE_CPU[CASE-SIDE].
idle_cpu() {
    local case="$1" side started ended scrape
    local -A before after
    note "$case: CPU of both sides over ${IDLE_S}s, scraped with gzip every ${IDLE_SCRAPE_EVERY_S}s"
    started="$(date +%s.%N)"
    for side in A B; do before[$side]="$(cpu_ticks "$(pid_of "$side")")"; done
    for ((scrape = 0; scrape * IDLE_SCRAPE_EVERY_S < IDLE_S; scrape++)); do
        fetch "$case-A-idle" "http://127.0.0.1:$PORT_A/metrics" 1
        fetch "$case-B-idle" "http://127.0.0.1:$PORT_B/metrics" 1
        sleep "$IDLE_SCRAPE_EVERY_S"
    done
    for side in A B; do after[$side]="$(cpu_ticks "$(pid_of "$side")")"; done
    ended="$(date +%s.%N)"
    for side in A B; do
        IDLE_CPU[$case-$side]="$(awk -v t="$((after[$side] - before[$side]))" -v hz="$CLK_TCK" \
            -v s="$started" -v e="$ended" 'BEGIN { printf "%.1f", t * 1000 / hz / (e - s) }')"
    done
}

# run_case CASE ACCOUNTS SERIES UP_LIMIT_S ARGS...: both sides on CASE, measured; ARGS go to both.
# RSS_PEAK is read through rss_row's name reference, which shellcheck does not follow.
# shellcheck disable=SC2034
run_case() {
    local case="$1" accounts="$2" series="$3" limit="$4"
    shift 4
    PORT_A="$(free_port)"
    PORT_B="$(free_port)"
    evict "${BIN[A]}"
    evict "${BIN[B]}"
    start_side A "$case" "$PORT_A" "$@"
    PID_A="$LAST_PID"
    start_side B "$case" "$PORT_B" "$@"
    PID_B="$LAST_PID"
    wait_for "http://127.0.0.1:$PORT_A/-/healthy" "${LABEL[A]} ($case)" "$PID_A"
    wait_for "http://127.0.0.1:$PORT_B/-/healthy" "${LABEL[B]} ($case)" "$PID_B"
    note "$case: waiting for $accounts account(s) up on each side (at most ${limit}s)"
    wait_up "$PORT_A" "$accounts" "$limit"
    wait_up "$PORT_B" "$accounts" "$limit"
    read_rss "$case" RSS_POLLED
    idle_cpu "$case"

    check_gzip "$case" A "$PORT_A" "$accounts" "$series"
    check_gzip "$case" B "$PORT_B" "$accounts" "$series"
    set_reference "$case"
    measure "$case" gzip
    # Split too: the heap and stacks (anonymous) and the mapped binary and libraries (file),
    # which grows with the code, not with what the code keeps.
    read_rss "$case" RSS_GZIP split

    check_plain "$case" A "$PORT_A" "$accounts" "$series"
    check_plain "$case" B "$PORT_B" "$accounts" "$series"
    measure "$case" plain
    read_rss "$case" RSS_PLAIN
    RSS_PEAK[$case-A]="$(status_kib "$PID_A" VmHWM)"
    RSS_PEAK[$case-B]="$(status_kib "$PID_B" VmHWM)"
    RSS_PEAK[$case-nginx]="$(status_kib "$NGINX_WORKER" VmHWM)"
    # Alive to the end: a side that died mid-run would have failed a round, but say so plainly.
    kill -0 "$PID_A" 2>/dev/null || die "${LABEL[A]} ($case) exited during the run"
    kill -0 "$PID_B" 2>/dev/null || die "${LABEL[B]} ($case) exited during the run"
    stop "$PID_A"
    stop "$PID_B"
    check_calls "$case" A
    check_calls "$case" B
}

# --- the cost of a gzip scrape, counted rather than timed -------------------------------

# scrape_n PORT N: N gzip scrapes over one keep-alive connection; fails unless every answer
# is 200, gzip-encoded and not empty.
scrape_n() {
    python3 - "$1" "$2" <<'EOF' || die "the counted scrapes on port $1 failed"
import http.client, sys
port, scrapes = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(scrapes):
    connection.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    answer = connection.getresponse()
    body = answer.read()
    encoding = answer.getheader("Content-Encoding")
    if answer.status != 200 or encoding != "gzip" or not body:
        sys.exit(f"answer {answer.status}, Content-Encoding {encoding}, {len(body)} bytes")
EOF
}

# start_counted SIDE: SIDE on a free port, one account polled every COUNT_POLL_INTERVAL, up
# and scraped once (connections, buffers and the first process_* part made); sets LAST_PID
# and COUNT_PORT.
start_counted() {
    COUNT_PORT="$(free_port)"
    SMARTLEAD_API_KEY=bench start_side "$1" count "$COUNT_PORT" --poll.interval="$COUNT_POLL_INTERVAL"
    WAIT_TIMEOUT=120 wait_for "http://127.0.0.1:$COUNT_PORT/-/healthy" "${LABEL[$1]} (counted)" "$LAST_PID"
    wait_up "$COUNT_PORT" 1 120
    scrape_n "$COUNT_PORT" 200
}

# count_instructions SIDE RUN: SIDE's user-space instructions per gzip scrape, every thread
# (callgrind counts executed instructions, which a busy neighbour does not change).
count_instructions() {
    local side="$1" pid dump
    WRAP=(valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind-$side-$2.%p")
    start_counted "$side"
    WRAP=()
    pid="$LAST_PID"
    callgrind_control -z "$pid" >/dev/null 2>&1 || die "callgrind_control could not zero ${LABEL[$side]}'s counts"
    scrape_n "$COUNT_PORT" "$COUNT_SCRAPES"
    callgrind_control -d "$pid" >/dev/null 2>&1 || die "callgrind_control could not dump ${LABEL[$side]}'s counts"
    dump="$WORK/callgrind-$side-$2.$pid.1"
    [[ -s "$dump" ]] || die "callgrind wrote no counts for ${LABEL[$side]} ($dump)"
    awk -v n="$COUNT_SCRAPES" '/^summary:/ { printf "%.0f\n", $2 / n }' "$dump"
    stop "$pid"
}

# count_syscalls SIDE: SIDE's system calls per gzip scrape, every thread (strace -f -c).
count_syscalls() {
    local side="$1" pid tracer
    start_counted "$side"
    pid="$LAST_PID"
    strace -f -c -o "$WORK/strace-$side.txt" -p "$pid" 2>"$WORK/strace-$side.log" &
    tracer=$!
    PIDS+=("$tracer")
    # strace attaches to each thread in turn.
    sleep 1
    scrape_n "$COUNT_PORT" "$COUNT_SCRAPES"
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    forget "$tracer"
    SYSCALLS[$side]="$(awk -v n="$COUNT_SCRAPES" '$NF == "total" { printf "%.2f", $4 / n }' "$WORK/strace-$side.txt")"
    [[ -n "${SYSCALLS[$side]}" ]] || die "strace counted nothing for ${LABEL[$side]}; see $WORK/strace-$side.log"
    stop "$pid"
}

# count_costs: both sides' counted costs, the instructions COUNT_RUNS times each in
# alternating order; INSTRUCTIONS holds the median, INSTRUCTION_RUNS every count.
declare -A INSTRUCTION_RUNS
count_costs() {
    local run side order
    note "counting a gzip scrape's instructions (callgrind, $COUNT_RUNS x $COUNT_SCRAPES scrapes per side) and system calls (strace)"
    for run in $(seq "$COUNT_RUNS"); do
        if ((run % 2)); then order=(A B); else order=(B A); fi
        for side in "${order[@]}"; do
            INSTRUCTION_RUNS[$side]+="$(count_instructions "$side" "$run") "
        done
    done
    for side in A B; do
        INSTRUCTIONS[$side]="$(tr ' ' '\n' <<<"${INSTRUCTION_RUNS[$side]}" | grep . | sort -n |
            awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
        count_syscalls "$side"
    done
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
# The 1-minute load average above which the machine is busy enough to blur margins of 5 %.
BUSY_LOAD=1
if awk -v l="${LOAD_START%% *}" -v b="$BUSY_LOAD" 'BEGIN { exit !(l > b) }'; then
    note "load average $LOAD_START: the machine is busy, this run's numbers are noisy (see the report's per-round lines)"
fi
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# --- case 1: one account -------------------------------------------------------------------

CASE_TITLE[one]="one account, $CATEGORIES categories, polled every ${POLL_INTERVAL_S}s"
note "${CASE_TITLE[one]}"
SMARTLEAD_API_KEY=bench run_case one 1 "$CATEGORIES" "$WAIT_TIMEOUT" --poll.interval="${POLL_INTERVAL_S}s"
count_costs

# --- case 2: many accounts -----------------------------------------------------------------

CASES=(one)
if ((ACCOUNTS > 0)); then
    CASES+=(many)
    CASE_TITLE[many]="$ACCOUNTS accounts x $ACCOUNT_CATEGORIES categories, each polled every ${ACCOUNT_INTERVAL_S}s"
    note "${CASE_TITLE[many]}"
    # Every account its own key, in its own variable (never on a command line).
    for i in $(seq "$ACCOUNTS"); do
        export "KEY_$i=key-$i"
    done
    python3 "$SCRIPTS/bench_accounts.py" config "$ACCOUNTS" "${ACCOUNT_INTERVAL_S}s" 99 >"$WORK/accounts.yaml"
    # Every account polls within one interval of the start (start offsets spread them).
    run_case many "$ACCOUNTS" $((ACCOUNTS * ACCOUNT_CATEGORIES)) $((ACCOUNT_INTERVAL_S + 15)) \
        --config.file="$WORK/accounts.yaml"
fi

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report ------------------------------------------------------------------------------

verdict() { if eval "$1"; then echo "ok"; else echo "MISSED"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
kib_delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f MiB", (a - b) / 1024 }'; }
# paired CASE-KIND FN: the median over the rounds of B's value over A's in the same round.
paired() {
    local round
    for round in $(seq "$ROUNDS"); do
        awk -v b="$("$2" "$1-B-$round")" -v a="$("$2" "$1-A-$round")" 'BEGIN { if (a > 0) printf "%.3f\n", b / a }'
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
# paired_same_bytes CASE-KIND FN: the median over the rounds of B's value over nginx's with B's
# bytes, divided by A's over nginx's with A's bytes, all in the same round.
paired_same_bytes() {
    local round
    for round in $(seq "$ROUNDS"); do
        awk -v b="$("$2" "$1-B-$round")" -v nb="$("$2" "$1-nginxB-$round")" \
            -v a="$("$2" "$1-A-$round")" -v na="$("$2" "$1-nginxA-$round")" \
            'BEGIN { if (a > 0 && nb > 0) printf "%.3f\n", (b / nb) / (a / na) }'
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
# rounds_line CASE-KIND TARGET: every round, requests/s / p99 / CPU per request.
rounds_line() {
    local round line=""
    for round in $(seq "$ROUNDS"); do
        line+="$(rps_of "$1-$2-$round") / $(fmt_us "$(p99_us_of "$1-$2-$round")") / $(cpu_us_of "$1-$2-$round") us; "
    done
    echo "${line%; }"
}

# rps_target A B SAME: the verdicts of the throughput target, on B / A and on the same-bytes ratio.
rps_target() {
    echo "B/A >= $RPS_SHARE $(verdict "awk -v r=$(ratio "$2" "$1") -v s=$RPS_SHARE 'BEGIN { exit !(r >= s) }'"); same bytes $(verdict "awk -v r=$3 -v s=$RPS_SHARE 'BEGIN { exit !(r >= s) }'")"
}
# p99_target A B SAME: the verdicts of the latency target, on B against A and on the same-bytes ratio.
p99_target() {
    echo "B <= A $(verdict "(($2 <= $1))"); same bytes $(verdict "awk -v r=$3 'BEGIN { exit !(r <= 1) }'")"
}

# scrape_row CASE-KIND WHAT FN UNIT [TARGET_FN]: one row of a scrape measure FN, in UNIT (us
# for times, empty for counts); TARGET_FN, given A's and B's medians and the same-bytes ratio,
# writes the last column.
scrape_row() {
    local key="$1" a b na nb same show=echo target=""
    a="$(median_of "$key-A" "$3")"
    b="$(median_of "$key-B" "$3")"
    na="$(median_of "$key-nginxA" "$3")"
    nb="$(median_of "$key-nginxB" "$3")"
    same="$(paired_same_bytes "$key" "$3")"
    [[ "$4" == us ]] && show=fmt_us
    [[ -n "${5:-}" ]] && target="$("$5" "$a" "$b" "$same")"
    echo "| $2 | $("$show" "$a") | $("$show" "$b") | $(ratio "$b" "$a") | $(paired "$key" "$3") | $("$show" "$na") | $("$show" "$nb") | $(ratio "$a" "$na") | $(ratio "$b" "$nb") | $same | $target |"
}

# scrape_rows CASE KIND: the table rows of one kind of scrape; the targets apply to gzip.
scrape_rows() {
    local key="$1-$2" rps="" p99=""
    [[ "$2" == gzip ]] && rps=rps_target p99=p99_target
    scrape_row "$key" "$2 scrapes/s" rps_of "" "$rps"
    scrape_row "$key" "$2 p99" p99_us_of us "$p99"
    scrape_row "$key" "$2: server CPU per request (us)" cpu_us_of ""
}

# rss_row CASE WHAT ARRAY TARGETED: one RSS row.
rss_row() {
    local -n values="$3"
    local a="${values[$1-A]}" b="${values[$1-B]}" target=""
    [[ "$4" == 1 ]] && target="B - A <= +$(awk -v k=$RSS_ALLOWANCE_KIB 'BEGIN { printf "%.1f", k / 1024 }') MiB $(verdict "((b - a <= RSS_ALLOWANCE_KIB))")"
    echo "| $2 | $(mib "$a") | $(mib "$b") | $(kib_delta "$b" "$a") | | $(mib "${values[$1-nginx]}") (worker) | | | | | $target |"
}

# count_rows: the counted costs of a gzip scrape (one-account case).
count_rows() {
    echo "| gzip: instructions per scrape (callgrind; median of $COUNT_RUNS counts of $COUNT_SCRAPES) | ${INSTRUCTIONS[A]} | ${INSTRUCTIONS[B]} | $(ratio "${INSTRUCTIONS[B]}" "${INSTRUCTIONS[A]}") | | | | | | | |"
    echo "| gzip: system calls per scrape (strace) | ${SYSCALLS[A]} | ${SYSCALLS[B]} | $(ratio "${SYSCALLS[B]}" "${SYSCALLS[A]}") | | | | | | | |"
}

report() {
    local case
    cat <<EOF
smartlead_exporter, two builds side by side: $(uname -m), $(nproc) cores, $STARTED to $(date -u +%H:%M:%SZ), load average $LOAD_START at the start, $LOAD_END at the end
nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }'); wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency over loopback, $ROUNDS rounds per server and kind,
alternating (odd rounds nginx with A's bytes, A, B, nginx with B's bytes; even rounds the reverse), medians shown; "paired" is the median over the rounds of B's value over A's in the same round;
"same bytes" is the median over the rounds of (B / nginx with B's bytes) over (A / nginx with A's bytes): the sides compared with the size of their answers taken out.
A = $(describe A)
    flags added: ${FLAGS_A[*]:-(none)}
B = $(describe B)
    flags added: ${FLAGS_B[*]:-(none)}
EOF
    for case in "${CASES[@]}"; do
        cat <<EOF

## ${CASE_TITLE[$case]}
/metrics: A ${PLAIN_BYTES[$case-A]} bytes plain, ${GZIP_BYTES[$case-A]} gzip, ${SAMPLES[$case-A]} samples; B ${PLAIN_BYTES[$case-B]} plain, ${GZIP_BYTES[$case-B]} gzip, ${SAMPLES[$case-B]} samples; nginx serves each side's (gzip_static, 1 worker)
stand-in calls during the case: A ${CALLS[$case-A]}, B ${CALLS[$case-B]} (fetch-categories only, every one 200)

| | A: ${LABEL[A]} | B: ${LABEL[B]} | B / A | paired B / A | nginx, A's bytes | nginx, B's bytes | A / its nginx | B / its nginx | same bytes, paired | target |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
$(scrape_rows "$case" gzip)
$(scrape_rows "$case" plain)
| CPU while polled and scraped every ${IDLE_SCRAPE_EVERY_S}s (${IDLE_S}s) | ${IDLE_CPU[$case-A]} ms/s | ${IDLE_CPU[$case-B]} ms/s | $(ratio "${IDLE_CPU[$case-B]}" "${IDLE_CPU[$case-A]}") | | | | | | | |
$(rss_row "$case" "RSS, every account polled" RSS_POLLED 1)
$(rss_row "$case" "RSS after the gzip rounds" RSS_GZIP 1)
$(rss_row "$case" "of which anonymous (RssAnon: heap, stacks)" RSS_ANON 0)
$(rss_row "$case" "of which file-backed (RssFile: the binary's pages)" RSS_FILE 0)
$(rss_row "$case" "RSS after the plain rounds too" RSS_PLAIN 0)
$(rss_row "$case" "peak RSS (VmHWM)" RSS_PEAK 0)
$([[ "$case" == one ]] && count_rows)

every round, requests/s / p99 / CPU per request:
gzip  A: $(rounds_line "$case-gzip" A)
gzip  B: $(rounds_line "$case-gzip" B)
gzip  nginx, A's bytes: $(rounds_line "$case-gzip" nginxA)
gzip  nginx, B's bytes: $(rounds_line "$case-gzip" nginxB)
plain A: $(rounds_line "$case-plain" A)
plain B: $(rounds_line "$case-plain" B)
plain nginx, A's bytes: $(rounds_line "$case-plain" nginxA)
plain nginx, B's bytes: $(rounds_line "$case-plain" nginxB)
EOF
        if [[ "$case" == one ]]; then
            echo "instructions per gzip scrape, every count: A ${INSTRUCTION_RUNS[A]% }; B ${INSTRUCTION_RUNS[B]% }"
        fi
    done
}

mkdir -p "$(dirname "$LOG")"
report | tee "$LOG"
note "report written to $LOG"
