#!/usr/bin/env bash
# The package lifecycle through the bus, without the HTTP layer: a Repository
# stored in the cache is synced from a real bare git repository; the engine
# creates a Draft (init), proposes, approves (publish) and deletes it, and
# updates its resources — and git holds exactly Porch's refs at each step.
# Every traced bus message must validate against schemas/bus/.
# Usage: lifecycle_test.sh BIN_DIR
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d /tmp/porch-lc-XXXXXX)
TRACE=$DIR/bus-trace.jsonl
SERVICES="engine cache git-adapter function-runner"
passed=0 failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
cleanup() { pkill -KILL -f "data-dir $DIR" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com

req() { nngcat --req0 --dial "ipc://$DIR/$1.sock" --data "$2" --ascii --recv-timeout 60 2>&1; }
field() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); exec("r=d"+sys.argv[1]); print(r if not isinstance(r,(dict,list)) else json.dumps(r))' "$1" 2>/dev/null; }

# A bare repository with an initial commit on main.
git init -q --bare -b main "$DIR/repo.git"
git clone -q "$DIR/repo.git" "$DIR/seed" 2>/dev/null
echo seed >"$DIR/seed/README.md"
git -C "$DIR/seed" add README.md && git -C "$DIR/seed" commit -qm init && git -C "$DIR/seed" push -q origin HEAD:main

for s in $SERVICES; do
  (PORCH_TRACE_BUS=$TRACE "$BIN/porch-$s" --data-dir "$DIR" --log-level info 2>"$DIR/$s.log" &)
done
for _ in $(seq 50); do
  n=0; for s in $SERVICES; do [ -S "$DIR/$s.sock" ] && n=$((n + 1)); done
  [ "$n" = 4 ] && break; sleep 0.1
done

repo='{"apiVersion":"config.porch.kpt.dev/v1alpha1","kind":"Repository","metadata":{"name":"blue","namespace":"ns1"},"spec":{"type":"git","git":{"repo":"file://'$DIR'/repo.git","branch":"main"}}}'
out=$(req cache '{"v":1,"op":"cache.put","id":"r1","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"blue","object":'"$repo"'}}')
case "$out" in *'"ok":true'*) ok "Repository stored";; *) ko "Repository stored" "$out";; esac

ready=
for _ in $(seq 100); do
  out=$(req cache '{"v":1,"op":"cache.get","id":"g","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"blue"}}')
  ready=$(field '["result"]["object"]["status"]["conditions"][0]["status"]' <<<"$out")
  [ "$ready" = True ] && break; sleep 0.1
done
[ "$ready" = True ] && ok "Repository becomes Ready" || ko "Repository Ready" "$out"
next=$(field '["result"]["object"]["status"]["nextFullSyncTime"]' <<<"$out")
[ -n "$next" ] && ok "status.nextFullSyncTime ($next)" || ko "nextFullSyncTime" "$out"
[ -z "$(field '["result"]["object"]["status"]["observedRunOnceAt"]' <<<"$out")" ] && ok "no observedRunOnceAt without runOnceAt" || ko "observedRunOnceAt without runOnceAt" "$out"

# A schedule plans the next sync on the cron grid; runOnceAt in the past is honoured at once.
sched='{"apiVersion":"config.porch.kpt.dev/v1alpha1","kind":"Repository","metadata":{"name":"sched","namespace":"ns1"},"spec":{"type":"git","sync":{"schedule":"*/7 * * * *","runOnceAt":"2020-01-01T00:00:00Z"},"git":{"repo":"file://'$DIR'/repo.git","branch":"main"}}}'
req cache '{"v":1,"op":"cache.put","id":"r2","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"sched","object":'"$sched"'}}' >/dev/null
for _ in $(seq 50); do
  out=$(req cache '{"v":1,"op":"cache.get","id":"g","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"sched"}}')
  next=$(field '["result"]["object"]["status"]["nextFullSyncTime"]' <<<"$out")
  [ -n "$next" ] && break; sleep 0.1
