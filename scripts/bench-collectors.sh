#!/usr/bin/env bash
# The collectors at scale: memory, scrapes side by side with nginx, the API budget and the
# plan, and the time to a first full collection, against a SmartLead stand-in.
#
# The stand-in is nginx (one worker, loopback only, temporary prefix) serving files that
# scripts/bench_collectors.py generates: one directory per API key (nginx routes `api_key`
# there and `offset` to a page file) with every endpoint the collectors call, in the shapes the
# exporter parses (counters as strings, "95%", null warmup details and client ids, `{}` for a
# deleted campaign, canary passwords in every mailbox). Every call is logged with its time
# (ms), key, path, offset and status. The same nginx serves the reference for case A.
#
#   A  one agency account: 1,000 campaigns (200 ACTIVE, 2 of them deleted; the other 800
#      DRAFTED, COMPLETED, STOPPED or ARCHIVED, outside the default selection ACTIVE,PAUSED),
#      5,000 mailboxes, under the largest budget accepted (300 calls a minute, 18,000 an
#      hour) so that its first full collection takes about a minute and a quarter. RSS once
#      that is done (target 48 MiB); then gzip scrapes against nginx `gzip_static` serving a
#      copy of the exporter's gzip answer, alternating rounds (target 0.7x nginx's rate).
#   B  100 accounts (accounts file), each 20 ACTIVE campaigns (and 5 outside the selection)
#      and 50 mailboxes, default budget (20 a minute, 500 an hour) and intervals. RSS once
#      every account's first full collection is done and at the end (target 64 MiB). Then,
#      from the call log: no key above its budget in any 60-second window, 5 in any second, or
#      500 in any hour (over the whole run); and over the measured window (BENCH_WINDOW,
#      from every account's first full collection on), each key's calls per collector equal
#      the plan: runs = window / interval in force (within one), calls per run = the cost
#      (what the stand-in serves), all of it = the exporter's smartlead_exporter_api_planned_calls.
#   C  one account with 200 ACTIVE campaigns and 50 mailboxes at the default budget: the time
#      from start to every collector's first success, beside the pacing model's figure
#      (bench_collectors.py model: the rules of src/collect/budget.rs played out).
# A runs alone (it measures throughput); B and C run at the same time, their exporters apart.
#
# Usage: scripts/bench-collectors.sh      (as root, or with wrk and nginx already installed)
# Environment: BENCH_SKIP_BUILD=1 (use target/dist/smartlead_exporter as it is),
#              BENCH_CASES (any of A, B, C; default ABC),
#              BENCH_WINDOW (case B's measured window in seconds, default 1800; under 600 the
#              plan check is only a trial),
#              BENCH_ROUNDS (wrk rounds per side in case A, default 5; odd),
#              BENCH_DURATION (wrk seconds, default 5), BENCH_CONNECTIONS (default 10),
#              BENCH_LOG (the report's file, default bench-results/collectors-UTCTIME.txt),
#              BENCH_KEEP=1 (keep the temporary directory: logs, call log, wrk reports).
# Method and results: docs/performance.md, "Collectors at scale".
#
# Touches only 127.0.0.1. Every process it starts is stopped on exit, whatever the exit.

set -euo pipefail

CASES="${BENCH_CASES:-ABC}"
ROUNDS="${BENCH_ROUNDS:-5}"
DURATION="${BENCH_DURATION:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-10}"
WINDOW_S="${BENCH_WINDOW:-1800}"
# A shorter window says little: a replies run is due every 15 minutes.
MIN_WINDOW_S=600

# Case A: the agency account and the budget it gets.
A_KEY="a-agency"
A_CATEGORIES=30
A_CAMPAIGNS=1000
A_ACTIVE=200
A_DELETED=2
A_MAILBOXES=5000
A_PER_MINUTE=300
A_PER_HOUR=18000
A_RSS_TARGET_KIB=$((48 * 1024))
A_RPS_SHARE=0.7
# Case B: the accounts, each the same.
B_ACCOUNTS=100
B_CATEGORIES=12
B_CAMPAIGNS=25
B_ACTIVE=20
B_MAILBOXES=50
B_RSS_TARGET_KIB=$((64 * 1024))
# Case C.
C_KEY="c-200"
C_CATEGORIES=9
C_ACTIVE=200
C_MAILBOXES=50
# The default budget (cases B and C), and the most calls of a key in any second.
PER_MINUTE=20
PER_HOUR=500
PER_SECOND=5
# Case C agrees with the model when measured within this many seconds of it.
MODEL_TOLERANCE_S=5
# After case B's window the exporter runs this long more, so that the runs started in the
# window finish (a run held by the minute budget ends about 61 s after its start).
TAIL_S=90
# How long each wait for a first full collection may take, beyond the model's figure.
FULL_SLACK_S=300
# Any wait for a port gives up after this many seconds.
WAIT_TIMEOUT=30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
HELPER="$SCRIPTS/bench_collectors.py"
BINARY="$ROOT/target/dist/smartlead_exporter"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="${BENCH_LOG:-$ROOT/bench-results/collectors-$STAMP.txt}"

