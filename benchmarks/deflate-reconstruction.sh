#!/usr/bin/env bash
# Deflate reconstruction: recipe size and speed per encoder on one realistic input (20 MB of a tar of shared
# libraries), every file rebuilt and compared byte for byte. Needs gzip; pigz, go (compress/gzip) and buildah
# (a layer compressed by pgzip, Go) are each skipped when missing. Usage: benchmarks/deflate-reconstruction.sh [INPUT.tar]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
input=${1:-}
if [ -z "$input" ]; then
  lib=/usr/lib/x86_64-linux-gnu
  tar cf "$work/lib.tar" -C "$lib" $(cd "$lib" && ls | grep -E '^lib(c|crypto|ssl|sqlite|xml|z|stdc|systemd|gnutls|krb)' | head -40) 2>/dev/null || true
  head -c 20000000 "$work/lib.tar" > "$work/input.tar"
  input="$work/input.tar"
fi
files=()
for level in 1 6 9; do gzip -"$level" -n -c "$input" > "$work/gzip-$level.gz"; files+=("$work/gzip-$level.gz"); done
if command -v pigz >/dev/null; then
  for option in 6 11; do pigz -"$option" -n -c "$input" > "$work/pigz-$option.gz"; files+=("$work/pigz-$option.gz"); done
fi
if command -v go >/dev/null; then
  # Go's standard compress/gzip (what Go programs write without pgzip), levels 1, 6, 9.
  mkdir -p "$work/gogz" && cat > "$work/gogz/main.go" <<'GO'
package main

import (
	"compress/gzip"
	"io"
	"os"
	"strconv"
)

func main() {
	level, _ := strconv.Atoi(os.Args[1])
	in, _ := os.Open(os.Args[2])
	out, _ := os.Create(os.Args[3])
	w, _ := gzip.NewWriterLevel(out, level)
	io.Copy(w, in)
	w.Close()
	out.Close()
}
GO
  (cd "$work/gogz" && GOCACHE="$work/gocache" GO111MODULE=off go build -o gogz main.go)
  for level in 1 6 9; do "$work/gogz/gogz" "$level" "$input" "$work/go-$level.gz"; files+=("$work/go-$level.gz"); done
fi
if command -v buildah >/dev/null; then
  b=(buildah --storage-driver vfs --root "$work/b-root" --runroot "$work/b-run")
  mkdir -p "$work/layer" && cp "$input" "$work/layer/"
  c=$("${b[@]}" from --quiet scratch) && "${b[@]}" copy "$c" "$work/layer" /data >/dev/null && "${b[@]}" commit --quiet --rm "$c" measure >/dev/null
  "${b[@]}" push --quiet --format oci --compression-format gzip measure "oci:$work/oci:latest"
  cp "$(ls -S "$work"/oci/blobs/sha256/* | head -1)" "$work/buildah-layer.gz" && files+=("$work/buildah-layer.gz")
fi
files+=("dotnet:Fastest:$input" "dotnet:Optimal:$input" "dotnet:SmallestSize:$input")
dotnet run -c Release --project benchmarks/Doras.Benchmarks -- deflate-recipe "${files[@]}"
