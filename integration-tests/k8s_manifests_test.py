#!/usr/bin/python3
"""Validates deploy/kubernetes/: every document is well-formed Kubernetes, the
six services each have a Deployment and a bus Service, selectors and named
ports line up, every PORCH_* variable is a flag the binary really takes (read
from `porch-<svc> --help`), peer URLs name existing Services, and the
APIService and the Repository CRD match Porch, and porch-apiserver runs as an
aggregated apiserver: the cluster-mode flags (front-proxy settings from
kube-system/extension-apiserver-authentication, SubjectAccessReview against the
kube-apiserver with the pod's service account) are set, each is a flag in the
binary's --help flag table, and RBAC lets the service account do both. Then
checks that the checker catches broken copies.
Usage: k8s_manifests_test.py MANIFEST_DIR BIN_DIR
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


def binary_flag_table(bin_dir, svc):
    """{env var: flag} from the '--flag  help (env PORCH_X, default ...)' lines of --help."""
    out = subprocess.run([os.path.join(bin_dir, "porch-" + svc), "--help"], capture_output=True,
                         text=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.match(r"\s*(--[a-z0-9-]+)\b.*\(env (PORCH_[A-Z_]+)", line)
        if m:
            table[m.group(2)] = m.group(1)
    return table


SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# What an aggregated apiserver needs (spec 10: delegated authn/authz), as
# env var -> (flag, required value or None for any non-empty value).
CLUSTER_MODE = {
    "PORCH_AUTHENTICATION_CONFIGMAP": ("--authentication-configmap",
                                       "kube-system/extension-apiserver-authentication"),
    "PORCH_AUTHORIZATION_WEBHOOK_URL": ("--authorization-webhook-url",
                                        "https://kubernetes.default.svc"),
    "PORCH_AUTHORIZATION_WEBHOOK_CA_FILE": ("--authorization-webhook-ca-file", SA_DIR + "/ca.crt"),
    "PORCH_AUTHORIZATION_WEBHOOK_TOKEN_FILE": ("--authorization-webhook-token-file",
                                               SA_DIR + "/token"),
}


def check_cluster_mode(by_kind, deployments, bin_dir):
    errors = []
    if "porch-apiserver" not in deployments:
        return errors
    file, dep = deployments["porch-apiserver"]
    pod = dep["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", [])}
    table = binary_flag_table(bin_dir, "apiserver")
    for var, (flag, want) in CLUSTER_MODE.items():
        if table.get(var) != flag:
            errors.append(f"porch-apiserver --help has no {flag} (env {var}) in its flag table")
        if var not in env:
            errors.append(f"{file}: porch-apiserver does not set {var} ({flag}), which an "
                          "aggregated apiserver needs")
        elif want is not None and env[var] != want:
            errors.append(f"{file}: {var} is {env[var]!r}, want {want!r}")
    if pod.get("automountServiceAccountToken") is False:
        errors.append(f"{file}: porch-apiserver needs its service account token mounted")
    sa = pod.get("serviceAccountName", "default")
    def bound(kind, role, ns=None):
        for _, b in by_kind.get(kind, []):
            if b["roleRef"]["name"] != role or (ns and b["metadata"].get("namespace") != ns):
                continue
            if any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and
                   s.get("namespace") == dep["metadata"]["namespace"] for s in b.get("subjects", [])):
                return True
        return False
    if not bound("RoleBinding", "extension-apiserver-authentication-reader", "kube-system"):
        errors.append(f"service account {sa} cannot read ConfigMap "
                      "kube-system/extension-apiserver-authentication (RoleBinding to "
                      "extension-apiserver-authentication-reader)")
    if not bound("ClusterRoleBinding", "system:auth-delegator"):
        errors.append(f"service account {sa} cannot create SubjectAccessReviews "
                      "(ClusterRoleBinding to system:auth-delegator)")
    return errors


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
                if e["name"] == "PORCH_AUTHORIZATION_WEBHOOK_URL":
                    continue  # the kube-apiserver, checked by check_cluster_mode
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
    errors += check_cluster_mode(by_kind, deployments, bin_dir)
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
    # ... and an apiserver that is not wired as an aggregated apiserver.
    plain = copy.deepcopy([d for d in docs if d[1]["kind"] != "RoleBinding"])
    for _, d in plain:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "porch-apiserver":
            c = d["spec"]["template"]["spec"]["containers"][0]
            c["env"] = [e for e in c["env"] if e["name"] != "PORCH_AUTHENTICATION_CONFIGMAP"]
    found = check(plain, bin_dir)
    caught = (any("does not set PORCH_AUTHENTICATION_CONFIGMAP" in e for e in found) and
              any("extension-apiserver-authentication-reader" in e for e in found))
    print(("PASS" if caught else "FAIL") + " the checker rejects an apiserver without cluster-mode authn")
    passed += 1 if caught else 0
    print(f"{len(docs)} documents checked")
    print(f"{passed} passed, {3 - passed} failed")
    return 0 if passed == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
