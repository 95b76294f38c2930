#!/usr/bin/env bash
# The many-accounts benchmark of issue 10: one exporter watching 500 SmartLead accounts of 12
# categories each, against nginx as the SmartLead stand-in and as the gzip baseline, side by
# side in one run. Prints one table:
#   1. start-up with 500 accounts: exec to /-/healthy answering 200 (median of 5 starts);
#   2. the upstream schedule over BENCH_ACCOUNTS_SECONDS, from nginx's access log: calls per
#      account against elapsed / interval +- 1, and the busiest 1-second window against twice
#      the average rate;
#   3. RSS once every account has polled, RSS of the same with 1 account, and the difference
#      per account;
#   4. gzip scrapes of the 500-account exposition, wrk against the exporter and against nginx
#      serving the same gzip bytes with gzip_static, alternating rounds, medians;
#   5. reload of 500 accounts by SIGHUP: every account changed (atomic rename of the file),
#      and nothing changed; from the signal to the "configuration reloaded" log line.
# Results and method: docs/performance.md, "Many accounts (500)".
#
# Usage: scripts/bench-accounts.sh      (as root, or with wrk and nginx already installed)
# Environment: BENCH_ACCOUNTS_SECONDS (schedule window, default 120),
#              BENCH_ACCOUNTS (default 500), BENCH_ROUNDS (wrk rounds per side, default 3),
#              BENCH_SKIP_BUILD=1 (use the existing target/dist binary),
#              BENCH_KEEP=1 (keep the temporary directory, for its logs).
#
# Touches only 127.0.0.1. Every process it starts is stopped on exit, whatever the exit.

set -euo pipefail

# Accounts in the file, and the categories each one's answer holds.
ACCOUNTS="${BENCH_ACCOUNTS:-500}"
CATEGORIES=12
# Every account's poll interval (the file's defaults), in seconds.
INTERVAL_S=60
# How long the upstream schedule is watched.
WINDOW_S="${BENCH_ACCOUNTS_SECONDS:-120}"
# Start-up is measured this many times; the median is reported.
STARTUP_RUNS=5
# wrk, as the issue fixes it, and the rounds per side (alternating; the median is reported).
DURATION=5
CONNECTIONS=10
ROUNDS="${BENCH_ROUNDS:-3}"
# Reloads of each kind (every account changed, nothing changed); the median is reported.
RELOADS=3
# Any wait for a port gives up after this many seconds.
WAIT_TIMEOUT=30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
HELPER="$SCRIPTS/bench_accounts.py"
# The fully optimised build, as shipped in the image (Cargo.toml, [profile.dist]).
BINARY="$ROOT/target/dist/smartlead_exporter"

BENCH_NAME=bench-accounts.sh
# shellcheck source=scripts/bench-common.sh
source "$SCRIPTS/bench-common.sh"
# nginx's worker runs as nobody: everything it serves must be readable by anyone.
chmod 755 "$WORK"

[[ "$ACCOUNTS" =~ ^[0-9]+$ ]] && ((ACCOUNTS >= 2)) || die "BENCH_ACCOUNTS must be a number >= 2"
[[ "$WINDOW_S" =~ ^[0-9]+$ ]] && ((WINDOW_S >= INTERVAL_S)) ||
    die "BENCH_ACCOUNTS_SECONDS must be a whole number of seconds >= $INTERVAL_S"

# --- helpers -----------------------------------------------------------------------------

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# run_wrk NAME URL: writes wrk's report to $WORK/wrk-NAME.txt.
run_wrk() {
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H 'Accept-Encoding: gzip' "$2" \
        >"$WORK/wrk-$1.txt" 2>&1 || die "wrk failed against $2: $(cat "$WORK/wrk-$1.txt")"
    grep -q '^Requests/sec' "$WORK/wrk-$1.txt" || die "wrk printed no result for $2"
    if grep -q 'Non-2xx\|Socket errors' "$WORK/wrk-$1.txt"; then
        die "wrk saw errors against $2: $(grep 'Non-2xx\|Socket errors' "$WORK/wrk-$1.txt")"
    fi
}

