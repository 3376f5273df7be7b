#!/usr/bin/env python3
"""Counts what the services logged during a benchmark run (any log level):
warnings, errors, failed bus requests by op and code, supervisor restarts.

usage: logstats.py DATA/logs
"""
import collections
import glob
import json
import os
import sys


def main():
    logdir = sys.argv[1]
    levels = collections.Counter()
    failed = collections.Counter()
    msgs = collections.Counter()
    restarts = 0
    for f in sorted(glob.glob(os.path.join(logdir, "*.log"))):
        with open(f, errors="replace") as fh:
            for line in fh:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                svc = e.get("svc") or os.path.basename(f)[:-4]
                lvl = e.get("level", "?")
                levels[(svc, lvl)] += 1
                if e.get("msg") == "bus request failed":
                    failed[(svc, e.get("op"), e.get("code"), (e.get("error") or "")[:120])] += 1
                elif lvl in ("warn", "error"):
                    msgs[(svc, lvl, e.get("msg"))] += 1
                if e.get("msg") == "service exited":
                    restarts += 1
    print("\nService logs (%s):" % logdir)
    print("  lines by service and level: " + ", ".join("%s/%s %d" % (s, l, n) for (s, l), n in sorted(levels.items())))
    print("  services that exited (supervisor): %d" % restarts)
    for (svc, op, code, err), n in failed.most_common(10):
        print("  failed bus request x%d: %s %s %s %s" % (n, svc, op, code, err))
    for (svc, lvl, m), n in msgs.most_common(10):
        print("  %s x%d: %s %s" % (lvl, n, svc, m))


if __name__ == "__main__":
    main()
