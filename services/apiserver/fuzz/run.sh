#!/usr/bin/env bash
# Builds the apiserver libFuzzer target (paths, queries, selectors, JSON,
# protobuf and patch bodies) with clang and ASan/UBSan, then either replays
# the committed corpus (--corpus-only, for CI) or fuzzes for N seconds.
#   services/apiserver/fuzz/run.sh --corpus-only
#   services/apiserver/fuzz/run.sh 600
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="${PORCH_FUZZ_BUILD:-$root/build-fuzz}"
secs=""
case "${1:-}" in
  --corpus-only|"") secs="" ;;
  *) secs="$1" ;;
esac
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORCH_FUZZ=ON \
  -DPORCH_TESTS=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  >/dev/null
cmake --build "$build" -j2 --target fuzz_apiserver >/dev/null
bin="$(find "$build" -name fuzz_apiserver -type f -perm -u+x | head -1)"
mkdir -p "$here/crashes"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ -z "$secs" ]; then
  exec "$bin" -runs=0 -max_len=65536 "$here/corpus"
fi
work="${PORCH_FUZZ_WORK:-$build/fuzz-work-apiserver}"
mkdir -p "$work"
exec "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$here/crashes/" "$work" "$here/corpus"
