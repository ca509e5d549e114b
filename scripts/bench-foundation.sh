#!/usr/bin/env bash
# Foundation benchmark: start-up time, idle memory, sign-in latency, and /healthz tail latency
# with and without a sign-in load. Builds the release binary, runs it on a throw-away data
# dir, talks only to 127.0.0.1, stops by itself (every step has a time bound) and stops every
# process it started.
#
# Measures:
#   a. start-up to the first `GET /healthz` 200 on an existing data dir: start
#      `tenantry serve`, poll /healthz with curl in a tight loop; median of RUNS starts;
#   b. idle RSS (VmRSS from /proc/PID/status) one second after each start; median;
#   c. sign-in latency: `wrk -t1 -c1` posting the right password to /api/v1/auth/login
#      (sequential sign-ins, one at a time), p50 and p99;
#   d. `GET /healthz` p99 with `wrk -t1 -c4 --latency`, alone and while a second wrk drives
#      about 100 sign-ins per second.
#
# How the sign-in load is paced: wrk has no rate option, so the load runs LOAD_CONNS
# connections whose Lua script returns a fixed `delay()` of LOAD_DELAY_MS before each request.
# Each connection sends at most 1000/LOAD_DELAY_MS requests per second (20 x 200 ms = 100/s);
# when sign-ins queue behind password hashing the achieved rate drops below that, and the
# table reports the rate wrk achieved. The load signs in with the right password: failed
# attempts from one address are throttled after 30 and would stop costing any hashing work.
#
# Needs: cargo, curl, wrk (scripts/test installs wrk on Debian).
# Usage: scripts/bench-foundation.sh     (environment: RUNS, HEALTHZ_SECS, LOAD_CONNS,
#                                         LOAD_DELAY_MS, RUST_LOG passed to the server)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

RUNS="${RUNS:-10}"
HEALTHZ_SECS="${HEALTHZ_SECS:-10}"
LOGIN_SECS="${LOGIN_SECS:-5}"
LOAD_CONNS="${LOAD_CONNS:-20}"
LOAD_DELAY_MS="${LOAD_DELAY_MS:-200}"
START_LIMIT_SECS=30

ADMIN_EMAIL="bench@example.test"
ADMIN_PASSWORD="bench-password-0123"

section() {
    printf '\n==> %s\n' "$*" >&2
}

die() {
    echo "bench: $*" >&2
    exit 1
}

for tool in cargo curl wrk awk; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "$tool not found (on Debian: apt-get install -y --no-install-recommends wrk curl)"
done

# Nothing from the caller's tenantry configuration leaks in.
while IFS= read -r var; do
    unset "$var"
done < <(compgen -e | grep '^TENANTRY_' || true)

section "release build"
cargo build --release --bin tenantry >&2
BIN="$ROOT/target/release/tenantry"
COMMIT="$(git describe --always --dirty 2>/dev/null || echo unknown)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tenantry-bench.XXXXXX")"
DATA="$WORK/data"
PIDS=()

stop_pid() {
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local keep=() pid
    for pid in "${PIDS[@]}"; do
        [[ "$pid" == "$1" ]] || keep+=("$pid")
    done
    PIDS=("${keep[@]}")
}

# Microseconds since the epoch, without forking.
now_us() {
    local t="${EPOCHREALTIME//[.,]/}"
    echo "$((10#$t))"
}

# Median of numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Starts the server in $WORK (so no ./tenantry.toml is read) and waits for /healthz 200.
# Sets SERVER_PID, SERVER_ADDR and STARTUP_MS.
start_server() {
    local tag="$1" out="$WORK/server-$1.out" line="" code t0 t1
    SERVER_ADDR=""
    : >"$out"
    t0="$(now_us)"
    (cd "$WORK" && exec "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 >"$out" 2>"$WORK/server-$tag.log") &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local deadline=$((SECONDS + START_LIMIT_SECS))
    while :; do
        if [[ -z "$SERVER_ADDR" ]]; then
            line=""
            IFS= read -r line <"$out" || true
            if [[ "$line" == "tenantry listening on http://"* ]]; then
                SERVER_ADDR="${line#tenantry listening on http://}"
                [[ "$SERVER_ADDR" == 127.0.0.1:* ]] || die "server bound $SERVER_ADDR, not 127.0.0.1"
            fi
        fi
        if [[ -n "$SERVER_ADDR" ]]; then
            code="$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 1 \
                "http://$SERVER_ADDR/healthz" || true)"
            [[ "$code" == 200 ]] && break
        fi
        kill -0 "$SERVER_PID" 2>/dev/null \
            || die "server exited during start-up; log: $(tail -n 5 "$WORK/server-$tag.log")"
        ((SECONDS < deadline)) || die "no /healthz 200 within ${START_LIMIT_SECS}s"
    done
    t1="$(now_us)"
    STARTUP_MS="$(awk -v d="$((t1 - t0))" 'BEGIN { printf "%.1f", d / 1000 }')"
}

stop_server() {
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
}

rss_mib() {
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# A wrk latency value (e.g. 812.00us, 1.20ms, 2.01s) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

# Field of a wrk --latency report: percentile ("50%", "99%") or "rps".
wrk_field() {
    local file="$1" what="$2"
    case "$what" in
        rps) awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$file" ;;
        *) to_ms "$(awk -v p="$what" '$1 == p { print $2; exit }' "$file")" ;;
    esac
}