done
minute=$(sed -E 's/.*T[0-9]{2}:([0-9]{2}):.*/\1/' <<<"$next")
[ -n "$next" ] && [ $((10#$minute % 7)) = 0 ] && ok "schedule */7 plans $next" || ko "schedule" "$out"
[ "$(field '["result"]["object"]["status"]["observedRunOnceAt"]' <<<"$out")" = 2020-01-01T00:00:00Z ] && ok "runOnceAt observed" || ko "runOnceAt" "$out"
req cache '{"v":1,"op":"cache.delete","id":"r3","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"sched"}}' >/dev/null
sleep 2
closes=$(grep -c '"dir":"request","op":"git-adapter.close".*"repository":"sched"' "$TRACE")
[ "$closes" = 1 ] && ok "unregistering closes the repository once" || ko "closes after unregister: $closes"

pr='{"apiVersion":"porch.kpt.dev/v1alpha1","kind":"PackageRevision","metadata":{"namespace":"ns1","labels":{"team":"a"}},"spec":{"packageName":"app","workspaceName":"ws1","repository":"blue","tasks":[{"type":"init","init":{"description":"my app"}}]}}'
out=$(req engine '{"v":1,"op":"engine.create","id":"c1","args":{"namespace":"ns1","object":'"$pr"'}}')
name=$(field '["result"]["object"]["metadata"]["name"]' <<<"$out")
[ "$name" = blue.app.ws1 ] && ok "init creates blue.app.ws1" || ko "engine.create" "$out"
[ "$(field '["result"]["object"]["spec"]["lifecycle"]' <<<"$out")" = Draft ] && ok "it is a Draft" || ko "Draft" "$out"
[ "$(field '["result"]["object"]["metadata"]["labels"]["team"]' <<<"$out")" = a ] && ok "user labels kept" || ko "labels" "$out"
git -C "$DIR/repo.git" rev-parse -q --verify refs/heads/drafts/app/ws1 >/dev/null && ok "git: drafts/app/ws1" || ko "draft branch"
git -C "$DIR/repo.git" show refs/heads/drafts/app/ws1:app/Kptfile 2>/dev/null | grep -q 'description: my app' && ok "git: Kptfile with the init info" || ko "Kptfile on draft"
out2=$(req engine '{"v":1,"op":"engine.create","id":"c2","args":{"namespace":"ns1","object":'"$pr"'}}')
case "$out2" in *'"code":409'*'already exists'*) ok "duplicate workspace is a 409";; *) ko "duplicate" "$out2";; esac
# a new package must not nest with another (spec §3.6 step 5): below or above "app"
nest() { sed "s#\"packageName\":\"app\"#\"packageName\":\"$1\"#" <<<"$pr"; }
out2=$(req engine '{"v":1,"op":"engine.create","id":"cn1","args":{"namespace":"ns1","object":'"$(nest app/sub)"'}}')
case "$out2" in *'"code":409'*'package path \"app/sub\" conflicts with existing package \"app\": packages cannot be nested'*) ok "init below an existing package is refused (nested)";; *) ko "nested below" "$out2";; esac
out2=$(req engine '{"v":1,"op":"engine.create","id":"cn2","args":{"namespace":"ns1","object":'"$(nest app-sub)"'}}')
case "$out2" in *'"ok":true'*'blue.app-sub.ws1'*) ok "a name sharing the prefix is not nested";; *) ko "app-sub" "$out2";; esac
out2=$(req engine '{"v":1,"op":"engine.create","id":"cn3","args":{"namespace":"ns1","object":'"$(nest app-sub/x)"'}}')
case "$out2" in *'"code":409'*'packages cannot be nested'*) ok "init below another new package is refused too";; *) ko "nested below app-sub" "$out2";; esac
out2=$(req engine '{"v":1,"op":"engine.delete","id":"cn4","args":{"namespace":"ns1","name":"blue.app-sub.ws1"}}')
case "$out2" in *'"ok":true'*) ok "(clean-up of app-sub)";; *) ko "delete app-sub" "$out2";; esac
out2=$(req engine '{"v":1,"op":"engine.create","id":"c3","args":{"namespace":"ns1","object":{"spec":{"packageName":"x","workspaceName":"w","repository":"nope"}}}}')
case "$out2" in *'"code":404'*'nope'*'not found'*) ok "unknown repository is a 404";; *) ko "unknown repo" "$out2";; esac

