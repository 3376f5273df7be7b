#!/usr/bin/env python3
"""Package-lifecycle benchmark through Porch's HTTP API (issue 7).

Python 3 standard library only (http.client + ssl), PyYAML for the kubeconfig.
Started by bench/lifecycle/run.sh, which owns the stack and the git
repositories; this program only talks HTTPS to the apiserver.

What it measures (milliseconds, client side: request sent -> response read,
over one kept-alive TLS connection):
  ready        POST Repository -> first GET showing Ready=True (each sample
               after the previous sample's repository and its revisions are
               gone; polled every
               --poll-ms), on a fresh copy of the 1,000-package repository
               each time (its own URL, so nothing is shared with earlier ones)
  create       POST PackageRevision with an init task (Draft)
  prr-update   PUT PackageRevisionResources: the Kptfile gets a 3-step
               pipeline of built-ins (set-namespace, set-labels,
               set-annotations from gcr.io/kpt-fn/*) and a new ConfigMap is
               added; the server renders. If the server refuses the pipeline
               the error is recorded and the update is measured without it
               (row labelled so)
  propose      PATCH (merge patch) spec.lifecycle=Proposed (re-renders the draft)
  approve      PUT .../approval with spec.lifecycle=Published, in the
               1,000-package repository ("approve") and in the 10-package
               one ("approve-small"), interleaved item by item
  delete       DELETE of a Draft
Each round does --ops items of each; round 0 is a warm-up and is excluded.
p50 = median over the measured rounds of each round's median; p99 over all
measured samples pooled. After each round the packages it published are
removed again (DeletionProposed + delete of the tag and of the branch
placeholder, untimed) so the repositories keep their size.
"""
import argparse
import base64
import http.client
import json
import os
import ssl
import statistics
import sys
import time
import urllib.parse

import yaml

PORCH = "/apis/porch.kpt.dev/v1alpha1"
CONFIG = "/apis/config.porch.kpt.dev/v1alpha1"

PIPELINE_KPTFILE_TAIL = """pipeline:
  mutators:
  - image: gcr.io/kpt-fn/set-namespace:v0.4.1
    configMap:
      namespace: bench-ns
  - image: gcr.io/kpt-fn/set-labels:v0.2.0
    configMap:
      app.kubernetes.io/part-of: lifecycle-bench
  - image: gcr.io/kpt-fn/set-annotations:v0.1.4
    configMap:
      bench.porch.kpt.dev/owner: team-a
"""

APP_CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-settings # added by the benchmark
data:
  round: "{round}"
  item: "{item}"
