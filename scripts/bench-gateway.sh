#!/usr/bin/env bash
# Load test of the gateway (jwt-gateway), on loopback only, in one go:
#
#   1. the upstream alone (jwt-gateway/examples/bench_upstream.rs: 200 "ok");
#   2. the gateway in front of it without authentication (--public /);
#   3. the gateway in front of it with authentication (a valid bearer token).
#
# Prints requests/s and p50/p99 latency for each, with ratios to the upstream
# alone, and the cost of authentication relative to the gateway without it.
# The three setups are measured in interleaved rounds (1, 2, 3, 1, 2, 3, ...)
# and each figure is the median over the rounds, so that load from other
# processes on the machine hits all three alike.
#
# Usage: scripts/bench-gateway.sh            (release build, 3 rounds of 5 s per setup)
#   ROUNDS=5 DURATION=10s CONNECTIONS=32 THREADS=1 scripts/bench-gateway.sh
#
# Uses wrk (installed with apt-get when missing and possible) or, failing
# that, oha (installed with `cargo install oha --locked` when missing).
# Every run is bounded by DURATION; the processes it starts are stopped on exit.
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
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
cargo build --release -p jwt-gateway --bin jwt-gateway --example bench_upstream >&2
release="${CARGO_TARGET_DIR:-target}/release"

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

"$release/examples/bench_upstream" "$HOST:$UP_PORT" >/dev/null &
pids+=($!)
"$release/jwt-gateway" --listen "$HOST:$OPEN_PORT" --upstream "http://$HOST:$UP_PORT" --public / >/dev/null &
pids+=($!)
"$release/jwt-gateway" --listen "$HOST:$AUTH_PORT" --upstream "http://$HOST:$UP_PORT" >/dev/null &
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

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# --- load --------------------------------------------------------------------
# CPU time (utime + stime, in clock ticks) of a process so far.
cpu_ticks() { # pid
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
ticks_per_s=$(getconf CLK_TCK 2>/dev/null || echo 100)

# Prints "rps p50_ms p99_ms cpu_us_per_request" for a URL (and an optional
# header); the CPU time is that of process `pid` during the run.
load() { # duration url header pid
    local duration=$1 url=$2 header=${3:-} pid=${4:-}
    local before after stats
    before=$(cpu_ticks "$pid")
    stats=$(load_once "$duration" "$url" "$header")
    after=$(cpu_ticks "$pid")
    awk -v s="$stats" -v b="$before" -v a="$after" -v hz="$ticks_per_s" -v d="${duration%s}" 'BEGIN {
        split(s, f, " ")
        printf "%s %s %s %.1f\n", f[1], f[2], f[3], (f[1] > 0 ? (a - b) / hz * 1e6 / (f[1] * d) : 0)
    }'
}

# Prints "rps p50_ms p99_ms" for a URL (and an optional header).
load_once() { # duration url [header]
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
urls=("http://$HOST:$UP_PORT/" "http://$HOST:$OPEN_PORT/" "http://$HOST:$AUTH_PORT/")
headers=("" "" "$auth")
for i in 0 1 2; do
    load_once "$WARMUP" "${urls[$i]}" "${headers[$i]}" >/dev/null
done
results=("" "" "")
for round in $(seq 1 "$ROUNDS"); do
    for i in 0 1 2; do
        results[$i]+="$(load "$DURATION" "${urls[$i]}" "${headers[$i]}" "${pids[$i]}")"$'\n'
    done
    echo "round $round/$ROUNDS done" >&2
done
# The median of column $2 (1: rps, 2: p50, 3: p99, 4: CPU/request) of results $1.
median() {
    printf '%s' "${results[$1]}" | awk -v c="$2" 'NF { print $c }' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
read -r up_rps up_p50 up_p99 up_cpu <<<"$(median 0 1) $(median 0 2) $(median 0 3) $(median 0 4)"
read -r open_rps open_p50 open_p99 open_cpu <<<"$(median 1 1) $(median 1 2) $(median 1 3) $(median 1 4)"
read -r auth_rps auth_p50 auth_p99 auth_cpu <<<"$(median 2 1) $(median 2 2) $(median 2 3) $(median 2 4)"

# --- report ------------------------------------------------------------------
cpus=$(nproc 2>/dev/null || echo "?")
echo
echo "$tool, $THREADS thread(s), $CONNECTIONS connections, median of $ROUNDS interleaved runs of $DURATION, $cpus CPUs, loopback, RUST_LOG=$RUST_LOG"
echo "load average before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo
echo "| setup | requests/s | vs upstream | p50 (ms) | p99 (ms) | p50 vs upstream | p99 vs upstream | CPU µs/request (measured process) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row() { # name rps p50 p99 cpu
    awk -v n="$1" -v r="$2" -v a="$3" -v b="$4" -v c="$5" -v ur="$up_rps" -v ua="$up_p50" -v ub="$up_p99" \
        'BEGIN { printf "| %s | %d | %.2f | %.3f | %.3f | %.2f | %.2f | %.1f |\n", n, r, r / ur, a, b, a / ua, b / ub, c }'
}
row "upstream alone" "$up_rps" "$up_p50" "$up_p99" "$up_cpu"
row "gateway, no auth (--public /)" "$open_rps" "$open_p50" "$open_p99" "$open_cpu"
row "gateway, auth (valid token)" "$auth_rps" "$auth_p50" "$auth_p99" "$auth_cpu"
echo
awk -v o="$open_rps" -v a="$auth_rps" -v oc="$open_cpu" -v ac="$auth_cpu" 'BEGIN {
    printf "authentication costs %.1f%% of the gateway throughput, and %.1f%% more gateway CPU per request (goal: under 5%%)\n",
        (1 - a / o) * 100, (ac / oc - 1) * 100
}'