BENCH_NAME=bench-collectors.sh
BENCH_TOOLS=gzip
# shellcheck source=scripts/bench-common.sh
source "$SCRIPTS/bench-common.sh"
# nginx's worker runs as nobody: everything it serves must be readable by anyone.
chmod 755 "$WORK"

[[ "$CASES" =~ ^[ABC]+$ ]] || die "BENCH_CASES takes A, B and C, got '$CASES'"
for value in ROUNDS DURATION CONNECTIONS WINDOW_S; do
    [[ "${!value}" =~ ^[0-9]+$ ]] || die "$value must be a whole number, got '${!value}'"
done
((ROUNDS >= 1 && DURATION >= 1 && CONNECTIONS >= 1 && WINDOW_S >= 60)) ||
    die "BENCH_ROUNDS, BENCH_DURATION and BENCH_CONNECTIONS must be at least 1, BENCH_WINDOW at least 60"
has() { [[ "$CASES" == *"$1"* ]]; }
# The exporter reads some settings from the environment; only the flags below may count.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^SMARTLEAD_' || true)

build_dist
[[ -x "$BINARY" ]] || die "no binary at $BINARY (cargo build --profile dist)"
HELP="$("$BINARY" --help 2>&1)" || die "$BINARY --help failed: $HELP"
for flag in --collector.campaigns.statuses --smartlead.max-calls-per-minute --smartlead.max-calls-per-hour; do
    grep -q -- "$flag" <<<"$HELP" || die "$BINARY has no $flag: this benchmark needs a build with the collectors"
done

# --- the stand-in --------------------------------------------------------------------------

note "generating the stand-in's accounts"
mkdir -p "$WORK/www/keys" "$WORK/www/ref" "$WORK/tmp" "$WORK/check" "$WORK/corrupt"
python3 "$HELPER" account "$WORK/www/keys" "$A_KEY" --categories "$A_CATEGORIES" \
    --campaigns "$A_CAMPAIGNS" --active "$A_ACTIVE" --deleted "$A_DELETED" --mailboxes "$A_MAILBOXES" >/dev/null
python3 "$HELPER" accounts "$WORK/accounts.yaml" "$WORK/accounts.map" "$B_ACCOUNTS"
B_KEYS=()
while read -r _ key var; do
    B_KEYS+=("$key")
    # Each account's key in its own variable, never on a command line.
    export "$var=$key"
done <"$WORK/accounts.map"
python3 "$HELPER" account "$WORK/www/keys" "$(IFS=,; echo "${B_KEYS[*]}")" --categories "$B_CATEGORIES" \
    --campaigns "$B_CAMPAIGNS" --active "$B_ACTIVE" --mailboxes "$B_MAILBOXES" >/dev/null
python3 "$HELPER" account "$WORK/www/keys" "$C_KEY" --categories "$C_CATEGORIES" \
    --campaigns "$C_ACTIVE" --active "$C_ACTIVE" --mailboxes "$C_MAILBOXES" >/dev/null
chmod -R a+rX "$WORK/www"
: >"$WORK/calls.log"

NGINX_PORT="$(free_port)"
# One worker (as nobody); the master stays in the foreground so the trap can stop it. The
# stand-in logs every call; the reference logs nothing (the exporter logs no scrapes) and keeps
# connections for ever (wrk would reconnect after nginx's default of 1,000 requests; the
# exporter never closes them): nginx is measured at its best. Only keys and offsets made of
# safe characters reach a file name; anything else answers 404.
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user nobody nogroup;
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
    map \$arg_api_key \$bench_key {
        "~^[A-Za-z0-9_-]{1,64}\$" \$arg_api_key;
        default "-";
    }
    map \$arg_offset \$bench_offset {
        "~^[0-9]{1,9}\$" \$arg_offset;
        default "-";
    }
    # The path asked for: \$uri would name the file try_files chose.
    map \$request_uri \$bench_path {
        "~^(?<path>[^?]*)" \$path;
        default "-";
    }
    log_format calls '\$msec \$bench_key \$bench_path \$bench_offset \$status';
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        # The SmartLead stand-in: every endpoint the collectors call, per key.
        location /api/v1/ {
            access_log $WORK/calls.log calls;
            default_type application/json;
            location = /api/v1/leads/fetch-categories {
                try_files /keys/\$bench_key/fetch-categories.json =404;
            }
            location = /api/v1/analytics/lead/category-wise-response {
                if (\$arg_start_date = "") {
                    return 400 '{"success":false,"message":"start_date and end_date are required"}';
                }
                if (\$arg_end_date = "") {
                    return 400 '{"success":false,"message":"start_date and end_date are required"}';
                }
                try_files /keys/\$bench_key/category-wise-response.json =404;
            }
            location = /api/v1/campaigns/ {
                try_files /keys/\$bench_key/campaigns.json =404;
            }
            # A named capture: the maps' regular expressions would overwrite \$1.
            location ~ ^/api/v1/campaigns/(?<campaign>[0-9]+)/analytics\$ {
                try_files /keys/\$bench_key/analytics/\$campaign.json =404;
            }
            location = /api/v1/email-accounts/ {
                if (\$arg_limit != "100") {
                    return 422 '{"message":"limit must be a number from 1 to 100"}';
                }
                try_files /keys/\$bench_key/email-accounts/\$bench_offset.json =404;
            }
        }
        # The reference of case A: the exporter's gzip answer (metrics.gz) and its text.
        location = /ref/metrics {
            gzip_static on;
            default_type "text/plain; version=0.0.4; charset=utf-8";
        }
        location / {
            return 404;
        }
    }
}
EOF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -t >"$WORK/nginx-test.log" 2>&1 ||
    die "nginx refused its configuration: $(cat "$WORK/nginx-test.log")"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
