#!/usr/bin/env bash
# How fast the server answers for a delta that is already built, against /healthz in the same run: the same
# server (Release build, embedded store, logs at Warning), the same load generator (wrk: 2 threads, 64
# connections), one after the other, each preceded by a 3 s warm-up. Loopback only, bounded by time.
# Prints requests/s and the 50th and 99th percentile latency of each, and the ratio.
# Needs wrk (apt-get install -y wrk). Usage: benchmarks/answers.sh [SECONDS]   (default 10 per measured run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
# The server runs as the Dockerfile runs it: with a 64 MiB gen0 budget (DOTNET_GCgen0size=0x4000000); override by
# exporting another value (an empty one gives the runtime's default).
export DOTNET_GCgen0size="${DOTNET_GCgen0size-0x4000000}"
[[ -z "$DOTNET_GCgen0size" ]] && unset DOTNET_GCgen0size
concurrency=64
work="$(mktemp -d)"
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
dotnet build server/Doras.Server -c Release -o "$work/server" >/dev/null
dotnet build edge-client/Doras.Cli -c Release -o "$work/cli" >/dev/null

# Two versions of a 1 MiB file; the second with a few edits.
python3 - "$work/v1/app.bin" "$work/v2/app.bin" <<'PY'
import os, random, sys
rng = random.Random(7)
data = bytearray(rng.randbytes(1 << 20))
os.makedirs(os.path.dirname(sys.argv[1])); open(sys.argv[1], 'wb').write(data)
for _ in range(20):
    at = rng.randrange(len(data) - 64); data[at:at + 64] = rng.randbytes(64)
os.makedirs(os.path.dirname(sys.argv[2])); open(sys.argv[2], 'wb').write(data)
PY
doras() { dotnet "$work/cli/doras.dll" "$@"; }
from=$(doras push "$work/v1/app.bin" fleet/app:1 --store "$work/store" --level 3 | grep -o 'sha256:[0-9a-f]*' | head -1)
doras push "$work/v2/app.bin" fleet/app:2 --tag stable --store "$work/store" --level 3 >/dev/null

port=$((20000 + RANDOM % 20000))
dotnet "$work/server/doras-server.dll" --urls "http://127.0.0.1:$port" --store "$work/store" --log-level Warning >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

delta="http://127.0.0.1:$port/api/v1/delta?from_digest=fleet/app@$from&to_tag=fleet/app:stable&accepted_algorithm=zstd"
for _ in $(seq 240); do [[ "$(curl -s -o /dev/null -w '%{http_code}' "$delta")" == 200 ]] && break; sleep 0.5; done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$delta")" == 200 ]] || { echo "the delta was not built within 2 minutes" >&2; exit 1; }
curl -s "$delta" | grep -q '"delta_layer"' || { echo "the ready answer carries no delta_layer" >&2; exit 1; }

run() { # label, url
  wrk -t2 -c"$concurrency" -d3s "$2" >/dev/null # warm-up
  wrk -t2 -c"$concurrency" -d"${seconds}s" --latency "$2" >"$work/wrk.txt"
  grep -q 'Non-2xx' "$work/wrk.txt" && { echo "$1: non-2xx answers" >&2; cat "$work/wrk.txt" >&2; exit 1; }
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  printf '| %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99"
  echo "$rps" >"$work/rps-$1"
}

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ${seconds} s per run, $concurrency connections (wrk -t2), DOTNET_GCgen0size=${DOTNET_GCgen0size:-default}"
echo
echo '| URL | requests/s | p50 | p99 |'
echo '|---|---:|---:|---:|'
run healthz "http://127.0.0.1:$port/healthz"
run ready-delta "$delta"
echo
echo "ready delta / healthz: $(echo "scale=2; $(cat "$work/rps-ready-delta") / $(cat "$work/rps-healthz")" | bc)"
curl -s "http://127.0.0.1:$port/metrics" | grep '^doras_delta_answer_cache_total' || true