rv=$(field '["result"]["object"]["metadata"]["resourceVersion"]' <<<"$out")
out=$(req engine '{"v":1,"op":"engine.get-resources","id":"gr","args":{"namespace":"ns1","name":"blue.app.ws1"}}')
[ -n "$(field '["result"]["object"]["spec"]["resources"]["README.md"]' <<<"$out")" ] && ok "resources read" || ko "get-resources" "$out"
prr=$(field '["result"]["object"]' <<<"$out")
prr=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); o["spec"]["resources"]["cm.yaml"]="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n"; print(json.dumps(o))' "$prr")
out=$(req engine '{"v":1,"op":"engine.update-resources","id":"ur","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$prr"'}}')
case "$out" in *'"ok":true'*) ok "resources updated";; *) ko "update-resources" "$out";; esac
git -C "$DIR/repo.git" show refs/heads/drafts/app/ws1:app/cm.yaml 2>/dev/null | grep -q 'name: cm' && ok "git: cm.yaml on the draft" || ko "cm.yaml on draft"
out=$(req engine '{"v":1,"op":"engine.update-resources","id":"ur2","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$prr"'}}')
case "$out" in *'"code":409'*) ok "stale resources update is a 409";; *) ko "stale PRR" "$out";; esac

# A render runs in porch-function-runner (its render count moves), not in the engine.
renders() { req function-runner '{"v":1,"op":"describe","id":"d"}' | field '["result"]["counters"]["ops"]["render"]'; }
n0=$(renders)
out=$(req engine '{"v":1,"op":"engine.get-resources","id":"gr2","args":{"namespace":"ns1","name":"blue.app.ws1"}}')
prr=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1])["result"]["object"]; r=o["spec"]["resources"]; r["Kptfile"]=r["Kptfile"].rstrip("\n")+"\npipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.2.0\n      configMap:\n        tier: backend\n"; print(json.dumps(o))' "$out")
out=$(req engine '{"v":1,"op":"engine.update-resources","id":"ur3","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$prr"'}}')
n1=$(renders)
git -C "$DIR/repo.git" show refs/heads/drafts/app/ws1:app/cm.yaml 2>/dev/null | grep -q 'tier: backend' && ok "a pipeline's function ran on a resources update" || ko "pipeline on update" "$out"
[ -n "$n0" ] && [ -n "$n1" ] && [ "$n1" -gt "$n0" ] && ok "the render ran in porch-function-runner ($n0 -> $n1 renders)" || ko "render through the function runner" "render calls $n0 -> $n1"

# A function that runs and fails (set-namespace without its config: exit code 1) fails the
# update like one that cannot run: a 500 that says so, and the draft does not move.
before=$(git -C "$DIR/repo.git" rev-parse drafts/app/ws1)
out=$(req engine '{"v":1,"op":"engine.get-resources","id":"gr4","args":{"namespace":"ns1","name":"blue.app.ws1"}}')
prr=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1])["result"]["object"]; r=o["spec"]["resources"]; r["Kptfile"]=r["Kptfile"].replace("pipeline:\n  mutators:\n", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n"); print(json.dumps(o))' "$out")
out=$(req engine '{"v":1,"op":"engine.update-resources","id":"ur4","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$prr"'}}')
case "$out" in *'"code":500'*'NOT pushed'*) ok "a function that fails (exit code 1) fails the resources update";; *) ko "failing function" "$out";; esac
[ "$(git -C "$DIR/repo.git" rev-parse drafts/app/ws1)" = "$before" ] && ok "git: the draft did not move" || ko "draft moved after a failed render"

git -C "$DIR/repo.git" show refs/heads/drafts/app/ws1:app/Kptfile | grep -q 'reason: RenderSuccess' && ok "git: the created Draft was rendered (Kptfile Rendered condition)" || ko "render on create" "$(git -C "$DIR/repo.git" show refs/heads/drafts/app/ws1:app/Kptfile)"

# A Draft update carries packageMetadata and readinessGates into the Kptfile (§3.7 step 6).
out=$(req cache '{"v":1,"op":"cache.get","id":"g1","args":{"kind":"packagerevisions.porch.kpt.dev","namespace":"ns1","name":"blue.app.ws1"}}')
cur=$(field '["result"]["object"]' <<<"$out")
upd=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); o["spec"]["packageMetadata"]={"labels":{"tier":"web"},"annotations":{"note":"n1"}}; o["spec"]["readinessGates"]=[{"conditionType":"app.ready"}]; print(json.dumps(o))' "$cur")
out=$(req engine '{"v":1,"op":"engine.update","id":"um","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$upd"'}}')
kf=$(git -C "$DIR/repo.git" show refs/heads/drafts/app/ws1:app/Kptfile 2>&1)
case "$kf" in *'tier: web'*'note: n1'*'conditionType: app.ready'*) ok "Draft update: packageMetadata and readinessGates in the Kptfile";; *) ko "Draft update Kptfile" "$kf / $out";; esac
[ "$(git -C "$DIR/repo.git" log -1 --format=%s drafts/app/ws1)" = "Rendering package" ] && ok "git: committed as 'Rendering package'" || ko "render commit" "$(git -C "$DIR/repo.git" log -1 --format=%s drafts/app/ws1)"
[ "$(field '["result"]["object"]["spec"]["readinessGates"][0]["conditionType"]' <<<"$out")" = app.ready ] && ok "spec.readinessGates read back from the Kptfile" || ko "readinessGates" "$out"
before=$(git -C "$DIR/repo.git" rev-parse drafts/app/ws1)
cur=$(field '["result"]["object"]' <<<"$out")
out=$(req engine '{"v":1,"op":"engine.update","id":"un","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$cur"'}}')
[ "$(git -C "$DIR/repo.git" rev-parse drafts/app/ws1)" = "$before" ] && ok "an unchanged Draft update commits nothing" || ko "no-op update committed" "$out"

