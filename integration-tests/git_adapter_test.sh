#!/usr/bin/env bash
# porch-git-adapter over the bus (real nngcat): every fixture repository of
# ../shared/fixtures/porch-git is opened and listed with exactly the revisions
# Porch's tests expect; then a package goes through its whole lifecycle
# (write_draft, propose, publish, read, propose-delete, delete) with 409s for
# stale writers, git fsck --strict on the remote, and the bus trace validated.
# Usage: git_adapter_test.sh BIN_DIR    (skips when ../shared is absent)
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
FIX=${PORCH_SHARED_DIR:-$SRC/../shared}/fixtures/porch-git
if [ ! -d "$FIX" ]; then
  echo "SKIP: $FIX not found (the shared fixtures live next to the repository)"
  exit 0
fi
DIR=$(mktemp -d /tmp/porch-ga-XXXXXX)
TRACE=$DIR/bus-trace.jsonl
passed=0 failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
PID=
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

PORCH_TRACE_BUS=$TRACE "$BIN/porch-git-adapter" --data-dir "$DIR/data" --log-level debug \
  2>"$DIR/git-adapter.log" &
PID=$!
for _ in $(seq 50); do [ -S "$DIR/data/git-adapter.sock" ] && break; sleep 0.1; done

req() { # op args-json
  nngcat --req0 --dial "ipc://$DIR/data/git-adapter.sock" \
    --data "{\"v\":1,\"op\":\"git-adapter.$1\",\"id\":\"$1-$RANDOM\",\"args\":$2}" --ascii 2>&1
}

# Prints "name|packageName|workspace|revision|lifecycle[|latest]" per item, sorted.
summarise() {
  /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
if not r.get("ok"):
    print("ERROR", r.get("error")); sys.exit(0)
for i in r["result"]["items"]:
    s, m = i["spec"], i["metadata"]
    latest = "|latest" if m.get("labels", {}).get("kpt.dev/latest-revision") == "true" else ""
    print("%s|%s|%s|%d|%s%s" % (m["name"], s["packageName"], s["workspaceName"],
          s.get("revision", 0), s["lifecycle"], latest))' | sort
}

unpack() { # fixture copy-name → prints the remote path
  mkdir -p "$DIR/remotes/$2" && tar xf "$FIX/$1.tar" --no-same-owner -C "$DIR/remotes/$2" &&
    echo "$DIR/remotes/$2/.git"
}

check_fixture() { # fixture repo-name directory expected-lines...
  local fixture=$1 name=$2 dir=$3; shift 3
  local url; url=$(unpack "$fixture" "$name")
  out=$(req open "{\"namespace\":\"default\",\"repository\":\"$name\",\"url\":\"$url\",\"directory\":\"$dir\"}")
  case "$out" in *'"ok":true'*'"ready":true'*) ;; *) ko "open $fixture ($name)" "$out"; return;; esac
  got=$(req list "{\"namespace\":\"default\",\"repository\":\"$name\"}" | summarise)
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
  if [ "$got" = "$want" ]; then ok "$fixture ($name, directory '$dir'): $(echo "$want" | grep -c .) revisions"
  else ko "$fixture ($name)" "$(diff <(echo "$want") <(echo "$got") | tr '\n' ' ')"; fi
}

check_fixture simple-repository simple "/" \
  "simple.basens.main|basens|main|-1|Published" "simple.basens.v1|basens|v1|1|Published" \
  "simple.basens.v2|basens|v2|2|Published|latest" "simple.empty.main|empty|main|-1|Published" \
  "simple.empty.v1|empty|v1|1|Published|latest" "simple.istions.main|istions|main|-1|Published" \
  "simple.istions.v1|istions|v1|1|Published" "simple.istions.v2|istions|v2|2|Published|latest"
check_fixture drafts-repository drafts "" \
  "drafts.basens.main|basens|main|-1|Published" "drafts.basens.v1|basens|v1|1|Published" \
  "drafts.basens.v2|basens|v2|2|Published|latest" "drafts.empty.main|empty|main|-1|Published" \
  "drafts.empty.v1|empty|v1|1|Published|latest" "drafts.istions.main|istions|main|-1|Published" \
  "drafts.istions.v1|istions|v1|1|Published" "drafts.istions.v2|istions|v2|2|Published|latest" \
  "drafts.bucket.v1|bucket|v1|0|Draft" "drafts.none.v1|none|v1|0|Draft" \
  "drafts.pkg-with-history.v1|pkg-with-history|v1|0|Draft"
