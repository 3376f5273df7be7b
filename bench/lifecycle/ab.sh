#!/usr/bin/env bash
# Paired A/B of two builds on the lifecycle path (see ab.py): starts one stack
# per bin dir (porch-up, free ports, data under one temporary directory), each
# with its own copy of a PACKAGES x 3-revision repository registered, then runs
# ab.py, which alternates items between them. Both stacks stay up for the
# whole run; an idle stack costs ~0.5 % of a CPU.
# usage: bench/lifecycle/ab.sh BIN_DIR_A BIN_DIR_B [--packages N] [--items N]
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO_DIR/bench/lifecycle"
[ $# -ge 2 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
A=$(cd "$1" && pwd -P); B=$(cd "$2" && pwd -P); shift 2
PACKAGES=1000 ITEMS=40
while [ $# -gt 0 ]; do
    case "$1" in
    --packages) PACKAGES=$2; shift 2 ;;
    --items) ITEMS=$2; shift 2 ;;
    *) echo "ab.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
TMP=$(mktemp -d /tmp/pab.XXXXXX)
cleanup() {
    for s in a b; do "$REPO_DIR/deploy/local/porch-down" --data-dir "$TMP/$s" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
export GIT_CONFIG_NOSYSTEM=1 HOME="$TMP" GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
git init -q --bare -b main "$TMP/big.git"
python3 "$HERE/mkrepo.py" "$PACKAGES" 3 | git -C "$TMP/big.git" fast-import --quiet --done
git -C "$TMP/big.git" pack-refs --all
for s in a b; do
    cp -a "$TMP/big.git" "$TMP/$s.git"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    bin=$A; [ $s = b ] && bin=$B
    "$REPO_DIR/deploy/local/porch-up" --data-dir "$TMP/$s" --bin-dir "$bin" --port "$port" >/dev/null
    KUBECONFIG="$TMP/$s/kubeconfig" kubectl create namespace bench >/dev/null
    KUBECONFIG="$TMP/$s/kubeconfig" kubectl apply -f - >/dev/null <<YAML
apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata: {name: big, namespace: bench}
spec: {type: git, git: {repo: "file://$TMP/$s.git", branch: main}}
YAML
    KUBECONFIG="$TMP/$s/kubeconfig" kubectl -n bench wait --for=condition=Ready repository/big --timeout=120s >/dev/null
done
echo "A: $A"
echo "B: $B"
echo "$PACKAGES packages x 3 revisions, $ITEMS items per side, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$HERE/ab.py" --a "$TMP/a/kubeconfig:big" --b "$TMP/b/kubeconfig:big" --items "$ITEMS" \
    --secret-dir "$TMP/client"
