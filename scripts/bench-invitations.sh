#!/usr/bin/env bash
# Invitation-creation benchmark: each POST /api/v1/orgs/{org}/invitations writes the row, an
# outbox message and an audit event in one durable transaction (WAL, synchronous=FULL).
# wrk at concurrency 32 with keep-alive, every request a new address. Target: >= 1 000/s,
# p99 <= 50 ms. Release build; 127.0.0.1 only; bounded; cleans up after itself.
#
#   scripts/bench-invitations.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
PORT=${BENCH_PORT:-18381}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet --bin tenantry
DIR=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$DIR"' EXIT
echo 'bench-password-1' | target/release/tenantry init --data-dir "$DIR" --admin-email owner@bench.test --password-stdin >/dev/null
RUST_LOG=warn TENANTRY_EMAIL_MODE=outbox target/release/tenantry serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" >"$DIR/out.log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
COOKIE=$(curl -fsS -i -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"owner@bench.test","password":"bench-password-1"}' | tr -d '\r' | awk -F'[ ;]' '/^Set-Cookie: tenantry_session=/{print $2}')
ORG=$(curl -fsS -X POST "$BASE/api/v1/orgs" -H 'content-type: application/json' -H "Origin: $BASE" \
  -H "Cookie: $COOKIE" -d '{"name":"Bench","slug":"bench"}' | sed 's/.*"id":"\(org_[a-z0-9]*\)".*/\1/')
cat >"$DIR/invite.lua" <<LUA
local n = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  n = n + 1
  local body = string.format('{"email":"t%d-%d@bench.test","role":"member","company_access":"all"}', tid, n)
  return wrk.format("POST", "/api/v1/orgs/$ORG/invitations", {
    ["Content-Type"] = "application/json",
    ["Cookie"] = "$COOKIE",
    ["Origin"] = "$BASE",
  }, body)
end
LUA
OUT=$(wrk -t2 -c32 -d"${SECS}s" --latency -s "$DIR/invite.lua" "$BASE")
echo "$OUT" | grep -E "Requests/sec|Non-2xx|Socket errors" || true
RPS=$(echo "$OUT" | awk '/Requests\/sec/{print $2}')
P50=$(echo "$OUT" | awk '$1=="50%"{print $2}')
P99=$(echo "$OUT" | awk '$1=="99%"{print $2}')
ROWS=$(curl -fsS "$BASE/api/v1/orgs/$ORG/invitations?limit=1" -H "Cookie: $COOKIE" >/dev/null && echo ok)
printf '\n%-44s %10s %9s %9s\n' "POST /api/v1/orgs/{org}/invitations, c=32" "$RPS" "$P50" "$P99"
echo "target: >= 1000 req/s, p99 <= 50ms; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
[ "$ROWS" = ok ]
