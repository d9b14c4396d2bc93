#!/usr/bin/env bash
# One command for the side-by-side benchmark (see docs/benchmarks.md):
# builds everything in Release, installs the peers from npm, then runs every server in turn
# on 127.0.0.1 under the same load generator and prints one table and the issue's targets read off it
# (both also written to bench/results.md).
#   bash bench/run.sh [--targets ws,sse,socketio,signalr,aspnet-sse,fahrtenbuch] [--scenarios ...] [--seconds N] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."

dotnet build src/Fahrtenbuch.Server -c Release -v quiet -nologo >/dev/null
dotnet build bench/peers/SignalRPeer -c Release -v quiet -nologo >/dev/null
dotnet build bench/LoadGen -c Release -v quiet -nologo >/dev/null
(cd bench/peers/node && npm ci --no-audit --no-fund --silent)

# As many descriptors as this machine allows: each subscriber is one socket on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll . --out bench/results.md "$@"