API="http://127.0.0.1:$NGINX_PORT/api/v1"
wait_for "$API/leads/fetch-categories?api_key=$A_KEY" nginx "$NGINX_PID"
NGINX_WORKER="$(pgrep -P "$NGINX_PID" | head -n1)"
[[ -n "$NGINX_WORKER" ]] || die "nginx started no worker process"

# expect STATUS PATH_AND_QUERY [JSON_CHECK]: the stand-in answers so (JSON_CHECK: a Python
# expression on the parsed body `b`).
expect() {
    local code
    code="$(curl -sS --max-time 5 -o "$WORK/check/standin.body" -w '%{http_code}' "$API/$2")" ||
        die "the stand-in did not answer $2"
    [[ "$code" == "$1" ]] || die "the stand-in answered $code to $2, expected $1"
    (($# == 3)) || return 0
    python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); sys.exit(0 if ('"$3"') else 1)' \
        "$WORK/check/standin.body" || die "the stand-in's answer to $2 is not as expected ($3)"
}
# Every endpoint, as the exporter calls them (the key first: the stand-in logs it).
first_analytics=2000000
expect 200 "leads/fetch-categories?api_key=$A_KEY" "len(b) == $A_CATEGORIES and b[5]['sentiment_type'] is None"
expect 200 "analytics/lead/category-wise-response?api_key=$A_KEY&start_date=2025-01-01&end_date=2025-01-30" \
    "b['data']['lead_responses_by_category']['leadResponseGrouping'][-1]['name'] == 'Uncategorized'"
expect 400 "analytics/lead/category-wise-response?api_key=$A_KEY" "'message' in b"
expect 200 "campaigns/?api_key=$A_KEY" "len(b) == $A_CAMPAIGNS and sum(c['status'] in ('ACTIVE', 'PAUSED') for c in b) == $A_ACTIVE"
expect 200 "campaigns/$first_analytics/analytics?api_key=$A_KEY" "b['sent_count'] == str(int(b['sent_count']))"
expect 200 "campaigns/$((first_analytics + A_ACTIVE - 1))/analytics?api_key=$A_KEY" "b == {}"
expect 200 "email-accounts/?api_key=$A_KEY&offset=0&limit=100" \
    "len(b) == 100 and b[0]['warmup_details']['warmup_reputation'].endswith('%') and b[6]['warmup_details'] is None and b[0]['smtp_password']"
expect 200 "email-accounts/?api_key=$A_KEY&offset=$A_MAILBOXES&limit=100" "b == []"
expect 422 "email-accounts/?api_key=$A_KEY&offset=0&limit=101" "'message' in b"
expect 404 "campaigns/?api_key=no-such-key"
expect 404 "email-accounts/?api_key=$A_KEY&offset=../1&limit=100"
expect 200 "email-accounts/?api_key=b-001&offset=0&limit=100" "len(b) == $B_MAILBOXES"
expect 200 "campaigns/?api_key=$C_KEY" "len(b) == $C_ACTIVE"
: >"$WORK/calls.log"

# start_exporter NAME PORT ARGS...: one exporter against the stand-in, its log in
# $WORK/NAME.log; sets LAST_PID. The key comes from the environment or the accounts file.
start_exporter() {
    local name="$1" port="$2"
    shift 2
    "$BINARY" --web.listen-address="127.0.0.1:$port" --smartlead.base-url="$API" \
        --log.level=info "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_for "http://127.0.0.1:$port/-/healthy" "the exporter ($name)" "$LAST_PID"
}
now() { date +%s.%N; }
# field NAME <<< "k=v ...": one value of a key=value line.
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }
# Every gzip answer the script asked the exporters for outside wrk (waits, checks, the
# watcher), and those that did not inflate whole: each one is a scrape Prometheus would fail.
SCRAPES=0
CORRUPT=0
# counted LINE: adds a helper's scrapes= and corrupt= to the totals.
counted() {
    SCRAPES=$((SCRAPES + $(field scrapes <<<"$1")))
    CORRUPT=$((CORRUPT + $(field corrupt <<<"$1")))
}
# scrape_text PORT FILE: the exporter's exposition, asked for in gzip, inflated into FILE;
# asked again after a corrupt answer (counted).
scrape_text() {
    local before
    before="$(python3 "$HELPER" text "http://127.0.0.1:$1/metrics" "$2")" ||
        die "cannot scrape the exporter on port $1"
    SCRAPES=$((SCRAPES + before + 1))
    CORRUPT=$((CORRUPT + before))
}
# waited OUT COMMAND...: runs COMMAND, its output into OUT, and waits for it in a way a signal
# interrupts at once (a foreground command would hold the clean-up until it ends; the
# clean-up stops this one too). Returns its status.
waited() {
    local out="$1" pid status=0
    shift
    "$@" >"$out" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || status=$?
    forget "$pid"
    return "$status"
}
# pause SECONDS: sleeps, interruptibly.
pause() { waited /dev/null sleep "$1"; }
# wait_full NAME PORT START ACCOUNTS PID TIMEOUT: waits for ACCOUNTS first full collections;
# the helper's line goes to $WORK/NAME-full.txt.
wait_full() {
    waited "$WORK/$1-full.txt" python3 "$HELPER" wait-full "http://127.0.0.1:$2/metrics" "$3" "$6" "$4" "$5" "$WORK/corrupt/$1"
}
# calls_until KEY START FULL_LINE: the stand-in's calls of KEY up to the first full
# collection that FULL_LINE (wait_full's) reports, in all and per collector.
calls_until() {
    python3 "$HELPER" calls-until "$WORK/calls.log" "$1" \
        "$(awk -v s="$2" -v f="$(field full_s <<<"$3")" 'BEGIN { printf "%.3f", s + f }')"
}
# no_canary FILE: the mailbox passwords appear nowhere in FILE.
no_canary() {
    ! grep -q -e smtp-canary- -e imap-canary- "$1" || die "a mailbox password is in $1"
}
model() { python3 "$HELPER" model "$@"; }
pages() { echo $(($1 / 100 + 1)); }

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# --- case A: one agency account --------------------------------------------------------------

