#!/usr/bin/env bash
# Footprint of the edge client as devices run it: the Native AOT `doras` for linux-x64 (and linux-arm64, run
# under qemu-user). Measures its size, its start-up time (hyperfine's mean when installed, else the mean of a
# bounded loop), and its time and peak memory (sampled from /proc every 10 ms) for a full install and a delta
# update of a version pair, against a real server on loopback. Peak RSS includes the page cache pages of the
# memory-mapped files (the old version the delta refers to, the new one being written), which the kernel can
# write back and evict; the peak anonymous memory is what the process itself allocated. Layers are published at
# zstd level 3 to keep the run short (the device's work does not depend on it).
# Usage: [DORAS_ALGORITHM=bsdiff] [DORAS_ARM64=0] benchmarks/footprint.sh [SIZE_MIB]   (default 64: a pair cut
# from the system's libraries; the delta algorithm asked for is zstd unless DORAS_ALGORITHM names another; the
# arm64 rows (size, and the same install and update run under qemu-user, checked byte for byte; their times and
# memory are qemu's, not comparable) need what .ci/run installs: the cross toolchain, qemu-user-static and
# libssl3:arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-64}"
algorithm="${DORAS_ALGORITHM:-zstd}"
work="$(mktemp -d)"
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "publishing the native edge client (Native AOT)..."
dotnet publish edge-client/Doras.Cli -c Release -r linux-x64 -o "$work/bin" >/dev/null
doras="$work/bin/doras"
arm64="${DORAS_ARM64:-1}"
if [[ "$arm64" == 1 ]]; then
  dotnet publish edge-client/Doras.Cli -c Release -r linux-arm64 -o "$work/bin-arm64" >/dev/null
  # Debian's arm64 libc and OpenSSL (multiarch) serve it; no -L sysroot, whose loader would mix in another libc build.
  doras_arm64=(qemu-aarch64-static "$work/bin-arm64/doras")
fi
dotnet build server/Doras.Server -c Release -o "$work/server" >/dev/null

# A version pair of real machine code: concatenated shared libraries; version 2 edits 1 % of 4 KiB blocks,
# inserts and deletes a few runs, like a rebuild with small changes.
find /usr/lib/x86_64-linux-gnu -maxdepth 1 -name '*.so*' -type f -size +100k -print0 | sort -z \
  | xargs -0 cat 2>/dev/null | head -c $((size_mib << 20)) > "$work/v1" || true # cat stops when head has enough
python3 - "$work/v1" "$work/v2" <<'EOF'
import random, sys
data = bytearray(open(sys.argv[1], 'rb').read())
rng = random.Random(42)
for _ in range(len(data) // 4096 // 100):
    at = rng.randrange(len(data) - 64)
    data[at:at + 64] = rng.randbytes(64)
for _ in range(8):
    at = rng.randrange(len(data) - 4096)
    if rng.random() < 0.5: data[at:at] = rng.randbytes(rng.randrange(1, 4096))
    else: del data[at:at + rng.randrange(1, 4096)]
open(sys.argv[2], 'wb').write(data)
EOF

port=$((20000 + RANDOM % 20000))
dotnet "$work/server/doras-server.dll" --urls "http://127.0.0.1:$port" --store "$work/store" --log-level Warning &
server_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

# Runs a command and samples it every 10 ms: peak RSS (VmHWM, including the page cache pages of the mapped
# data files: the old version the delta refers to, the new one being written), peak RSS less those mapped data
# files (the client's own footprint: its code, heap, stacks, buffers), and peak anonymous memory (what the
# process itself allocated).
measure() { # label, command...
  local label="$1"; shift
  local started peak_anon=0 peak_rss=0 peak_own=0 anon rss own
  started=$(date +%s%N)
  "$@" >"$work/out" 2>"$work/err" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
    rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    # The RSS less the data files' pages, both summed from one read of smaps: reading VmRSS and smaps apart
    # races the unmapping at the end of a step (a sample then counts the mapped pages as the client's own).
    own=$(awk -v w="$work/" -v b="$work/bin" '/^[0-9a-f]+-[0-9a-f]+ / { m = (index($6, w) == 1 && index($6, b) != 1) } /^Rss:/ { if (!m) s += $2 } END { print s + 0 }' "/proc/$pid/smaps" 2>/dev/null || true)
    [[ -n "$anon" && "$anon" -gt "$peak_anon" ]] && peak_anon=$anon
    [[ -n "$rss" && "$rss" -gt "$peak_rss" ]] && peak_rss=$rss
    [[ -n "$own" && "$own" -gt "$peak_own" ]] && peak_own=$own
    sleep 0.01
  done
  wait "$pid" || { cat "$work/out" "$work/err"; exit 1; }
  printf '| %s | %.2f s | %.1f MiB | %.1f MiB | %.1f MiB |\n' "$label" "$(echo "($(date +%s%N) - $started) / 10^9" | bc -l)" \
    "$(echo "$peak_rss / 1024" | bc -l)" "$(echo "$peak_own / 1024" | bc -l)" "$(echo "$peak_anon / 1024" | bc -l)"
}

# The mean wall time of `doras --version`: hyperfine where installed, else 50 runs timed by the shell.
startup_mean() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 5 --runs 50 --export-json "$work/startup.json" "$doras --version" >/dev/null
    python3 -c "import json,sys; print('%.1f ms' % (json.load(open(sys.argv[1]))['results'][0]['mean'] * 1000))" "$work/startup.json"
  else
    local started=$(date +%s%N)
    for _ in $(seq 50); do "$doras" --version >/dev/null; done
    echo "$(( ($(date +%s%N) - started) / 50000 ))" | awk '{printf "%.1f ms (loop of 50)\n", $1 / 1000}'
  fi
}

