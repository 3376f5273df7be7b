#!/usr/bin/env python3
"""Paired comparison of two builds on the lifecycle path: drives two running
stacks (A and B) item by item, alternating which goes first, so both see the
same minute of this machine (whose speed drifts 20-30 % between runs minutes
apart, which makes separate runs useless for changes of a few percent).

Each item, on each stack: create (init) -> PRR update with the 3-step
pipeline -> propose -> approve -> propose-delete + delete (untimed clean-up).
Prints per operation the median of A, of B, and the median of the paired
ratios B/A. Usage (ab.sh sets the stacks up):
  ab.py --a KUBECONFIG:REPO --b KUBECONFIG:REPO [--items N] [--secret-dir D]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Client, ApiError, pipeline text)


class Side:
    def __init__(self, spec, secret_dir, name):
        kubeconfig, self.repo = spec.rsplit(":", 1)
        self.c = bench.Client(kubeconfig, os.path.join(secret_dir, name), 60)
        self.ns = "bench"
        self.samples = {}

    def path(self, name="", sub=""):
        p = "/apis/porch.kpt.dev/v1alpha1/namespaces/%s/packagerevisions" % self.ns
        return p + ("/" + name if name else "") + sub

    def rec(self, op, ms):
        self.samples.setdefault(op, []).append(ms)

    def item(self, pkg):
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": self.ns},
                "spec": {"packageName": pkg, "workspaceName": "ws", "repository": self.repo,
                         "tasks": [{"type": "init", "init": {"description": "ab"}}]}}
        _, obj, ms = self.c.request("POST", self.path(), body)
        self.rec("create", ms)
        name = obj["metadata"]["name"]
        prr_path = "/apis/porch.kpt.dev/v1alpha1/namespaces/%s/packagerevisionresources/%s" % (self.ns, name)
        _, prr, _ = self.c.request("GET", prr_path)
        res = prr["spec"]["resources"]
        res["settings.yaml"] = bench.APP_CONFIGMAP.format(name=pkg, round=0, item=pkg)
        res["Kptfile"] = res["Kptfile"].rstrip("\n") + "\n" + bench.PIPELINE_KPTFILE_TAIL
        _, _, ms = self.c.request("PUT", prr_path, prr)
        self.rec("prr-update", ms)
        _, obj, ms = self.c.request("PATCH", self.path(name), {"spec": {"lifecycle": "Proposed"}},
                                    ctype="application/merge-patch+json")
        self.rec("propose", ms)
        obj["spec"]["lifecycle"] = "Published"
        _, obj, ms = self.c.request("PUT", self.path(name, "/approval"), obj)
        self.rec("approve", ms)
        _, obj, _ = self.c.request("PATCH", self.path(name), {"spec": {"lifecycle": "DeletionProposed"}},
                                   ctype="application/merge-patch+json")
        self.c.request("DELETE", self.path(name))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--items", type=int, default=40)
    p.add_argument("--secret-dir", default="/tmp/ab-client")
    a = p.parse_args()
    sides = [Side(a.a, a.secret_dir, "a"), Side(a.b, a.secret_dir, "b")]
    for i in range(a.items + 2):  # the first two items warm up and are dropped
        order = sides if i % 2 == 0 else sides[::-1]
        for s in order:
            s.item("ab%04d" % i)
        if i == 1:
            for s in sides:
                s.samples = {}
    print("| operation | A p50 ms | B p50 ms | paired B/A (median) | n |")
    print("|---|---:|---:|---:|---:|")
    for op in ("create", "prr-update", "propose", "approve"):
        va, vb = sides[0].samples[op], sides[1].samples[op]
        ratios = [y / x for x, y in zip(va, vb) if x > 0]
        print("| %s | %.2f | %.2f | %.3f | %d |" % (op, statistics.median(va), statistics.median(vb),
                                                   statistics.median(ratios), len(ratios)))


if __name__ == "__main__":
    main()
