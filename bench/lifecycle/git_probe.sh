#!/usr/bin/env bash
# Times the git adapter's part of register -> Ready on its own: porch-git-adapter
# alone (own data dir), then over the bus with nngcat:
#   open (cold: creates the mirror and copies the remote), list (no fetch),
#   open again (warm: fetch of an unchanged remote), list with fetch.
# usage: bench/lifecycle/git_probe.sh BIN_DIR BARE_REPO
set -euo pipefail
BIN=$(cd "${1:?BIN_DIR}" && pwd -P)
BARE=$(cd "${2:?BARE_REPO}" && pwd -P)
command -v nngcat >/dev/null || { echo "git_probe: nngcat is required (nng-utils)" >&2; exit 2; }
DIR=$(mktemp -d /tmp/plp.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
"$BIN/porch-git-adapter" --data-dir "$DIR" --listen "ipc://$DIR/ga.sock" --log-level warn 2>"$DIR/ga.log" &
PID=$!
for _ in $(seq 100); do [ -S "$DIR/ga.sock" ] && break; sleep 0.1; done
call() { # LABEL JSON
    local t0 t1 out
    t0=$(date +%s%N)
    out=$(timeout 300 nngcat --req0 --dial "ipc://$DIR/ga.sock" --recv-timeout 290 --ascii --data "$2" 2>&1) || true
    t1=$(date +%s%N)
    printf '%-32s %8.1f ms  %s\n' "$1" "$(echo "($t1 - $t0) / 1000000" | bc -l)" "$(printf '%s' "$out" | head -c 160)"
}
ARGS='"namespace":"probe","repository":"r","url":"file://'$BARE'","branch":"main","directory":"","createBranch":false,"deployment":false'
call "open (cold mirror)" '{"v":1,"op":"git-adapter.open","id":"p1","args":{'"$ARGS"'}}'
call "list (no fetch)" '{"v":1,"op":"git-adapter.list","id":"p2","args":{"namespace":"probe","repository":"r","fetch":false}}'
call "open (warm, unchanged remote)" '{"v":1,"op":"git-adapter.open","id":"p3","args":{'"$ARGS"'}}'
call "list (with fetch)" '{"v":1,"op":"git-adapter.list","id":"p4","args":{"namespace":"probe","repository":"r","fetch":true}}'
echo "mirror: $(du -sh "$DIR"/git 2>/dev/null | cut -f1) ($(find "$DIR" -path '*objects/??/*' -type f | wc -l) loose objects); remote: $(du -sh "$BARE" | cut -f1)"
