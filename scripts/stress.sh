#!/usr/bin/env bash
# Pre-sign-in stress benchmark: the attacks of issue 11, run with nothing but sockets against a
# real tenantry server, printing what each costs the server (RSS, descriptors, threads) and
# whether a well-behaved client is still served. Loopback only (127.0.0.0/8); every phase is
# bounded in time; everything started here is stopped on exit.
#
#   scripts/stress.sh                    release build (default)
#   STRESS_BUILD=debug scripts/stress.sh use the debug build (no release compile)
#
# Phases:
#   1. 10 connections streaming endless request headers at full speed (10 s)
#   2. 1 000 requests declaring a 2 GiB body
#   3. 2 000 idle or trickling connections while a client measures /healthz latency;
#      64 connections stalling in the middle of a body
#   4. sign-ins with 1 MB "email" strings
#   5. password-reset request latency, existing vs unknown address; then 2 000 connections
#      kept alive after one request each
#   6. file modes of the data dir, database and a backup
#   7. the connection cap: a server with http.max_connections = 256 gets 756 connections
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${STRESS_BUILD:-release}
PORT=${STRESS_PORT:-18311}
MAXCONN=${STRESS_MAX_CONNECTIONS:-4096}
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

if [ "$BUILD" = release ]; then
  cargo build --release --quiet --bin tenantry
  BIN=target/release/tenantry
else
  cargo build --quiet --bin tenantry
  BIN=target/debug/tenantry
fi
# The client side holds thousands of sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

DATA="$WORK/data"
# Accounts for the reset-timing phase (created before the server starts).
export RUST_LOG=error
printf 'a long enough password 1!\n' | "$BIN" init --data-dir "$DATA" --admin-email owner@stress.test --password-stdin >/dev/null
for i in $(seq 1 12); do
  printf 'a long enough password 1!\n' | "$BIN" user create --data-dir "$DATA" --email "known$i@stress.test" --name "Known $i" --password-stdin >/dev/null
done

start_server() {
  RUST_LOG=error TENANTRY_HTTP_MAX_CONNECTIONS="${1:-$MAXCONN}" TENANTRY_HTTP_READ_TIMEOUT_SECS=15 \
    "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do
    python3 - "$PORT" <<'PY' && return 0
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    sys.exit(0 if s.recv(12).startswith(b"HTTP/1.1 200") else 1)
except OSError:
    sys.exit(1)
PY
    sleep 0.05
  done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }

echo "tenantry pre-sign-in stress — $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $BUILD build, $(nproc) cores, http.max_connections=$MAXCONN"

start_server
timeout 600 python3 - "$PORT" "$PID" "$MAXCONN" "$DATA" "$BIN" <<'PY'
import json, os, socket, statistics, subprocess, sys, threading, time

PORT, PID, MAXCONN, DATA, BIN = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ADDR = ("127.0.0.1", PORT)

def status(field):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
def rss_mib(): return status("VmRSS:") / 1024
def threads(): return status("Threads:")
def fds(): return len(os.listdir(f"/proc/{PID}/fd"))

def request(raw, src="127.0.0.1", timeout=10.0):
    """One request on a new connection; returns (status line, seconds)."""
    t = time.perf_counter()
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(ADDR)
    s.sendall(raw)
    data = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    except OSError:
        pass
    s.close()
    return data.split(b"\r\n", 1)[0].decode(errors="replace"), time.perf_counter() - t

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

def healthz_latencies(n):
    out = []
    for _ in range(n):
        line, dt = request(HEALTHZ)
        out.append(dt * 1000 if line.endswith("200 OK") else float("inf"))
    return out

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]

def settle(f, limit, secs=20):
    end = time.time() + secs
    while time.time() < end and f() > limit:
        time.sleep(0.1)
    return f()

base = healthz_latencies(200)
print(f"\nbaseline: RSS {rss_mib():.0f} MiB, {fds()} fds, {threads()} threads; "
      f"/healthz p50 {pct(base, .5):.2f} ms, p99 {pct(base, .99):.2f} ms (200 requests)")

