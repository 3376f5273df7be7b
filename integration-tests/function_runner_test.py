#!/usr/bin/env python3
"""porch-function-runner against hostile exec functions mapped through
--functions-config: one that sleeps forever, one that fork-bombs, one that
writes 1 GB and one that writes invalid YAML. Each must end with a clear error
within the timeout while the service keeps answering health and a built-in
evaluate sent at the same time; the cache answers a repeat; every traced bus
message must validate against schemas/bus/.
Usage: function_runner_test.py BIN_DIR"""
import json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_MS = 3000
passed = failed = 0


def ok(name, _why=None):
    global passed
    passed += 1
    print(f"PASS {name}", flush=True)


def ko(name, why):
    global failed
    failed += 1
    print(f"FAIL {name}: {why}", flush=True)


d = tempfile.mkdtemp(prefix="porch-fr-")
os.chmod(d, 0o755)
fns = {
    "sleep": "#!/bin/sh\nexec sleep 100000\n",
    "forkbomb": "#!/bin/sh\nbomb() { bomb | bomb & }\nbomb\nsleep 100000\n",
    "flood": "#!/bin/sh\nhead -c 1073741824 /dev/zero | tr '\\0' 'a'\n",
    "badyaml": "#!/bin/sh\ncat >/dev/null\necho 'items: [ {not: yaml'\n",
    "copy": "#!/bin/sh\nexec cat\n",
}
cfg = ["functions:"]
for name, body in fns.items():
    path = os.path.join(d, name + ".sh")
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)
    cfg.append(f"- image: example.com/hostile/{name}\n  exec: {path}")
with open(os.path.join(d, "functions.yaml"), "w") as f:
    f.write("\n".join(cfg) + "\n")
trace = os.path.join(d, "trace.jsonl")
sock = f"ipc://{d}/function-runner.sock"
log = open(os.path.join(d, "fr.log"), "w")
proc = subprocess.Popen([f"{BIN}/porch-function-runner", "--data-dir", d, "--listen", sock,
                         "--functions-config", os.path.join(d, "functions.yaml"),
                         "--fn-timeout-ms", str(TIMEOUT_MS), "--trace-bus", trace,
                         "--workers", "8"], stdout=log, stderr=log)


def req(op, args, deadline_s=30, budget_ms=None):
    env = {"v": 1, "op": op, "id": f"{op}-{time.monotonic_ns()}", "args": args}
    if budget_ms:
        env["deadline_ms"] = budget_ms
    msg = json.dumps(env)
    p = subprocess.run(["nngcat", "--req0", "--dial", sock, "--data", msg, "--ascii",
                        "--recv-timeout", str(deadline_s)], capture_output=True, text=True,
                       timeout=deadline_s + 5)
    out = p.stdout.strip()
    try:
        return json.loads(out[out.index("{"):])
    except ValueError:
        return {"raw": out, "stderr": p.stderr}


RL = ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
      "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm # keep\n  data:\n    k: v\n")

