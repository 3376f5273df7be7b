#!/usr/bin/env bash
# Re-records the expected output of the KRM round-trip corpus with the real kpt:
# for each corpus/input/NAME, `kpt fn source PKG | kpt fn sink OUT` on a package
# holding just that file, and the written OUT/NAME becomes corpus/expected/NAME
# (NAME.none when kpt wrote no file, NAME.error when kpt failed).
# Usage: common/krm/tests/regen.sh [KPT]   (default: kpt, recorded with 1.0.0-beta.56)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kpt="${1:-kpt}"
in="$here/corpus/input"
exp="$here/corpus/expected"
rm -rf "$exp"
mkdir -p "$exp"
for f in "$in"/*; do
  name="$(basename "$f")"
  tmp="$(mktemp -d)"
  mkdir "$tmp/pkg"
  cp "$f" "$tmp/pkg/$name"
  if (cd "$tmp" && "$kpt" fn source pkg 2>"$tmp/err" | "$kpt" fn sink out 2>>"$tmp/err"); then
    if [ -f "$tmp/out/$name" ]; then cp "$tmp/out/$name" "$exp/$name"; else : > "$exp/$name.none"; fi
  else
    cp "$tmp/err" "$exp/$name.error"
  fi
  rm -rf "$tmp"
done
echo "recorded $(ls "$exp" | wc -l) expectations with $("$kpt" version 2>/dev/null || echo "$kpt")"
