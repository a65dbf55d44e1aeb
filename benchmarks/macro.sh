#!/usr/bin/env bash
# Macro comparison of delta tools on real consecutive releases fetched from the npm registry with `npm pack`.
# Every delta is applied and the output compared byte for byte with the new version before it is counted.
# Needs: npm, zstd, bsdiff, xdelta3, rdiff (apt-get install -y zstd bsdiff xdelta3 rdiff), python3 (it measures
# every command, and its zlib makes the zlib-compressed .tgz pair), and HDiffPatch's hdiffz/hpatchz (prebuilt in
# ../shared/peers/hdiffpatch, or DORAS_HDIFFPATCH=DIR).
# Usage: benchmarks/macro.sh [PAIR ...]   (default: all pairs; names below). Prints Markdown tables: every delta,
# a summary per pair, and totals per tool over the pairs (sums of bytes and CPU, the largest RSS, with ratios).
# The firmware pair needs mke2fs (e2fsprogs).
# DORAS_TOOLS="doras auto,doras bsdiff-lzma,hdiffz lzma2" runs only those tools (labels of the table below; it must
# include "doras auto" and "hdiffz lzma2", which the summary compares; "best peer" is then the best of the peers run).
# "doras auto warm" is the same build done twice in one process (`diff --warm-runs 2`), the second measured alone: its
# CPU and its peak memory above what the process held before it, as a running server pays them (no runtime start-up,
# no JIT); the pair summary gives both beside hdiffz lzma2's whole process.
# DORAS_TOOL_LIMIT=SECONDS (default 1800) stops any other tool's build after that much wall time: reported, not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
corpus="${DORAS_CORPUS:-$root/benchmarks/.corpus}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name | kind | package | old version | new version | path inside the package ("/" = the whole package as tar,
# "=tgz" = the .tgz as published, "=zlib" = the whole package as tar, gzip-compressed by zlib at level 9;
# "=firmware" = no package: the version of benchmarks/firmware.py's image, made from this machine's /usr)
pairs=(
  "esbuild|Go executable, x64|@esbuild/linux-x64|0.28.1|0.28.2|bin/esbuild"
  "esbuild-arm64|Go executable, arm64|@esbuild/linux-arm64|0.28.1|0.28.2|bin/esbuild"
  "rollup|Rust Node module, x64|@rollup/rollup-linux-x64-gnu|4.68.7|4.68.8|rollup.linux-x64-gnu.node"
  "rollup-arm64|Rust Node module, arm64|@rollup/rollup-linux-arm64-gnu|4.68.7|4.68.8|rollup.linux-arm64-gnu.node"
  "swc|native shared library, x64|@swc/core-linux-x64-gnu|1.16.21|1.16.22|swc.linux-x64-gnu.node"
  "swc-arm64|native shared library, arm64|@swc/core-linux-arm64-gnu|1.16.21|1.16.22|swc.linux-arm64-gnu.node"
  "biome|Rust executable over 50 MB, x64|@biomejs/cli-linux-x64|2.6.7|2.6.8|biome"
  "biome-arm64|Rust executable over 50 MB, arm64|@biomejs/cli-linux-arm64|2.6.7|2.6.8|biome"
  "firmware|firmware-like ext4 image of this machine's libraries, 240 MiB (benchmarks/firmware.py)|-|1|2|=firmware"
  "typescript|JavaScript bundle|typescript|5.9.2|5.9.3|lib/typescript.js"
  "prettier|directory as tar|prettier|3.6.1|3.6.2|/"
  "prettier-npm|compressed input: .tgz as published on npm|prettier|3.6.1|3.6.2|=tgz"
  "prettier-zlib|compressed input: .tgz made by zlib -9, as Python, Java and dpkg make them|prettier|3.6.1|3.6.2|=zlib"
)
selected=("$@")

