#!/usr/bin/env bash
# Image deltas against what a device downloads without them and against the peers, on real images built here
# with buildah from real software in two consecutive versions (npm packages: a Go executable, a Node module tree),
# over a shared base layer of system libraries. Both versions go to a real registry (Debian's docker-registry)
# as the chosen encoder writes their layers; the Doras server (JIT, as it runs) builds the image delta; the Native
# AOT `doras` pulls v1 and then v2 into an OCI layout, and the layout must then hold the registry's exact manifest.
# Peers, on the same changed layers' uncompressed tars against the old image's tars (the same base as ours):
# `zstd -19 --long=31 --patch-from` and HDiffPatch's `hdiffz -m-6 -SD -c-lzma2-9-16m` (as macro.sh runs it, one
# thread); each applied and compared byte for
# byte. Device time and peak RSS from /usr/bin/time. The server's budget for one image delta is 30 minutes here (the
# default, 5, is an operator's choice for latency; this measures bytes).
# Usage: benchmarks/images.sh [gzip|zstd]   (gzip: layers as buildah writes them, Go's compress/gzip; zstd: layers
# recompressed by the zstd CLI at -3). Needs buildah, skopeo, docker-registry, zstd, npm, python3, HDiffPatch in
# ../shared/peers/hdiffpatch (or DORAS_HDIFFPATCH; DORAS_SHARED for another ../shared). Prints one Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
encoder="${1:-gzip}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
shared="${DORAS_SHARED:-$root/../shared}" # the material beside the checkout: the registry start script, the peers
hdiffpatch="${DORAS_HDIFFPATCH:-$shared/peers/hdiffpatch}"

echo "building the server and the native client..." >&2
dotnet publish edge-client/Doras.Cli -c Release -r linux-x64 -o "$work/bin" >/dev/null
dotnet build server/Doras.Server -c Release -o "$work/server" >/dev/null