out=$(req cache '{"v":1,"op":"cache.get","id":"g2","args":{"kind":"packagerevisions.porch.kpt.dev","namespace":"ns1","name":"blue.app.ws1"}}')
cur=$(field '["result"]["object"]' <<<"$out")
# a propose that also changes the Kptfile: committed and moved in one push
prop=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); o["spec"]["lifecycle"]=sys.argv[2]; o["spec"]["packageMetadata"]["labels"]["stage"]="review"; print(json.dumps(o))' "$cur" Proposed)
out=$(req engine '{"v":1,"op":"engine.update","id":"u1","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$prop"'}}')
[ "$(field '["result"]["object"]["spec"]["lifecycle"]' <<<"$out")" = Proposed ] && ok "proposed" || ko "propose" "$out"
git -C "$DIR/repo.git" rev-parse -q --verify refs/heads/proposed/app/ws1 >/dev/null && ok "git: proposed/app/ws1" || ko "proposed branch"
git -C "$DIR/repo.git" rev-parse -q --verify refs/heads/drafts/app/ws1 >/dev/null && ko "drafts/app/ws1 left behind" || ok "git: drafts/app/ws1 gone"
case "$(git -C "$DIR/repo.git" log -1 --format=%s proposed/app/ws1):$(git -C "$DIR/repo.git" show proposed/app/ws1:app/Kptfile)" in
  "Rendering package:"*'stage: review'*) ok "git: the propose's Kptfile change committed on proposed/app/ws1";;
  *) ko "propose commit" "$(git -C "$DIR/repo.git" log -1 --format=%s proposed/app/ws1)";; esac
[ "$(field '["result"]["object"]["status"]["selfLock"]["git"]["commit"]' <<<"$out")" = "$(git -C "$DIR/repo.git" rev-parse proposed/app/ws1)" ] && ok "the answer is at the proposed branch's commit" || ko "propose commit in the answer" "$out"
# the cache takes a write's listing only for that package of that repository
out2=$(req cache '{"v":1,"op":"cache.sync","id":"sl","args":{"namespace":"ns1","name":"blue","package":"app","listed":{"items":[{"metadata":{"name":"blue.other.w"},"spec":{"packageName":"other","repository":"blue"}}]}}}')
case "$out2" in *'"code":400'*'listed.items[0] is not a revision of package'*) ok "cache.sync refuses a listing of another package (400)";; *) ko "hostile listed" "$out2";; esac
out2=$(req cache '{"v":1,"op":"cache.get","id":"g3","args":{"kind":"packagerevisions.porch.kpt.dev","namespace":"ns1","name":"blue.app.ws1"}}')
[ "$(field '["result"]["object"]["spec"]["lifecycle"]' <<<"$out2")" = Proposed ] && ok "the refused listing changed nothing" || ko "after hostile listed" "$out2"
cur=$(field '["result"]["object"]' <<<"$out")
pub=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); o["spec"]["lifecycle"]=sys.argv[2]; print(json.dumps(o))' "$cur" Published)
out=$(req engine '{"v":1,"op":"engine.update","id":"u2","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$pub"'}}')
case "$out" in *'"code":422'*) ok "publishing without approval is a 422";; *) ko "update to Published" "$out";; esac
out=$(req engine '{"v":1,"op":"engine.update","id":"u3","args":{"namespace":"ns1","name":"blue.app.ws1","subresource":"approval","object":'"$pub"'}}')
[ "$(field '["result"]["object"]["spec"]["lifecycle"]' <<<"$out")" = Published ] && ok "approved" || ko "approve" "$out"
[ "$(field '["result"]["object"]["spec"]["revision"]' <<<"$out")" = 1 ] && ok "revision 1" || ko "revision" "$out"
[ "$(field '["result"]["object"]["metadata"]["labels"]["kpt.dev/latest-revision"]' <<<"$out")" = true ] && ok "latest label" || ko "latest" "$out"
git -C "$DIR/repo.git" rev-parse -q --verify refs/tags/app/v1 >/dev/null && ok "git: tag app/v1" || ko "tag"
git -C "$DIR/repo.git" show main:app/cm.yaml >/dev/null 2>&1 && ok "git: package on main" || ko "package on main"
git -C "$DIR/repo.git" log -1 --format=%B main | grep -q '^kpt:{"package":"app","workspaceName":"ws1","revision":"1"' && ok "git: kpt annotation on the approval commit" || ko "annotation" "$(git -C "$DIR/repo.git" log -1 --format=%B main)"