if has A; then
    note "case A: $A_CAMPAIGNS campaigns ($A_ACTIVE ACTIVE), $A_MAILBOXES mailboxes, budget $A_PER_MINUTE/min $A_PER_HOUR/h"
    A_MODEL="$(model "$A_PER_MINUTE" "$A_PER_HOUR" $((1 + A_ACTIVE)) "$(pages "$A_MAILBOXES")")"
    A_PORT="$(free_port)"
    A_START="$(now)"
    SMARTLEAD_API_KEY="$A_KEY" start_exporter a "$A_PORT" \
        --smartlead.max-calls-per-minute="$A_PER_MINUTE" --smartlead.max-calls-per-hour="$A_PER_HOUR"
    A_PID="$LAST_PID"
    wait_full a "$A_PORT" "$A_START" 1 "$A_PID" \
        "$(awk -v m="$(field full_s <<<"$A_MODEL")" -v s=$FULL_SLACK_S 'BEGIN { print m + s }')" ||
        die "case A: no first full collection (see $WORK/a.log; BENCH_KEEP=1 keeps it)"
    A_FULL="$(cat "$WORK/a-full.txt")"
    counted "$A_FULL"
    A_RSS_FULL="$(status_kib "$A_PID" VmRSS)"
    A_CALLS_FULL="$(calls_until "$A_KEY" "$A_START" "$A_FULL")"

    note "case A: gzip scrapes, exporter and nginx gzip_static, $ROUNDS rounds of ${DURATION}s"
    # The reference must be a whole gzip answer: asked again after a corrupt one (counted).
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        fetch a-gzip "http://127.0.0.1:$A_PORT/metrics" 1
        SCRAPES=$((SCRAPES + 1))
        gzip -dc "$WORK/check/a-gzip.body" >"$WORK/check/a-gzip.txt" 2>/dev/null && break
        CORRUPT=$((CORRUPT + 1))
        ((attempt < 10)) || die "case A: ten gzip answers in a row did not inflate"
        sleep 0.5
    done
    A_SAMPLES="$(python3 "$HELPER" exposition "$WORK/check/a-gzip.txt" 1 $((A_CAMPAIGNS - A_DELETED)) $((A_ACTIVE - A_DELETED)) "$A_MAILBOXES")" ||
        die "case A: the exposition is not what the stand-in serves"
    cp "$WORK/check/a-gzip.body" "$WORK/www/ref/metrics.gz"
    cp "$WORK/check/a-gzip.txt" "$WORK/www/ref/metrics"
    chmod a+r "$WORK/www/ref/metrics" "$WORK/www/ref/metrics.gz"
    fetch ref-gzip "http://127.0.0.1:$NGINX_PORT/ref/metrics" 1
    cmp -s "$WORK/check/ref-gzip.body" "$WORK/www/ref/metrics.gz" || die "nginx's gzip body differs from the exporter's"
    A_GZIP_BYTES="$(stat -c %s "$WORK/www/ref/metrics.gz")"
    A_PLAIN_BYTES="$(stat -c %s "$WORK/www/ref/metrics")"
    A_URL="http://127.0.0.1:$A_PORT/metrics"
    REF_URL="http://127.0.0.1:$NGINX_PORT/ref/metrics"
    wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "$REF_URL" >/dev/null 2>&1 || true
    wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "$A_URL" >/dev/null 2>&1 || true
    for round in $(seq "$ROUNDS"); do
        if ((round % 2)); then order=(nginx exporter); else order=(exporter nginx); fi
        for target in "${order[@]}"; do
            kill -0 "$A_PID" 2>/dev/null || die "case A: the exporter exited; see $WORK/a.log"
            if [[ "$target" == nginx ]]; then
                run_round "nginx-$round" "$REF_URL" "$NGINX_WORKER" "$A_GZIP_BYTES" gzip
            else
                run_round "exporter-$round" "$A_URL" "$A_PID" "$A_GZIP_BYTES" gzip
            fi
        done
    done
    A_RSS_LOAD="$(status_kib "$A_PID" VmRSS)"
    A_HWM="$(status_kib "$A_PID" VmHWM)"
    A_NGINX_RSS="$(status_kib "$NGINX_WORKER" VmRSS)"
    stop "$A_PID"
    no_canary "$WORK/a.log"