hdiffpatch="${DORAS_HDIFFPATCH:-$root/../shared/peers/hdiffpatch}"
[[ -x "$hdiffpatch/hdiffz" && -x "$hdiffpatch/hpatchz" ]] || { echo "hdiffz/hpatchz not found in $hdiffpatch (DORAS_HDIFFPATCH)" >&2; exit 1; }
# Deltas are built as the server builds them (the .NET runtime with its JIT, libzstd); they are applied by the
# Native AOT executable as devices run it (the README's publish command; zstd by the managed port, as in `doras`),
# so apply time and memory are the device's, without a JIT's start-up.
dotnet build edge-client/Doras.DeltaTool -c Release -o "$work/doras-delta" >/dev/null
dotnet publish edge-client/Doras.DeltaTool -c Release -r linux-x64 -p:DorasPreferNativeZstd=false -o "$work/doras-delta-device" >/dev/null
doras_delta="dotnet $work/doras-delta/doras-delta.dll"
# auto's budget is wall time (the server's Delta:AutoBudget, 5 min); on a machine shared with other work it can cut
# candidates off that an idle server would try, so the benchmark gives it an hour (DORAS_AUTO_BUDGET seconds).
auto_budget="${DORAS_AUTO_BUDGET:-3600}"
# A build is stopped after DORAS_TOOL_LIMIT seconds of wall time (default 30 min; not auto's nor hdiffz lzma2's, which
# every summary compares): reported as not finished and left out of its tool's totals, so one run covers every pair.
tool_limit="${DORAS_TOOL_LIMIT:-1800}"
[[ "$tool_limit" =~ ^[0-9]+$ ]] || { echo "DORAS_TOOL_LIMIT must be a number of seconds, not '$tool_limit'" >&2; exit 1; }
doras_device="$work/doras-delta-device/doras-delta"