# 1. endless headers ---------------------------------------------------------------------
print("\n1. 10 connections streaming endless request headers at full speed, reconnecting when cut, 10 s")
rss0, peak = rss_mib(), rss_mib()
sent = [0] * 10
cuts = [0] * 10
stop = time.time() + 10
def stream(i):
    line = b"X-Endless: " + b"a" * 4086 + b"\r\n"
    while time.time() < stop:
        s = socket.create_connection(ADDR)
        s.settimeout(5)
        n = 0
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            while time.time() < stop:
                s.sendall(line)
                n += len(line)
        except OSError:
            cuts[i] += 1
        sent[i] = max(sent[i], n)
        s.close()
ts = [threading.Thread(target=stream, args=(i,)) for i in range(10)]
for t in ts: t.start()
during = []
while any(t.is_alive() for t in ts):
    peak = max(peak, rss_mib())
    line, dt = request(HEALTHZ)
    during.append(dt * 1000 if line.endswith("200 OK") else float("inf"))
    time.sleep(0.02)
for t in ts: t.join()
print(f"   RSS {rss0:.0f} -> peak {peak:.0f} MiB (+{peak - rss0:.0f}); {sum(cuts)} streams cut by the server "
      f"(431), each after {max(sent) / 1024:.0f} KiB at most (client side, socket buffers included)")
print(f"   /healthz meanwhile: {sum(1 for d in during if d != float('inf'))}/{len(during)} answered, "
      f"p50 {pct(during, .5):.2f} ms, p99 {pct(during, .99):.2f} ms")

# 2. huge declared bodies -------------------------------------------------------------------
print("\n2. 1 000 requests declaring Content-Length: 2147483648")
f0, t0 = fds(), threads()
head = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2147483648\r\n\r\n{\"email\":")
codes = {}
for _ in range(1000):
    line, _ = request(head)
    codes[line] = codes.get(line, 0) + 1
f1, t1 = settle(fds, f0 + 2), settle(threads, t0 + 2)
print(f"   answers {codes}; fds {f0} -> {f1}, threads {t0} -> {t1}, RSS {rss_mib():.0f} MiB")

# 3. idle and trickling connections, then the cap ---------------------------------------------
print("\n3. 2 000 idle or trickling connections (1 000 silent, 1 000 sending a header byte a second)")
conns = []
for i in range(2000):
    s = socket.create_connection(ADDR)
    if i % 2:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    conns.append(s)
time.sleep(0.5)
t_open, f_open, r_open = threads(), fds(), rss_mib()
trickle_stop = time.time() + 6
def trickle():
    while time.time() < trickle_stop:
        for s in conns[1::2]:
            try: s.send(b"a")
            except OSError: pass
        time.sleep(1)
tt = threading.Thread(target=trickle); tt.start()
lat = healthz_latencies(200)
tt.join()
print(f"   server with them open: {t_open} threads, {f_open} fds, RSS {r_open:.0f} MiB; well-behaved "
      f"client: p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms (baseline p99 {pct(base, .99):.2f} ms), "
      f"{sum(1 for d in lat if d == float('inf'))} failures")
for s in conns: s.close()
conns = []
settle(threads, t0 + 2)