# Real software in two versions.
fetch() { (cd "$work" && npm pack --silent "$1@$2" >/dev/null && mkdir -p "$3" && tar -xzf ./*.tgz -C "$3" && rm ./*.tgz); }
fetch @esbuild/linux-x64 0.28.1 "$work/src/v1/esbuild"
fetch @esbuild/linux-x64 0.28.2 "$work/src/v2/esbuild"
fetch prettier 3.6.1 "$work/src/v1/prettier"
fetch prettier 3.6.2 "$work/src/v2/prettier"
mkdir -p "$work/src/base/lib" "$work/src/v1/etc" "$work/src/v2/etc"
find /usr/lib/x86_64-linux-gnu -maxdepth 1 -name 'lib*.so.*' -type f -size +200k | sort | sed -n '1,40p' | xargs -I{} cp {} "$work/src/base/lib/"
echo "release = 1" > "$work/src/v1/etc/app.conf"
echo "release = 2" > "$work/src/v2/etc/app.conf"

B=(buildah --storage-driver vfs --root "$work/buildah" --runroot "$work/buildah-run")
layer() { local c; c=$("${B[@]}" from --quiet "$1"); "${B[@]}" copy "$c" "$2" "/$(basename "$2")" >/dev/null; "${B[@]}" commit --quiet --rm "$c" "$3" >/dev/null; }
layer scratch "$work/src/base/lib" base
for v in v1 v2; do
  layer base "$work/src/$v/esbuild" "$v-1"; layer "$v-1" "$work/src/$v/prettier" "$v-2"; layer "$v-2" "$work/src/$v/etc" "$v"
done

port=$((20000 + RANDOM % 20000))
pids+=("$(bash "$shared/registry/start-registry.sh" "$port" "$work/registry")")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done
name="127.0.0.1:$port/bench/app"
publish() {
  "${B[@]}" push --quiet --format oci "$1" "oci:$work/oci-$1:t"
  if [[ "$encoder" == zstd ]]; then python3 - "$work/oci-$1" <<'PY'
import gzip, hashlib, json, os, subprocess, sys
d = sys.argv[1]; blob = lambda h: os.path.join(d, 'blobs', 'sha256', h.split(':')[1])
index = json.load(open(os.path.join(d, 'index.json'))); entry = index['manifests'][0]
manifest = json.load(open(blob(entry['digest'])))
for l in manifest['layers']:
    data = subprocess.run(['zstd', '-3', '-c', '-q'], input=gzip.decompress(open(blob(l['digest']), 'rb').read()), capture_output=True, check=True).stdout
    h = 'sha256:' + hashlib.sha256(data).hexdigest(); open(blob(h), 'wb').write(data)
    l.update(mediaType='application/vnd.oci.image.layer.v1.tar+zstd', digest=h, size=len(data))
m = json.dumps(manifest, separators=(',', ':')).encode(); h = 'sha256:' + hashlib.sha256(m).hexdigest(); open(blob(h), 'wb').write(m)
entry.update(digest=h, size=len(m)); json.dump(index, open(os.path.join(d, 'index.json'), 'w'))
PY
  fi
  skopeo copy -q --dest-tls-verify=false "oci:$work/oci-$1:t" "docker://$name:stable"
}
dotnet "$work/server/doras-server.dll" --urls "http://127.0.0.1:$((port + 1))" --registry "127.0.0.1:$port" --Registry:PlainHttp true \
  --Registry:RequireClientAuth false --Delta:AutoBudget 00:30:00 --log-level Information >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break; sleep 0.2; done
pull() { /usr/bin/time -f "%e %M" -o "$work/time" "$work/bin/doras" pull "$name:stable" --plain-http --allow-http \
  --server "http://127.0.0.1:$((port + 1))" --image-layout "$work/layout" --timeout 3600; }

publish v1; pull >/dev/null
publish v2
# The device's time is measured once the delta is ready (the server's build is not the device's cost): ask as a device
# does until the answer is 200 (or anything but 202).
from=$(skopeo inspect "oci:$work/layout:stable" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
for _ in $(seq 3600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -G "http://127.0.0.1:$((port + 1))/api/v1/delta" --data-urlencode "from_digest=$name@$from" \
    --data-urlencode "to_tag=$name:stable" --data-urlencode accepted_algorithm=image --data-urlencode accepted_algorithm=auto)
  [[ "$code" == 202 ]] || break
  sleep 1
done
out=$(pull)
read -r seconds rss_kib < "$work/time"
digest=$(skopeo inspect --tls-verify=false "docker://$name:stable" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
[[ "$(skopeo inspect "oci:$work/layout:stable" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" == "$digest" ]] \
  || { echo "the layout does not hold the registry's manifest $digest" >&2; exit 1; }
ours=$(sed -nE 's/.*\(([0-9]+) bytes\) instead of the full.*/\1/p' <<<"$out")
[[ -n "$ours" ]] || { echo "no delta update: $out" >&2; grep -E "Image delta|does not apply|failed" "$work/server.log" >&2; exit 1; }
grep -E "Image delta .*: layers" "$work/server.log" | sed 's/^/server: /' >&2

# The peers on the same inputs: the old image's tars as one base (ours is built the same way), each changed layer's tar.
python3 - "$work" <<'PY'
import gzip, json, os, sys, subprocess
w = sys.argv[1]
def image(tag):
    d = os.path.join(w, 'oci-' + tag); blob = lambda h: os.path.join(d, 'blobs', 'sha256', h.split(':')[1])
    m = json.load(open(blob(json.load(open(os.path.join(d, 'index.json')))['manifests'][0]['digest'])))
    out = []
    for l in m['layers']:
        raw = open(blob(l['digest']), 'rb').read()
        out.append((l['digest'], l['size'], gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else subprocess.run(['zstd', '-d', '-c', '-q'], input=raw, capture_output=True, check=True).stdout))
    return out, m['config']['size']
old, _ = image('v1'); new, config = image('v2')
with open(os.path.join(w, 'peer-base'), 'wb') as f:
    for _, _, tar in old: f.write(tar)
held = {d for d, _, _ in old}
changed = [(d, s, t) for d, s, t in new if d not in held]
with open(os.path.join(w, 'plain'), 'w') as f: f.write(str(sum(s for _, s, _ in changed) + config))
with open(os.path.join(w, 'config'), 'w') as f: f.write(str(config))
for i, (_, _, tar) in enumerate(changed): open(os.path.join(w, f'peer-new-{i}'), 'wb').write(tar)
PY
plain=$(cat "$work/plain")
# The peers' deltas travel with the new config too (a device needs it), as ours does.
zstd_total=$(cat "$work/config"); hdiff_total=$zstd_total; hdiff_cpu=0; zstd_cpu=0
for new in "$work"/peer-new-*; do
  /usr/bin/time -f "%U %S" -o "$work/t" zstd -q -19 --long=31 --patch-from="$work/peer-base" "$new" -o "$new.zst"
  zstd_cpu=$(python3 -c "print($zstd_cpu + sum(map(float, open('$work/t').read().split())))")
  zstd -q -d --long=31 --patch-from="$work/peer-base" "$new.zst" -o "$new.zst.out" && cmp -s "$new" "$new.zst.out"
  zstd_total=$((zstd_total + $(stat -c %s "$new.zst")))
  /usr/bin/time -f "%U %S" -o "$work/t" "$hdiffpatch/hdiffz" -m-6 -SD -d -f -p-1 -c-lzma2-9-16m "$work/peer-base" "$new" "$new.hdiff" >/dev/null
  hdiff_cpu=$(python3 -c "print($hdiff_cpu + sum(map(float, open('$work/t').read().split())))")
  "$hdiffpatch/hpatchz" -f "$work/peer-base" "$new.hdiff" "$new.hdiff.out" >/dev/null && cmp -s "$new" "$new.hdiff.out"
  hdiff_total=$((hdiff_total + $(stat -c %s "$new.hdiff")))
done
ratio() { python3 -c "print(f'{$1 / $2:.3f}x')"; }
echo "| layers ($encoder) | bytes downloaded | vs plain pull | vs zstd --patch-from | vs hdiffz lzma2 |"
echo "|---|---:|---:|---:|---:|"
echo "| plain pull (changed layers + config) | $plain | 1.000x | | |"
echo "| zstd -19 --long --patch-from (tars, + config; CPU ${zstd_cpu} s) | $zstd_total | $(ratio "$zstd_total" "$plain") | 1.000x | |"
echo "| hdiffz -m-6 -SD lzma2 (tars, + config; CPU ${hdiff_cpu} s) | $hdiff_total | $(ratio "$hdiff_total" "$plain") | | 1.000x |"
echo "| doras image delta (device, delta ready: ${seconds} s, ${rss_kib} KiB peak RSS) | $ours | $(ratio "$ours" "$plain") | $(ratio "$ours" "$zstd_total") | $(ratio "$ours" "$hdiff_total") |"
