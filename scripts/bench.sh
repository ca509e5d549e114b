#!/usr/bin/env bash
# API-key benchmark: an API-key-authenticated GET and POST /api/v1/keys/verify (and the
# unauthenticated GET /healthz, for the server layer alone) against a bare tiny_http server
# (examples/bare_hello: it answers on the connection's own thread, as tenantry does) measured
# in the same run, at concurrency 1 and 32 with keep-alive (wrk). Prints requests/s, p50, p99
# and the ratio to the ceiling; for reference also bare_hello --queue (requests handed to
# worker threads, as tenantry served before 2026-12-03). Release build; 127.0.0.1 only;
# bounded; cleans up after itself.
#
#   scripts/bench.sh [KEYS...]        default: 1000 1000000
#   BENCH_SECS=10 scripts/bench.sh 1000
#   BENCH_BIN_DIR=/tmp/build-a scripts/bench.sh 1000   # prebuilt tenantry, seed_keys and
#                                                      # bare_hello (to compare two builds)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECS:-10}
KEYS=("$@")
[ ${#KEYS[@]} -gt 0 ] || KEYS=(1000 1000000)
WORKERS=${BENCH_WORKERS:-$(( $(nproc) * 4 ))}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  BIN=$BENCH_BIN_DIR
  for b in tenantry seed_keys bare_hello; do
    [ -x "$BIN/$b" ] || { echo "$BIN/$b is missing" >&2; exit 1; }
  done
else
  cargo build --release --quiet --bin tenantry --example seed_keys --example bare_hello
  BIN=target/release
fi
TENANTRY=$BIN/tenantry
SEED_KEYS=$BIN/seed_keys
BARE_HELLO=$BIN/bare_hello
[ -n "${BENCH_BIN_DIR:-}" ] || { SEED_KEYS=$BIN/examples/seed_keys; BARE_HELLO=$BIN/examples/bare_hello; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

wait_up() { for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "server at $1 did not start" >&2; exit 1; }

# run NAME URL CONCURRENCY [LUA]: prints "rps p50 p99"
run() {
  local url=$2 c=$3 lua=${4:-} threads=2 out
  [ "$c" -lt 2 ] && threads=1
  if [ -n "$lua" ]; then
    out=$(wrk -t"$threads" -c"$c" -d"${SECS}s" --latency -s "$lua" "$url")
  else
    out=$(wrk -t"$threads" -c"$c" -d"${SECS}s" --latency "$url")
  fi
  local errs
  errs=$(echo "$out" | awk '/Non-2xx/{print $5}')
  [ -z "$errs" ] || echo "  warning: $errs non-2xx responses for $1" >&2
  echo "$(echo "$out" | awk '/Requests\/sec/{print $2}') $(echo "$out" | awk '$1=="50%"{print $2}') $(echo "$out" | awk '$1=="99%"{print $2}')"
}

echo "tenantry API-key benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), workers=$WORKERS, ${SECS}s per run, binaries from $BIN"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BARE_HELLO" --listen 127.0.0.1:18281 --workers "$WORKERS" >"$WORK/bare.log" 2>&1 &
PIDS+=($!)
wait_up http://127.0.0.1:18281/
QUEUE=
if "$BARE_HELLO" --help | grep -q -- --queue; then
  "$BARE_HELLO" --listen 127.0.0.1:18283 --workers "$WORKERS" --queue >"$WORK/queue.log" 2>&1 &
  PIDS+=($!)
  wait_up http://127.0.0.1:18283/
  QUEUE=1
fi

for N in "${KEYS[@]}"; do
  DIR="$WORK/data-$N"
  echo
  echo "== $N keys (seeding...)"
  SEED=$("$SEED_KEYS" "$DIR" "$N")
  ORG=$(echo "$SEED" | awk '/^org /{print $2}')
  KEY=$(echo "$SEED" | awk '/^key /{print $2}')
  TARGET=$(echo "$SEED" | awk '/^target /{print $2}')
  RUST_LOG=warn TENANTRY_HTTP_WORKERS="$WORKERS" "$TENANTRY" serve --data-dir "$DIR" --listen 127.0.0.1:18282 >"$DIR/out.log" 2>&1 &
  PID=$!
  PIDS+=($PID)
  wait_up http://127.0.0.1:18282/healthz
  cat >"$WORK/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
  cat >"$WORK/verify.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"key":"$TARGET"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
  printf '%-34s %4s %10s %9s %9s %8s\n' target c "req/s" p50 p99 ratio
  for c in 1 32; do
    read -r brps bp50 bp99 < <(run bare http://127.0.0.1:18281/ "$c")
    printf '%-34s %4s %10s %9s %9s %8s\n' "bare tiny_http (ceiling)" "$c" "$brps" "$bp50" "$bp99" "1.00"
    if [ -n "$QUEUE" ]; then
      read -r rps p50 p99 < <(run queue http://127.0.0.1:18283/ "$c")
      printf '%-34s %4s %10s %9s %9s %8s\n' "bare tiny_http --queue (reference)" "$c" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$brps" 'BEGIN{printf "%.2f", a/b}')"
    fi
    read -r rps p50 p99 < <(run healthz "http://127.0.0.1:18282/healthz" "$c")
    printf '%-34s %4s %10s %9s %9s %8s\n' "GET /healthz (no auth)" "$c" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$brps" 'BEGIN{printf "%.2f", a/b}')"
    read -r rps p50 p99 < <(run get "http://127.0.0.1:18282/api/v1/orgs/$ORG" "$c" "$WORK/get.lua")
    printf '%-34s %4s %10s %9s %9s %8s\n' "GET /api/v1/orgs/{org} (bearer)" "$c" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$brps" 'BEGIN{printf "%.2f", a/b}')"
    read -r rps p50 p99 < <(run verify "http://127.0.0.1:18282/api/v1/keys/verify" "$c" "$WORK/verify.lua")
    printf '%-34s %4s %10s %9s %9s %8s\n' "POST /api/v1/keys/verify" "$c" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$brps" 'BEGIN{printf "%.2f", a/b}')"
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true
done