# start_exporter NAME PORT CONFIG: starts one exporter on CONFIG, logging (info, logfmt) to
# $WORK/NAME.log; sets LAST_PID.
start_exporter() {
    "$BINARY" \
        --web.listen-address="127.0.0.1:$2" \
        --config.file="$3" \
        --smartlead.base-url="http://127.0.0.1:$NGINX_PORT/api/v1" \
        --log.level=info --log.format=logfmt >"$WORK/$1.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}


# --- build and data ----------------------------------------------------------------------

build_dist
[[ -x "$BINARY" ]] || die "no binary at $BINARY"

mkdir -p "$WORK/www/api/v1/leads" "$WORK/www/static" "$WORK/config" "$WORK/tmp"
python3 "$SCRIPTS/gen_categories.py" "$CATEGORIES" >"$WORK/www/api/v1/leads/fetch-categories"
chmod -R a+rX "$WORK/www"
: >"$WORK/upstream.log"
: >"$WORK/startup-upstream.log"

# Every account its own key, in its own variable (never on a command line).
for i in $(seq "$ACCOUNTS"); do
    export "KEY_$i=key-$i"
done
CONFIG="$WORK/config/accounts.yaml"
python3 "$HELPER" config "$ACCOUNTS" "${INTERVAL_S}s" 99 >"$CONFIG"
python3 "$HELPER" config 1 "${INTERVAL_S}s" 99 >"$WORK/one-account.yaml"

# --- nginx -------------------------------------------------------------------------------

NGINX_PORT="$(free_port)"
EXPORTER_PORT="$(free_port)"
STARTUP_PORT="$(free_port)"
ONE_PORT="$(free_port)"

# One worker (as nobody); the master stays in the foreground so the trap can stop it. The
# stand-in logs every call with its time and key; the static copy of /metrics logs nothing (the
# exporter logs no scrapes) and keep-alive connections are never closed after 1,000 requests
# (wrk would reconnect; the exporter never closes them): nginx is measured at its best.
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user nobody nogroup;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    log_format calls '\$msec \$arg_api_key';
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
        # The SmartLead stand-in: the same 12 categories for any key, every call logged.
        location = /api/v1/leads/fetch-categories {
            access_log $WORK/upstream.log calls;
            default_type application/json;
        }
        # The same for the start-up runs, logged apart so they stay out of the schedule.
        location = /startup/api/v1/leads/fetch-categories {
            access_log $WORK/startup-upstream.log calls;
            default_type application/json;
            alias $WORK/www/api/v1/leads/fetch-categories;
        }
        # The exporter's gzip answer, as static bytes (metrics.gz beside metrics).
        location = /metrics {
            gzip_static on;
            default_type "text/plain; version=0.0.4; charset=utf-8";
            alias $WORK/www/static/metrics;
        }
    }
}
EOF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -t >"$WORK/nginx-test.log" 2>&1 ||
    die "nginx refused its configuration: $(cat "$WORK/nginx-test.log")"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for "http://127.0.0.1:$NGINX_PORT/startup/api/v1/leads/fetch-categories" nginx "$NGINX_PID"
NGINX_WORKER="$(pgrep -P "$NGINX_PID" | head -n1)"
[[ -n "$NGINX_WORKER" ]] || die "nginx started no worker process"
: >"$WORK/startup-upstream.log"

# --- 1: start-up with 500 accounts -------------------------------------------------------

note "start-up with $ACCOUNTS accounts ($STARTUP_RUNS runs)"
startups=()
for _ in $(seq "$STARTUP_RUNS"); do
    ms="$(python3 "$SCRIPTS/startup_time.py" "$STARTUP_PORT" "$BINARY" \
        --web.listen-address="127.0.0.1:$STARTUP_PORT" --config.file="$CONFIG" \
        --smartlead.base-url="http://127.0.0.1:$NGINX_PORT/startup/api/v1" --log.level=warn)" ||
        die "start-up measurement failed"
    startups+=("$ms")
done
STARTUP_MS="$(printf '%s\n' "${startups[@]}" | median)"
STARTUP_ALL="${startups[*]}"

# --- 2 and 3: schedule and memory ---------------------------------------------------------

note "$ACCOUNTS accounts polling every ${INTERVAL_S}s; watching the schedule for ${WINDOW_S}s"
WINDOW_START="$(date +%s.%N)"
start_exporter exporter "$EXPORTER_PORT" "$CONFIG"
EXPORTER_PID="$LAST_PID"
wait_for "http://127.0.0.1:$EXPORTER_PORT/-/healthy" "the exporter" "$EXPORTER_PID"
# Every account polls once within an interval of the start.
wait_up "$EXPORTER_PORT" "$ACCOUNTS" $((INTERVAL_S + 15))
ALL_UP_AFTER="$(awk -v s="$WINDOW_START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')"
RSS_500="$(status_kib "$EXPORTER_PID" VmRSS)"
WINDOW_END="$(awk -v s="$WINDOW_START" -v w="$WINDOW_S" 'BEGIN { printf "%.3f", s + w }')"
# Sleep to the end of the window (bounded: the window is at most WINDOW_S from its start).
sleep "$(awk -v e="$WINDOW_END" -v n="$(date +%s.%N)" 'BEGIN { d = e - n; printf "%.3f", (d > 0 ? d : 0) }')"
sleep 1
SCHEDULE="$(python3 "$HELPER" schedule "$WORK/upstream.log" "$WINDOW_START" "$WINDOW_END" "$ACCOUNTS" "$INTERVAL_S")"
RSS_500_END="$(status_kib "$EXPORTER_PID" VmRSS)"

