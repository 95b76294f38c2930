# shellcheck shell=bash
# Shared by scripts/bench.sh, bench-accounts.sh, bench-tls.sh and bench-compare.sh (sourced,
# not run): tool installation, the work directory and the clean-up of every process a
# benchmark starts, and the small helpers they all use. Before sourcing, a script sets
# BENCH_NAME (for messages) and may set BENCH_TOOLS (extra commands to install, as Debian
# package names) and WAIT_TIMEOUT. After sourcing it has NGINX, WORK, PIDS (append every
# started process; `stop` ends one, `forget` takes an ended one off the list), die, note, free_port, wait_for, status_kib,
# mib, accounts_up, wait_up, the wrk result readers, and fetch and run_round (a checked scrape,
# a wrk run whose every answer is checked against a known body). Touches only 127.0.0.1.

die() { echo "$BENCH_NAME: error: $*" >&2; exit 1; }
note() { echo "$BENCH_NAME: $(date -u +%H:%M:%S) $*" >&2; }

# --- tools -------------------------------------------------------------------------------

need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_install+=(nginx-light)
for tool in curl python3 ${BENCH_TOOLS:-}; do
    command -v "$tool" >/dev/null || need_install+=("$tool")
done
if ((${#need_install[@]})); then
    [[ $EUID -eq 0 ]] || die "${need_install[*]} missing; run as root to install them, or install them first"
    note "installing ${need_install[*]} from Debian"
    apt-get update -qq >/dev/null || die "apt-get update failed"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need_install[@]}" >/dev/null; then
        # Debian 13 folded nginx-light into nginx itself.
        need_install=("${need_install[@]/nginx-light/nginx}")
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${need_install[@]}" >/dev/null || die "apt-get could not install ${need_install[*]}"
    fi
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# --- clean-up ----------------------------------------------------------------------------

WORK="$(mktemp -d "/tmp/smartlead-$BENCH_NAME.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        note "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The curl that wait_for uses; a script may replace it (bench-tls.sh adds its test CA).
CURL=(curl -fsS --max-time 1)

# wait_for URL WHAT PID: until URL answers 2xx; fails clearly if PID died or time runs out.
wait_for() {
    local url="$1" what="$2" pid="$3" deadline=$((SECONDS + ${WAIT_TIMEOUT:-30}))
    until "${CURL[@]}" -o /dev/null "$url" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$what exited early; see $WORK/*.log (BENCH_KEEP=1 keeps them)"
        ((SECONDS < deadline)) || die "$what did not answer $url within ${WAIT_TIMEOUT:-30}s"
        sleep 0.05
    done
}

# status_kib PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
status_kib() {
    [[ -r "/proc/$1/status" ]] || die "process $1 is gone; see $WORK/*.log (BENCH_KEEP=1 keeps them)"
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# accounts_up PORT: accounts whose smartlead_up is 1. Asks for gzip, as Prometheus does, so
# that the exporter never inflates its plain text for this (it would count in its RSS).
accounts_up() {
    curl -fsS -H 'Accept-Encoding: gzip' --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
        gzip -dc 2>/dev/null | awk '/^smartlead_up\{/ && $NF == 1 { n++ } END { print n + 0 }'
}

# wait_up PORT COUNT LIMIT_S: until COUNT accounts are up; gives up after LIMIT_S seconds.
wait_up() {
    local deadline=$((SECONDS + $3))
    until (($(accounts_up "$1") >= $2)); do
        ((SECONDS < deadline)) || die "fewer than $2 accounts up on port $1 after $3 s"
        sleep 1
    done
}

# --- wrk results (files $WORK/wrk-NAME.txt) ----------------------------------------------

rps_of() { awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$WORK/wrk-$1.txt"; }
# p99 in microseconds, from wrk's "99%  1.23ms" line.
p99_us_of() {
    awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 60000000
        printf "%.0f", v * f }' "$WORK/wrk-$1.txt"
}
fmt_us() { awk -v u="$1" 'BEGIN { if (u < 1000) printf "%d us", u; else printf "%.2f ms", u / 1000 }'; }
# cpu_ticks PID: user plus system CPU time of the whole process so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK="$(getconf CLK_TCK)"
# cpu_us_of NAME: the server's CPU time per request during that run, in microseconds, from
# $WORK/cpu-NAME.txt (the ticks the run took, written by the script); less sensitive than
# latency to what else the machine runs.
cpu_us_of() {
    awk -v tck="$CLK_TCK" -v ticks="$(cat "$WORK/cpu-$1.txt")" \
        '$2 == "requests" && $3 == "in" { printf "%.0f", ticks * 1000000 / tck / $1 }' "$WORK/wrk-$1.txt"
}
# median_of NAME FN: the median over the ROUNDS rounds of FN applied to NAME-1..NAME-ROUNDS.
median_of() {
    local round
    for round in $(seq "$ROUNDS"); do "$2" "$1-$round"; echo; done |
        sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# --- checked scrapes and wrk runs of a known body --------------------------------------------
# (fetch, run_round; a script using them sets CONNECTIONS and DURATION)

# A body read by wrk counts as the one checked if its bytes per answer lie between this share
# of the checked body and the body plus this share and HEADER_ALLOWANCE bytes of headers: a
# side's body changes a little between scrapes (its process_* values, poll durations), and
# wrk prints the bytes read rounded to three digits.
BODY_LOW=0.98
BODY_HIGH=1.02
HEADER_ALLOWANCE=2048

# bytes_per_answer_of NAME: the bytes wrk read per answer in $WORK/wrk-NAME.txt (headers and
# body), from its "N requests in Ts, X read" line (X in B, KB, MB, GB or TB of 1,024).
bytes_per_answer_of() {
    awk '$2 == "requests" && $3 == "in" {
        v = $5; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Z]+$/, "", v)
        f = (u == "B") ? 1 : (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1099511627776
        printf "%.0f", v * f / $1 }' "$WORK/wrk-$1.txt"
}

# run_round NAME URL PID BODY_BYTES KIND: one wrk run (gzip or plain) against URL, its report
# in $WORK/wrk-NAME.txt and PID's CPU time in $WORK/cpu-NAME.txt; fails unless every answer
# was 2xx, no socket erred and the bytes per answer fit BODY_BYTES.
run_round() {
    local name="$1" url="$2" pid="$3" body="$4" kind="$5" header=() before per
    [[ "$kind" == gzip ]] && header=(-H 'Accept-Encoding: gzip')
    before="$(cpu_ticks "$pid")"
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${header[@]}" "$url" \
        >"$WORK/wrk-$name.txt" 2>&1 || die "wrk failed against $url: $(cat "$WORK/wrk-$name.txt")"
    echo $(($(cpu_ticks "$pid") - before)) >"$WORK/cpu-$name.txt"
    grep -q '^Requests/sec' "$WORK/wrk-$name.txt" || die "wrk printed no result for $url"
    if grep -q 'Non-2xx\|Socket errors' "$WORK/wrk-$name.txt"; then
        die "wrk saw errors against $url ($name): $(grep 'Non-2xx\|Socket errors' "$WORK/wrk-$name.txt")"
    fi
    per="$(bytes_per_answer_of "$name")"
    awk -v p="$per" -v b="$body" -v lo="$BODY_LOW" -v hi="$BODY_HIGH" -v h="$HEADER_ALLOWANCE" \
        'BEGIN { exit !(p >= b * lo && p <= b * hi + h) }' ||
        die "$name: wrk read $per bytes per answer from $url, expected a $body-byte $kind body plus headers"
}

# fetch NAME URL GZIP(0|1): one scrape into $WORK/check/NAME.body with its headers in
# NAME.headers; fails unless 200, non-empty, and Content-Encoding gzip exactly when asked.
fetch() {
    local name="$1" url="$2" gzip="$3" code header=()
    ((gzip)) && header=(-H 'Accept-Encoding: gzip')
    mkdir -p "$WORK/check"
    code="$(curl -sS --max-time 10 "${header[@]}" -D "$WORK/check/$name.headers" \
        -o "$WORK/check/$name.body" -w '%{http_code}' "$url")" || die "$url did not answer"
    [[ "$code" == 200 ]] || die "$url answered $code"
    [[ -s "$WORK/check/$name.body" ]] || die "$url answered 200 with an empty body"
    if ((gzip)); then
        grep -qi '^content-encoding: *gzip' "$WORK/check/$name.headers" ||
            die "$url did not answer gzip to Accept-Encoding: gzip"
    elif grep -qi '^content-encoding:' "$WORK/check/$name.headers"; then
        die "$url answered $(grep -i '^content-encoding:' "$WORK/check/$name.headers") to a request without Accept-Encoding"
    fi
}

# forget PID: takes a process that has ended (and been waited for) off the clean-up's list, so
# that the clean-up never signals its number, which the system may have given to another.
forget() {
    local pid keep=()
    for pid in "${PIDS[@]}"; do
        [[ "$pid" == "$1" ]] || keep+=("$pid")
    done
    PIDS=("${keep[@]}")
}

# stop PID: ends a process the benchmark started, waits for it, and forgets it.
stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

# build_dist: the shipped binary (--profile dist), unless BENCH_SKIP_BUILD=1.
build_dist() {
    if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
        note "building the dist binary (fat LTO: minutes on two cores, see docs/performance.md#build-profiles)"
        (cd "$ROOT" && cargo build --profile dist --locked --quiet) || die "cargo build --profile dist failed"
    fi
}