fi

# --- cases B and C, side by side ----------------------------------------------------------

if has C; then
    C_MODEL="$(model "$PER_MINUTE" "$PER_HOUR" $((1 + C_ACTIVE)) "$(pages "$C_MAILBOXES")")"
    note "case C: $C_ACTIVE ACTIVE campaigns at the default budget; the model says $(field full_s <<<"$C_MODEL") s"
    C_PORT="$(free_port)"
    C_START="$(now)"
    SMARTLEAD_API_KEY="$C_KEY" start_exporter c "$C_PORT"
    C_PID="$LAST_PID"
    python3 "$HELPER" wait-full "http://127.0.0.1:$C_PORT/metrics" "$C_START" \
        "$(awk -v m="$(field full_s <<<"$C_MODEL")" -v s=$FULL_SLACK_S 'BEGIN { print m + s }')" 1 "$C_PID" \
        "$WORK/corrupt/c" >"$WORK/c-full.txt" 2>"$WORK/c-full.err" &
    C_WAITER=$!
    PIDS+=("$C_WAITER")
fi

if has B; then
    note "case B: $B_ACCOUNTS accounts x ($B_ACTIVE ACTIVE campaigns, $B_MAILBOXES mailboxes), default budget and intervals"
    B_MODEL="$(model "$PER_MINUTE" "$PER_HOUR" $((1 + B_ACTIVE)) "$(pages "$B_MAILBOXES")")"
    B_PORT="$(free_port)"
    B_START="$(now)"
    start_exporter b "$B_PORT" --config.file="$WORK/accounts.yaml"
    B_PID="$LAST_PID"
    # Every account starts within its first categories interval (60 s) of the start.
    # B (and C) scraped from here to the end of B, as Prometheus would (five times a second
    # during the first three minutes, then once a second), every answer checked.
    watched=("http://127.0.0.1:$B_PORT/metrics")
    has C && watched+=("http://127.0.0.1:$C_PORT/metrics")
    python3 "$HELPER" watch "$WORK/corrupt/watch" "${watched[@]}" >"$WORK/watch-b.txt" 2>&1 &
    B_WATCHER=$!
    PIDS+=("$B_WATCHER")
    wait_full b "$B_PORT" "$B_START" "$B_ACCOUNTS" "$B_PID" \
        "$(awk -v m="$(field full_s <<<"$B_MODEL")" -v s=$FULL_SLACK_S 'BEGIN { print 60 + m + s }')" ||
        die "case B: not every account had a first full collection (see $WORK/b.log)"
    B_FULL="$(cat "$WORK/b-full.txt")"
    counted "$B_FULL"
    B_RSS_FULL="$(status_kib "$B_PID" VmRSS)"
    WINDOW_START="$(now)"
    WINDOW_END="$(awk -v s="$WINDOW_START" -v w="$WINDOW_S" 'BEGIN { printf "%.3f", s + w }')"
    scrape_text "$B_PORT" "$WORK/b-start.txt"
    note "case B: every account collected once; measuring the calls for ${WINDOW_S}s (until $(date -u -d "@${WINDOW_END%.*}" +%H:%M:%S) UTC), then ${TAIL_S}s more"
    pause "$(awk -v e="$WINDOW_END" -v n="$(now)" 'BEGIN { d = e - n; printf "%.3f", (d > 0 ? d : 0) }')"
    scrape_text "$B_PORT" "$WORK/b-end.txt"
    B_RSS_END="$(status_kib "$B_PID" VmRSS)"
    B_SAMPLES="$(python3 "$HELPER" exposition "$WORK/b-end.txt" "$B_ACCOUNTS" "$B_CAMPAIGNS" "$B_ACTIVE" "$B_MAILBOXES")" ||
        die "case B: the exposition is not what the stand-in serves"
    pause "$TAIL_S"
    B_HWM="$(status_kib "$B_PID" VmHWM)"
    stop "$B_WATCHER"
    B_WATCH="$(head -n1 "$WORK/watch-b.txt")"
    [[ "$B_WATCH" == scrapes=* ]] || die "case B: the watcher failed: $(cat "$WORK/watch-b.txt")"
    counted "$B_WATCH"
    kill -0 "$B_PID" 2>/dev/null || die "case B: the exporter exited; see $WORK/b.log"
    stop "$B_PID"
    no_canary "$WORK/b.log"