check_fixture trivial-repository trivial "" ""
check_fixture nested-repository nested "/" \
  "nested.catalog.empty.main|catalog/empty|main|-1|Published" \
  "nested.catalog.empty.v1|catalog/empty|v1|1|Published|latest" \
  "nested.catalog.gcp.bucket.main|catalog/gcp/bucket|main|-1|Published" \
  "nested.catalog.gcp.bucket.v1|catalog/gcp/bucket|v1|1|Published|latest" \
  "nested.catalog.gcp.bucket.v2|catalog/gcp/bucket|v2|0|Draft" \
  "nested.catalog.gcp.cloud-sql.v1|catalog/gcp/cloud-sql|v1|0|Draft" \
  "nested.catalog.gcp.spanner.v1|catalog/gcp/spanner|v1|0|Draft" \
  "nested.catalog.namespace.basens.main|catalog/namespace/basens|main|-1|Published" \
  "nested.catalog.namespace.basens.v1|catalog/namespace/basens|v1|1|Published" \
  "nested.catalog.namespace.basens.v2|catalog/namespace/basens|v2|2|Published" \
  "nested.catalog.namespace.basens.v3|catalog/namespace/basens|v3|3|Published|latest" \
  "nested.catalog.namespace.istions.main|catalog/namespace/istions|main|-1|Published" \
  "nested.catalog.namespace.istions.v1|catalog/namespace/istions|v1|1|Published" \
  "nested.catalog.namespace.istions.v2|catalog/namespace/istions|v2|2|Published" \
  "nested.catalog.namespace.istions.v3|catalog/namespace/istions|v3|3|Published|latest" \
  "nested.sample.main|sample|main|-1|Published" "nested.sample.v1|sample|v1|1|Published" \
  "nested.sample.v2|sample|v2|2|Published|latest"
check_fixture nested-repository gcp "catalog/gcp" \
  "gcp.bucket.main|bucket|main|-1|Published" "gcp.bucket.v1|bucket|v1|1|Published|latest" \
  "gcp.bucket.v2|bucket|v2|0|Draft" "gcp.cloud-sql.v1|cloud-sql|v1|0|Draft" \
  "gcp.spanner.v1|spanner|v1|0|Draft"
check_fixture publishinfo-repository publishinfo "" \
  "publishinfo.draft-pkg.v1|draft-pkg|v1|0|Draft" \
  "publishinfo.pkg-with-anno.main|pkg-with-anno|main|-1|Published" \
  "publishinfo.pkg-with-anno.v1|pkg-with-anno|v1|1|Published|latest" \
  "publishinfo.pkg-without-anno.main|pkg-without-anno|main|-1|Published" \
  "publishinfo.pkg-without-anno.v1|pkg-without-anno|v1|1|Published|latest" \
  "publishinfo.some-pkg.main|some-pkg|main|-1|Published"
check_fixture manual-tagged-repository blueprint "" \
  "blueprint.pkg.main|pkg|main|-1|Published" "blueprint.pkg.v1|pkg|v1|1|Published" \
  "blueprint.pkg.v2|pkg|v2|2|Published|latest"
check_fixture nested-repository-with-invalid-kpt-annotation bp "blueprint" \
  "bp.bp1.main|bp1|main|-1|Published" "bp.bp1.v1|bp1|v1|1|Published" \
  "bp.bp1.v2|bp1|v2|2|Published" "bp.bp1.v3|bp1|v3|3|Published|latest" \
  "bp.bp2.main|bp2|main|-1|Published" "bp.bp2.v1|bp2|v1|1|Published" \
  "bp.bp2.v2|bp2|v2|2|Published|latest"
check_fixture nested-repository-with-invalid-kpt-annotation bp10 "blueprint2" \
  "bp10.bp10.main|bp10|main|-1|Published" "bp10.bp10.v1|bp10|v1|1|Published|latest"

# The empty repository: missing branch is a clear 404, createBranch makes it usable.
url=$(unpack empty-repository empty)
out=$(req open "{\"namespace\":\"default\",\"repository\":\"empty\",\"url\":\"$url\"}")
case "$out" in *'"code":404'*"branch \\\"main\\\" doesn't exist"*) ok "empty repository: missing branch is a 404";;
  *) ko "empty repository without createBranch" "$out";; esac
out=$(req open "{\"namespace\":\"default\",\"repository\":\"empty\",\"url\":\"$url\",\"createBranch\":true}")
case "$out" in *'"ready":true'*) ok "empty repository: createBranch";; *) ko "createBranch" "$out";; esac
out=$(req open "{\"namespace\":\"default\",\"repository\":\"gone\",\"url\":\"$DIR/nowhere.git\"}")
case "$out" in *'"code":503'*'nowhere.git'*) ok "unreachable remote is a 503 naming it";; *) ko "unreachable" "$out";; esac
out=$(req list '{"namespace":"default","repository":"gone"}')
case "$out" in *'"code":404'*'not open'*) ok "a failed open registers nothing";; *) ko "failed open" "$out";; esac

