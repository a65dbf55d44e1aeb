#!/usr/bin/env bash
# Macro comparison of delta tools on real consecutive releases fetched from the npm registry with `npm pack`.
# Every delta is applied and the output compared byte for byte with the new version before it is counted.
# Needs: npm, zstd, bsdiff, xdelta3, rdiff (apt-get install -y zstd bsdiff xdelta3 rdiff), GNU time.
# Usage: benchmarks/macro.sh [PAIR ...]   (default: all pairs; names below). Prints one Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
corpus="${DORAS_CORPUS:-$root/benchmarks/.corpus}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name | kind | package | old version | new version | path inside the package ("/" = the whole package as tar)
pairs=(
  "esbuild|Go executable|@esbuild/linux-x64|0.28.1|0.28.2|bin/esbuild"
  "biome|Rust executable, over 50 MB|@biomejs/cli-linux-x64|2.6.7|2.6.8|biome"
  "swc|native shared library|@swc/core-linux-x64-gnu|1.16.21|1.16.22|swc.linux-x64-gnu.node"
  "typescript|JavaScript bundle|typescript|5.9.2|5.9.3|lib/typescript.js"
  "prettier|directory as tar|prettier|3.6.1|3.6.2|/"
)
selected=("$@")

dotnet build edge-client/Doras.DeltaTool -c Release -o "$work/doras-delta" >/dev/null
doras_delta="dotnet $work/doras-delta/doras-delta.dll"

# Fetches one version and leaves the compared file at $corpus/NAME-VERSION.
fetch() { # name package version path
  local out="$corpus/$1-$3"
  [[ -f "$out" ]] && return
  mkdir -p "$corpus/tmp-$1-$3"
  (cd "$corpus/tmp-$1-$3" && npm pack "$2@$3" --silent >/dev/null 2>&1 && tar xzf ./*.tgz)
  if [[ "$4" == "/" ]]; then
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out" -C "$corpus/tmp-$1-$3" package
  else
    cp "$corpus/tmp-$1-$3/package/$4" "$out"
  fi
  rm -rf "$corpus/tmp-$1-$3"
}

# Runs a command under GNU time; sets $secs and $rss_mib.
timed() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; return 1; }
  read -r secs rss_kib <"$work/time"
  rss_mib=$(( (rss_kib + 512) / 1024 ))
}

# tool | build command | apply command, with OLD NEW PATCH OUT substituted.
tools=(
  "doras zstd|DORAS diff -a zstd OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "doras bsdiff|DORAS diff -a bsdiff OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "doras octodiff|DORAS diff -a octodiff OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "bsdiff|bsdiff OLD NEW PATCH|bspatch OLD OUT PATCH"
  "xdelta3 -9|xdelta3 -9 -f -e -s OLD NEW PATCH|xdelta3 -f -d -s OLD PATCH OUT"
  "zstd -19 --long --patch-from|zstd -q -f -19 --long=31 --patch-from=OLD NEW -o PATCH|zstd -q -f -d --long=31 --patch-from=OLD PATCH -o OUT"
  "rdiff|sh -c 'rdiff signature OLD PATCH.sig && rdiff delta PATCH.sig NEW PATCH'|rdiff patch OLD PATCH OUT"
)

rows=()
for pair in "${pairs[@]}"; do
  IFS='|' read -r name kind package old_version new_version path <<<"$pair"
  if [[ ${#selected[@]} -gt 0 && ! " ${selected[*]} " =~ " $name " ]]; then continue; fi
  fetch "$name" "$package" "$old_version" "$path"
  fetch "$name" "$package" "$new_version" "$path"
  old="$corpus/$name-$old_version"; new="$corpus/$name-$new_version"
  full=$(zstd -q -19 --long=31 -c "$new" | wc -c)
  declare -A size build_s build_rss apply_s apply_rss
  best_peer=""
  for tool in "${tools[@]}"; do
    IFS='|' read -r label build apply <<<"$tool"
    patch="$work/patch"; out="$work/out"; rm -f "$patch" "$out" "$patch.sig"
    subst() { local c="$1"; c="${c//DORAS/$doras_delta}"; c="${c//OLD/$old}"; c="${c//NEW/$new}"; c="${c//PATCH/$patch}"; echo "${c//OUT/$out}"; }
    eval "timed $(subst "$build")"; build_s[$label]=$secs; build_rss[$label]=$rss_mib
    size[$label]=$(stat -c %s "$patch")
    eval "timed $(subst "$apply")"; apply_s[$label]=$secs; apply_rss[$label]=$rss_mib
    cmp -s "$out" "$new" || { echo "$label produced a wrong $name" >&2; exit 1; }
    if [[ "$label" != doras* ]] && { [[ -z "$best_peer" ]] || (( size[$label] < size[$best_peer] )); }; then best_peer=$label; fi
  done
  for tool in "${tools[@]}"; do
    label="${tool%%|*}"
    rows+=("$(printf '| %s (%s) %s -> %s, %s bytes | %s | %s | %.1f %% | %.2f | %s s, %s MiB | %s s, %s MiB |' \
      "$name" "$kind" "$old_version" "$new_version" "$(stat -c %s "$new")" "$label" "${size[$label]}" \
      "$(echo "100 * ${size[$label]} / $full" | bc -l)" "$(echo "${size[$label]} / ${size[$best_peer]}" | bc -l)" \
      "${build_s[$label]}" "${build_rss[$label]}" "${apply_s[$label]}" "${apply_rss[$label]}")")
  done
  rows+=("$(printf '| %s: full download (zstd -19) | | %s | 100 %% | | | |' "$name" "$full")")
  unset size build_s build_rss apply_s apply_rss
done

echo '| pair | tool | delta bytes | % of full zstd download | ratio to best peer | build: time, peak RSS | apply: time, peak RSS |'
echo '|---|---|---:|---:|---:|---:|---:|'
printf '%s\n' "${rows[@]}"
