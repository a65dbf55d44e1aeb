#!/usr/bin/env bash
# Macro comparison of delta tools on real consecutive releases fetched from the npm registry with `npm pack`.
# Every delta is applied and the output compared byte for byte with the new version before it is counted.
# Needs: npm, zstd, bsdiff, xdelta3, rdiff (apt-get install -y zstd bsdiff xdelta3 rdiff), GNU time, python3 (its
# zlib makes the zlib-compressed .tgz pair).
# Usage: benchmarks/macro.sh [PAIR ...]   (default: all pairs; names below). Prints one Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
corpus="${DORAS_CORPUS:-$root/benchmarks/.corpus}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name | kind | package | old version | new version | path inside the package ("/" = the whole package as tar,
# "=tgz" = the .tgz as published, "=zlib" = the whole package as tar, gzip-compressed by zlib at level 9)
pairs=(
  "esbuild|Go executable|@esbuild/linux-x64|0.28.1|0.28.2|bin/esbuild"
  "biome|Rust executable, over 50 MB|@biomejs/cli-linux-x64|2.6.7|2.6.8|biome"
  "swc|native shared library|@swc/core-linux-x64-gnu|1.16.21|1.16.22|swc.linux-x64-gnu.node"
  "typescript|JavaScript bundle|typescript|5.9.2|5.9.3|lib/typescript.js"
  "prettier|directory as tar|prettier|3.6.1|3.6.2|/"
  "prettier-npm|compressed input: .tgz as published on npm|prettier|3.6.1|3.6.2|=tgz"
  "prettier-zlib|compressed input: .tgz made by zlib -9, as Python, Java and dpkg make them|prettier|3.6.1|3.6.2|=zlib"
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

# Runs a command under GNU time; sets $secs and $rss_mib.
timed() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || return 1
  read -r secs rss_kib <"$work/time"
  rss_mib=$(( (rss_kib + 512) / 1024 ))
}

# tool | build command | apply command, with OLD NEW PATCH OUT substituted.
tools=(
  "doras zstd|DORAS diff -a zstd OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "doras bsdiff|DORAS diff -a bsdiff OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "doras octodiff|DORAS diff -a octodiff OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "doras tardiff|DORAS diff -a tardiff OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "doras deflate|DORAS diff -a deflate OLD NEW PATCH|DORAS apply OLD PATCH OUT"
  "bsdiff|bsdiff OLD NEW PATCH|bspatch OLD OUT PATCH"
  "xdelta3 -9|xdelta3 -9 -D -f -e -s OLD NEW PATCH|xdelta3 -D -f -d -s OLD PATCH OUT"
  "zstd -19 --long --patch-from|zstd -q -f -19 --long=31 --patch-from=OLD NEW -o PATCH|zstd -q -f -d --long=31 --patch-from=OLD PATCH -o OUT"
  "rdiff|sh -c 'rdiff signature OLD PATCH.sig && rdiff delta PATCH.sig NEW PATCH'|rdiff patch OLD PATCH OUT"
)

rows=()
summary=()
total_ours=0; total_peer=0
for pair in "${pairs[@]}"; do
  IFS='|' read -r name kind package old_version new_version path <<<"$pair"
  if [[ ${#selected[@]} -gt 0 && ! " ${selected[*]} " =~ " $name " ]]; then continue; fi
  fetch "$name" "$package" "$old_version" "$path"
  fetch "$name" "$package" "$new_version" "$path"
  old="$corpus/$name-$old_version"; new="$corpus/$name-$new_version"
  full=$(zstd -q -19 --long=31 -c "$new" | wc -c)
  declare -A size build_s build_rss apply_s apply_rss refused
  best_peer=""; best_ours=""
  for tool in "${tools[@]}"; do
    IFS='|' read -r label build apply <<<"$tool"
    patch="$work/patch"; out="$work/out"; rm -f "$patch" "$out" "$patch.sig"
    subst() { local c="$1"; c="${c//DORAS/$doras_delta}"; c="${c//OLD/$old}"; c="${c//NEW/$new}"; c="${c//PATCH/$patch}"; echo "${c//OUT/$out}"; }
    if ! eval "timed $(subst "$build")"; then
      # Our algorithms refuse what they do not apply to (tardiff: not a tar; gzip: not reproducible); peers must not fail.
      [[ "$label" == doras* ]] || { cat "$work/stderr" >&2; echo "$label failed on $name" >&2; exit 1; }
      refused[$label]=$(tail -n 1 "$work/stderr" | sed 's/^doras-delta: //; s/|/-/g'); continue
    fi
    build_s[$label]=$secs; build_rss[$label]=$rss_mib
    size[$label]=$(stat -c %s "$patch")
    eval "timed $(subst "$apply")" || { cat "$work/stderr" >&2; exit 1; }
    apply_s[$label]=$secs; apply_rss[$label]=$rss_mib
    cmp -s "$out" "$new" || { echo "$label produced a wrong $name" >&2; exit 1; }
    if [[ "$label" != doras* ]]; then
      if [[ -z "$best_peer" ]] || (( size[$label] < size[$best_peer] )); then best_peer=$label; fi
    elif [[ -z "$best_ours" ]] || (( size[$label] < size[$best_ours] )); then best_ours=$label; fi
  done
  for tool in "${tools[@]}"; do
    label="${tool%%|*}"
    if [[ -n "${refused[$label]:-}" ]]; then
      rows+=("$(printf '| %s (%s) %s -> %s | %s | refused: %s | | | | |' "$name" "$kind" "$old_version" "$new_version" "$label" "${refused[$label]}")")
      continue
    fi
    rows+=("$(printf '| %s (%s) %s -> %s, %s bytes | %s | %s | %.1f %% | %.2f | %s s, %s MiB | %s s, %s MiB |' \
      "$name" "$kind" "$old_version" "$new_version" "$(stat -c %s "$new")" "$label" "${size[$label]}" \
      "$(echo "100 * ${size[$label]} / $full" | bc -l)" "$(echo "${size[$label]} / ${size[$best_peer]}" | bc -l)" \
      "${build_s[$label]}" "${build_rss[$label]}" "${apply_s[$label]}" "${apply_rss[$label]}")")
  done
  rows+=("$(printf '| %s: full download (zstd -19) | | %s | 100 %% | | | |' "$name" "$full")")
  # What the server sends with auto: our smallest, or the full download (406) when that is over 90 % of it.
  ours=${size[$best_ours]}; ours_label="${best_ours#doras }"
  if (( ours * 10 > full * 9 )); then ours=$full; ours_label="full download (406)"; fi
  summary+=("$(printf '| %s | %s (%s) | %s (%s) | %.3f |' "$name" "$ours" "$ours_label" "${size[$best_peer]}" "$best_peer" "$(echo "$ours / ${size[$best_peer]}" | bc -l)")")
  total_ours=$((total_ours + ours)); total_peer=$((total_peer + size[$best_peer]))
  unset size build_s build_rss apply_s apply_rss refused
done

echo '| pair | tool | delta bytes | % of full zstd download | ratio to best peer | build: time, peak RSS | apply: time, peak RSS |'
echo '|---|---|---:|---:|---:|---:|---:|'
printf '%s\n' "${rows[@]}"
echo
echo '| pair | ours (auto) | best peer | ratio |'
echo '|---|---:|---:|---:|'
printf '%s\n' "${summary[@]}"
printf '| **total** | **%s** | **%s** | **%.3f** |\n' "$total_ours" "$total_peer" "$(echo "$total_ours / $total_peer" | bc -l)"
