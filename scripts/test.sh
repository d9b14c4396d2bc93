#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, builds, tests,
# and ends with one line "N passed, N failed" (the totals of every test assembly).
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
pg_dir=""
redis_dir=""
cleanup() {
  rm -f "$log"
  if [ -n "$redis_dir" ]; then
    [ -f "$redis_dir/redis.pid" ] && kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null
    rm -rf "$redis_dir"
  fi
  if [ -n "$pg_dir" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_postgres() {
  if [ -z "$pg_bin" ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || return 1
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  [ -n "$pg_bin" ] || return 1
  pg_dir=$(mktemp -d /tmp/fahrtenbuch-pg.XXXXXX)
  pg_port=$(free_port)
  [ "$(id -u)" -eq 0 ] && chown postgres "$pg_dir"
  as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null || return 1
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null \
    || { cat "$pg_dir/server.log"; return 1; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 40000))
}

# A throwaway redis-server (127.0.0.1, no persistence) for the Redis fan-out tests; the multi-instance tests start
# their own from the same binary (they kill and restart it) and nginx in front of two server processes.
start_redis() {
  if ! command -v redis-server >/dev/null && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) || return 1
  fi
  command -v redis-server >/dev/null || return 1
  redis_dir=$(mktemp -d /tmp/fahrtenbuch-redis.XXXXXX)
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" --dir "$redis_dir" || return 1
  for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export FAHRTENBUCH_TEST_REDIS="127.0.0.1:$redis_port"
  export FAHRTENBUCH_TEST_REDIS_SERVER
  FAHRTENBUCH_TEST_REDIS_SERVER=$(command -v redis-server)
}
find_nginx() {
  local nginx
  nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null)
  if [ -z "$nginx" ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null) || return 1
    nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null)
  fi
  [ -n "$nginx" ] || return 1
  export FAHRTENBUCH_TEST_NGINX="$nginx"
}

dotnet tool restore >/dev/null
start_redis || echo "redis-server could not be started; the Redis tests will be skipped"
find_nginx || echo "nginx is missing; the multi-instance tests will be skipped"

# The browser tests drive Debian's Chromium through Playwright (Playwright never downloads a browser here).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update && apt-get install -y chromium) >/dev/null 2>&1 || echo "could not install chromium; the browser tests will fail"
fi

# The export tests render the logbook PDF's first page to PNG for a person to look at.
command -v pdftoppm >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq poppler-utils >/dev/null; } || echo "poppler-utils not installed: the PDF page is checked but not rendered"
dotnet build Fahrtenbuch.slnx -c Release 2>&1 | tail -3
build=${PIPESTATUS[0]}
if [ "$build" -ne 0 ]; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# The model and the migrations must agree for every provider (pending model changes fail the build of the suite).
for context in SqliteAppDbContext PostgresAppDbContext; do
  if ! (cd src/Fahrtenbuch.Server && dotnet ef migrations has-pending-model-changes --no-build --configuration Release --context "$context" >/dev/null 2>&1); then
    echo "the EF model has changes without a $context migration: run 'dotnet ef migrations add <Name> --context $context' in src/Fahrtenbuch.Server"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# One test assembly at a time: the browser tests measure "within a second" and must not share two cores with the server suite.
dotnet test Fahrtenbuch.slnx -c Release --no-build -m:1 --blame-hang-timeout 5m 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The server suite again against a throwaway PostgreSQL cluster (127.0.0.1 only, trust auth, no durability: it is deleted after).
if start_postgres; then
  echo "== server tests on PostgreSQL (127.0.0.1:$pg_port) =="
  FAHRTENBUCH_TEST_DB=postgres FAHRTENBUCH_TEST_PG="Host=127.0.0.1;Port=$pg_port;Username=postgres;Maximum Pool Size=20" \
    dotnet test tests/Fahrtenbuch.Server.Tests -c Release --no-build --blame-hang-timeout 5m 2>&1 | tee -a "$log"
  pg_status=${PIPESTATUS[0]}
  [ "$pg_status" -ne 0 ] && status=$pg_status
else
  echo "PostgreSQL could not be started; see above"
  echo "Failed:     1" >>"$log"
  status=1
fi

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "$passed passed, $failed failed"
exit "$status"
