#!/usr/bin/env bash
# Load test of the token endpoint (issue 3, "Benchmark"):
#
#   1. GET /users/me (behind AuthLayer) alone: p99 latency;
#   2. the same GET load while a storm of concurrent logins hits POST /token:
#      p99 latency, login throughput and status codes;
#   3. the server's peak memory (VmHWM), against the bound
#      hashing slots x argon2 memory + base.
#
# Usage: scripts/load-login.sh
# Settings (environment): DURATION (default 15s), GET_CONC (8), STORM_CONC (64),
# HASH_SLOTS (the server's hashing slots; default: the number of CPUs).
#
# It installs the `oha` load generator with `cargo install oha --locked` if it
# is missing, and builds examples/login-load-server.rs in release mode. Linux
# only (reads /proc). Load generator and server share the machine's cores, so
# run it on an otherwise idle machine and read the figures as such.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
GET_CONC=${GET_CONC:-8}
STORM_CONC=${STORM_CONC:-64}

command -v oha >/dev/null 2>&1 || cargo install oha --locked
command -v curl >/dev/null 2>&1 || { echo "load-login.sh: curl is required" >&2; exit 1; }
cargo build --release --quiet --example login-load-server

work=$(mktemp -d)
server_pid=""
storm_pid=""
cleanup() {
    [ -n "$storm_pid" ] && kill "$storm_pid" 2>/dev/null || true
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

./target/release/examples/login-load-server >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

# Wait for the "listening on" line (the server binds before printing it).
url=""
for _ in $(seq 1 200); do
    url=$(sed -n 's/^listening on //p' "$work/server.out")
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
    sleep 0.05
done
[ -n "$url" ] || { echo "load-login.sh: the server did not start" >&2; exit 1; }

form='grant_type=password&username=johndoe&password=secret'
token=$(curl -fsS -X POST -H 'content-type: application/x-www-form-urlencoded' \
    --data "$form" "$url/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -fsS -H "authorization: Bearer $token" "$url/users/me" >/dev/null

hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status"; }
p99_ms() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % (d["latencyPercentiles"]["p99"]*1000))' "$1"; }
rps() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f" % d["summary"]["requestsPerSec"])' "$1"; }
codes() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join("%s:%s" % kv for kv in sorted(d["statusCodeDistribution"].items())))' "$1"; }

get_load() {
    oha --no-tui --output-format json -z "$DURATION" -c "$GET_CONC" \
        -H "authorization: Bearer $token" "$url/users/me" >"$1"
}

echo "== baseline: GET /users/me, $GET_CONC connections, $DURATION"
get_load "$work/base.json"
base_hwm=$(hwm_kib)

echo "== storm: POST /token x $STORM_CONC connections, with the same GET load"
oha --no-tui --output-format json -z "$DURATION" -c "$STORM_CONC" -m POST \
    -T application/x-www-form-urlencoded -d "$form" "$url/token" >"$work/storm.json" &
storm_pid=$!
sleep 1
get_load "$work/under.json"
wait "$storm_pid"
storm_pid=""
peak_hwm=$(hwm_kib)

base_p99=$(p99_ms "$work/base.json")
under_p99=$(p99_ms "$work/under.json")
ratio=$(python3 -c "print('%.2f' % ($under_p99 / $base_p99))")
slots=$(grep -o 'max_concurrent: [0-9]*' "$work/server.err" | grep -o '[0-9]*$')
m_kib=$(grep -o 'm_cost: [0-9]*' "$work/server.err" | grep -o '[0-9]*$')
bound_mib=$(( slots * m_kib / 1024 ))

cat <<EOF

cores                        $(nproc)
hashing slots x argon2 m     $slots x $(( m_kib / 1024 )) MiB = $bound_mib MiB
GET p99 alone                $base_p99 ms   ($(rps "$work/base.json") req/s)
GET p99 under login storm    $under_p99 ms   ($(rps "$work/under.json") req/s)
ratio (goal <= 2)            $ratio
logins                       $(rps "$work/storm.json") req/s, status $(codes "$work/storm.json")
peak RSS before storm        $(( base_hwm / 1024 )) MiB
peak RSS after storm         $(( peak_hwm / 1024 )) MiB (goal < $bound_mib MiB + base)
EOF