# Fetches one version and leaves the compared file at $corpus/NAME-VERSION.
fetch() { # name package version path
  local out="$corpus/$1-$3"
  [[ -f "$out" ]] && return
  mkdir -p "$corpus"
  if [[ "$4" == "=firmware" ]]; then python3 "$root/benchmarks/firmware.py" "$3" "$out" >/dev/null; return; fi
  mkdir -p "$corpus/tmp-$1-$3"
  (cd "$corpus/tmp-$1-$3" && npm pack "$2@$3" --silent >/dev/null 2>&1 && tar xzf ./*.tgz)
  if [[ "$4" == "=tgz" ]]; then
    cp "$corpus/tmp-$1-$3"/*.tgz "$out"
  elif [[ "$4" == "/" || "$4" == "=zlib" ]]; then
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out" -C "$corpus/tmp-$1-$3" package
    if [[ "$4" == "=zlib" ]]; then
      python3 -c 'import gzip, sys; d = open(sys.argv[1], "rb").read(); open(sys.argv[1], "wb").write(gzip.compress(d, 9, mtime=0))' "$out"
    fi
  else
    cp "$corpus/tmp-$1-$3/package/$4" "$out"
  fi
  rm -rf "$corpus/tmp-$1-$3"
}

# Runs a command under GNU time (stdout to $work/stdout) and sets $secs (wall), $cpu (user + system), $rss_mib
# (peak RSS: includes the page cache of memory-mapped files) and $anon_mib (peak private memory: the anonymous
# pages of the process tree, heap, buffers and stacks, sampled every 10 ms from /proc).
cat >"$work/measure.py" <<'PY'
import os, signal, subprocess, sys, time
def tree(pid):
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f: pids += [q for c in f.read().split() for q in tree(int(c))]
    except OSError: pass
    return pids
def anon(pid):
    try:
        # RssAnon from the kernel's counters: smaps_rollup gave the same figure but walked the page tables every 10 ms,
        # which slowed the measured apply itself (the firmware image's 0.25-0.28 s read 0.28-0.30 s under it). Kernels
        # before 6.16 update the counter in per-thread batches, so there it may read a little low.
        with open(f"/proc/{pid}/status") as f: return next((int(l.split()[1]) for l in f if l.startswith("RssAnon:")), 0)
    except OSError: return 0
def stop_group(child):
    try: os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError: pass
    child.wait()
def interrupted(*_): raise SystemExit(130)
signal.signal(signal.SIGTERM, interrupted); signal.signal(signal.SIGHUP, interrupted)
limit = float(os.environ.get("DORAS_TOOL_LIMIT", "1800"))
with open(sys.argv[2], "wb") as out:
    # Its own session, so a command over the limit is killed with everything it started; so is it when this script
    # is interrupted (Ctrl-C reaches only this process now), before the EXIT trap removes its files.
    child = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", sys.argv[1], *sys.argv[3:]], stdout=out, start_new_session=True)
    try:
        peak, started = 0, time.monotonic()
        while child.poll() is None:
            peak = max(peak, sum(anon(p) for p in tree(child.pid)))
            if time.monotonic() - started > limit:
                stop_group(child)
                open(sys.argv[1] + ".stopped", "w").close() # the mark of a stop, whatever the tool's own exit code
                sys.exit(1)
            time.sleep(0.01)
    finally:
        if child.poll() is None: stop_group(child)
with open(sys.argv[1]) as f: wall, user, system, rss = f.read().split()[-4:]
with open(sys.argv[1], "w") as f: f.write(f"{wall} {float(user) + float(system):.2f} {rss} {peak}\n")
sys.exit(child.returncode)
PY
timed() {
  rm -f "$work/time.stopped"
  DORAS_TOOL_LIMIT="${limit_now:-$tool_limit}" python3 "$work/measure.py" "$work/time" "$work/stdout" "$@" 2>"$work/stderr" || return 1
  read -r secs cpu rss_kib anon_kib <"$work/time"
  rss_mib=$(( (rss_kib + 512) / 1024 )); anon_mib=$(echo "$anon_kib / 1024" | bc -l)
}

# tool | build command | apply command, with OLD NEW PATCH OUT KIND substituted. `doras auto` is what the server
# sends (the same code: the smallest candidate, verified); the rows after it are each of its candidates alone.
tools=(
  "doras auto|DORAS diff -a auto --budget AUTO_BUDGET KIND OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras auto warm|DORAS diff -a auto --warm-runs 2 --budget AUTO_BUDGET KIND OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras zstd|DORAS diff -a zstd OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras bsdiff|DORAS diff -a bsdiff OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras bsdiff-exe|DORAS diff -a bsdiff-exe OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras bsdiff-lzma|DORAS diff -a bsdiff-lzma OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras octodiff|DORAS diff -a octodiff OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras tardiff|DORAS diff -a tardiff OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "doras deflate|DORAS diff -a deflate OLD NEW PATCH|DEVICE apply OLD PATCH OUT"
  "hdiffz lzma2|HDIFFZ -m-6 -SD -d -f -p-1 -c-lzma2-9-16m OLD NEW PATCH|HPATCHZ -f OLD PATCH OUT"
  "hdiffz zstd|HDIFFZ -m-6 -SD -d -f -p-1 -c-zstd-21-24 OLD NEW PATCH|HPATCHZ -f OLD PATCH OUT"
  "bsdiff|bsdiff OLD NEW PATCH|bspatch OLD OUT PATCH"
  "xdelta3 -9|xdelta3 -9 -D -f -e -s OLD NEW PATCH|xdelta3 -D -f -d -s OLD PATCH OUT"
  "zstd -19 --long --patch-from|zstd -q -f -19 --long=31 --patch-from=OLD NEW -o PATCH|zstd -q -f -d --long=31 --patch-from=OLD PATCH -o OUT"
  "rdiff|sh -c 'rdiff signature OLD PATCH.sig && rdiff delta PATCH.sig NEW PATCH'|rdiff patch OLD PATCH OUT"
)

if [[ -n "${DORAS_TOOLS:-}" ]]; then
  IFS=',' read -r -a wanted <<<"$DORAS_TOOLS"
  [[ " ${wanted[*]} " == *" doras auto "* && " ${wanted[*]} " == *" hdiffz lzma2 "* ]] || { echo 'DORAS_TOOLS must include "doras auto" and "hdiffz lzma2"' >&2; exit 1; }
  chosen=()
  for tool in "${tools[@]}"; do
    for w in "${wanted[@]}"; do [[ "${tool%%|*}" == "$w" ]] && chosen+=("$tool"); done
  done
  tools=("${chosen[@]}")
fi

rows=()
summary=()
total_ours=0; total_peer=0
ratio() { echo "$1 / $2" | bc -l; }
add() { echo "$1 + $2" | bc -l; }
max() { echo "if ($1 > $2) $1 else $2" | bc -l; }
declare -A t_pairs t_size t_ref_size t_best t_bcpu t_ref_bcpu t_aw t_ref_aw t_acpu t_ref_acpu t_brss t_arss t_anon
pair_count=0
floor() { echo "if ($1 < 0.01) 0.01 else $1" | bc -l; } # GNU time's resolution: 0.00 s counts as 0.01 s
for pair in "${pairs[@]}"; do
  IFS='|' read -r name kind package old_version new_version path <<<"$pair"
  if [[ ${#selected[@]} -gt 0 && ! " ${selected[*]} " =~ " $name " ]]; then continue; fi
  pair_count=$((pair_count + 1))
  fetch "$name" "$package" "$old_version" "$path"
  fetch "$name" "$package" "$new_version" "$path"
  old="$corpus/$name-$old_version"; new="$corpus/$name-$new_version"
  artifact_kind=""; [[ "$path" == "/" ]] && artifact_kind="--kind Directory"
  full=$(zstd -q -19 --long=31 -c "$new" | wc -c)
  declare -A size build_s build_cpu build_rss apply_s apply_cpu apply_rss apply_anon refused
  best_peer=""; auto_choice=""; stopped=()
  for tool in "${tools[@]}"; do
    IFS='|' read -r label build apply <<<"$tool"
    patch="$work/patch"; out="$work/out"; rm -f "$patch" "$out" "$patch.sig"
    subst() { local c="$1"; c="${c//DORAS/$doras_delta}"; c="${c//DEVICE/$doras_device}"; c="${c//HDIFFZ/$hdiffpatch/hdiffz}"
      c="${c//HPATCHZ/$hdiffpatch/hpatchz}"; c="${c//KIND/$artifact_kind}"; c="${c//AUTO_BUDGET/$auto_budget}"; c="${c//OLD/$old}"; c="${c//NEW/$new}"
      c="${c//PATCH/$patch}"; echo "${c//OUT/$out}"; }
    # A build over the limit is reported and the run goes on (classic bsdiff needs more than 30 min of CPU for the
    # 240 MiB firmware image); auto and hdiffz lzma2, which every summary compares, have no limit.
    limit_now=$tool_limit; [[ "$label" == "doras auto" || "$label" == "hdiffz lzma2" ]] && limit_now=inf
    if ! eval "timed $(subst "$build")"; then
      if [[ -f "$work/time.stopped" ]]; then
        refused[$label]="not finished: stopped after the build limit of ${tool_limit} s (DORAS_TOOL_LIMIT)"; stopped+=("$label"); continue
      fi
      # Our algorithms refuse what they do not apply to (tardiff: not a tar; gzip: not reproducible); peers must not fail.
      [[ "$label" == doras* ]] || { cat "$work/stderr" >&2; echo "$label failed on $name" >&2; exit 1; }
      refused[$label]="refused: $(tail -n 1 "$work/stderr" | sed 's/^doras-delta: //; s/|/-/g')"; continue
    fi
    [[ "$label" == "doras auto" ]] && auto_choice=$(sed -n 's/^auto: \([a-z0-9-]*\),.*/\1/p' "$work/stdout")
    build_s[$label]=$secs; build_cpu[$label]=$cpu; build_rss[$label]=$rss_mib
    # "warm": the second build in one process, as a running server pays it; its CPU and its peak memory above what the
    # process held before it, as the tool reports them (`diff --warm-runs`), not the whole process's.
    if [[ "$label" == "doras auto warm" ]]; then
      warm=$(sed -n 's/^build CPU: \([0-9.]*\) s, peak memory \([0-9.]*\) MiB above.*/\1 \2/p' "$work/stderr")
      [[ -n "$warm" ]] || { cat "$work/stderr" >&2; echo "doras auto warm did not report its build" >&2; exit 1; }
      read -r warm_cpu warm_mib <<<"$warm"; build_cpu[$label]=$warm_cpu; build_rss[$label]=$(printf "%.0f" "$warm_mib"); build_s[$label]="-"
    fi
    size[$label]=$(stat -c %s "$patch")
    limit_now=inf; eval "timed $(subst "$apply")" || { cat "$work/stderr" >&2; exit 1; }
    apply_s[$label]=$secs; apply_cpu[$label]=$cpu; apply_rss[$label]=$rss_mib; apply_anon[$label]=$anon_mib
    cmp -s "$out" "$new" || { echo "$label produced a wrong $name" >&2; exit 1; }
    if [[ "$label" != doras* ]] && { [[ -z "$best_peer" ]] || (( size[$label] < size[$best_peer] )); }; then best_peer=$label; fi
  done
  for tool in "${tools[@]}"; do
    label="${tool%%|*}"
    if [[ -n "${refused[$label]:-}" ]]; then
      rows+=("$(printf '| %s (%s) %s -> %s | %s | %s | | | | |' "$name" "$kind" "$old_version" "$new_version" "$label" "${refused[$label]}")")
      continue
    fi
    shown="$label"; [[ "$label" == "doras auto" ]] && shown="**doras auto** ($auto_choice)"
    rows+=("$(printf '| %s (%s) %s -> %s, %s bytes | %s | %s | %.1f %% | %.3f | %s s, %s s CPU, %s MiB | %s s, %s s CPU, %s MiB, %.1f MiB |' \
      "$name" "$kind" "$old_version" "$new_version" "$(stat -c %s "$new")" "$shown" "${size[$label]}" \
      "$(echo "100 * ${size[$label]} / $full" | bc -l)" "$(ratio "${size[$label]}" "${size[$best_peer]}")" \
      "${build_s[$label]}" "${build_cpu[$label]}" "${build_rss[$label]}" "${apply_s[$label]}" "${apply_cpu[$label]}" "${apply_rss[$label]}" "${apply_anon[$label]}")")
  done
  rows+=("$(printf '| %s: full download (zstd -19) | | %s | 100 %% | | | |' "$name" "$full")")
  # What the server sends with auto: its delta, or the full download (406) when that is over 98 % of it (Delta:AutoMaxRatio).
  ours=${size[doras auto]}; ours_label="$auto_choice"
  if (( ours * 100 > full * 98 )); then ours=$full; ours_label="full download (406)"; fi
  peer=${size[$best_peer]}
  # A peer stopped at the build limit is not among those the pair's best is chosen from: said in the row.
  peer_label="$best_peer"; [[ ${#stopped[@]} -gt 0 ]] && peer_label="$best_peer; not finished: $(IFS=,; echo "${stopped[*]}")"
  within=$( (( ours <= peer * 11 / 10 + 256 )) && echo yes || echo "**no**")
  # The warm build's ratios (CPU; memory above the process against hdiffz's whole peak RSS), when it was run.
  warm_ratios="-"
  [[ -n "${build_cpu[doras auto warm]:-}" ]] && warm_ratios=$(printf '%.2f; %.2f' "$(ratio "${build_cpu[doras auto warm]}" "${build_cpu[hdiffz lzma2]}")" \
    "$(ratio "${build_rss[doras auto warm]}" "${build_rss[hdiffz lzma2]}")")
  summary+=("$(printf '| %s | %s (%s) | %s (%s) | %.3f | %s | %.2f | %.2f | %s | %.2f; %.2f | %.1f MiB |' "$name" "$ours" "$ours_label" "$peer" "$peer_label" \
    "$(ratio "$ours" "$peer")" "$within" "$(ratio "${build_cpu[doras auto]}" "${build_cpu[hdiffz lzma2]}")" \
    "$(ratio "${build_rss[doras auto]}" "${build_rss[hdiffz lzma2]}")" "$warm_ratios" \
    "$(ratio "${apply_s[doras auto]}" "$(floor "${apply_s[hdiffz lzma2]}")")" "$(ratio "${apply_cpu[doras auto]}" "$(floor "${apply_cpu[hdiffz lzma2]}")")" \
    "${apply_anon[doras auto]}")")
  total_ours=$((total_ours + ours)); total_peer=$((total_peer + peer))
  # Totals per tool over the pairs it built, each beside hdiffz lzma2's and the best peer's on those same pairs.
  for tool in "${tools[@]}"; do
    label="${tool%%|*}"
    [[ -n "${refused[$label]:-}" ]] && continue
    t_pairs[$label]=$(( ${t_pairs[$label]:-0} + 1 ))
    t_size[$label]=$(( ${t_size[$label]:-0} + size[$label] )); t_ref_size[$label]=$(( ${t_ref_size[$label]:-0} + size[hdiffz lzma2] ))
    t_best[$label]=$(( ${t_best[$label]:-0} + size[$best_peer] ))
    t_bcpu[$label]=$(add "${t_bcpu[$label]:-0}" "${build_cpu[$label]}"); t_ref_bcpu[$label]=$(add "${t_ref_bcpu[$label]:-0}" "${build_cpu[hdiffz lzma2]}")
    t_aw[$label]=$(add "${t_aw[$label]:-0}" "${apply_s[$label]}"); t_ref_aw[$label]=$(add "${t_ref_aw[$label]:-0}" "$(floor "${apply_s[hdiffz lzma2]}")")
    t_acpu[$label]=$(add "${t_acpu[$label]:-0}" "${apply_cpu[$label]}"); t_ref_acpu[$label]=$(add "${t_ref_acpu[$label]:-0}" "$(floor "${apply_cpu[hdiffz lzma2]}")")
    t_brss[$label]=$(max "${t_brss[$label]:-0}" "${build_rss[$label]}"); t_arss[$label]=$(max "${t_arss[$label]:-0}" "${apply_rss[$label]}")
    t_anon[$label]=$(max "${t_anon[$label]:-0}" "${apply_anon[$label]}")
  done
  printf '%s\n' "${rows[@]}" "${summary[-1]}" >&2 # progress: a long run can be read as it goes
  unset size build_s build_cpu build_rss apply_s apply_cpu apply_rss apply_anon refused
done

echo '| pair | tool | delta bytes | % of full zstd download | ratio to best peer | build: wall, CPU, peak RSS | apply: wall, CPU, peak RSS, peak private memory |'
echo '|---|---|---:|---:|---:|---:|---:|'
printf '%s\n' "${rows[@]}"
echo
echo '| pair | ours (auto) | best peer | ratio | within 1.1x + 256 B | build CPU / hdiffz lzma2 | build peak RSS / hdiffz lzma2 | warm build (as a server runs it): CPU; memory above the process / hdiffz lzma2 | apply time / hpatchz (lzma2): wall; CPU | apply private memory |'
echo '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|'
printf '%s\n' "${summary[@]}"
printf '| **total** | **%s** | **%s** | **%.3f** | | | | | | |\n' "$total_ours" "$total_peer" "$(ratio "$total_ours" "$total_peer")"
echo
echo "| tool (totals over the pairs it built, of $pair_count) | pairs | delta bytes | bytes / hdiffz lzma2 | bytes / best peer | build CPU | build CPU / hdiffz lzma2 | build peak RSS (max) | apply wall | apply wall / hpatchz (lzma2) | apply CPU | apply peak RSS (max) | apply private memory (max) |"
echo '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
for tool in "${tools[@]}"; do
  label="${tool%%|*}"
  [[ -z "${t_pairs[$label]:-}" ]] && { printf '| %s | 0 | refused or not finished on every pair | | | | | | | | | | |\n' "$label"; continue; }
  printf '| %s | %s | %s | %.3f | %.3f | %.2f s | %.2f | %s MiB | %.2f s | %.2f | %.2f s | %s MiB | %.1f MiB |\n' "$label" "${t_pairs[$label]}" "${t_size[$label]}" \
    "$(ratio "${t_size[$label]}" "${t_ref_size[$label]}")" "$(ratio "${t_size[$label]}" "${t_best[$label]}")" "${t_bcpu[$label]}" \
    "$(ratio "${t_bcpu[$label]}" "${t_ref_bcpu[$label]}")" "${t_brss[$label]}" "${t_aw[$label]}" "$(ratio "${t_aw[$label]}" "${t_ref_aw[$label]}")" \
    "${t_acpu[$label]}" "${t_arss[$label]}" "${t_anon[$label]}"
done
