#!/usr/bin/env python3
"""Checks the Kubernetes manifests offline, as .ci/run does:

    KUBECTL=kubectl python3 deploy/kubernetes/validate.py

For deploy/kubernetes and every overlay in deploy/examples: render with `kubectl kustomize`,
validate the core kinds against the Kubernetes OpenAPI schemas (kubernetes-validate, strict,
at the oldest supported Kubernetes and at its newest), check that the StatefulSet's replicas
equal the N of `--shard=$(POD_INDEX)/N`, that the ServiceMonitor selects the Service and its
port, and that the PrometheusRule holds exactly the groups of alerts/aws-flow-exporter.rules.yml
(and passes `promtool check rules`). Needs PyYAML and kubernetes-validate (PyPI), promtool.
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KUSTOMIZATIONS = [REPO / "deploy" / "kubernetes"] + sorted(
    p.parent for p in (REPO / "deploy" / "examples").glob("*/kustomization.yaml")
)
RULES = REPO / "alerts" / "aws-flow-exporter.rules.yml"
# apps.kubernetes.io/pod-index, which POD_INDEX comes from, is set from Kubernetes 1.28 on.
K8S_VERSIONS = ["1.28.0", None]  # None: kubernetes-validate's newest
CRD_GROUPS = ("monitoring.coreos.com/",)

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def validate_dir(kdir, tmp):
    name = kdir.relative_to(REPO)
    out = run([os.environ.get("KUBECTL", "kubectl"), "kustomize", str(kdir)])
    if out.returncode != 0:
        check(False, f"{name}: kubectl kustomize failed:\n{out.stderr}")
        return
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    print(f"== {name}: {', '.join(kinds)}")
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ["ConfigMap", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor", "StatefulSet"]:
        check(len(by_kind.get(kind, [])) == 1, f"{name}: expected one {kind}, got {len(by_kind.get(kind, []))}")

    # Schemas: the core kinds only (CRDs have no schema here; checked below by hand).
    core = [d for d in docs if not d["apiVersion"].startswith(CRD_GROUPS)]
    core_file = tmp / f"{str(name).replace('/', '_')}-core.yaml"
    core_file.write_text(yaml.safe_dump_all(core))
    for version in K8S_VERSIONS:
        args = ["kubernetes-validate", "--strict", "--quiet"]
        if version:
            args += ["-k", version]
        out = run(args + [str(core_file)])
        check(out.returncode == 0, f"{name}: kubernetes-validate {version or 'latest'}:\n{out.stdout}{out.stderr}")

    if any(len(by_kind.get(k, [])) != 1 for k in ["StatefulSet", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"]):
        return
    sts = by_kind["StatefulSet"][0]
    svc = by_kind["Service"][0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    shard = [a for a in container["args"] if a.startswith("--shard=")]
    m = re.fullmatch(r"--shard=\$\(POD_INDEX\)/(\d+)", shard[0]) if len(shard) == 1 else None
    check(m is not None, f"{name}: no --shard=$(POD_INDEX)/N argument in {container['args']}")
    if m:
        check(int(m.group(1)) == spec["replicas"],
              f"{name}: replicas {spec['replicas']} but --shard=$(POD_INDEX)/{m.group(1)}")
    env = {e["name"]: e for e in container.get("env", [])}
    check(env.get("POD_INDEX", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
          == "metadata.labels['apps.kubernetes.io/pod-index']", f"{name}: POD_INDEX not from the pod-index label")
    check(spec["serviceName"] == svc["metadata"]["name"], f"{name}: serviceName is not the Service")
    check(svc["spec"].get("clusterIP") == "None", f"{name}: the governing Service is not headless")
    config_map = by_kind["ConfigMap"][0]["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    check(volumes["config"]["configMap"]["name"] == config_map, f"{name}: config volume is not {config_map}")
    sec = container["securityContext"]
    check(sec.get("readOnlyRootFilesystem") is True and sec.get("allowPrivilegeEscalation") is False
          and sec.get("runAsNonRoot") is True and sec.get("capabilities", {}).get("drop") == ["ALL"],
          f"{name}: container securityContext")
    check("fsGroup" in pod.get("securityContext", {}), f"{name}: no fsGroup for the volume claim")

    # The ServiceMonitor scrapes the Service's named port.
    sm = by_kind["ServiceMonitor"][0]
    selector = sm["spec"]["selector"]["matchLabels"]
    labels = svc["metadata"].get("labels", {})
    check(all(labels.get(k) == v for k, v in selector.items()), f"{name}: ServiceMonitor does not select the Service")
    ports = {p.get("name") for p in svc["spec"]["ports"]}
    for endpoint in sm["spec"]["endpoints"]:
        check(endpoint["port"] in ports, f"{name}: ServiceMonitor port {endpoint['port']} not in the Service")
    check(svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items(),
          f"{name}: the Service does not select the pods")

    # The PrometheusRule: the rule file's groups, which promtool accepts.
    rule = by_kind["PrometheusRule"][0]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    check(rule["spec"]["groups"] == groups,
          f"{name}: PrometheusRule groups differ from {RULES.relative_to(REPO)} (run generate-prometheusrule.py)")
    rule_file = tmp / f"{str(name).replace('/', '_')}-rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    out = run(["promtool", "check", "rules", str(rule_file)])
    check(out.returncode == 0, f"{name}: promtool check rules:\n{out.stdout}{out.stderr}")


def main():
    out = run([sys.executable, str(REPO / "deploy" / "kubernetes" / "generate-prometheusrule.py"), "--check"])
    check(out.returncode == 0, out.stderr.strip())
    with tempfile.TemporaryDirectory() as tmp:
        for kdir in KUSTOMIZATIONS:
            validate_dir(kdir, pathlib.Path(tmp))
    if failures:
        print(f"{len(failures)} Kubernetes manifest check(s) failed", file=sys.stderr)
        return 1
    print(f"Kubernetes manifests: {len(KUSTOMIZATIONS)} kustomizations valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