out2=$(req engine '{"v":1,"op":"engine.create","id":"cl","args":{"namespace":"ns1","object":{"spec":{"packageName":"app-copy","workspaceName":"w1","repository":"blue","tasks":[{"type":"clone","clone":{"upstreamRef":{"upstreamRef":{"name":"blue.app.ws1"}}}}]}}}}')
[ "$(field '["result"]["object"]["status"]["upstreamLock"]["git"]["ref"]' <<<"$out2")" = app/v1 ] && ok "clone: status.upstreamLock from the Kptfile" || ko "clone upstreamLock" "$out2"
[ "$(field '["result"]["object"]["spec"]["packageMetadata"]["annotations"]["config.kubernetes.io/local-config"]' <<<"$out2")" = true ] && ok "spec.packageMetadata from the Kptfile" || ko "packageMetadata" "$out2"
# A clone into a deployment repository gets Porch's package context (spec §6.2).
git init -q --bare -b main "$DIR/deploy.git"
dep='{"apiVersion":"config.porch.kpt.dev/v1alpha1","kind":"Repository","metadata":{"name":"deploy","namespace":"ns1"},"spec":{"type":"git","deployment":true,"git":{"repo":"file://'$DIR'/deploy.git","branch":"main","createBranch":true}}}'
req cache '{"v":1,"op":"cache.put","id":"r3","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"deploy","object":'"$dep"'}}' >/dev/null
for _ in $(seq 100); do
  out=$(req cache '{"v":1,"op":"cache.get","id":"g","args":{"kind":"repositories.config.porch.kpt.dev","namespace":"ns1","name":"deploy"}}')
  [ "$(field '["result"]["object"]["status"]["conditions"][0]["status"]' <<<"$out")" = True ] && break; sleep 0.1
done
out3=$(req engine '{"v":1,"op":"engine.create","id":"cd","args":{"namespace":"ns1","object":{"spec":{"packageName":"edge/app-dep","workspaceName":"w1","repository":"deploy","tasks":[{"type":"clone","clone":{"upstreamRef":{"upstreamRef":{"name":"blue.app.ws1"}}}}]}}}}')
ctx=$(git -C "$DIR/deploy.git" show drafts/edge/app-dep/w1:edge/app-dep/package-context.yaml 2>&1)
want=$'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n  annotations:\n    config.kubernetes.io/local-config: "true"\ndata:\n  name: app-dep\n  package-path: edge/app-dep'
[ "$ctx" = "$want" ] && ok "clone into a deployment repository: package-context.yaml with name and package-path" || ko "deployment package context" "$ctx / $out3"
ctx=$(git -C "$DIR/repo.git" show refs/tags/app/v1:app/package-context.yaml 2>/dev/null)
case "$ctx" in *package-path*) ko "package context only on deployment clones" "$ctx";; *) ok "no package-path outside deployment repositories";; esac

# Losing cache.db costs only warm-up: Repositories and users' labels live in config.db.
pkill -TERM -f "porch-cache --data-dir $DIR"; sleep 0.5
rm -f "$DIR"/cache.db "$DIR"/cache.db-wal "$DIR"/cache.db-shm
(PORCH_TRACE_BUS=$TRACE "$BIN/porch-cache" --data-dir "$DIR" --log-level info 2>>"$DIR/cache.log" &)
got=
for _ in $(seq 100); do
  out=$(req cache '{"v":1,"op":"cache.get","id":"g3","args":{"kind":"packagerevisions.porch.kpt.dev","namespace":"ns1","name":"blue.app.ws1"}}')
  got=$(field '["result"]["object"]["metadata"]["labels"]["team"]' <<<"$out")
  [ -n "$got" ] && break; sleep 0.1
