#!/usr/bin/python3
"""Validates deploy/kubernetes/: every document is well-formed Kubernetes, the
six services each have a Deployment and a bus Service, selectors and named
ports line up, every PORCH_* variable is a flag the binary really takes (read
from `porch-<svc> --help`), peer URLs name existing Services, and the
APIService and the Repository CRD match Porch. Then checks that the checker
catches a broken copy. Usage: k8s_manifests_test.py MANIFEST_DIR BIN_DIR
"""
import copy
import glob
import os
import re
import subprocess
import sys

import yaml

SERVICES = ["apiserver", "engine", "cache", "git-adapter", "oci-adapter", "function-runner"]


def load(dir_):
    docs = []
    for path in sorted(glob.glob(os.path.join(dir_, "*.yaml"))):
        with open(path) as f:
            docs += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d]
    return docs


def binary_env_vars(bin_dir, svc):
    out = subprocess.run([os.path.join(bin_dir, "porch-" + svc), "--help"], capture_output=True,
                         text=True).stdout
    return set(re.findall(r"\b(PORCH_[A-Z_]+)\b", out))


def check(docs, bin_dir):
    errors = []
    by_kind = {}
    for file, d in docs:
        for key in ("apiVersion", "kind", "metadata"):
            if key not in d:
                errors.append(f"{file}: a document has no {key}")
        if "name" not in d.get("metadata", {}):
            errors.append(f"{file}: a {d.get('kind')} has no metadata.name")
        by_kind.setdefault(d.get("kind"), []).append((file, d))
    deployments = {d["metadata"]["name"]: (f, d) for f, d in by_kind.get("Deployment", [])}
    services = {d["metadata"]["name"]: (f, d) for f, d in by_kind.get("Service", [])}
    for svc in SERVICES:
        if "porch-" + svc not in deployments:
            errors.append(f"no Deployment porch-{svc}")
    for name, (file, dep) in deployments.items():
        spec = dep["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        for k, v in spec["selector"]["matchLabels"].items():
            if labels.get(k) != v:
                errors.append(f"{file}: {name} selector {k}={v} does not match its pod labels")
        pod = spec["template"]["spec"]
        volumes = {v["name"] for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            binary = os.path.basename(c["command"][0])
            svc = binary[len("porch-"):]
            if svc not in SERVICES:
                errors.append(f"{file}: {name} runs {binary}, not a Porch service")
                continue
            known = binary_env_vars(bin_dir, svc)
            for e in c.get("env", []):
                if e["name"].startswith("PORCH_") and e["name"] not in known:
                    errors.append(f"{file}: {binary} takes no {e['name']} (see {binary} --help)")
                m = re.match(r"tcp://([a-z0-9-]+)\.porch-system\.svc\.cluster\.local:(\d+)$",
                             str(e.get("value", "")))
                if e["name"].endswith("_URL") and not m:
                    errors.append(f"{file}: {e['name']} is not a porch-system Service URL")
                elif m and m.group(1) not in services:
                    errors.append(f"{file}: {e['name']} names Service {m.group(1)}, which is not defined")
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port is not None and port not in ports:
                    errors.append(f"{file}: {name} {probe} uses port {port} it does not expose")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    errors.append(f"{file}: {name} mounts volume {m['name']}, which is not defined")
    for name, (file, svc) in services.items():
        sel = svc["spec"]["selector"]
        targets = [d for _, d in deployments.values()
                   if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        if not targets:
            errors.append(f"{file}: Service {name} selects no Deployment")
            continue
        ports = {p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            if isinstance(p["targetPort"], str) and p["targetPort"] not in ports:
                errors.append(f"{file}: Service {name} targets port {p['targetPort']}, not exposed")
    for file, api in by_kind.get("APIService", []):
        ref = api["spec"]["service"]
        if ref["name"] not in services or not any(p["port"] == ref["port"] for p in services[ref["name"]][1]["spec"]["ports"]):
            errors.append(f"{file}: APIService points at {ref['name']}:{ref['port']}, which does not exist")
        if api["metadata"]["name"] != f"{api['spec']['version']}.{api['spec']['group']}":
            errors.append(f"{file}: APIService name must be <version>.<group>")
    crds = {d["metadata"]["name"]: d for _, d in by_kind.get("CustomResourceDefinition", [])}
    repo = crds.get("repositories.config.porch.kpt.dev")
    if not repo:
        errors.append("no Repository CRD")
    else:
        cols = [c["name"] for c in repo["spec"]["versions"][0]["additionalPrinterColumns"]]
        want = ["Type", "Content", "Sync schedule", "Deployment", "Ready", "Address", "Branch", "Age"]
        if cols != want:
            errors.append(f"Repository printer columns {cols} != Porch's {want}")
        if repo["spec"]["names"].get("shortNames") != ["repo"]:
            errors.append("Repository short name must be repo")
    return errors


def main():
    manifest_dir, bin_dir = sys.argv[1], sys.argv[2]
    docs = load(manifest_dir)
    errors = check(docs, bin_dir)
    for e in errors:
        print("FAIL", e)
    passed = 1 if not errors else 0
    # The checker must catch a broken copy: a dropped Service and an unknown flag.
    broken = copy.deepcopy([d for d in docs if not (d[1]["kind"] == "Service" and d[1]["metadata"]["name"] == "porch-cache")])
    for _, d in broken:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "porch-engine":
            d["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "PORCH_NO_SUCH_FLAG", "value": "1"})
    found = check(broken, bin_dir)
    caught = any("porch-cache" in e for e in found) and any("PORCH_NO_SUCH_FLAG" in e for e in found)
    print(("PASS" if caught else "FAIL") + " the checker rejects a broken copy")
    passed += 1 if caught else 0
    print(f"{len(docs)} documents checked")
    print(f"{passed} passed, {2 - passed} failed")
    return 0 if passed == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
