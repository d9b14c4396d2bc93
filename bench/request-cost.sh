#!/usr/bin/env bash
# What one request costs our server: bytes allocated and CPU per request for one path (docs/benchmarks.md).
# Starts the Release build of <repo root> as the benchmark runs it (Production, demo company, a fresh SQLite file,
# workstation GC) on 127.0.0.1, signs in as the demo auditor, sends <warm-up> requests, then <count> more one after
# another over one connection (curl), and divides the runtime's allocation counter on /metrics and the process's CPU
# time (/proc/<pid>/stat) by <count>. The CPU time counts in clock ticks (10 ms): give it thousands of requests. Compare
# builds by alternating runs: this machine drifts.
#   bash bench/request-cost.sh [repo root] [path] [count] [warm-up]
#   bash bench/request-cost.sh . /api/me 8000 20000
set -euo pipefail
root=$(cd "${1:-.}" && pwd); path=${2:-/api/me}; count=${3:-8000}; warmup=${4:-20000}
dll=$root/src/Fahrtenbuch.Server/bin/Release/net10.0/Fahrtenbuch.Server.dll
[ -f "$dll" ] || { echo "no Release build at $dll: dotnet build src/Fahrtenbuch.Server -c Release" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
data=$(mktemp -d)
(cd "$root/src/Fahrtenbuch.Server" && ASPNETCORE_ENVIRONMENT=Production Seed__Demo=true DOTNET_gcServer=0 \
  Storage__DataDirectory="$data" Logging__LogLevel__Default=Warning exec dotnet "$dll" --urls "$base") > "$data/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health/ready")" = 200 ] && break
  kill -0 $pid 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
  sleep 0.2
done
token=$(curl -sf -H 'Content-Type: application/json' -d '{"email":"pruefer@demo.local","password":"Fahrtenbuch-Demo-2026"}' \
  "$base/api/auth/login" | python3 -c 'import sys, json; print(json.load(sys.stdin)["accessToken"])')
allocated() { curl -sf "$base/metrics" | awk '/^dotnet_gc_heap_total_allocated_bytes_total/ {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
curl -s -o /dev/null -H "Authorization: Bearer $token" "$base$path?[1-$warmup]"
sleep 1
bytes0=$(allocated); ticks0=$(cpu_ticks)
codes=$(curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $token" "$base$path?[1-$count]" | sort | uniq -c | awk '{printf "%s%s × %s", sep, $1, $2; sep = ", "}')
ticks1=$(cpu_ticks)
sleep 1  # the Prometheus exporter answers a scrape from its cache for 300 ms
bytes1=$(allocated)
python3 -c "print(f'$path: {($bytes1 - $bytes0) / $count:,.0f} bytes and {($ticks1 - $ticks0) / $(getconf CLK_TCK) * 1e6 / $count:,.1f} µs of server CPU per request (responses: $codes)')"