"""


class ApiError(Exception):
    def __init__(self, method, path, status, body):
        self.status = status
        try:
            msg = json.loads(body).get("message", "")
        except Exception:  # not JSON
            msg = body[:300].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:300]
        self.message = msg
        super().__init__("%s %s -> HTTP %s: %s" % (method, path, status, msg))


class Client:
    """One kept-alive HTTPS connection with the kubeconfig's client certificate."""

    def __init__(self, kubeconfig, secret_dir, timeout):
        with open(kubeconfig) as f:
            kc = yaml.safe_load(f)
        ctx_name = kc.get("current-context")
        ctx = next((c["context"] for c in kc["contexts"] if c["name"] == ctx_name), kc["contexts"][0]["context"])
        cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])
        url = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = url.hostname, url.port or 443
        os.makedirs(secret_dir, mode=0o700, exist_ok=True)
        paths = {}
        for key, fname in (("certificate-authority-data", "ca.crt"), ("client-certificate-data", "client.crt"),
                           ("client-key-data", "client.key")):
            src = cluster if key.startswith("certificate-authority") else user
            p = os.path.join(secret_dir, fname)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64decode(src[key]))
            paths[fname] = p
        self.ssl = ssl.create_default_context(cafile=paths["ca.crt"])
        self.ssl.load_cert_chain(paths["client.crt"], paths["client.key"])
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=self.timeout)
        self.conn.connect()

    def request(self, method, path, body=None, ctype="application/json", ok=(200, 201)):
        """Returns (status, parsed body, elapsed ms). Raises ApiError when the status is not in ok."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            t0 = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
            except (ConnectionError, http.client.HTTPException, OSError):
                # The server closed the idle connection before we sent: nothing
                # reached it, so sending again on a new connection is safe.
                self.conn.close()
                self.conn = None
                if attempt == 0:
                    continue
                raise
            resp = self.conn.getresponse()
            raw = resp.read()
            ms = (time.perf_counter() - t0) * 1000.0
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            break
        if resp.status not in ok:
            raise ApiError(method, path, resp.status, raw)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return resp.status, parsed, ms


def pct(samples, p):
    if not samples:
        return None
    s = sorted(samples)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Bench:
    def __init__(self, a):
        self.a = a
        self.c = Client(a.kubeconfig, a.secret_dir, a.request_timeout)
        self.ns = a.namespace
        self.samples = {}  # op -> list of (round, ms)
        self.errors = {}  # op -> list of messages
        self.notes = []
        self.pipeline = not a.no_pipeline
        self.pipeline_error = None
        self.render_results = None

    def log(self, *msg):
        print("[%s]" % time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)

    def record(self, op, rnd, ms):
        self.samples.setdefault(op, []).append((rnd, ms))

    def error(self, op, exc):
        self.errors.setdefault(op, []).append(str(exc))
        self.log("error in %s: %s" % (op, exc))

    # ---- resources ---------------------------------------------------------
    def pr_path(self, name="", sub=""):
        return "%s/namespaces/%s/packagerevisions%s%s" % (PORCH, self.ns, "/" + name if name else "", sub)

    def prr_path(self, name):
        return "%s/namespaces/%s/packagerevisionresources/%s" % (PORCH, self.ns, name)

    def repo_path(self, name=""):
        return "%s/namespaces/%s/repositories%s" % (CONFIG, self.ns, "/" + name if name else "")

    def ensure_namespace(self):
        self.c.request("POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}}, ok=(200, 201, 409))

    def register(self, name, url):
        """POST a Repository, poll until Ready=True. Returns ms from sending the POST."""
        body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"description": "lifecycle benchmark", "type": "git",
                         "git": {"repo": url, "branch": "main"}}}
        t0 = time.perf_counter()
        self.c.request("POST", self.repo_path(), body)
        deadline = time.monotonic() + self.a.ready_timeout
        last = None
        while True:
            _, obj, _ = self.c.request("GET", self.repo_path(name))
            conds = (obj.get("status") or {}).get("conditions") or []
            ready = next((c for c in conds if c.get("type") == "Ready"), None)
            last = ready
            if ready and ready.get("status") == "True":
                return (time.perf_counter() - t0) * 1000.0, obj
            if ready and ready.get("status") == "False" and ready.get("reason") not in ("Reconciling", None, ""):
                raise RuntimeError("Repository %s failed: %s" % (name, ready))
            if time.monotonic() > deadline:
                raise RuntimeError("Repository %s not Ready after %ss (Ready: %s)" % (name, self.a.ready_timeout, last))
            time.sleep(self.a.poll_ms / 1000.0)

    def unregister(self, name):
        """DELETE a Repository and wait until its package revisions are gone
        too, so the next register -> Ready sample does not include this
        clean-up (the cache syncs repositories one at a time)."""
        self.c.request("DELETE", self.repo_path(name), ok=(200, 202, 404))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st, _, _ = self.c.request("GET", self.repo_path(name), ok=(200, 404))
            if st == 404:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("Repository %s still there 120 s after DELETE" % name)
        while time.monotonic() < deadline:
            _, lst, _ = self.c.request(
                "GET", self.pr_path() + "?limit=1&fieldSelector=spec.repository%3D" + name)
            if not (lst.get("items") or []):
                return
            time.sleep(0.05)
        raise RuntimeError("package revisions of %s still listed 120 s after DELETE" % name)

    def create(self, repo, pkg, ws="ws"):
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": self.ns},
                "spec": {"packageName": pkg, "workspaceName": ws, "repository": repo,
                         "tasks": [{"type": "init", "init": {"description": "%s benchmark package" % pkg}}]}}
        _, obj, ms = self.c.request("POST", self.pr_path(), body)
        return obj, ms

    def propose(self, name):
        _, obj, ms = self.c.request("PATCH", self.pr_path(name), {"spec": {"lifecycle": "Proposed"}},
                                    ctype="application/merge-patch+json")
        return obj, ms

    def approve(self, obj, lifecycle="Published"):
        obj = json.loads(json.dumps(obj))
        obj["spec"]["lifecycle"] = lifecycle
        _, out, ms = self.c.request("PUT", self.pr_path(obj["metadata"]["name"], "/approval"), obj)
        return out, ms

    def delete(self, name):
        _, obj, ms = self.c.request("DELETE", self.pr_path(name))
        return obj, ms

    def prr_update(self, name, rnd, item):
        _, prr, _ = self.c.request("GET", self.prr_path(name))
        res = prr["spec"]["resources"]
        res["settings.yaml"] = APP_CONFIGMAP.format(name=prr["spec"]["packageName"], round=rnd, item=item)
        plain = json.loads(json.dumps(prr))
        if self.pipeline:
            kf = res["Kptfile"]
            if "pipeline:" not in kf:
                res["Kptfile"] = kf.rstrip("\n") + "\n" + PIPELINE_KPTFILE_TAIL
            try:
                _, out, ms = self.c.request("PUT", self.prr_path(name), prr)
                if self.render_results is None:
                    self.render_results = (out.get("status") or {}).get("renderStatus")
                    self.check_rendered(name)
                return "prr-update", ms
            except ApiError as e:
                self.pipeline = False
                self.pipeline_error = "HTTP %s: %s" % (e.status, e.message)
                self.log("the server refused the 3-step pipeline; measuring PRR updates without it:", self.pipeline_error)
        _, out, ms = self.c.request("PUT", self.prr_path(name), plain)
        return "prr-update-no-pipeline", ms

    def check_rendered(self, name):
        """Once: the pipeline really ran (namespace, label and annotation on the new ConfigMap)."""
        _, prr, _ = self.c.request("GET", self.prr_path(name))
        text = prr["spec"]["resources"].get("settings.yaml", "")
        ok = all(s in text for s in ("namespace: bench-ns", "lifecycle-bench", "bench.porch.kpt.dev/owner"))
        self.notes.append("pipeline output check on %s: %s" % (name, "namespace, label and annotation set" if ok
                                                              else "NOT applied: " + text.replace("\n", " | ")))
        if not ok:
            self.log("warning: the pipeline did not change settings.yaml:", text)

    def remove_published(self, repo, pkg, obj):
        """Untimed clean-up: the tag revision and the branch placeholder."""
        name = obj["metadata"]["name"]
        try:
            self.c.request("PATCH", self.pr_path(name), {"spec": {"lifecycle": "DeletionProposed"}},
                           ctype="application/merge-patch+json")
            self.c.request("DELETE", self.pr_path(name))
            ph = "%s.%s.main" % (repo, pkg)
            self.c.request("PATCH", self.pr_path(ph), {"spec": {"lifecycle": "DeletionProposed"}},
                           ctype="application/merge-patch+json")
            self.c.request("DELETE", self.pr_path(ph))
        except (ApiError, OSError) as e:
            self.error("cleanup", e)

    # ---- the run -------------------------------------------------------------
    def run(self):
        a = self.a
        self.ensure_namespace()
        self.log("registering %s (%s) and %s (%s)" % (a.big_repo, a.big_url, a.small_repo, a.small_url))
        ms, obj = self.register(a.big_repo, a.big_url)
        self.record("ready-first", 0, ms)
        self.notes.append("Repository %s status after Ready: %s" % (a.big_repo, json.dumps(
            {k: v for k, v in (obj.get("status") or {}).items() if k != "conditions"})))
        self.log("%s Ready in %.0f ms" % (a.big_repo, ms))
        ms, _ = self.register(a.small_repo, a.small_url)
        self.record("ready-small", 0, ms)
        self.log("%s Ready in %.0f ms" % (a.small_repo, ms))
        _, lst, ms = self.c.request("GET", self.pr_path() + "?fieldSelector=spec.repository%3D" + a.big_repo)
        n = len(lst.get("items") or [])
        self.notes.append("LIST of %s after Ready: %d package revisions in %.0f ms" % (a.big_repo, n, ms))
        self.log("%s lists %d package revisions (%.0f ms)" % (a.big_repo, n, ms))
        expect = a.expect_revisions
        if expect and n != expect:
            self.notes.append("WARNING: expected %d package revisions in %s, got %d" % (expect, a.big_repo, n))

        for i, url in enumerate(a.ready_url):
            name = "ready-%d" % i
            try:
                ms, _ = self.register(name, url)
                self.record("ready", i, ms)
                self.log("%s Ready in %.0f ms%s" % (name, ms, " (warm-up)" if i == 0 else ""))
                self.unregister(name)
            except (ApiError, RuntimeError, OSError) as e:
                self.error("ready", e)

        for rnd in range(a.rounds + 1):
            self.log("round %d%s" % (rnd, " (warm-up, not counted)" if rnd == 0 else ""))
            published = []
            for i in range(a.ops):
                pkg = "b%02d-%03d" % (rnd, i)
                # 1,000-package repository: create, resources, propose, approve
                try:
                    obj, ms = self.create(a.big_repo, pkg)
                    self.record("create", rnd, ms)
                    name = obj["metadata"]["name"]
                    try:
                        op, ms = self.prr_update(name, rnd, i)
                        self.record(op, rnd, ms)
                    except (ApiError, OSError) as e:
                        self.error("prr-update", e)
                    obj, ms = self.propose(name)
                    self.record("propose", rnd, ms)
                    obj, ms = self.approve(obj)
                    self.record("approve", rnd, ms)
                    if obj["spec"].get("lifecycle") != "Published":
                        self.error("approve", "answer has lifecycle %s" % obj["spec"].get("lifecycle"))
                    published.append((a.big_repo, pkg, obj))
                except (ApiError, OSError, KeyError) as e:
                    self.error("big-item", e)
                # 10-package repository: approve
                spkg = "s%02d-%03d" % (rnd, i)
                try:
                    obj, _ = self.create(a.small_repo, spkg)
                    obj, _ = self.propose(obj["metadata"]["name"])
                    obj, ms = self.approve(obj)
                    self.record("approve-small", rnd, ms)
                    published.append((a.small_repo, spkg, obj))
                except (ApiError, OSError, KeyError) as e:
                    self.error("small-item", e)
                # delete of a Draft in the 1,000-package repository
                try:
                    obj, _ = self.create(a.big_repo, "d%02d-%03d" % (rnd, i))
                    _, ms = self.delete(obj["metadata"]["name"])
                    self.record("delete", rnd, ms)
                except (ApiError, OSError, KeyError) as e:
                    self.error("delete", e)
            if not a.no_cleanup:
                t0 = time.perf_counter()
                for repo, pkg, obj in published:
                    self.remove_published(repo, pkg, obj)
                self.log("clean-up of %d published packages: %.1f s" % (len(published), time.perf_counter() - t0))
            self.log("round %d: %s" % (rnd, ", ".join(
                "%s p50 %.1f" % (op, statistics.median([m for r, m in s if r == rnd]))
                for op, s in self.samples.items() if any(r == rnd for r, _ in s))))

    # ---- report --------------------------------------------------------------
    def summary(self):
        out = {}
        for op, s in self.samples.items():
            if op in ("ready-first", "ready-small"):
                vals = [m for _, m in s]
                out[op] = {"p50": vals[0], "p99": vals[0], "n": 1, "rounds": 1}
                continue
            measured = [(r, m) for r, m in s if r >= 1]
            if not measured:
                continue
            rounds = sorted({r for r, _ in measured})
            per_round = [statistics.median([m for r, m in measured if r == rr]) for rr in rounds]
            vals = [m for _, m in measured]
            out[op] = {"p50": statistics.median(per_round), "p99": pct(vals, 99), "n": len(vals),
                       "rounds": len(rounds), "round_p50s": per_round, "pooled_p50": statistics.median(vals),
                       "max": max(vals)}
        return out


ROWS = [  # op, label, Porch's published figure (ms), target (ms)
    ("ready", "register → Ready ({big} pkgs × 3 revs, fresh copy)", 2000, 2000),
    ("create", "create (init)", 457, 15),
    ("prr-update", "PRR update, 3-step built-in pipeline", None, 15),
    ("prr-update-no-pipeline", "PRR update WITHOUT the pipeline (server refused it)", None, 15),
    ("propose", "propose (PATCH lifecycle=Proposed)", 561, 10),
    ("approve", "approve (PUT approval, {big}-pkg repo)", 699, 25),
    ("approve-small", "approve (PUT approval, 10-pkg repo)", 699, 25),
    ("delete", "delete (Draft)", 3200, 10),
]


def fmt(v):
    if v is None:
        return "—"
    if v >= 1000:
        return "{:,.0f}".format(v)
    return "%.1f" % v


def table(summary, big):
    lines = ["| operation | p50 ms | p99 ms | samples | Porch (published) ms | target ms | target |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for op, label, porch, target in ROWS:
        s = summary.get(op)
        if not s:
            continue
        met = "met" if s["p50"] <= target else "**missed** (%.1f×)" % (s["p50"] / target)
        lines.append("| %s | %s | %s | %d | %s | ≤ %s | %s |" % (
            label.format(big="{:,}".format(big)), fmt(s["p50"]), fmt(s["p99"]), s["n"], fmt(porch), fmt(target), met))
    ab, asm = summary.get("approve"), summary.get("approve-small")
    if ab and asm:
        r = ab["p50"] / asm["p50"]
        lines.append("| approve ratio %s / 10 packages (p50) | %.2f× | | | grows linearly (~7 s at 50 revisions) | ≤ 1.5× | %s |"
                     % ("{:,}".format(big), r, "met" if r <= 1.5 else "**missed**"))
    for op, label in (("ready-first", "first registration of the %s-pkg repo → Ready (single run)" % "{:,}".format(big)),
                      ("ready-small", "first registration of the 10-pkg repo → Ready (single run)")):
        s = summary.get(op)
        if s:
            lines.append("| %s | %s | | 1 | | | |" % (label, fmt(s["p50"])))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--secret-dir", required=True, help="private directory for the extracted certificates")
    p.add_argument("--namespace", default="bench")
    p.add_argument("--big-repo", default="big")
    p.add_argument("--big-url", required=True)
    p.add_argument("--small-repo", default="small")
    p.add_argument("--small-url", required=True)
    p.add_argument("--ready-url", action="append", default=[], help="fresh copies for register→Ready samples (first = warm-up)")
    p.add_argument("--expect-revisions", type=int, default=0)
    p.add_argument("--packages", type=int, default=1000, help="packages in the big repository (labels only)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--ops", type=int, default=10, help="items of each operation per round")
    p.add_argument("--no-pipeline", action="store_true")
    p.add_argument("--no-cleanup", action="store_true")
    p.add_argument("--poll-ms", type=float, default=10)
    p.add_argument("--ready-timeout", type=float, default=300)
    p.add_argument("--request-timeout", type=float, default=120)
    p.add_argument("--json", help="write samples and summary here")
    a = p.parse_args()

    b = Bench(a)
    failed = None
    try:
        b.run()
    except Exception as e:  # report what we have, then fail
        failed = e
        b.log("benchmark aborted: %r" % e)
    s = b.summary()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": s, "samples": b.samples, "errors": b.errors, "notes": b.notes,
                       "pipeline_error": b.pipeline_error, "render_status": b.render_results}, f, indent=1)
    print(table(s, a.packages))
    if b.pipeline_error:
        print("\nThe 3-step built-in pipeline was refused by the server: %s" % b.pipeline_error)
    if b.render_results is not None:
        print("\nrenderStatus of the first pipeline update: %s" % json.dumps(b.render_results)[:800])
    for n in b.notes:
        print("\n" + n)
    if b.errors:
        print("\nErrors:")
        for op, msgs in b.errors.items():
            print("- %s: %d, first: %s" % (op, len(msgs), msgs[0][:400]))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
