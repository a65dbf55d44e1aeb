#!/usr/bin/env bash
# The delta server under load and a fault, loopback only (results: RESULTS.md, "Under load and faults").
# Three doras-server processes over one real docker-registry, 1,000 simulated devices (concurrent HTTP clients in
# one process) on 20 versions asking for the delta to the newest, the first instance killed with SIGKILL in the
# middle of a build. Each run prints one table row and fails unless every delta was built exactly once and every
# device was served (a delta downloaded and verified by digest). Runs: placeholders with the default settle time,
# placeholders with none (the widest claim race), and the Redis lease (needs redis-server).
# Needs: docker-registry, redis-server (apt-get install -y docker-registry redis-server). Bounded: each run gives
# its devices 10 minutes at most. Extra arguments go to every run (e.g. --devices 200 --pairs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build server/Doras.Server -c Release -m:1 -v q >&2
dotnet build benchmarks/Doras.Load -c Release -m:1 -v q >&2
server=server/Doras.Server/bin/Release/net10.0/doras-server.dll
load=benchmarks/Doras.Load/bin/Release/net10.0/doras-load.dll

echo "| run | instances | devices | pairs | instance killed at | builds completed | builds started by survivors | duplicate starts (claim race) | takeovers | claims lost | devices served | device time p50 / p99 / all |  requests | failovers |"
echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"
status=0
dotnet "$load" --server "$server" --label "placeholders, settle 200 ms" "$@" || status=1
dotnet "$load" --server "$server" --label "placeholders, settle 0" --settle 0 "$@" || status=1
if command -v redis-server >/dev/null; then
  dotnet "$load" --server "$server" --label "Redis lease, settle 0" --settle 0 --redis "$@" || status=1
else
  echo "redis-server is not installed: the Redis lease run is skipped" >&2
fi
exit $status
