#!/usr/bin/env bash
# Builds the fn (built-ins) libFuzzer target with clang (-fsanitize=fuzzer,address,undefined)
# and runs it. Usage:
#   common/fn/fuzz/run.sh            CI mode: run once over the committed corpus
#   common/fn/fuzz/run.sh --corpus-only   the same (what integration-tests/run-all calls)
#   common/fn/fuzz/run.sh 600        fuzz for 600 seconds (new inputs go to a scratch dir)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="${PORCH_FUZZ_BUILD:-$root/build-fuzz}"
secs="${1:-}"
[ "$secs" = --corpus-only ] && secs=
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORCH_FUZZ=ON \
  -DPORCH_TESTS=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  >/dev/null
cmake --build "$build" -j2 --target fuzz_fn >/dev/null
bin="$build/common/fn/fuzz_fn"
[ -x "$bin" ] || bin="$(find "$build" -name fuzz_fn -type f -perm -u+x | head -1)"
mkdir -p "$root/common/fn/fuzz/crashes"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ -z "$secs" ]; then
  exec "$bin" -runs=0 -max_len=65536 "$here/corpus"
fi
work="${PORCH_FUZZ_WORK:-$build/fuzz-work}"
mkdir -p "$work"
exec "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$root/common/fn/fuzz/crashes/" "$work" "$here/corpus"