fi

if has C; then
    status=0
    wait "$C_WAITER" || status=$?
    forget "$C_WAITER"
    ((status == 0)) || die "case C: $(cat "$WORK/c-full.err")"
    C_FULL="$(cat "$WORK/c-full.txt")"
    counted "$C_FULL"
    C_RSS="$(status_kib "$C_PID" VmRSS)"
    scrape_text "$C_PORT" "$WORK/c-end.txt"
    python3 "$HELPER" exposition "$WORK/c-end.txt" 1 "$C_ACTIVE" "$C_ACTIVE" "$C_MAILBOXES" >/dev/null ||
        die "case C: the exposition is not what the stand-in serves"
    stop "$C_PID"
    no_canary "$WORK/c.log"
    C_CALLS_FULL="$(calls_until "$C_KEY" "$C_START" "$C_FULL")"
fi
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the call log ------------------------------------------------------------------------------

has A && A_BUDGET="$(python3 "$HELPER" budget "$WORK/calls.log" "$A_KEY" "$A_PER_MINUTE" "$A_PER_HOUR")"
has B && B_BUDGET="$(python3 "$HELPER" budget "$WORK/calls.log" 'b-[0-9]+' "$PER_MINUTE" "$PER_HOUR")"
has C && C_BUDGET="$(python3 "$HELPER" budget "$WORK/calls.log" "$C_KEY" "$PER_MINUTE" "$PER_HOUR")"
if has B; then
    python3 "$HELPER" plan "$WORK/calls.log" "$WORK/www/keys" "$WORK/accounts.map" "$WORK/b-start.txt" \
        "$WORK/b-end.txt" "$WINDOW_START" "$WINDOW_END" "$WORK/plan-detail.txt" >"$WORK/plan.txt" ||
        die "case B: the plan check failed"
    B_PLAN="$(awk '$1 == "summary"' "$WORK/plan.txt")"
fi
ALL_CALLS="$(wc -l <"$WORK/calls.log")"
OTHER_CALLS="$(awk '$2 !~ /^(a-agency|b-[0-9]+|c-200)$/' "$WORK/calls.log" | wc -l)"
FAILED_CALLS="$(awk '$5 != 200' "$WORK/calls.log" | wc -l)"

# --- report ------------------------------------------------------------------------------------

