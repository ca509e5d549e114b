#!/usr/bin/env bash
# Benchmark of the organization scope at size: one organization with 1 000 companies and
# 100 000 members (seeded by examples/seed.rs), then every list endpoint's first page,
# /me/memberships, /me/sections and /me/access at concurrency 1 with keep-alive (wrk).
# Target: p99 <= 20 ms each. Release build; talks to 127.0.0.1 only; stops by itself.
#
#   scripts/bench-orgs.sh [COMPANIES] [MEMBERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
COMPANIES=${1:-1000}
MEMBERS=${2:-100000}
SECS=${3:-5}
PORT=${BENCH_PORT:-18181}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet --bin tenantry --example seed
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
echo "seeding $COMPANIES companies and $MEMBERS members into $DIR ..."
SEED=$(target/release/examples/seed "$DIR" "$COMPANIES" "$MEMBERS")
ORG=$(echo "$SEED" | awk '/^org /{print $2}')
CMP=$(echo "$SEED" | awk '/^company /{print $2}')

RUST_LOG=warn target/release/tenantry serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" >"$DIR/out.log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
COOKIE=$(curl -fsS -i -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"owner@bench.test","password":"bench-password-1"}' | tr -d '\r' | awk -F'[ ;]' '/^Set-Cookie: tenantry_session=/{print $2}')
[ -n "$COOKIE" ] || { echo "sign-in failed" >&2; exit 1; }

printf '\n%-52s %10s %9s %9s %9s\n' endpoint "req/s" p50 p99 target
run() {
  local path=$1
  local out
  out=$(wrk -t1 -c1 -d"${SECS}s" --latency -H "Cookie: $COOKIE" "$BASE$path")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  local non2xx
  non2xx=$(echo "$out" | awk '/Non-2xx/{print $5}')
  printf '%-52s %10s %9s %9s %9s%s\n' "$path" "$rps" "$p50" "$p99" "<=20ms" "${non2xx:+  (non-2xx: $non2xx)}"
}
run "/api/v1/orgs"
run "/api/v1/orgs/$ORG/members"
run "/api/v1/orgs/$ORG/companies"
run "/api/v1/companies/$CMP/members"
run "/api/v1/companies/$CMP/sites"
run "/api/v1/orgs/$ORG/audit-log"
run "/api/v1/me/memberships"
run "/api/v1/me/sections"
run "/api/v1/me/access?org=$ORG&permission=api_keys.manage"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%Y-%m-%dT%H:%MZ)"