v=$(req list '{"namespace":"default","repository":"simple"}' | /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["result"]["version"])')
out=$(req list "{\"namespace\":\"default\",\"repository\":\"simple\",\"ifVersion\":\"$v\"}")
case "$out" in *'"items":[]'*'"notModified":true'*) ok "list with an unchanged ifVersion skips discovery";; *) ko "ifVersion" "$out";; esac
out=$(req check '{"namespace":"default","repository":"empty"}')
case "$out" in *'"ready":true'*'"gitCommitHash":"'*) ok "check (ls-remote) on an open repository";; *) ko "check" "$out";; esac

# A whole lifecycle over the bus on the (now initialised) empty repository.
R='"namespace":"default","repository":"empty"'
KPT='apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n'
field() { /usr/bin/python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print(eval('r' + sys.argv[1]))" "$1" 2>/dev/null; }
out=$(req write_draft "{$R,\"packageName\":\"apps/app\",\"workspaceName\":\"ws1\",\"resources\":{\"Kptfile\":\"$KPT\",\"cm.yaml\":\"kind: ConfigMap\\n\"},\"task\":{\"type\":\"init\",\"init\":{\"description\":\"app\"}},\"author\":{\"name\":\"Jane\",\"email\":\"jane@example.com\"}}")
rv=$(echo "$out" | field '["result"]["resourceVersion"]')
case "$out" in *'"ok":true'*'"name":"empty.apps.app.ws1"'*) ok "write_draft creates drafts/apps/app/ws1";; *) ko "write_draft" "$out";; esac
out=$(req write_draft "{$R,\"packageName\":\"apps/app\",\"workspaceName\":\"ws1\",\"resources\":{\"Kptfile\":\"$KPT\"}}")
case "$out" in *'"code":409'*'AlreadyExists'*) ok "a second create is 409 AlreadyExists";; *) ko "second create" "$out";; esac
out=$(req set_lifecycle "{$R,\"name\":\"empty.apps.app.ws1\",\"lifecycle\":\"Proposed\",\"expect\":\"$rv\"}")
case "$out" in *'"lifecycle":"Proposed"'*) ok "propose";; *) ko "propose" "$out";; esac
out=$(req set_lifecycle "{$R,\"name\":\"empty.apps.app.ws1\",\"lifecycle\":\"Published\",\"expect\":\"0000000000000000000000000000000000000000\"}")
case "$out" in *'"code":409'*'modified'*) ok "stale resourceVersion is 409";; *) ko "stale approve" "$out";; esac
out=$(req set_lifecycle "{$R,\"name\":\"empty.apps.app.ws1\",\"lifecycle\":\"Published\",\"expect\":\"$rv\",\"author\":{\"name\":\"Boss\",\"email\":\"boss@example.com\"}}")
case "$out" in *'"revision":1'*'"lifecycle":"Published"'*'"publishedBy":"boss@example.com"'*) ok "publish as revision 1";; *) ko "publish" "$out";; esac
out=$(req read "{$R,\"name\":\"empty.apps.app.ws1\"}")
case "$out" in *'"Kptfile":'*'"cm.yaml":"kind: ConfigMap\n"'*) ok "read returns the published files";; *) ko "read" "$out";; esac
got=$(req list "{$R}" | summarise | tr '\n' ' ')
case "$got" in "empty.apps.app.main|apps/app|main|-1|Published empty.apps.app.ws1|apps/app|ws1|1|Published|latest ") ok "list after publish";; *) ko "list after publish" "$got";; esac
out=$(req delete "{$R,\"name\":\"empty.apps.app.ws1\"}")
case "$out" in *'"code":403'*'DeletionProposed'*) ok "deleting Published is 403";; *) ko "delete published" "$out";; esac
out=$(req set_lifecycle "{$R,\"name\":\"empty.apps.app.ws1\",\"lifecycle\":\"DeletionProposed\"}")
case "$out" in *'"lifecycle":"DeletionProposed"'*) ok "propose deletion";; *) ko "propose deletion" "$out";; esac
out=$(req delete "{$R,\"name\":\"empty.apps.app.ws1\"}")
case "$out" in *'"deleted":"empty.apps.app.ws1"'*) ok "delete";; *) ko "delete" "$out";; esac
if git -C "$url" fsck --strict >/dev/null 2>&1; then ok "git fsck --strict on the remote"; else ko "fsck"; fi
refs=$(git -C "$url" for-each-ref --format='%(refname)' | tr '\n' ' ')
case "$refs" in "refs/heads/main ") ok "remote refs after delete: $refs";; *) ko "remote refs" "$refs";; esac
msg=$(git -C "$url" log -1 --format=%B main)
case "$msg" in "Approving package revision apps/app/1"*'kpt:{"package":"apps/app","workspaceName":"ws1","revision":"1"}'*) ok "publish commit message as Porch";; *) ko "publish message" "$msg";; esac