try:
    for _ in range(50):
        if os.path.exists(os.path.join(d, "function-runner.sock")):
            break
        time.sleep(0.1)
    r = req("health", {})
    (ok if r.get("ok") else ko)("service answers health", r)

    # hostile functions, all at once, with health and a built-in evaluate alongside
    results = {}

    def hostile(name):
        t0 = time.monotonic()
        results[name] = (req("function-runner.evaluate",
                             {"image": f"example.com/hostile/{name}:v1", "resourceList": RL}),
                         time.monotonic() - t0)

    # All four at once: each exec call runs under a uid of its own, so the
    # fork bomb cannot use up the others' process limit.
    for wave in (("sleep", "forkbomb", "flood", "badyaml"),):
        threads = [threading.Thread(target=hostile, args=(n,)) for n in wave]
        for t in threads:
            t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        h = req("health", {})
        h_s = time.monotonic() - t0
        b = req("function-runner.evaluate", {"image": "gcr.io/kpt-fn/set-namespace:v0.4",
                                             "functionConfig": {"apiVersion": "v1",
                                                                "kind": "ConfigMap",
                                                                "data": {"namespace": "prod"}},
                                             "resourceList": RL})
        b_s = time.monotonic() - t0 - h_s
        for t in threads:
            t.join()
        what = "+".join(wave)
        if h.get("ok") and h_s < 2:
            ok(f"health answers during {what} ({h_s * 1000:.0f} ms)")
        else:
            ko(f"health during {what}", f"{h} in {h_s:.1f}s")
        res = (b.get("result") or {})
        if b.get("ok") and res.get("exitCode") == 0 and "namespace: prod" in res.get("resourceList", "") \
                and "# keep" in res.get("resourceList", "") and b_s < 2:
            ok(f"built-in evaluate answers during {what} ({b_s * 1000:.0f} ms)")
        else:
            ko(f"built-in evaluate during {what}", f"{b} in {b_s:.1f}s")

    limit = TIMEOUT_MS / 1000 + 5  # slack for a loaded 2-core CI machine
    expect = {"sleep": ["timed out", "hostile/sleep"], "forkbomb": ["hostile/forkbomb"],
              "flood": ["hostile/flood", ("more than", "timed out")], "badyaml": ["not valid YAML", "hostile/badyaml"]}
    for name, words in expect.items():
        r, secs = results[name]
        rr = r.get("result") or {}
        text = rr.get("stderr", "") + " ".join(x.get("message", "") for x in rr.get("results", []))
        if r.get("ok") and rr.get("exitCode") == 1 and all((any(x in text for x in w) if isinstance(w, tuple) else w in text) for w in words) and secs <= limit:
            ok(f"{name}: clear error in {secs:.1f}s: {text.strip().splitlines()[-1][:110]}")
        else:
            ko(f"{name}", f"{secs:.1f}s (limit {limit}s): {json.dumps(r)[:400]}")

    # the caller's budget bounds an exec function below the runner's timeout
    t0 = time.monotonic()
    r = req("function-runner.evaluate", {"image": "example.com/hostile/sleep:v1", "resourceList": RL},
            budget_ms=1500)
    secs = time.monotonic() - t0
    text = (r.get("result") or {}).get("stderr", "")
    (ok if re.search(r"timed out after 1[23]\d\d ms", text) and secs < 3 else ko)(
        f"a request's deadline_ms bounds the function ({secs:.1f}s)", r)

    # an exec function that works, then the cache
    r1 = req("function-runner.evaluate", {"image": "example.com/hostile/copy:v1", "resourceList": RL})
    rr = r1.get("result") or {}
    (ok if rr.get("exitCode") == 0 and "# keep" in rr.get("resourceList", "") else ko)(
        "mapped exec function round-trips with comments", r1)
    r2 = req("function-runner.evaluate", {"image": "example.com/hostile/copy:v1", "resourceList": RL})
    (ok if (r2.get("result") or {}).get("cached") is True else ko)("repeat is a cache hit", r2)
    r = req("function-runner.evaluate", {"image": "gcr.io/kpt-fn/starlark:v0.4", "resourceList": RL})
    err = r.get("error") or {}
    (ok if err.get("code") == 404 and "set-labels" in err.get("message", "") else ko)(
        "unknown image is a 404 listing what can run", r)
    r = req("function-runner.evaluate", {"image": "set-labels", "resourceList": "items: ["})
    (ok if (r.get("error") or {}).get("code") == 400 else ko)("bad ResourceList is a 400", r)
    r = req("function-runner.evaluate", {"resourceList": RL, "functions": [
        {"image": "set-namespace", "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap",
                                                      "data": {"namespace": "prod"}}},
        {"image": "ghcr.io/kptdev/krm-functions-catalog/set-labels:latest",
         "functionConfig": "apiVersion: v1\nkind: ConfigMap\ndata:\n  tier: backend\n"}]})
    out = (r.get("result") or {}).get("resourceList", "")
    (ok if "namespace: prod" in out and "tier: backend" in out and "# keep" in out else ko)(
        "a pipeline of two functions runs in one evaluate", r)
    first = req("function-runner.evaluate", {"image": "set-namespace", "resourceList": RL,
                                             "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap",
                                                                "data": {"namespace": "digest"}}})
    fr1 = first.get("result") or {}
    import hashlib
    digest = hashlib.sha256(RL.encode()).hexdigest()
    again = req("function-runner.evaluate", {"image": "set-namespace", "resourceListSha256": digest,
                                             "ifNoneMatch": fr1.get("resourceListSha256", ""),
                                             "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap",
                                                                "data": {"namespace": "digest"}}})
    ar = again.get("result") or {}
    (ok if ar.get("notModified") is True and ar.get("cached") is True and ar.get("resourceList") == ""
     else ko)("digest request with ifNoneMatch answers notModified from the cache", again)
    r = req("function-runner.evaluate", {"image": "set-namespace", "resourceListSha256": "0" * 64})
    (ok if (r.get("error") or {}).get("code") == 412 else ko)("unknown input digest is a 412", r)
    r = req("function-runner.functions", {})
    fr = r.get("result") or {}
    (ok if "set-namespace" in fr.get("builtins", []) and len(fr.get("images", [])) == 5 else ko)(
        "functions lists built-ins and mapped images", r)
    # render: a package's whole pipeline in one call (what porch-engine sends)
    kf = ("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\npipeline:\n"
          "  mutators:\n  - image: gcr.io/kpt-fn/set-labels:v0.2.0\n    configMap:\n      tier: web\n"
          "  - image: example.com/hostile/copy\n")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm # keep\ndata:\n  k: v\n"
    r = req("render", {"resources": {"Kptfile": kf, "cm.yaml": cm}})
    res = r.get("result", {})
    files, st = res.get("resources", {}), res.get("renderStatus", {})
    (ok if r.get("ok") and "tier: web" in files.get("cm.yaml", "") and "# keep" in files.get("cm.yaml", "")
     and st.get("error") == "" and "RenderSuccess" in files.get("Kptfile", "")
     and [i.get("image") for i in st.get("result", {}).get("items", [])] ==
     ["gcr.io/kpt-fn/set-labels:v0.2.0", "example.com/hostile/copy"] else ko)(
        "render runs a package's pipeline: a built-in and a mapped executable", r)
    r = req("render", {"resources": {"Kptfile": kf.replace("hostile/copy", "hostile/badyaml"),
                                     "cm.yaml": cm}})
    res = r.get("result", {})
    (ok if r.get("ok") and res.get("renderStatus", {}).get("error")
     and "tier" not in res.get("resources", {}).get("cm.yaml", "x") else ko)(
        "a failing function is the render's error, the files are left as they were", r)
    for bad, code in (({"../x": "a"}, 400), ({"/etc/x": "a"}, 400), ({"Kptfile": 3}, 400),
                      ([], 400)):
        r = req("render", {"resources": bad})
        (ok if r.get("error", {}).get("code") == code else ko)(
            f"render refuses resources {json.dumps(bad)} with {code}", r)
    left = [n for n in os.listdir("/dev/shm") if n.startswith(f"porch-fr-{proc.pid}-")]
    inside = os.listdir(os.path.join("/dev/shm", left[0])) if left else []
    (ok if not inside else ko)("renders leave no work directory behind", inside)
    r = req("health", {})
    (ok if r.get("ok") else ko)("service still healthy at the end", r)
    leftovers = subprocess.run(["pgrep", "-f", d + "/(sleep|forkbomb|flood)"], capture_output=True,
                               text=True).stdout.split()
    (ok if not leftovers else ko)("no hostile process left behind", leftovers)
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()

v = subprocess.run([sys.executable, os.path.join(SRC, "integration-tests/validate_bus_trace.py"),
                    os.path.join(SRC, "schemas/bus"), trace, "--min", "10"],
                   capture_output=True, text=True)
(ok if v.returncode == 0 else ko)("bus trace validates", (v.stdout + v.stderr)[-600:])
if failed:
    print(open(os.path.join(d, "fr.log")).read()[-2000:])
shutil.rmtree(d, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
