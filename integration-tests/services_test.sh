#!/usr/bin/env bash
# Multi-process test of the bus services without the supervisor: each service
# answers health/describe over its ipc socket (via the real nngcat), bad
# messages get clear errors, every traced message validates against
# schemas/bus/, a taken socket is refused, and SIGTERM drains within 2 s.
# Usage: services_test.sh BIN_DIR
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d /tmp/porch-svc-XXXXXX)
TRACE=$DIR/bus-trace.jsonl
SERVICES="engine cache git-adapter oci-adapter function-runner"
passed=0 failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
cleanup() { pkill -KILL -f "data-dir $DIR" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

req() { nngcat --req0 --dial "ipc://$DIR/$1.sock" --data "$2" --ascii 2>&1; }

for s in $SERVICES; do
  PORCH_TRACE_BUS=$TRACE "$BIN/porch-$s" --data-dir "$DIR" --log-level debug 2>"$DIR/$s.log" &
done
for _ in $(seq 50); do
  n=0; for s in $SERVICES; do [ -S "$DIR/$s.sock" ] && n=$((n + 1)); done
  [ "$n" = 5 ] && break; sleep 0.1
done

for s in $SERVICES; do
  out=$(req "$s" '{"v":1,"op":"health","id":"t"}')
  case "$out" in *'"ok":true'*"\"service\":\"$s\""*) ok "health $s";; *) ko "health $s" "$out";; esac
  out=$(req "$s" "{\"v\":1,\"op\":\"$s.describe\",\"id\":\"d\"}")
  case "$out" in *'"ok":true'*'"ops":["health","describe"'*) ok "describe $s";; *) ko "describe $s" "$out";; esac
done

out=$(req cache '{"op":')
case "$out" in *'"code":400'*'invalid JSON'*) ok "malformed JSON is a 400";; *) ko "malformed JSON" "$out";; esac
out=$(req cache '{"op":"health","args":[1]}')
case "$out" in *'"code":400'*'\"args\"'*) ok "bad args field is a 400 naming it";; *) ko "bad args" "$out";; esac
out=$(req engine '{"v":1,"op":"engine.frobnicate","id":"u"}')
case "$out" in *'"code":404'*'not served by porch-engine'*) ok "unknown op is a 404";; *) ko "unknown op" "$out";; esac
out=$(req engine '{"v":1,"op":"cache.health","id":"w"}')
case "$out" in *'"code":404'*) ok "another service's op is a 404";; *) ko "foreign op" "$out";; esac

# The cache's object ops: create, conflict, read, list, events, delete.
out=$(req cache '{"v":1,"op":"cache.put","id":"p1","args":{"kind":"secrets","namespace":"ns1","name":"s1","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s1"},"data":{"k":"dg=="}}}}')
case "$out" in *'"ok":true'*'"resourceVersion":"1"'*) ok "cache.put creates";; *) ko "cache.put" "$out";; esac
out=$(req cache '{"v":1,"op":"cache.put","id":"p2","args":{"kind":"secrets","namespace":"ns1","name":"s1","object":{"metadata":{}}}}')
case "$out" in *'"code":409'*'AlreadyExists'*) ok "cache.put twice is AlreadyExists";; *) ko "cache.put twice" "$out";; esac
out=$(req cache '{"v":1,"op":"cache.put","id":"p3","args":{"kind":"secrets","namespace":"ns1","name":"s1","mode":"update","resourceVersion":"41","object":{"metadata":{}}}}')
case "$out" in *'"code":409'*'"Conflict"'*) ok "stale resourceVersion is a 409 Conflict";; *) ko "stale rv" "$out";; esac
out=$(req cache '{"v":1,"op":"cache.list","id":"l1","args":{"kind":"secrets"}}')
case "$out" in *'"ok":true'*'"name":"s1"'*) ok "cache.list";; *) ko "cache.list" "$out";; esac
out=$(req cache '{"v":1,"op":"cache.get","id":"g1","args":{"kind":"Secrets!","name":"s1"}}')
case "$out" in *'"code":400'*'args.kind'*) ok "bad kind is a 400 naming it";; *) ko "bad kind" "$out";; esac
out=$(req cache '{"v":1,"op":"cache.delete","id":"d1","args":{"kind":"secrets","namespace":"ns1","name":"s1"}}')
case "$out" in *'"ok":true'*) ok "cache.delete";; *) ko "cache.delete" "$out";; esac
out=$(req cache '{"v":1,"op":"cache.events","id":"e1","args":{"since":"0","kinds":["secrets"]}}')
case "$out" in *'"ADDED"'*'"DELETED"'*) ok "cache.events replays the writes";; *) ko "cache.events" "$out";; esac

