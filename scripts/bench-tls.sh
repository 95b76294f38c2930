#!/usr/bin/env bash
# The TLS benchmark of issue 11: gzip scrapes over TLS, this exporter against nginx serving
# the same gzip bytes with the same certificate, side by side in one run.
#
# Builds the shipped binary (--profile dist); makes a CA and an ECDSA P-256 server certificate
# with openssl;
# starts nginx (one worker, loopback only, temporary prefix) as the SmartLead stand-in (plain
# HTTP, N categories, default 1,000) and, on a TLS port, serving a copy of the exporter's gzip
# /metrics with gzip_static; starts the exporter with a --web.config.file using the same
# certificate; checks that both answer 200 with the gzip bytes; then runs wrk against each,
# alternating, ROUNDS times:
#   keep-alive: wrk -H 'Accept-Encoding: gzip' -t1 -c10 -d5s   (Prometheus keeps its connection)
#   handshakes: the same with -H 'Connection: close'            (one full TLS handshake a request)
# and prints requests/s and p99 of both, medians of the rounds, and their ratios.
#
# Usage: scripts/bench-tls.sh [N]     (as root, or with wrk, nginx and openssl installed)
# Environment: BENCH_DURATION (wrk seconds, default 5), BENCH_CONNECTIONS (default 10),
#              BENCH_ROUNDS (default 3), BENCH_SKIP_BUILD=1, BENCH_KEEP=1 (keep the work dir).
#
# Touches only 127.0.0.1. Every process it starts is stopped on exit, whatever the exit.

set -euo pipefail

N="${1:-1000}"
DURATION="${BENCH_DURATION:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
# Any wait for a port or a poll gives up after this many seconds.
WAIT_TIMEOUT=30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARY="$ROOT/target/dist/smartlead_exporter"

BENCH_NAME=bench-tls.sh
BENCH_TOOLS=openssl
# shellcheck source=scripts/bench-common.sh
source "$ROOT/scripts/bench-common.sh"

[[ "$N" =~ ^[0-9]+$ ]] || die "N must be a number of categories, got '$N'"
CURL=(curl -fsS --max-time 2 --cacert "$WORK/ca.crt")
run_wrk() {
    local name="$1" url="$2"
    shift 2
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H 'Accept-Encoding: gzip' "$@" "$url" \
        >"$WORK/wrk-$name.txt" 2>&1 || die "wrk failed against $url: $(cat "$WORK/wrk-$name.txt")"
    grep -q '^Requests/sec' "$WORK/wrk-$name.txt" || die "wrk printed no result for $url"
    if grep -q 'Non-2xx' "$WORK/wrk-$name.txt"; then
        die "non-2xx answers from $url: $(cat "$WORK/wrk-$name.txt")"
    fi
}

build_dist
[[ -x "$BINARY" ]] || die "$BINARY missing"

# --- certificates: one CA, one ECDSA P-256 server certificate, for both servers ------------
(
    cd "$WORK"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
        -out ca.crt -days 2 -subj "/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
        -out server.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
        -days 2 -extfile server.ext
) >"$WORK/openssl.log" 2>&1 || die "openssl failed: $(cat "$WORK/openssl.log")"

mkdir -p "$WORK/small/api/v1/leads" "$WORK/static" "$WORK/tmp"
python3 "$ROOT/scripts/gen_categories.py" "$N" >"$WORK/small/api/v1/leads/fetch-categories"

STANDIN_PORT="$(free_port)"
NGINX_PORT="$(free_port)"
EXPORTER_PORT="$(free_port)"

