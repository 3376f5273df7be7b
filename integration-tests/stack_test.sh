#!/usr/bin/env bash
# The one-machine stack end to end: porch-up in a temp dir, every service
# answers `health` over its ipc socket (real nngcat), kubectl sees our API
# resources and /readyz, client certificates are required, a kill -9 of any
# service is repaired by the supervisor within 5 s, and porch-down leaves no
# process behind. Usage: stack_test.sh [BIN_DIR]   (last line: N passed, M failed)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$SRC/build/bin}" && pwd)
UP="$SRC/deploy/local/porch-up"
DOWN="$SRC/deploy/local/porch-down"
DIR=$(mktemp -d /tmp/porch-stack-XXXXXX)
SERVICES="apiserver engine cache git-adapter oci-adapter function-runner"
KC="$DIR/kubeconfig"
# Every service (through the supervisor's environment) appends its bus traffic here.
export PORCH_TRACE_BUS="$DIR/bus-trace.jsonl"
passed=0 failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }

cleanup() {
  "$DOWN" --data-dir "$DIR" >/dev/null 2>&1
  if [ "$failed" != 0 ]; then
    echo "--- logs of $DIR (kept for a failed run):"
    tail -n 5 "$DIR"/logs/*.log 2>/dev/null
  else
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT

health() { timeout 5 nngcat --req0 --dial "ipc://$DIR/$1.sock" --data '{"v":1,"op":"health","id":"t"}' --ascii 2>&1; }
readyz() { timeout 10 kubectl --kubeconfig "$KC" get --raw /readyz 2>&1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A free port: pick one at random until nothing listens on it.
for _ in $(seq 20); do
  PORT=$((20000 + RANDOM % 20000))
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done

# ---- start ------------------------------------------------------------------
if out=$(PORCH_UP_TIMEOUT=60 "$UP" --data-dir "$DIR" --bin-dir "$BIN" --port "$PORT" 2>&1) &&
  [[ "$out" == *"kubeconfig: $DIR/kubeconfig"* ]]; then
  ok "porch-up starts the stack and prints the kubeconfig path"
else
  ko "porch-up" "$out"
  echo "$passed passed, $failed failed"
  exit 1
fi
SUP=$(cat "$DIR/supervisor.pid")
out=$("$UP" --data-dir "$DIR" --bin-dir "$BIN" --port "$PORT" 2>&1)
if [[ "$out" == *"already running"* ]] && [ "$(cat "$DIR/supervisor.pid")" = "$SUP" ] &&
  [ "$(pgrep -c -f "porch-supervisor --data-dir $DIR ")" = 1 ]; then
  ok "a second porch-up says it is already running and starts nothing"
else
  ko "second porch-up" "$out"
fi

for s in $SERVICES; do
  [ -s "$DIR/$s.pid" ] && kill -0 "$(cat "$DIR/$s.pid")" 2>/dev/null || ko "pid file of $s"
  out=$(health "$s")
  case "$out" in *'"ok":true'*) ok "health answers on ipc://DIR/$s.sock";; *) ko "health $s" "$out";; esac
done

# ---- kubectl ----------------------------------------------------------------
out=$(timeout 20 kubectl --kubeconfig "$KC" api-resources 2>&1)
missing=""
for r in packagerevisions packagerevisionresources packages repositories; do
  grep -qE "^$r[[:space:]]" <<<"$out" || missing="$missing $r"
done
if [ -z "$missing" ]; then ok "kubectl api-resources lists our resources"; else ko "api-resources missing:$missing" "$out"; fi
if grep -qE '^repositories[[:space:]]+repo[[:space:]]+config.porch.kpt.dev/v1alpha1[[:space:]]+true[[:space:]]+Repository' <<<"$out"; then
  ok "repositories has short name repo"
else
  ko "repositories short name" "$out"
fi
out=$(readyz)
if [ "$out" = ok ]; then ok "kubectl get --raw /readyz prints ok"; else ko "readyz" "$out"; fi
out=$(timeout 10 kubectl --kubeconfig "$KC" get --raw /apis/porch.kpt.dev/v1alpha1 2>&1)
case "$out" in *'"name":"packagerevisions/approval"'*) ok "approval subresource is discovered";; *) ko "approval subresource" "$out";; esac
out=$(timeout 10 kubectl --kubeconfig "$KC" version 2>&1)
case "$out" in *"Server Version: v1."*) ok "kubectl version reads /version";; *) ko "kubectl version" "$out";; esac

# ---- HTTPS without a client certificate ---------------------------------------
CA="$DIR/pki/ca.crt"
out=$(curl -s --cacert "$CA" -w ' %{http_code}' "https://127.0.0.1:$PORT/apis")
case "$out" in *'"kind":"Status"'*'"code":401'*' 401') ok "no client certificate: /apis is a 401 Status";; *) ko "anonymous /apis" "$out";; esac
out=$(curl -s --cacert "$CA" -w ' %{http_code}' "https://127.0.0.1:$PORT/livez")
[ "$out" = "ok 200" ] && ok "/livez is anonymous" || ko "/livez" "$out"
out=$(curl -s --cacert "$CA" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" -w ' %{http_code}' "https://127.0.0.1:$PORT/no/such/path")
case "$out" in *'"reason":"NotFound"'*' 404') ok "unknown path is a 404 Status";; *) ko "unknown path" "$out";; esac
tls() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -cipher 'DEFAULT:@SECLEVEL=0' "$@" 2>&1; }
out=$(tls -tls1_1)
case "$out" in *"alert protocol version"*) ok "TLS 1.1 is refused";; *) ko "TLS 1.1 must be refused" "$(tail -3 <<<"$out")";; esac
out=$(tls -tls1_2)
case "$out" in *"Protocol  : TLSv1.2"*) ok "TLS 1.2 is accepted";; *) ko "TLS 1.2" "$(tail -3 <<<"$out")";; esac
# A client certificate from another CA is refused: the handshake completes (so
# the client gets a reason) and the answer is a 401 Status, never the API.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=mallory/O=system:masters" \
  -keyout "$DIR/rogue.key" -out "$DIR/rogue.crt" >/dev/null 2>&1
out=$(curl -s --cacert "$CA" --cert "$DIR/rogue.crt" --key "$DIR/rogue.key" -w ' %{http_code}' "https://127.0.0.1:$PORT/apis" 2>&1); rc=$?
if [[ "$out" == *' 401' ]] && [[ "$out" != *'"kind":"APIGroupList"'* ]]; then ok "client certificate from another CA is rejected (401)"; else ko "rogue client cert" "rc=$rc $out"; fi

# ---- crash recovery -----------------------------------------------------------
for s in $SERVICES; do
  old=$(cat "$DIR/$s.pid")
  kill -9 "$old"
  t0=$(now_ms) recovered=""
  while [ $(($(now_ms) - t0)) -lt 5000 ]; do
    new=$(cat "$DIR/$s.pid" 2>/dev/null)
    if [ -n "$new" ] && [ "$new" != "$old" ] && [[ "$(health "$s")" == *'"ok":true'* ]] &&
      [ "$(readyz)" = ok ]; then
      recovered=$(($(now_ms) - t0))
      break
    fi
    sleep 0.1
  done
  if [ -n "$recovered" ]; then ok "kill -9 $s: back (health + /readyz) in ${recovered} ms"; else ko "kill -9 $s" "not recovered within 5 s; readyz: $(readyz)"; fi
done
# The stack is still whole after all that.
n=0
for s in $SERVICES; do [[ "$(health "$s")" == *'"ok":true'* ]] && n=$((n + 1)); done
[ "$n" = 6 ] && ok "all six healthy after the crash round" || ko "after crashes only $n of 6 healthy"

# ---- stop ---------------------------------------------------------------------
pids="$(cat "$DIR"/*.pid)"
if out=$("$DOWN" --data-dir "$DIR" 2>&1); then ok "porch-down succeeds"; else ko "porch-down" "$out"; fi
alive=""
for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
[ -z "$alive" ] && ok "every recorded pid is gone" || ko "still alive:$alive"
left=$(pgrep -af "$DIR")
[ -z "$left" ] && ok "pgrep -f DIR finds nothing" || ko "left behind" "$left"
ls "$DIR"/*.pid >/dev/null 2>&1 && ko "pid files left" "$(ls "$DIR"/*.pid)" || ok "pid files removed"
out=$("$DOWN" --data-dir "$DIR" 2>&1)
case "$out" in *"not running"*) ok "porch-down again: not running";; *) ko "second porch-down" "$out";; esac

# ---- every message of the run matches schemas/bus --------------------------------
# (readyz's calls from the apiserver to engine and cache are among them)
if grep -q '"svc":"engine","dir":"request","op":"health"' "$PORCH_TRACE_BUS" &&
  out=$(python3 "$SRC/integration-tests/validate_bus_trace.py" "$SRC/schemas/bus" "$PORCH_TRACE_BUS" --min 40 2>&1); then
  ok "bus trace of the run validates ($(tail -1 <<<"$out"))"
else
  ko "bus trace" "$(tail -5 <<<"${out:-no engine health request traced}")"
fi

# ---- a data dir too long for ipc sockets is refused clearly ----------------------
long="$DIR/$(printf 'd%.0s' $(seq 100))"
out=$("$UP" --data-dir "$long" --bin-dir "$BIN" --port "$PORT" 2>&1); rc=$?
case "$rc:$out" in 1:*"too long for ipc sockets"*) ok "too-long data dir refused";; *) ko "long data dir" "rc=$rc $out";; esac
[ -e "$long/supervisor.pid" ] && ko "long data dir started something"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