# 3b. stalled bodies ------------------------------------------------------------------------
print("\n3b. 64 connections sending headers and 1 byte of a 5 000-byte body, then nothing")
stalled = []
for _ in range(64):
    s = socket.create_connection(ADDR)
    s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 5000\r\n\r\n{")
    stalled.append(s)
time.sleep(0.3)
lat = healthz_latencies(100)
print(f"   well-behaved client meanwhile: p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms, "
      f"{sum(1 for d in lat if d == float('inf'))} failures; server threads {threads()}")
for s in stalled: s.close()
settle(threads, t0 + 2)

# 4. 1 MB sign-in emails -------------------------------------------------------------------
print("\n4. 20 sign-ins with 1 MB \"email\" strings (after 16 warm-up ones; each on a new connection)")
def login(email, src):
    body = json.dumps({"email": email, "password": "wrong password 123"}).encode()
    return request(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body, src=src, timeout=30)
for i in range(16):
    login(f"w{i}" + "w" * 999_990, "127.0.0.2")
r0 = rss_mib()
for i in range(20):
    login(f"e{i}" + "e" * 999_990, "127.0.0.3")
print(f"   RSS {r0:.0f} -> {rss_mib():.0f} MiB")

# 5. reset timing ---------------------------------------------------------------------------
print("\n5. POST /api/v1/auth/password-reset latency, existing vs unknown address")
def reset(email, src):
    body = json.dumps({"email": email}).encode()
    line, dt = request(b"POST /api/v1/auth/password-reset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body, src=src)
    assert line.startswith("HTTP/1.1 202"), line
    return dt * 1000
known, unknown = [], []
n = 0
for k in range(1, 13):          # 4 requests per address (the 5th locks it)
    for j in range(4):
        n += 1
        src = f"127.0.{10 + n // 25}.{1 + n % 25}"   # under the per-client limit of 30
        # Each side goes first in half the pairs: the first request from a new source
        # address costs the client and the kernel a little more, whichever address it names.
        if n % 2:
            known.append(reset(f"known{k}@stress.test", src))
            unknown.append(reset(f"nobody{n}@stress.test", src))
        else:
            unknown.append(reset(f"nobody{n}@stress.test", src))
            known.append(reset(f"known{k}@stress.test", src))
def mw_z(a, b):
    u = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    n1, n2 = len(a), len(b)
    return (u - n1 * n2 / 2) / ((n1 * n2 * (n1 + n2 + 1) / 12) ** 0.5)
print(f"   existing: median {statistics.median(known):.3f} ms; unknown: median {statistics.median(unknown):.3f} ms; "
      f"ratio {statistics.median(known) / statistics.median(unknown):.2f}; Mann-Whitney z {mw_z(known, unknown):.2f} "
      f"({len(known)} + {len(unknown)} interleaved samples, each side first in half the pairs; |z| < 3: not told apart)")

# 5b. kept-alive connections after a request ----------------------------------------------
print("\n5b. 2 000 connections kept alive after one GET /login each")
r_before = rss_mib()
conns = []
for i in range(2000):
    s = socket.create_connection(ADDR)
    s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(s)
answered = 0
for s in conns:
    s.settimeout(10)
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = s.recv(65536)
            if not chunk:
                break
            head += chunk
        answered += head.startswith(b"HTTP/1.1 200")
    except OSError:
        pass
time.sleep(0.5)
print(f"   {answered} of 2000 answered 200; with them open: RSS {r_before:.0f} -> {rss_mib():.0f} MiB, "
      f"{threads()} threads (each connection's thread handled its request)")
for s in conns: s.close()
conns = []
settle(threads, t0 + 2)

# 6. files ----------------------------------------------------------------------------------
print("\n6. file modes")
backup = os.path.join(os.path.dirname(DATA), "backup.db")
subprocess.run([BIN, "backup", "--data-dir", DATA, backup], check=True, capture_output=True)
for p in [DATA] + [os.path.join(DATA, f) for f in sorted(os.listdir(DATA))] + [backup]:
    print(f"   {oct(os.stat(p).st_mode & 0o777)[2:]}  {os.path.relpath(p, os.path.dirname(DATA))}")
PY
stop_server

start_server 256
timeout 120 python3 - "$PORT" "$PID" <<'PY'
import os, socket, sys, time
PORT, PID = int(sys.argv[1]), int(sys.argv[2])
ADDR = ("127.0.0.1", PORT)
def status(field):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
print("\n7. the connection cap: 756 connections to a server with http.max_connections = 256")
t0 = status("Threads:")
conns = [socket.create_connection(ADDR, timeout=5) for _ in range(756)]
# Wait until the server has taken everything from its accept queue (its thread count settles).
last, end = -1, time.time() + 30
while time.time() < end:
    now = status("Threads:")
    if now == last:
        break
    last = now
    time.sleep(0.5)
closed = 0
for s in conns:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(f"   {closed} of 756 closed at once by the server; server threads {t0} -> {status('Threads:')}, "
      f"fds {len(os.listdir(f'/proc/{PID}/fd'))}")
t = time.perf_counter()
s = socket.create_connection(ADDR, timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
try:
    first = s.recv(64).split(b"\r\n")[0].decode() or "closed at once"
except OSError:
    first = "reset at once"
print(f"   a new client while the cap is full: {first} ({(time.perf_counter() - t) * 1000:.1f} ms)")
for c in conns:
    c.close()
time.sleep(1.0)
s = socket.create_connection(ADDR, timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
line = s.recv(64).split(b"\r\n")[0].decode()
print(f"   once they left: {line}")
PY
stop_server
