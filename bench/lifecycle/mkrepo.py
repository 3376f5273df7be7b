#!/usr/bin/env python3
"""Writes a git fast-import stream of a Porch repository with PACKAGES packages
x REVISIONS published revisions on stdout.

Each package pkg-NNNN is a directory holding a Kptfile and a ConfigMap
(cm.yaml). Revision k of every package is one commit on main changing that
package only, tagged <pkg>/v<k> (lightweight tag), as a git user would push
them: commits of revision 1 for all packages, then revision 2, then 3. The
first commit adds a README.md. Usage:
  mkrepo.py PACKAGES REVISIONS | git -C BARE fast-import --quiet
"""
import sys

def main():
    packages = int(sys.argv[1])
    revisions = int(sys.argv[2])
    out = sys.stdout.buffer
    mark = 0
    blobs = {}

    def blob(data):
        nonlocal mark
        if data in blobs:
            return blobs[data]
        mark += 1
        out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
        blobs[data] = mark
        return mark

    def kptfile(pkg, rev):
        return ("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: %s\n"
                "  annotations:\n    config.kubernetes.io/local-config: \"true\"\n"
                "info:\n  description: %s benchmark package, revision %d\n" % (pkg, pkg, rev)).encode()

    def configmap(pkg, rev):
        return ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-config # the settings\n"
                "data:\n  revision: \"%d\"\n  owner: team-%d\n" % (pkg, rev, i % 7)).encode()

    ts = 1764547200  # 2025-12-01T00:00:00Z; one second per commit
    parent = None
    readme = blob(b"# benchmark repository\n")
    first = True
    for rev in range(1, revisions + 1):
        for i in range(1, packages + 1):
            pkg = "pkg-%04d" % i
            k = blob(kptfile(pkg, rev))
            c = blob(configmap(pkg, rev))
            mark += 1
            msg = ("%s: revision %d\n" % (pkg, rev)).encode()
            who = b"bench <bench@example.invalid> %d +0000" % ts
            ts += 1
            out.write(b"commit refs/heads/main\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n"
                      % (mark, who, who, len(msg), msg))
            if parent is not None:
                out.write(b"from :%d\n" % parent)
            if first:
                out.write(b"M 100644 :%d README.md\n" % readme)
                first = False
            out.write(b"M 100644 :%d %s/Kptfile\n" % (k, pkg.encode()))
            out.write(b"M 100644 :%d %s/cm.yaml\n\n" % (c, pkg.encode()))
            out.write(b"reset refs/tags/%s/v%d\nfrom :%d\n\n" % (pkg.encode(), rev, mark))
            parent = mark
    out.write(b"done\n")

if __name__ == "__main__":
    main()