mkdir -p "$work/app"
cp "$work/v1" "$work/app/app.bin"
v1_digest=$("$doras" push "$work/app/app.bin" fleet/app:1 --tag stable --store "$work/store" --level 3 | grep -o 'sha256:[0-9a-f]*' | head -1)
echo
echo "binary: $(stat -c %s "$doras") bytes ($(du -h "$doras" | cut -f1)), linux-x64, Native AOT"
echo "start-up mean (\`doras --version\`): $(startup_mean)"
echo "pair: $size_mib MiB of shared libraries, version 2 with ~1 % of blocks edited"
echo
echo '| step | wall time | peak RSS | peak RSS less the mapped data files | peak anonymous (private) memory |'
echo '|---|---:|---:|---:|---:|'
measure 'start-up (`doras --version`)' "$doras" --version
measure 'full install' "$doras" pull fleet/app:stable --allow-http --server "http://127.0.0.1:$port" --output "$work/device"
# arm64 under qemu-user: the same steps, for correctness (its times and memory are qemu's, not a device's).
if [[ "$arm64" == 1 ]]; then
  measure 'arm64 under qemu: start-up (`doras --version`)' "${doras_arm64[@]}" --version
  measure 'arm64 under qemu: full install' "${doras_arm64[@]}" pull fleet/app:stable --allow-http --server "http://127.0.0.1:$port" --output "$work/device-arm64"
  cmp "$work/v1" "$work/device-arm64/app.bin"
fi
cp "$work/v2" "$work/app/app.bin"
"$doras" push "$work/app/app.bin" fleet/app:2 --tag stable --store "$work/store" --level 3 >/dev/null
# Let the server build the delta first, so the measured update is the device's own work.
delta_url="http://127.0.0.1:$port/api/v1/delta?from_digest=fleet/app@$v1_digest&to_tag=fleet/app:stable&accepted_algorithm=$algorithm"
for _ in $(seq 600); do [[ "$(curl -s -o /dev/null -w '%{http_code}' "$delta_url")" == 200 ]] && break; sleep 0.5; done
measure "delta update ($algorithm)" "$doras" pull fleet/app:stable --allow-http --server "http://127.0.0.1:$port" --output "$work/device" --accept "$algorithm"
grep -m1 -o 'downloaded [^;]*' "$work/out" || true
cmp "$work/v2" "$work/device/app.bin" && echo "x64: device file == version 2 byte for byte: yes"
if [[ "$arm64" == 1 ]]; then
  measure "arm64 under qemu: delta update ($algorithm)" "${doras_arm64[@]}" pull fleet/app:stable --allow-http --server "http://127.0.0.1:$port" --output "$work/device-arm64" --accept "$algorithm"
  grep -q '^delta update: ' "$work/out" || { echo "arm64: expected a delta update, got: $(cat "$work/out" "$work/err")"; exit 1; }
  cmp "$work/v2" "$work/device-arm64/app.bin" && echo "arm64 (qemu-user): full install == version 1 and delta update == version 2 byte for byte: yes"
  echo "arm64 binary: $(stat -c %s "$work/bin-arm64/doras") bytes ($(du -h "$work/bin-arm64/doras" | cut -f1)), $(file -b "$work/bin-arm64/doras" 2>/dev/null | cut -d, -f1-2)"
fi