# --- 4: gzip scrapes, exporter against nginx with gzip_static ------------------------------

note "gzip scrapes: wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds per side"
curl -fsS -H 'Accept-Encoding: gzip' -D "$WORK/exporter-headers.txt" \
    -o "$WORK/www/static/metrics.gz" "http://127.0.0.1:$EXPORTER_PORT/metrics" ||
    die "cannot fetch the exporter's gzip /metrics"
grep -qi '^content-encoding: gzip' "$WORK/exporter-headers.txt" || die "the exporter did not answer gzip"
gzip -dc "$WORK/www/static/metrics.gz" >"$WORK/www/static/metrics" || die "the exporter's gzip body does not inflate"
chmod a+r "$WORK/www/static/metrics" "$WORK/www/static/metrics.gz"
GZIP_BYTES="$(stat -c %s "$WORK/www/static/metrics.gz")"
PLAIN_BYTES="$(stat -c %s "$WORK/www/static/metrics")"
SERIES="$(grep -c '^smartlead_category_info{' "$WORK/www/static/metrics" || true)"
((SERIES == ACCOUNTS * CATEGORIES)) || die "expected $((ACCOUNTS * CATEGORIES)) smartlead_category_info series, found $SERIES"
LINES="$(grep -vc '^#' "$WORK/www/static/metrics" || true)"
curl -fsS -H 'Accept-Encoding: gzip' -D "$WORK/nginx-headers.txt" -o "$WORK/nginx-check.gz" \
    "http://127.0.0.1:$NGINX_PORT/metrics" || die "nginx does not serve /metrics"
head -n1 "$WORK/nginx-headers.txt" | grep -q ' 200' || die "nginx answered $(head -n1 "$WORK/nginx-headers.txt")"
grep -qi '^content-encoding: gzip' "$WORK/nginx-headers.txt" || die "nginx did not answer gzip (gzip_static)"
cmp -s "$WORK/nginx-check.gz" "$WORK/www/static/metrics.gz" || die "nginx's gzip body differs from the exporter's"

wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$NGINX_PORT/metrics" >/dev/null 2>&1 || true
wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$EXPORTER_PORT/metrics" >/dev/null 2>&1 || true
for round in $(seq "$ROUNDS"); do
    run_wrk "nginx-$round" "http://127.0.0.1:$NGINX_PORT/metrics"
    run_wrk "exporter-$round" "http://127.0.0.1:$EXPORTER_PORT/metrics"
done
RSS_500_LOAD="$(status_kib "$EXPORTER_PID" VmRSS)"

# --- 5: reloads ---------------------------------------------------------------------------

note "reloads: $RELOADS with every account changed, $RELOADS with nothing changed"
changed=()
unchanged=()
for round in $(seq "$RELOADS"); do
    # Every account's global_max_id changes; the new file replaces the old by a rename.
    # The helper renames and signals microseconds apart.
    python3 "$HELPER" config "$ACCOUNTS" "${INTERVAL_S}s" $((1000 + round)) >"$WORK/accounts.yaml.new"
    result="$(python3 "$HELPER" reload "$EXPORTER_PID" "$WORK/exporter.log" \
        "$WORK/accounts.yaml.new" "$CONFIG")" || die "reload failed"
    [[ "$(field restarted <<<"$result")" == "$ACCOUNTS" ]] || die "the reload restarted not all accounts: $result"
    changed+=("$(field ts_ms <<<"$result")")
    # Past the file watch's settling time, so that its (ignored) event is over.
    sleep 1
done
UP_AFTER_RELOAD="$(accounts_up "$EXPORTER_PORT")"
for _ in $(seq "$RELOADS"); do
    result="$(python3 "$HELPER" reload "$EXPORTER_PID" "$WORK/exporter.log")" || die "reload failed"
    [[ "$(field restarted <<<"$result")" == 0 ]] || die "a reload without change restarted accounts: $result"
    unchanged+=("$(field ts_ms <<<"$result")")
    sleep 1
done
RELOAD_MS="$(printf '%s\n' "${changed[@]}" | median)"
RELOAD_SAME_MS="$(printf '%s\n' "${unchanged[@]}" | median)"
stop "$EXPORTER_PID"

# --- memory with one account ----------------------------------------------------------------

note "the same with 1 account"
start_exporter one "$ONE_PORT" "$WORK/one-account.yaml"
ONE_PID="$LAST_PID"
wait_for "http://127.0.0.1:$ONE_PORT/-/healthy" "the one-account exporter" "$ONE_PID"
wait_up "$ONE_PORT" 1 15
RSS_1="$(status_kib "$ONE_PID" VmRSS)"
stop "$ONE_PID"