done
[ "$got" = a ] && ok "cache.db deleted: revisions rebuilt, user labels kept" || ko "rebuild after cache loss" "$out"
out=$(req engine '{"v":1,"op":"engine.delete","id":"d1","args":{"namespace":"ns1","name":"blue.app.ws1"}}')
case "$out" in *'"code":403'*) ok "deleting a Published revision is a 403";; *) ko "delete published" "$out";; esac
out=$(req engine '{"v":1,"op":"engine.create","id":"c4","args":{"namespace":"ns1","object":{"spec":{"packageName":"app","workspaceName":"ws2","repository":"blue","tasks":[{"type":"edit","edit":{"sourceRef":{"name":"blue.app.ws1"}}}]}}}}')
[ "$(field '["result"]["object"]["metadata"]["name"]' <<<"$out")" = blue.app.ws2 ] && ok "edit copies a published revision" || ko "edit" "$out"
out=$(req engine '{"v":1,"op":"engine.delete","id":"d2","args":{"namespace":"ns1","name":"blue.app.ws2"}}')
case "$out" in *'"ok":true'*) ok "draft deleted";; *) ko "delete draft" "$out";; esac
git -C "$DIR/repo.git" rev-parse -q --verify refs/heads/drafts/app/ws2 >/dev/null && ko "draft branch removed" || ok "git: draft branch removed"
# A revision others were cloned from is not deleted (§3.9 step 2), even once DeletionProposed.
out=$(req cache '{"v":1,"op":"cache.get","id":"g4","args":{"kind":"packagerevisions.porch.kpt.dev","namespace":"ns1","name":"blue.app.ws1"}}')
cur=$(field '["result"]["object"]' <<<"$out")
dp=$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); o["spec"]["lifecycle"]="DeletionProposed"; print(json.dumps(o))' "$cur")
out=$(req engine '{"v":1,"op":"engine.update","id":"u4","args":{"namespace":"ns1","name":"blue.app.ws1","object":'"$dp"'}}')
[ "$(field '["result"]["object"]["spec"]["lifecycle"]' <<<"$out")" = DeletionProposed ] && ok "deletion proposed" || ko "propose deletion" "$out"
out=$(req engine '{"v":1,"op":"engine.delete","id":"d3","args":{"namespace":"ns1","name":"blue.app.ws1"}}')
case "$out" in *'"code":403'*'referenced as upstream by: blue.app-copy.w1'*) ok "an upstream of a clone cannot be deleted (403, names the clone)";; *) ko "upstream delete check" "$out";; esac
git -C "$DIR/repo.git" rev-parse -q --verify refs/tags/app/v1 >/dev/null && ok "git: the refused delete left the tag" || ko "tag after refused delete"
for n in blue.app-copy.w1 deploy.edge.app-dep.w1; do
  req engine '{"v":1,"op":"engine.delete","id":"dc","args":{"namespace":"ns1","name":"'$n'"}}' >/dev/null
done
out=$(req engine '{"v":1,"op":"engine.delete","id":"d4","args":{"namespace":"ns1","name":"blue.app.ws1"}}')
case "$out" in *'"ok":true'*) ok "deleted once its clones are gone";; *) ko "delete after clones" "$out";; esac
git -C "$DIR/repo.git" rev-parse -q --verify refs/tags/app/v1 >/dev/null && ko "tag removed" "still there" || ok "git: tag app/v1 removed"
git -C "$DIR/repo.git" fsck --strict >/dev/null 2>&1 && ok "git fsck --strict" || ko "fsck"

if out=$(/usr/bin/python3 "$SRC/integration-tests/validate_bus_trace.py" "$SRC/schemas/bus" "$TRACE" --min 20 2>&1); then
  ok "bus trace validates against schemas/bus"
else
  ko "bus trace schema" "$(echo "$out" | grep INVALID | head -5)"
fi
# Services built with sanitizers report at exit: stop them cleanly and read the reports.
if nm -u "$BIN/porch-engine" 2>/dev/null | grep -q __asan_init; then
  pkill -TERM -f "data-dir $DIR"
  for _ in $(seq 100); do pgrep -f "data-dir $DIR" >/dev/null || break; sleep 0.1; done
  if reports=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$DIR"/*.log 2>/dev/null); then
    ko "sanitizers quiet in every service" "$(for f in $reports; do basename "$f"; grep -m3 "SUMMARY\|runtime error:" "$f"; done)"
  else
    ok "sanitizers quiet in every service (ASan/LSan/UBSan)"
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
