#!/usr/bin/env bash
# Starts a porch-up stack in a temp dir, runs bench-api against it (10,000
# package revisions, list as Table, 200 watchers, RSS) and stops it.
# Usage: bench/api_bench.sh [BIN_DIR] [N] [WATCHERS]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$SRC/build/bin}" && pwd)
DIR=$(mktemp -d /tmp/porch-bench-XXXXXX)
PORT=$((20000 + RANDOM % 20000))
trap '"$SRC/deploy/local/porch-down" --data-dir "$DIR" >/dev/null 2>&1; rm -rf "$DIR"' EXIT
"$SRC/deploy/local/porch-up" --data-dir "$DIR" --bin-dir "$BIN" --port "$PORT" >/dev/null
"$BIN/bench-api" "$DIR" "$PORT" "${2:-10000}" "${3:-200}"