# The log line of a request carries its id.
if grep -q '"rid":"u"' "$DIR/engine.log"; then ok "request id reaches the log"; else ko "request id in log"; fi

# A second instance on a taken socket refuses to start, clearly.
out=$("$BIN/porch-cache" --data-dir "$DIR" 2>&1); rc=$?
case "$rc:$out" in 1:*"already in use"*) ok "taken socket refused";; *) ko "taken socket" "rc=$rc $out";; esac
out=$("$BIN/porch-engine" --data-dir "$DIR" --log-level shouty 2>&1); rc=$?
case "$rc:$out" in 1:*"--log-level"*) ok "bad flag refused";; *) ko "bad flag" "rc=$rc $out";; esac

# Every message seen on the bus matches schemas/bus/.
if out=$(/usr/bin/python3 "$SRC/integration-tests/validate_bus_trace.py" "$SRC/schemas/bus" "$TRACE" --min 20 2>&1); then
  ok "bus trace validates against schemas/bus"
else
  ko "bus trace schema" "$out"
fi
echo "$out" | tail -1
# ...and the checker itself rejects what breaks the schema (a reply without a reason).
printf '%s\n' '{"svc":"cache","dir":"reply","op":"health","msg":{"v":1,"id":"x","ok":false,"error":{"code":500,"message":"m"}}}' >"$DIR/bad.jsonl"
if /usr/bin/python3 "$SRC/integration-tests/validate_bus_trace.py" "$SRC/schemas/bus" "$DIR/bad.jsonl" >/dev/null 2>&1; then
  ko "schema checker rejects a bad reply"
else
  ok "schema checker rejects a bad reply"
fi

# An idle service sleeps: no polling wakeups (its bus workers used to poll every
# 100 ms, which kept NNG's timer thread at a few % of a CPU per service).
# Under ASan the runtime's own threads tick: the check runs on plain builds only.
if ! nm -u "$BIN/porch-cache" 2>/dev/null | grep -q __asan_init; then
  ticks() { awk '{print $14 + $15}' "/proc/$(pgrep -f "porch-$1 --data-dir $DIR" | head -1)/stat"; }
  declare -A before
  for s in $SERVICES; do before[$s]=$(ticks "$s"); done
  sleep 3
  for s in $SERVICES; do
    used=$(( $(ticks "$s") - ${before[$s]} ))
    # clock ticks are 1/100 s: at most 6 of 300 (2 % of a CPU) while idle
    if [ "$used" -le 6 ]; then ok "idle $s: $used ticks in 3 s"; else ko "idle $s" "$used ticks of CPU in 3 s"; fi
  done
fi

# SIGTERM: every service drains and exits within 2 s.
for s in $SERVICES; do
  pid=$(pgrep -f "porch-$s --data-dir $DIR" | head -1)
  t0=$(date +%s%N); kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 2000 ] && break; sleep 0.02
  done
  if kill -0 "$pid" 2>/dev/null; then ko "SIGTERM $s" "still running after 2 s"; else ok "SIGTERM $s drains in $(( ($(date +%s%N) - t0) / 1000000 )) ms"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
