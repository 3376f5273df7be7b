#!/usr/bin/env bash
# Times `porchctl fn source PKG | porchctl fn sink OUT` against the same pipeline
# with the real kpt on one generated package (FILES files of the bench-krm stream,
# default 200 files ≈ 10 MB), best of RUNS (default 3), and checks both outputs match.
# Usage: bench/krm/compare_kpt.sh [PORCHCTL] [KPT] [FILES] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
porchctl="${1:-$root/build/bin/porchctl}"
kpt="${2:-kpt}"
files="${3:-200}"
runs="${4:-3}"
bench="$(dirname "$porchctl")/bench-krm"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bench" $((files * 50 * 1024)) 1 "$tmp/all.yaml" >/dev/null
mkdir -p "$tmp/pkg"
printf 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n' > "$tmp/pkg/Kptfile"
# split the stream into FILES files of whole documents
awk -v n="$files" -v dir="$tmp/pkg" 'BEGIN{f=0} /^---$/ {d++; if (d % 1 == 0) f = (f + 1) % n; next} {print > (dir "/res-" sprintf("%04d", f) ".yaml")}' "$tmp/all.yaml"
for f in "$tmp"/pkg/res-*.yaml; do sed -i 's/^# Deployment/---\n# Deployment/' "$f"; sed -i '1{/^---$/d}' "$f"; done
size=$(du -sb "$tmp/pkg" | cut -f1)
# best of RUNS: wall seconds and CPU seconds (user+sys of the whole pipeline)
best() {
  python3 - "$runs" "$tmp/out" "$1" <<'PY'
import resource, shutil, subprocess, sys, time
runs, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bw = bc = 1e9
for _ in range(runs):
    shutil.rmtree(out, ignore_errors=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.time()
    subprocess.run(cmd, shell=True, check=True)
    t1 = time.time(); r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    bw = min(bw, t1 - t0)
    bc = min(bc, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
print(f"{bw:.3f} {bc:.3f}")
PY
}
read -r ours_w ours_c < <(best "'$porchctl' fn source '$tmp/pkg' | '$porchctl' fn sink '$tmp/out'")
cp -r "$tmp/out" "$tmp/out-ours"
read -r kpt_w kpt_c < <(best "'$kpt' fn source '$tmp/pkg' | '$kpt' fn sink '$tmp/out'")
same=yes; diff -r "$tmp/out" "$tmp/out-ours" >/dev/null || same=no
printf 'package: %d files, %.1f MB; load average %s\n' "$(ls "$tmp/pkg" | wc -l)" "$(python3 -c "print($size/1048576)")" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'porchctl fn source | fn sink: wall %.3f s, cpu %.3f s\n' "$ours_w" "$ours_c"
printf 'kpt      fn source | fn sink: wall %.3f s, cpu %.3f s\n' "$kpt_w" "$kpt_c"
printf 'speed-up: wall %.1fx, cpu %.1fx (target >= 10x); outputs identical: %s\n' \
  "$(python3 -c "print($kpt_w / $ours_w)")" "$(python3 -c "print($kpt_c / $ours_c)")" "$same"
