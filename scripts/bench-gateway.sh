#!/usr/bin/env bash
# Load test of the example gateway, on loopback only, in one go:
#
#   1. the upstream alone (examples/gateway/bench_upstream.rs: 200 "ok");
#   2. the gateway in front of it without authentication (--public /);
#   3. the gateway in front of it with authentication (a valid bearer token).
#
# Prints requests/s and p50/p99 latency for each, with ratios to the upstream
# alone, and the cost of authentication relative to the gateway without it.
#
# Usage: scripts/bench-gateway.sh            (release build, 10 s per run)
#   DURATION=5s CONNECTIONS=32 THREADS=1 scripts/bench-gateway.sh
#
# Uses wrk (installed with apt-get when missing and possible) or, failing
# that, oha (installed with `cargo install oha --locked` when missing).
# Every run is bounded by DURATION; the processes it starts are stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
UP_PORT=${UP_PORT:-39181}
OPEN_PORT=${OPEN_PORT:-39182}
AUTH_PORT=${AUTH_PORT:-39183}
HOST=127.0.0.1

cd "$(dirname "$0")/.."

# --- the load tool -----------------------------------------------------------
tool=""
if command -v wrk >/dev/null; then
    tool=wrk
elif command -v oha >/dev/null; then
    tool=oha
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] \
    && { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; }; }; then
    tool=wrk
else
    echo "installing oha (cargo install oha --locked)..." >&2
    cargo install oha --locked >&2
    tool=oha
fi
echo "load tool: $tool ($(command -v $tool))" >&2

# --- build and start ---------------------------------------------------------
cargo build --release --example gateway --example gateway-bench-upstream >&2
bin="${CARGO_TARGET_DIR:-target}/release/examples"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

export JWT_SECRET=${JWT_SECRET:-$(openssl rand -hex 32)}
export RUST_LOG=${RUST_LOG:-warn}

"$bin/gateway-bench-upstream" "$HOST:$UP_PORT" >/dev/null &
pids+=($!)
"$bin/gateway" --listen "$HOST:$OPEN_PORT" --upstream "http://$HOST:$UP_PORT" --public / >/dev/null &
pids+=($!)
"$bin/gateway" --listen "$HOST:$AUTH_PORT" --upstream "http://$HOST:$UP_PORT" >/dev/null &
pids+=($!)

wait_ready() { # url
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "error: $1 did not come up" >&2
    exit 1
}
wait_ready "http://$HOST:$UP_PORT/"
wait_ready "http://$HOST:$OPEN_PORT/healthz"
wait_ready "http://$HOST:$AUTH_PORT/healthz"

# --- a valid token -----------------------------------------------------------
token=$(curl -s -X POST "http://$HOST:$AUTH_PORT/token" \
    -d 'grant_type=password&username=johndoe&password=secret' \
    | sed -nE 's/.*"access_token":"([^"]+)".*/\1/p')
if [ -z "$token" ]; then
    # No token endpoint: sign one here (HS256, the same secret).
    b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
    payload=$(printf '{"sub":"johndoe","exp":%d}' $(($(date +%s) + 3600)) | b64url)
    sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64url)
    token="$header.$payload.$sig"
fi
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://$HOST:$AUTH_PORT/")
if [ "$status" != 200 ]; then
    echo "error: the token is refused ($status)" >&2
    exit 1
fi

# --- load --------------------------------------------------------------------
# Prints "rps p50_ms p99_ms" for a URL (and an optional header).
load() { # duration url [header]
    local duration=$1 url=$2 header=${3:-}
    local args=()
    if [ "$tool" = wrk ]; then
        [ -n "$header" ] && args=(-H "$header")
        local out
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "${args[@]}" "$url")
        if grep -q "Non-2xx" <<<"$out"; then
            echo "error: non-2xx answers from $url" >&2
            echo "$out" >&2
            exit 1
        fi
        awk '
            function ms(v) {
                if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
                if (v ~ /ms$/) { sub(/ms$/, "", v); return v }
                if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
                return v
            }
            $1 == "50%" { p50 = ms($2) }
            $1 == "99%" { p99 = ms($2) }
            $1 == "Requests/sec:" { rps = $2 }
            END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }
        ' <<<"$out"
    else
        [ -n "$header" ] && args=(-H "$header")
        oha -z "$duration" -c "$CONNECTIONS" --no-tui --output-format json "${args[@]}" "$url" \
            | jq -r '"\(.summary.requestsPerSec) \(.latencyPercentiles.p50 * 1000) \(.latencyPercentiles.p99 * 1000)"' \
            | awk '{ printf "%.0f %.3f %.3f\n", $1, $2, $3 }'
    fi
}

auth="Authorization: Bearer $token"
load "$WARMUP" "http://$HOST:$UP_PORT/" >/dev/null
read -r up_rps up_p50 up_p99 < <(load "$DURATION" "http://$HOST:$UP_PORT/")
load "$WARMUP" "http://$HOST:$OPEN_PORT/" >/dev/null
read -r open_rps open_p50 open_p99 < <(load "$DURATION" "http://$HOST:$OPEN_PORT/")
load "$WARMUP" "http://$HOST:$AUTH_PORT/" "$auth" >/dev/null
read -r auth_rps auth_p50 auth_p99 < <(load "$DURATION" "http://$HOST:$AUTH_PORT/" "$auth")

# --- report ------------------------------------------------------------------
cpus=$(nproc 2>/dev/null || echo "?")
echo
echo "$tool, $THREADS thread(s), $CONNECTIONS connections, $DURATION per run, $cpus CPUs, loopback, RUST_LOG=$RUST_LOG"
echo
echo "| setup | requests/s | vs upstream | p50 (ms) | p99 (ms) | p50 vs upstream | p99 vs upstream |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row() { # name rps p50 p99
    awk -v n="$1" -v r="$2" -v a="$3" -v b="$4" -v ur="$up_rps" -v ua="$up_p50" -v ub="$up_p99" \
        'BEGIN { printf "| %s | %d | %.2f | %.3f | %.3f | %.2f | %.2f |\n", n, r, r / ur, a, b, a / ua, b / ub }'
}
row "upstream alone" "$up_rps" "$up_p50" "$up_p99"
row "gateway, no auth (--public /)" "$open_rps" "$open_p50" "$open_p99"
row "gateway, auth (valid token)" "$auth_rps" "$auth_p50" "$auth_p99"
echo
awk -v o="$open_rps" -v a="$auth_rps" \
    'BEGIN { printf "authentication costs %.1f%% of the gateway throughput (goal: under 5%%)\n", (1 - a / o) * 100 }'