wrk_non2xx() {
    awk '/Non-2xx or 3xx responses:/ { print $NF; f = 1 } END { if (!f) print 0 }' "$1"
}

# Connect/read/write errors and timeouts wrk counted, added up.
wrk_errors() {
    awk '/Socket errors:/ { gsub(",", ""); n = $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}

cat >"$WORK/login.lua" <<LUA
-- POST /api/v1/auth/login with the bench admin's credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$ADMIN_EMAIL","password":"$ADMIN_PASSWORD"}'
LUA
cp "$WORK/login.lua" "$WORK/login-paced.lua"
cat >>"$WORK/login-paced.lua" <<LUA
-- Pace each connection: wait this many milliseconds before every request.
function delay()
  return $LOAD_DELAY_MS
end
LUA

section "prepare a data dir with an instance admin"
printf '%s\n' "$ADMIN_PASSWORD" \
    | (cd "$WORK" && "$BIN" init --data-dir "$DATA" --admin-email "$ADMIN_EMAIL" \
        --admin-name Bench --password-stdin) >"$WORK/init.out" 2>"$WORK/init.log" \
    || die "tenantry init failed: $(cat "$WORK/init.log")"

section "a/b. start-up to first /healthz 200 and idle RSS ($RUNS starts)"
startups=()
rss=()
for ((i = 1; i <= RUNS; i++)); do
    start_server "start-$i"
    sleep 1
    startups+=("$STARTUP_MS")
    rss+=("$(rss_mib "$SERVER_PID")")
    echo "run $i: ${STARTUP_MS} ms, RSS ${rss[-1]} MiB" >&2
    stop_server
done
STARTUP_MEDIAN="$(median "${startups[@]}")"
RSS_MEDIAN="$(median "${rss[@]}")"

start_server "load"
URL="http://$SERVER_ADDR"

section "d1. GET /healthz, wrk -t1 -c4 -d${HEALTHZ_SECS}s, no other load"
wrk -t1 -c4 -d"${HEALTHZ_SECS}s" --latency "$URL/healthz" >"$WORK/healthz-idle.txt"
cat "$WORK/healthz-idle.txt" >&2

section "c. sign-in latency, wrk -t1 -c1 -d${LOGIN_SECS}s (sequential)"
wrk -t1 -c1 -d"${LOGIN_SECS}s" --timeout 10s --latency -s "$WORK/login.lua" \
    "$URL/api/v1/auth/login" >"$WORK/login.txt"
cat "$WORK/login.txt" >&2
[[ "$(wrk_non2xx "$WORK/login.txt")" == 0 ]] || die "some sign-ins failed; see the wrk output above"

section "d2. GET /healthz again while $LOAD_CONNS connections sign in (delay ${LOAD_DELAY_MS} ms each)"
load_secs=$((HEALTHZ_SECS + 4))
wrk -t1 -c"$LOAD_CONNS" -d"${load_secs}s" --timeout 10s --latency -s "$WORK/login-paced.lua" \
    "$URL/api/v1/auth/login" >"$WORK/load.txt" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
sleep 2
wrk -t1 -c4 -d"${HEALTHZ_SECS}s" --latency "$URL/healthz" >"$WORK/healthz-load.txt"
wait "$LOAD_PID" || die "the sign-in load generator failed"
forget_pid "$LOAD_PID"
cat "$WORK/healthz-load.txt" "$WORK/load.txt" >&2
stop_server

LOGIN_P50="$(wrk_field "$WORK/login.txt" 50%)"
LOGIN_P99="$(wrk_field "$WORK/login.txt" 99%)"
IDLE_P99="$(wrk_field "$WORK/healthz-idle.txt" 99%)"
IDLE_RPS="$(wrk_field "$WORK/healthz-idle.txt" rps)"
LOAD_P99="$(wrk_field "$WORK/healthz-load.txt" 99%)"
LOAD_RPS="$(wrk_field "$WORK/healthz-load.txt" rps)"
SIGNIN_RPS="$(wrk_field "$WORK/load.txt" rps)"
SIGNIN_FAILED="$(wrk_non2xx "$WORK/load.txt")"
SIGNIN_ERRORS="$(wrk_errors "$WORK/load.txt")"
CPU="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)"

cat <<TABLE

tenantry foundation benchmark: commit $COMMIT, $(nproc) cores ($CPU), $(date -u +%Y-%m-%d)

| Measurement | Result |
|---|---|
| Start-up to first \`/healthz\` 200, existing data dir (median of $RUNS) | $STARTUP_MEDIAN ms |
| Idle RSS 1 s after start-up (median of $RUNS) | $RSS_MEDIAN MiB |
| Sign-in latency p50 / p99 (\`wrk -t1 -c1\`, sequential) | $LOGIN_P50 ms / $LOGIN_P99 ms |
| \`GET /healthz\` p99, \`wrk -t1 -c4\`, no other load | $IDLE_P99 ms ($IDLE_RPS req/s) |
| \`GET /healthz\` p99, \`wrk -t1 -c4\`, with sign-in load | $LOAD_P99 ms ($LOAD_RPS req/s) |
| Sign-in load achieved (target 100/s: $LOAD_CONNS conns x ${LOAD_DELAY_MS} ms delay) | $SIGNIN_RPS/s, $SIGNIN_FAILED non-2xx, $SIGNIN_ERRORS socket errors/timeouts |
TABLE
