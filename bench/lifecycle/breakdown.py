#!/usr/bin/env python3
"""Where the time of each HTTP operation goes, from the services' debug logs.

usage: breakdown.py DATA/logs [--top N]

Needs the stack run with PORCH_LOG_LEVEL=debug (run.sh --log-level debug):
every bus server then logs one "bus request" line when a request completes,
and the apiserver one "http request" line, all with millisecond timestamps and
the request id (rid), which the apiserver and the engine pass on to their
peers. For each HTTP request, the completions with its rid are put in time
order; the time between one completion and the previous one (or the first
bus request's completion and the HTTP request's... start is not logged, so
the first step counts from the first completion) is attributed to the step
that completes: e.g. engine.create = [git-adapter.write_draft done ->
cache.sync done]. The cache's own git calls during a sync carry new rids; they
are matched by time: every git-adapter request that completed inside the
HTTP request's window, whatever its rid, is listed too.

Prints, per kind of HTTP request (method + resource + subresource, and the
repository when the path names a package revision), the median of each step
and of the whole (first completion -> HTTP done). Also the durations of the
cache's full listings of a repository (git-adapter.open done -> .list done,
over 1 s), which hold the cache's sync lock.
"""
import collections
import glob
import json
import os
import re
import statistics
import sys
from datetime import datetime


def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000.0


def kind_of(method, path):
    m = re.match(r"^/apis/[^/]+/[^/]+/namespaces/[^/]+/([^/]+)(?:/([^/]+))?(?:/([^/]+))?", path)
    if not m:
        return None
    res, name, sub = m.groups()
    if res not in ("packagerevisions", "packagerevisionresources", "repositories"):
        return None
    if method == "GET" and res == "repositories":
        return None
    # the repository is the part of a package revision name before the first "."
    repo = "" if not name or res == "repositories" else " [%s]" % name.split(".")[0]
    return "%s %s%s%s%s" % (method, res, "/NAME" if name else "", "/" + sub if sub else "", repo)


def main():
    logdir = sys.argv[1]
    events = []  # (t, svc, rid, what)
    http = []
    for f in glob.glob(os.path.join(logdir, "*.log")):
        with open(f, errors="replace") as fh:
            for line in fh:
                if not line.startswith("{"):
                    continue
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                msg = e.get("msg")
                if msg == "http request":
                    k = kind_of(e.get("method", ""), e.get("path", ""))
                    if k:
                        http.append((ts(e["ts"]), e.get("rid", ""), k, e.get("code")))
                elif msg in ("bus request", "bus request failed"):
                    events.append((ts(e["ts"]), e.get("svc", ""), e.get("rid", ""), e.get("op", "")))
    if not http:
        print("breakdown: no debug 'http request' lines in %s (run with --log-level debug)" % logdir)
        return
    by_rid = collections.defaultdict(list)
    for ev in events:
        by_rid[ev[2]].append(ev)
    git_events = sorted(ev for ev in events if ev[1] == "git-adapter")
    steps = collections.defaultdict(lambda: collections.defaultdict(list))
    totals = collections.defaultdict(list)
    counts = collections.Counter()
    for t_end, rid, kind, code in http:
        evs = sorted(by_rid.get(rid, []))
        if not evs:
            continue
        counts[kind] += 1
        t_first = evs[0][0]
        totals[kind].append(t_end - t_first)
        prev = t_first
        seen = collections.Counter()
        for t, svc, _, op in evs:
            key = "%s" % op
            seen[key] += 1
            if seen[key] > 1:
                key = "%s #%d" % (op, seen[key])
            steps[kind][key].append(t - prev)
            prev = t
        steps[kind]["(apiserver after last bus reply)"].append(t_end - prev)
        # foreign git-adapter requests (the cache's sync) inside the window
        for t, svc, r, op in git_events:
            if t_first - 5 <= t <= t_end and r != rid:
                steps[kind]["(cache-initiated %s completed in window)" % op].append(0)
    gaps = []
    for i in range(1, len(git_events)):
        if git_events[i][3] == "git-adapter.list" and git_events[i - 1][3] == "git-adapter.open":
            gaps.append(git_events[i][0] - git_events[i - 1][0])
    long = [g / 1000.0 for g in gaps if g > 1000]
    if long:
        print("\ngit-adapter.open -> .list over 1 s (full repository listings by the cache's sync): %d, "
              "median %.1f s, max %.1f s" % (len(long), statistics.median(long), max(long)))
    print("\nPer-request breakdown from debug logs (median ms; a step = time from the previous completion to this one):")
    for kind in sorted(counts):
        n = counts[kind]
        print("\n%s  (%d requests, first bus completion -> HTTP done: median %.1f ms)" % (kind, n, statistics.median(totals[kind])))
        for key, vals in steps[kind].items():
            if key.startswith("(cache-initiated"):
                print("    %-55s in %d of %d requests" % (key, len(vals), n))
            else:
                print("    %-55s %8.1f   (n=%d, max %.1f)" % (key, statistics.median(vals), len(vals), max(vals)))


if __name__ == "__main__":
    main()