# One worker; TLS as nginx ships it (session tickets on, as rustls); no access log; keep-alive
# connections not closed after 1,000 requests: nginx at its best.
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
        listen 127.0.0.1:$STANDIN_PORT;
        root $WORK;
        location ~ ^/small/api/v1/leads/fetch-categories\$ { default_type application/json; }
    }
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $WORK/server.crt;
        ssl_certificate_key $WORK/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WORK/static;
        location = /metrics {
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
# The stand-in must answer before the exporter's first poll, or that poll fails and the next
# comes only after the poll interval.
deadline=$((SECONDS + WAIT_TIMEOUT))
until curl -fsS --max-time 2 -o /dev/null \
    "http://127.0.0.1:$STANDIN_PORT/small/api/v1/leads/fetch-categories" 2>/dev/null; do
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited early; see $WORK/nginx.log"
    ((SECONDS < deadline)) || die "the SmartLead stand-in did not answer within ${WAIT_TIMEOUT}s"
    sleep 0.05
done

cat >"$WORK/web.yml" <<EOF
tls_server_config:
  cert_file: server.crt
  key_file: server.key
EOF
SMARTLEAD_API_KEY=bench "$BINARY" \
    --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
    --web.config.file="$WORK/web.yml" \
    --smartlead.base-url="http://127.0.0.1:$STANDIN_PORT/small/api/v1" \
    --poll.interval=2m --log.level=warn >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
PIDS+=("$EXPORTER_PID")
wait_for "https://localhost:$EXPORTER_PORT/-/ready" "the exporter" "$EXPORTER_PID"

# The exporter's gzip bytes become nginx's gzip_static file; both must then answer 200 with
# gzip bodies that decode to the same exposition (the exporter's process_* part changes
# between scrapes, so its bytes are compared by size).
EXPORTER_URL="https://localhost:$EXPORTER_PORT/metrics"
NGINX_URL="https://localhost:$NGINX_PORT/metrics"
"${CURL[@]}" -H 'Accept-Encoding: gzip' "$EXPORTER_URL" -o "$WORK/static/metrics.gz"
gzip -dc "$WORK/static/metrics.gz" >"$WORK/static/metrics"
SERIES="$(grep -c '^smartlead_category_info{' "$WORK/static/metrics" || true)"
((SERIES == N)) || die "expected $N smartlead_category_info series, found $SERIES"
wait_for "$NGINX_URL" nginx "$NGINX_PID"
"${CURL[@]}" -H 'Accept-Encoding: gzip' -D "$WORK/nginx-headers" "$NGINX_URL" -o "$WORK/nginx-check.gz"
cmp -s "$WORK/static/metrics.gz" "$WORK/nginx-check.gz" || die "nginx does not serve the gzip copy"
grep -qi '^content-encoding: gzip' "$WORK/nginx-headers" || die "nginx did not answer with gzip"
"${CURL[@]}" -H 'Accept-Encoding: gzip' -D "$WORK/exporter-headers" "$EXPORTER_URL" -o "$WORK/exporter-check.gz"
grep -qi '^content-encoding: gzip' "$WORK/exporter-headers" || die "the exporter did not answer with gzip"
EXPORTER_BYTES="$(stat -c %s "$WORK/exporter-check.gz")"
GZIP_BYTES="$(stat -c %s "$WORK/static/metrics.gz")"
awk -v a="$EXPORTER_BYTES" -v b="$GZIP_BYTES" 'BEGIN { exit !(a > 0.98 * b && a < 1.02 * b) }' ||
    die "the exporter's gzip body ($EXPORTER_BYTES bytes) differs from nginx's copy ($GZIP_BYTES)"

# wrk speaks https with OpenSSL; it resolves localhost itself, so give it 127.0.0.1 (wrk does
# not verify the certificate).
E="https://127.0.0.1:$EXPORTER_PORT/metrics"
G="https://127.0.0.1:$NGINX_PORT/metrics"
wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "$G" >/dev/null 2>&1 || true
wrk -t1 -c"$CONNECTIONS" -d1s -H 'Accept-Encoding: gzip' "$E" >/dev/null 2>&1 || true
note "wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds each side, alternating"
for round in $(seq "$ROUNDS"); do
    run_wrk "nginx-ka-$round" "$G"
    run_wrk "exporter-ka-$round" "$E"
    run_wrk "nginx-hs-$round" "$G" -H 'Connection: close'
    run_wrk "exporter-hs-$round" "$E" -H 'Connection: close'
done
kill -0 "$EXPORTER_PID" 2>/dev/null || die "the exporter died during the load: $(cat "$WORK/exporter.log")"

row() {
    local what="$1" kind="$2"
    local n e np ep
    n="$(median_of "nginx-$kind" rps_of)"
    e="$(median_of "exporter-$kind" rps_of)"
    np="$(median_of "nginx-$kind" p99_us_of)"
    ep="$(median_of "exporter-$kind" p99_us_of)"
    printf '| %s | %s req/s, p99 %s | %s req/s, p99 %s | %s | %s |\n' "$what" "$e" "$(fmt_us "$ep")" \
        "$n" "$(fmt_us "$np")" \
        "$(awk -v e="$e" -v n="$n" 'BEGIN { printf "%.2f", e / n }')" \
        "$(awk -v e="$ep" -v n="$np" 'BEGIN { printf "%.2f", e / n }')"
}
cat <<EOF

smartlead_exporter TLS benchmark: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }'), $N categories, gzip body $GZIP_BYTES bytes, ECDSA P-256 certificate

| wrk -t1 -c$CONNECTIONS -d${DURATION}s, gzip, TLS (median of $ROUNDS) | exporter | nginx (gzip_static, 1 worker) | req/s exporter / nginx | p99 exporter / nginx |
| --- | --- | --- | --- | --- |
$(row "keep-alive scrapes" ka)
$(row "handshakes (Connection: close)" hs)
EOF
