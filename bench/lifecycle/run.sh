#!/usr/bin/env bash
# Package-lifecycle benchmark of issue 7, through the HTTP API.
#
# Starts its own stack (deploy/local/porch-up on a free port, data in a short
# temporary directory), builds a local bare git repository of PACKAGES packages
# x 3 published revisions (tags <pkg>/v1..v3 on commits of main, each package a
# Kptfile and a ConfigMap; written with git fast-import) and a 10-package one,
# then runs bench/lifecycle/bench.py: register -> Ready, create, PRR update with
# a 3-step built-in pipeline, propose, approve (1,000 vs 10 packages), delete.
# Prints a markdown table beside Porch's published figures and the targets.
# The stack is stopped with porch-down at the end, also on failure or Ctrl-C.
#
# usage: bench/lifecycle/run.sh [--packages N] [--rounds R] [--ops K]
#            [--bin-dir DIR] [--log-level debug|info] [--json FILE]
#            [--no-pipeline] [--keep] [--timeout SECONDS] [--commit SHA]
#   --packages N   packages in the big repository (default 1000)
#   --rounds R     measured rounds (default 5; one more warm-up round runs first)
#   --ops K        items of each operation per round (default 10)
#   --bin-dir DIR  porch-* executables (default build/bin)
#   --log-level L  services' log level (default info; debug logs every bus
#                  request, which breakdown.py turns into per-service timings)
#   --json FILE    all samples and the summary as JSON
#   --keep         keep the temporary directory (logs, repositories) for a look
#   --timeout S    upper bound of the measuring part (default 3600)
#   --commit SHA   the commit the binaries were built from, for the report
#                  (default: HEAD of this checkout)
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO_DIR/bench/lifecycle"
PACKAGES=1000
REVISIONS=3
SMALL=10
ROUNDS=5
OPS=10
BIN_DIR="$REPO_DIR/build/bin"
LOG_LEVEL=info
JSON=
KEEP=0
NO_PIPELINE=
TIMEOUT=3600
COMMIT=

die() { echo "lifecycle-bench: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --packages) PACKAGES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --log-level) LOG_LEVEL=$2; shift 2 ;;
    --json) JSON=$(realpath -m "$2"); shift 2 ;;
    --no-pipeline) NO_PIPELINE=--no-pipeline; shift ;;
    --keep) KEEP=1; shift ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --commit) COMMIT=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
for v in PACKAGES ROUNDS OPS TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || die "--${v,,} must be a positive integer"
done
BIN_DIR=$(cd "$BIN_DIR" 2>/dev/null && pwd -P) || die "--bin-dir does not exist (build first: cmake -S . -B build && cmake --build build)"
for t in git python3 timeout; do command -v $t >/dev/null || die "$t is required"; done
python3 -c 'import yaml' 2>/dev/null || die "python3 PyYAML is required"

# Short path: the ipc sockets live in the data dir (sun_path is 107 bytes).
TMP=$(mktemp -d /tmp/plc.XXXXXX)
DATA=$TMP/d
GIT=$TMP/g
mkdir -p "$GIT"
STARTED=0
cleanup() {
    local rc=$?
    set +e
    if [ "$STARTED" = 1 ]; then
        "$REPO_DIR/deploy/local/porch-down" --data-dir "$DATA" >&2
    fi
    if [ "$KEEP" = 1 ]; then
        echo "lifecycle-bench: kept $TMP (logs in $DATA/logs)" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
export GIT_CONFIG_NOSYSTEM=1 HOME="$TMP" GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

# ---- repositories -------------------------------------------------------------
mkrepo() { # NAME PACKAGES
    local bare="$GIT/$1.git"
    git init -q --bare -b main "$bare"
    python3 "$HERE/mkrepo.py" "$2" "$REVISIONS" | git -C "$bare" fast-import --quiet --done
    git -C "$bare" pack-refs --all
    local tags
    tags=$(git -C "$bare" for-each-ref refs/tags | wc -l)
    [ "$tags" = $(($2 * REVISIONS)) ] || die "$bare has $tags tags, expected $(($2 * REVISIONS))"
}
t0=$SECONDS
log "building $PACKAGES packages x $REVISIONS revisions with git fast-import"
mkrepo big "$PACKAGES"
mkrepo small "$SMALL"
READY_ARGS=()
for i in $(seq 0 "$ROUNDS"); do
    cp -a "$GIT/big.git" "$GIT/ready-$i.git"
    READY_ARGS+=(--ready-url "file://$GIT/ready-$i.git")
done
log "repositories ready in $((SECONDS - t0)) s ($(du -sh "$GIT/big.git" | cut -f1) each, $((ROUNDS + 1)) copies for register->Ready)"

# ---- stack ----------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORCH_LOG_LEVEL=$LOG_LEVEL
log "starting the stack: porch-up --data-dir $DATA --bin-dir $BIN_DIR --port $PORT"
STARTED=1
"$REPO_DIR/deploy/local/porch-up" --data-dir "$DATA" --bin-dir "$BIN_DIR" --port "$PORT" >&2

# ---- measure --------------------------------------------------------------------
[ -n "$COMMIT" ] || COMMIT=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "Package lifecycle benchmark: $(date -u +%Y-%m-%dT%H:%MZ), commit $COMMIT, binaries $BIN_DIR"
echo "$PACKAGES packages x $REVISIONS revisions (+ $SMALL-package repository), $ROUNDS rounds x $OPS items after a warm-up round; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
rc=0
timeout --kill-after=10 "$TIMEOUT" python3 "$HERE/bench.py" --kubeconfig "$DATA/kubeconfig" \
    --secret-dir "$TMP/client" --big-url "file://$GIT/big.git" --small-url "file://$GIT/small.git" \
    "${READY_ARGS[@]}" --expect-revisions $((PACKAGES * (REVISIONS + 1))) \
    --rounds "$ROUNDS" --ops "$OPS" --packages "$PACKAGES" $NO_PIPELINE ${JSON:+--json "$JSON"} || rc=$?
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$LOG_LEVEL" = debug ]; then
    python3 "$HERE/breakdown.py" "$DATA/logs" || true
fi
python3 "$HERE/logstats.py" "$DATA/logs" || true
[ "$rc" = 0 ] || log "bench.py failed (exit $rc)"
exit "$rc"