verdict() { if eval "$1"; then echo "ok"; else echo "MISSED"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.1f s", s }'; }
b() { field "$1" <<<"$2"; }
calls_line() { echo "$(b categories_calls "$1") / $(b replies_calls "$1") / $(b campaigns_calls "$1") / $(b mailboxes_calls "$1")"; }
rounds_of() {
    local round line=""
    for round in $(seq "$ROUNDS"); do
        line+="$(rps_of "$1-$round") / $(fmt_us "$(p99_us_of "$1-$round")") / $(cpu_us_of "$1-$round") us; "
    done
    echo "${line%; }"
}
# budget_rows CASE LINE PER_MINUTE PER_HOUR: the budget rows of the targets table.
budget_rows() {
    local line="$2"
    echo "| $1 | most calls of one key in any 60 s (${3}/min budget) | $(b max_minute "$line") ($(b max_minute_key "$line")) | <= $3 | $(verdict "(($(b max_minute "$line") <= $3))") |"
    echo "| $1 | most calls of one key in any 1 s | $(b max_second "$line") | <= $PER_SECOND | $(verdict "(($(b max_second "$line") <= PER_SECOND))") |"
    echo "| $1 | most calls of one key in any hour (run of $(b span_s "$line") s) | $(b max_hour "$line") | <= $4 | $(verdict "(($(b max_hour "$line") <= $4))") |"
    echo "| $1 | calls not answered 200, or to an unknown path | $(b failed "$line") / $(b unknown "$line") | 0 / 0 | $(verdict "(($(b failed "$line") + $(b unknown "$line") == 0))") |"
}

report() {
    cat <<EOF
smartlead_exporter, collectors at scale: $(uname -m), $(nproc) cores, $STARTED to $(date -u +%H:%M:%SZ), load average $LOAD_START at the start, $LOAD_END at the end
nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }'); binary $BINARY (sha256 $(sha256sum "$BINARY" | cut -c1-12), $(stat -c %s "$BINARY") bytes, $("$BINARY" --version 2>&1 | head -n1))
stand-in: nginx, 1 worker, one directory per key; $ALL_CALLS calls logged, $FAILED_CALLS not answered 200, $OTHER_CALLS with another key
gzip answers checked outside wrk (waits, checks, and B and C scraped throughout case B): $SCRAPES, of which $CORRUPT did not inflate whole$( ((CORRUPT > 0)) && echo " (the first few kept under $WORK/corrupt with BENCH_KEEP=1)")
$( [[ -n "${B_WATCH:-}" ]] && tail -n +2 "$WORK/watch-b.txt")
EOF
    if has A; then
        cat <<EOF

## A: one agency account
$A_CAMPAIGNS campaigns ($A_ACTIVE ACTIVE, $A_DELETED of them deleted: {}; $((A_CAMPAIGNS - A_ACTIVE)) DRAFTED, COMPLETED, STOPPED or ARCHIVED, outside the default selection), $A_MAILBOXES mailboxes ($(pages "$A_MAILBOXES") pages), $A_CATEGORIES categories
budget: --smartlead.max-calls-per-minute=$A_PER_MINUTE --smartlead.max-calls-per-hour=$A_PER_HOUR (the largest accepted; at most $PER_SECOND calls a second still apply)
first full collection: $(secs "$(b full_s "$A_FULL")") after the start (model $(secs "$(b full_s "$A_MODEL")")), $(b calls "$A_CALLS_FULL") calls made by then (model $(b calls "$A_MODEL"))
  per collector, first success: categories $(secs "$(b categories_s "$A_FULL")"), replies $(secs "$(b replies_s "$A_FULL")"), campaigns $(secs "$(b campaigns_s "$A_FULL")"), mailboxes $(secs "$(b mailboxes_s "$A_FULL")")
  calls by then per collector, categories / replies / campaigns / mailboxes: $(calls_line "$A_CALLS_FULL") (model $(calls_line "$A_MODEL"))
/metrics: $A_PLAIN_BYTES bytes plain, $A_GZIP_BYTES gzip, $A_SAMPLES samples; nginx serves the same gzip bytes (gzip_static, 1 worker)
wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -H 'Accept-Encoding: gzip', $ROUNDS alternating rounds, medians; every round (requests/s / p99 / CPU per request):
  exporter: $(rounds_of exporter)
  nginx:    $(rounds_of nginx)
RSS: $(mib "$A_RSS_FULL") after the first full collection, $(mib "$A_RSS_LOAD") after the wrk rounds, peak (VmHWM) $(mib "$A_HWM"); nginx worker $(mib "$A_NGINX_RSS")
EOF
    fi
    if has B; then
        cat <<EOF

## B: $B_ACCOUNTS accounts, default budget ($PER_MINUTE/min, $PER_HOUR/h) and intervals
each: $B_CAMPAIGNS campaigns ($B_ACTIVE ACTIVE, $((B_CAMPAIGNS - B_ACTIVE)) outside the selection), $B_MAILBOXES mailboxes, $B_CATEGORIES categories; /metrics at the end: $B_SAMPLES samples
first full collection: every account by $(secs "$(b full_s "$B_FULL")") after the start (per account median $(secs "$(b full_median_s "$B_FULL")"), model for one account from its start $(secs "$(b full_s "$B_MODEL")"))
RSS: $(mib "$B_RSS_FULL") once every account had collected once, $(mib "$B_RSS_END") at the end of the window, peak (VmHWM) $(mib "$B_HWM")
budget over the whole run: $(b calls "$B_BUDGET") calls of $(b keys "$B_BUDGET") keys in $(b span_s "$B_BUDGET") s; most in any 60 s $(b max_minute "$B_BUDGET"), in any 1 s $(b max_second "$B_BUDGET"), in any hour $(b max_hour "$B_BUDGET")
calls against the plan, over the window$( ((WINDOW_S < MIN_WINDOW_S)) && echo " (under $MIN_WINDOW_S s: a trial, not a result)"):
$(grep -v '^summary' "$WORK/plan.txt")
EOF
    fi
    if has C; then
        cat <<EOF

## C: time to the first full collection, $C_ACTIVE ACTIVE campaigns, $C_MAILBOXES mailboxes, default budget
| collector | first success, measured | pacing model |
|---|---:|---:|
| categories | $(secs "$(b categories_s "$C_FULL")") | $(secs "$(b categories_s "$C_MODEL")") |
| replies | $(secs "$(b replies_s "$C_FULL")") | $(secs "$(b replies_s "$C_MODEL")") |
| campaigns | $(secs "$(b campaigns_s "$C_FULL")") | $(secs "$(b campaigns_s "$C_MODEL")") |
| mailboxes | $(secs "$(b mailboxes_s "$C_FULL")") | $(secs "$(b mailboxes_s "$C_MODEL")") |
| all four (the first full collection) | $(secs "$(b full_s "$C_FULL")") | $(secs "$(b full_s "$C_MODEL")") |
| calls made by then | $(b calls "$C_CALLS_FULL") | $(b calls "$C_MODEL") |
| of which categories / replies / campaigns / mailboxes | $(calls_line "$C_CALLS_FULL") | $(calls_line "$C_MODEL") |
intervals in force after it (model): campaigns $(b campaigns_interval_s "$C_MODEL") s, mailboxes $(b mailboxes_interval_s "$C_MODEL") s (stretched to fit $PER_HOUR/h); RSS $(mib "$C_RSS")
EOF
    fi
    echo
    echo "## Targets"
    echo "| case | measure | value | target | met |"
    echo "|---|---|---:|---|---|"
    echo "| all | gzip answers that did not inflate whole, of those checked outside wrk | $CORRUPT of $SCRAPES | 0 | $(verdict "((CORRUPT == 0))") |"
    if has A; then
        local a n
        a="$(median_of exporter rps_of)"
        n="$(median_of nginx rps_of)"
        echo "| A | RSS after the first full collection | $(mib "$A_RSS_FULL") | <= $(mib "$A_RSS_TARGET_KIB") | $(verdict "((A_RSS_FULL <= A_RSS_TARGET_KIB))") |"
        echo "| A | gzip scrapes/s, exporter / nginx gzip_static (medians) | $a / $n = $(ratio "$a" "$n") | >= $A_RPS_SHARE | $(verdict "awk -v r=$(ratio "$a" "$n") -v s=$A_RPS_SHARE 'BEGIN { exit !(r >= s) }'") |"
        echo "| A | gzip p99, exporter / nginx | $(fmt_us "$(median_of exporter p99_us_of)") / $(fmt_us "$(median_of nginx p99_us_of)") | | |"
        budget_rows A "$A_BUDGET" "$A_PER_MINUTE" "$A_PER_HOUR"
    fi
    if has B; then
        local top=$((B_RSS_FULL > B_RSS_END ? B_RSS_FULL : B_RSS_END)) trial
        echo "| B | RSS, the higher of after the first full collections and at the end | $(mib "$top") | <= $(mib "$B_RSS_TARGET_KIB") | $(verdict "((top <= B_RSS_TARGET_KIB))") |"
        budget_rows B "$B_BUDGET" "$PER_MINUTE" "$PER_HOUR"
        trial=""
        ((WINDOW_S < MIN_WINDOW_S)) && trial=" (trial: window under $MIN_WINDOW_S s)"
        echo "| B | keys whose calls differ from the plan over ${WINDOW_S} s$trial | $(b off "$B_PLAN") of $(b keys "$B_PLAN") | 0 | $(verdict "(($(b off "$B_PLAN") == 0))") |"
        echo "| B | keys whose planned calls (exporter) differ from intervals x costs | $(b planned_mismatch "$B_PLAN") | 0 | $(verdict "(($(b planned_mismatch "$B_PLAN") == 0))") |"
        echo "| B | keys whose intervals in force changed during the window | $(b intervals_changed "$B_PLAN") | 0 | $(verdict "(($(b intervals_changed "$B_PLAN") == 0))") |"
    fi
    if has C; then
        local m c
        m="$(b full_s "$C_MODEL")"
        c="$(b full_s "$C_FULL")"
        echo "| C | first full collection, measured / pacing model | $(secs "$c") / $(secs "$m") | within ${MODEL_TOLERANCE_S} s of the model | $(verdict "awk -v a=$c -v b=$m -v t=$MODEL_TOLERANCE_S 'BEGIN { d = a - b; exit !(d <= t && d >= -t) }'") |"
        echo "| C | calls until then per collector, measured / model | $(calls_line "$C_CALLS_FULL") / $(calls_line "$C_MODEL") | equal | $(verdict "[[ '$(calls_line "$C_CALLS_FULL")' == '$(calls_line "$C_MODEL")' ]]") |"
        budget_rows C "$C_BUDGET" "$PER_MINUTE" "$PER_HOUR"
    fi
}

mkdir -p "$(dirname "$LOG")"
report | tee "$LOG"
if has B; then
    { echo; echo "## B: every account and collector over the window"; cat "$WORK/plan-detail.txt"; } >>"$LOG"
fi
note "report written to $LOG"