# --- report -------------------------------------------------------------------------------

s() { field "$1" <<<"$SCHEDULE"; }
verdict() { if eval "$1"; then echo "ok"; else echo "MISSED"; fi; }
NGINX_RPS="$(median_of nginx rps_of)"
EXPORTER_RPS="$(median_of exporter rps_of)"
NGINX_P99="$(median_of nginx p99_us_of)"
EXPORTER_P99="$(median_of exporter p99_us_of)"
rounds_of() {
    local round
    for round in $(seq "$ROUNDS"); do
        printf '%s / %s; ' "$(rps_of "$1-$round")" "$(fmt_us "$(p99_us_of "$1-$round")")"
    done
}
RPS_RATIO="$(awk -v e="$EXPORTER_RPS" -v n="$NGINX_RPS" 'BEGIN { printf "%.2f", e / n }')"
P99_RATIO="$(awk -v e="$EXPORTER_P99" -v n="$NGINX_P99" 'BEGIN { printf "%.2f", e / n }')"
RSS_LIMIT=$((8192 + 32 * ACCOUNTS))
PER_ACCOUNT="$(awk -v a="$RSS_500" -v b="$RSS_1" -v n="$ACCOUNTS" 'BEGIN { printf "%.1f", (a - b) / (n - 1) }')"

cat <<EOF

smartlead_exporter, $ACCOUNTS accounts x $CATEGORIES categories: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }')
exposition: $PLAIN_BYTES bytes plain, $GZIP_BYTES bytes gzip, $LINES samples
wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -H 'Accept-Encoding: gzip', $ROUNDS alternating rounds per side,
median shown; every round (requests/s / p99): exporter $(rounds_of exporter)
nginx $(rounds_of nginx)
start-up runs (ms): $STARTUP_ALL; reloads, every account changed (ms): ${changed[*]};
nothing changed (ms): ${unchanged[*]}

| measure | value | target |
|---|---:|---|
| start-up, exec to /-/healthy 200 (median of $STARTUP_RUNS) | $STARTUP_MS ms | < 100 ms $(verdict "awk -v m=$STARTUP_MS 'BEGIN { exit !(m < 100) }'") |
| upstream calls in ${WINDOW_S}s (interval ${INTERVAL_S}s) | $(s calls) | |
| calls per account, min / max (expected $(s expected) +- 1) | $(s min) / $(s max) | |
| accounts outside elapsed / interval +- 1 | $(s violating) | 0 $(verdict "(($(s violating) == 0))") |
| most calls in any 1 s window / twice the average rate | $(s burst) / $(s twice_average) | <= $(verdict "awk -v b=$(s burst) -v t=$(s twice_average) 'BEGIN { exit !(b <= t) }'") |
| every account up after | ${ALL_UP_AFTER} s | |
| RSS, every account polled | $(mib "$RSS_500") | <= $(mib "$RSS_LIMIT") $(verdict "((RSS_500 <= RSS_LIMIT))") |
| RSS at the end of the window / after the wrk load | $(mib "$RSS_500_END") / $(mib "$RSS_500_LOAD") | |
| RSS with 1 account, polled | $(mib "$RSS_1") | |
| memory per account, (RSS$ACCOUNTS - RSS1) / $((ACCOUNTS - 1)) | $PER_ACCOUNT KiB | <= 32 KiB $(verdict "awk -v p=$PER_ACCOUNT 'BEGIN { exit !(p <= 32) }'") |
| reload (SIGHUP), every account changed: signal to log line (median of $RELOADS) | $RELOAD_MS ms | < 200 ms $(verdict "awk -v m=$RELOAD_MS 'BEGIN { exit !(m < 200) }'") |
| reload (SIGHUP), nothing changed (median of $RELOADS) | $RELOAD_SAME_MS ms | |
| accounts up about 1 s after the changed reloads | $UP_AFTER_RELOAD of $ACCOUNTS | |
| gzip scrape requests/s: exporter / nginx gzip_static | $EXPORTER_RPS / $NGINX_RPS = $RPS_RATIO | >= 0.7 $(verdict "awk -v r=$RPS_RATIO 'BEGIN { exit !(r >= 0.7) }'") |
| gzip scrape p99: exporter / nginx gzip_static | $(fmt_us "$EXPORTER_P99") / $(fmt_us "$NGINX_P99") = $P99_RATIO | <= 1.5 $(verdict "awk -v r=$P99_RATIO 'BEGIN { exit !(r <= 1.5) }'") |
| exposition, plain / gzip | $PLAIN_BYTES / $GZIP_BYTES bytes | |
EOF