# Concurrent requests on one repository are serialised: both answer, one conflicts.
racers=
for i in 1 2; do
  req write_draft "{$R,\"packageName\":\"race\",\"workspaceName\":\"w\",\"resources\":{\"Kptfile\":\"$KPT\"}}" >"$DIR/race$i" &
  racers="$racers $!"
done
wait $racers
c=$(cat "$DIR/race1" "$DIR/race2" | grep -o '"ok":true' | wc -l)
k=$(cat "$DIR/race1" "$DIR/race2" | grep -o '"code":409' | wc -l)
if [ "$c" = 1 ] && [ "$k" = 1 ]; then ok "two racing creates: one wins, one 409"; else ko "race" "$(cat "$DIR/race1" "$DIR/race2")"; fi

# A bad lifecycle is refused before the repository is locked (it used to
# return holding the lock: every later request on the repository hung).
out=$(timeout 10 bash -c "$(declare -f req); DIR=$DIR req write_draft '{$R,\"packageName\":\"race\",\"workspaceName\":\"w\",\"resources\":{\"Kptfile\":\"x\"},\"lifecycle\":\"Published\"}'")
case "$out" in *'"code":400'*'args.lifecycle must be Draft or Proposed'*) ok "write_draft with lifecycle Published is 400";; *) ko "bad lifecycle" "$out";; esac
out=$(timeout 10 bash -c "$(declare -f req); DIR=$DIR req read '{$R,\"name\":\"empty.race.w\"}'")
rv=$(echo "$out" | field '["result"]["resourceVersion"]')
case "$rv" in [0-9a-f]*) ok "the repository still answers after the refused write";; *) ko "after bad lifecycle" "$out";; esac

# Staging: the trees of a propose written ahead; the write that follows finds them.
STAGED="{\"Kptfile\":\"$KPT\",\"staged.yaml\":\"kind: ConfigMap\\n\"}"
out=$(req stage_draft "{$R,\"packageName\":\"race\",\"workspaceName\":\"w\",\"resources\":$STAGED,\"expect\":\"0000000000000000000000000000000000000000\"}")
case "$out" in *'"code":409'*'nothing staged'*) ok "stage_draft on a stale commit is 409";; *) ko "stale stage" "$out";; esac
out=$(req stage_draft "{$R,\"packageName\":\"race\",\"workspaceName\":\"w\",\"resources\":$STAGED}")
case "$out" in *'"code":400'*'expect'*) ok "stage_draft without expect is 400";; *) ko "stage without expect" "$out";; esac
out=$(req stage_draft "{$R,\"packageName\":\"race\",\"workspaceName\":\"w\",\"resources\":$STAGED,\"expect\":\"$rv\"}")
case "$out" in *'"staged":true'*) ok "stage_draft";; *) ko "stage_draft" "$out";; esac
if git -C "$url" rev-parse -q --verify refs/heads/drafts/race/w >/dev/null && \
   [ "$(git -C "$url" rev-parse refs/heads/drafts/race/w)" = "$rv" ]; then
  ok "staging moves no ref"; else ko "staging moved a ref"; fi
out=$(req write_draft "{$R,\"packageName\":\"race\",\"workspaceName\":\"w\",\"resources\":$STAGED,\"expect\":\"$rv\",\"lifecycle\":\"Proposed\",\"message\":\"Rendering package\"}")
case "$out" in *'"ok":true'*) ok "write_draft + propose of the staged files";; *) ko "staged write" "$out";; esac
if grep '"draft written"' "$DIR/git-adapter.log" | tail -1 | grep -q '"staged":true'; then
  ok "the write found its root tree staged"; else ko "staged root not used" "$(grep '"draft written"' "$DIR/git-adapter.log" | tail -1)"; fi
if [ "$(git -C "$url" show refs/heads/proposed/race/w:race/staged.yaml 2>&1)" = "kind: ConfigMap" ]; then
  ok "the proposed commit holds the staged files"; else ko "proposed content"; fi
if git -C "$url" fsck --strict >/dev/null 2>&1; then ok "git fsck --strict after staging"; else ko "fsck after staging"; fi

out=$(req close "{$R}")
case "$out" in *'"closed":true'*'"mirrorRemoved":true'*) ok "close removes the mirror";; *) ko "close" "$out";; esac
out=$(req list "{$R}")
case "$out" in *'"code":404'*) ok "a closed repository is gone";; *) ko "after close" "$out";; esac

if out=$(/usr/bin/python3 "$SRC/integration-tests/validate_bus_trace.py" "$SRC/schemas/bus" "$TRACE" --min 20 2>&1); then
  ok "bus trace validates against schemas/bus"
else
  ko "bus trace schema" "$out"
fi

kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
