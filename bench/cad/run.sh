#!/usr/bin/env bash
# CaD benchmarks: porchctl beside the installed kpt in the same run, median
# of N runs (default 5) of each operation on generated fixtures:
#   fn source | fn sink of 1,000 resources; pkg get of a 500-file package from
#   a local bare repo; pkg update (resource-merge) of 200 resources; fn render
#   with a 3-step exec pipeline. Prints a markdown table.
# Usage: bench/cad/run.sh [PORCHCTL] [KPT] [N]
set -euo pipefail
PORCHCTL=$(realpath "${1:-build/bin/porchctl}")
KPT=${2:-kpt}
N=${3:-5}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export HOME=$W/home KPT_CACHE_DIR=$W/cache GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x
mkdir -p "$HOME"
cd "$W"

resource() { # i
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$1 # the app
  namespace: ns-$(($1 % 7))
  labels:
    app: app-$1
spec:
  replicas: $(($1 % 5 + 1))
  template:
    spec:
      containers:
      - name: main
        image: nginx:1.$(($1 % 30))
        env:
        - name: MODE
          value: prod
YAML
}

# 1,000 resources in 100 files
mkdir -p big
for f in $(seq 0 99); do
  for d in $(seq 0 9); do [ $d -gt 0 ] && echo '---'; resource $((f * 10 + d)); done > big/f$f.yaml
done
printf 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: big\n' > big/Kptfile

# upstream repo: 500-file package (tag v1) and 200-resource package with v2 changes
git init -q -b main up
mkdir -p up/get up/upd
for i in $(seq 0 499); do resource $i > up/get/r$i.yaml; done
printf 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: get\n' > up/get/Kptfile
for i in $(seq 0 199); do resource $i > up/upd/r$i.yaml; done
printf 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: upd\n' > up/upd/Kptfile
git -C up add -A && git -C up commit -q -m v1 && git -C up tag v1
for i in $(seq 0 199); do sed -i 's/value: prod/value: staging/' up/upd/r$i.yaml; done
git -C up add -A && git -C up commit -q -m v2 && git -C up tag v2
git init -q --bare -b main up.git && git -C up push -q ../up.git main --tags

# render package: 3-step exec pipeline over 200 resources
mkdir -p rnd fns
for i in $(seq 0 199); do resource $i; echo '---'; done | sed '$d' > rnd/all.yaml
for s in 1 2 3; do printf '#!/bin/sh\nexec sed "s/value: prod/value: step%s/"\n' $s > fns/f$s.sh; chmod +x fns/f$s.sh; done
printf 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: rnd\npipeline:\n  mutators:\n  - exec: %s/fns/f1.sh\n  - exec: %s/fns/f2.sh\n  - exec: %s/fns/f3.sh\n' "$W" "$W" "$W" > rnd/Kptfile

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_op PREP CMD: runs PREP (untimed) then CMD, N times; prints the median
# wall-clock ms and the median CPU ms (user + sys of every process it ran)
time_op() {
  local prep=$1 cmd=$2 out
  out=$(for _ in $(seq "$N"); do
    bash -c "$prep" >/dev/null 2>&1
    /usr/bin/time -f "%e %U %S" -o "$W/t" bash -c "$cmd" >/dev/null 2>&1 || echo "FAILED: $cmd" >&2
    awk '{printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000}' "$W/t"
  done)
  echo "$(echo "$out" | awk '{print $1}' | median) $(echo "$out" | awk '{print $2}' | median)"
}

row() { # label prep cmd-with-TOOL
  local p k
  p=$(time_op "${2//TOOL/$PORCHCTL}" "${3//TOOL/$PORCHCTL}")
  k=$(time_op "${2//TOOL/$KPT}" "${3//TOOL/$KPT}")
  echo "$p $k" | awk -v l="$1" '{ printf "| %s | %d ms (cpu %d) | %d ms (cpu %d) | %.1fx | %.1fx |\n", l, $1, $2, $3, $4, $3/($1?$1:1), $4/($2?$2:1) }'
}

echo "| operation | porchctl wall (cpu) | kpt $($KPT version 2>/dev/null | head -1) wall (cpu) | wall speed-up | cpu speed-up |"
echo "|---|---|---|---|---|"
row "fn source \| fn sink, 1,000 resources" "rm -rf sunk" "TOOL fn source big | TOOL fn sink sunk"
row "pkg get, 500 files, local bare repo" "rm -rf got" "TOOL pkg get file://$W/up.git/get@v1 got"
row "pkg update resource-merge, 200 resources" \
  "rm -rf upd && TOOL pkg get file://$W/up.git/upd@v1 upd && sed -i 's/replicas: 1/replicas: 9/' upd/r0.yaml" \
  "TOOL pkg update upd@v2"
row "fn render, 3-step exec pipeline, 200 resources" "rm -rf r && cp -r rnd r" "TOOL fn render r --allow-exec"
