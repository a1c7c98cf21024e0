#!/usr/bin/env python3
"""Checks the Kubernetes manifests offline, as .ci/run does:

    KUBECTL=kubectl HELM=helm python3 deploy/kubernetes/validate.py

For deploy/kubernetes and every overlay in deploy/examples: render with `kubectl kustomize`,
validate the core kinds against the Kubernetes OpenAPI schemas (kubernetes-validate, strict,
at the oldest supported Kubernetes and at its newest), check that the StatefulSet's replicas
equal the N of `--shard=$(POD_INDEX)/N`, that the ServiceMonitor selects the Service and its
port, and that the PrometheusRule holds exactly the groups of alerts/aws-flow-exporter.rules.yml
(and passes `promtool check rules`).

For the Helm chart (deploy/helm/aws-flow-exporter) and each values file in its ci/:
`helm lint --strict`, `helm template`, the same schema validation, and the same checks where
they apply: --shard=$(POD_INDEX)/N with N the replicas (absent with one shard), the hardened
securityContext, the PrometheusRule's groups those of the rule file with the runbook base
rewritten to prometheusRule.runbookUrlBase, each dashboard's ConfigMap holding exactly
dashboards/<name>.json, the web config Secret behind --web.config.file.

Needs PyYAML and kubernetes-validate (PyPI), promtool, kubectl (kustomize v5) and helm.
"""
import json
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
CHART = REPO / "deploy" / "helm" / "aws-flow-exporter"
DASHBOARDS = REPO / "dashboards"
RUNBOOK_BASE = "https://github.com/aws-flow-exporter/aws-flow-exporter/blob/main/docs/runbook.md"
# apps.kubernetes.io/pod-index, which POD_INDEX comes from, is set from Kubernetes 1.28 on.
K8S_VERSIONS = ["1.28.0", None]  # None: kubernetes-validate's newest
CRD_GROUPS = ("monitoring.coreos.com/",)
CHART_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def validate_schemas(name, docs, tmp):
    """The core kinds against the Kubernetes schemas (CRDs have none here: checked by hand)."""
    core = [d for d in docs if not d["apiVersion"].startswith(CRD_GROUPS)]
    core_file = tmp / f"{str(name).replace('/', '_')}-core.yaml"
    core_file.write_text(yaml.safe_dump_all(core))
    for version in K8S_VERSIONS:
        args = ["kubernetes-validate", "--strict", "--quiet"]
        if version:
            args += ["-k", version]
        out = run(args + [str(core_file)])
        check(out.returncode == 0, f"{name}: kubernetes-validate {version or 'latest'}:\n{out.stdout}{out.stderr}")


def check_rules(name, groups, tmp):
    """promtool accepts the groups."""
    rule_file = tmp / f"{str(name).replace('/', '_')}-rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": groups}))
    out = run(["promtool", "check", "rules", str(rule_file)])
    check(out.returncode == 0, f"{name}: promtool check rules:\n{out.stdout}{out.stderr}")


def check_hardened(name, pod, container):
    sec = container["securityContext"]
    check(sec.get("readOnlyRootFilesystem") is True and sec.get("allowPrivilegeEscalation") is False
          and sec.get("runAsNonRoot") is True and sec.get("capabilities", {}).get("drop") == ["ALL"]
          and sec.get("seccompProfile", {}).get("type") == "RuntimeDefault",
          f"{name}: container securityContext is not hardened: {sec}")
    check("fsGroup" in pod.get("securityContext", {}), f"{name}: no fsGroup for the volume claim")


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

    validate_schemas(name, docs, tmp)

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
    check_hardened(name, pod, container)

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
    check_rules(name, rule["spec"]["groups"], tmp)


def helm(*args):
    return run([os.environ.get("HELM", "helm"), *args])


def validate_chart(values, tmp):
    """helm lint and helm template with one ci/ values file; the output validated."""
    name = f"{CHART.relative_to(REPO)} -f ci/{values.name}"
    out = helm("lint", "--strict", str(CHART), "-f", str(values))
    check(out.returncode == 0, f"{name}: helm lint:\n{out.stdout}{out.stderr}")
    out = helm("template", "aws-flow-exporter", str(CHART), "-f", str(values), "--namespace", "monitoring")
    if out.returncode != 0:
        check(False, f"{name}: helm template failed:\n{out.stderr}")
        return
    check("warning" not in out.stderr.lower(), f"{name}: helm template warns:\n{out.stderr}")
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    print(f"== {name}: {', '.join(sorted(d['kind'] for d in docs))}")
    validate_schemas(str(name).replace(" ", "_"), docs, tmp)
    vals = yaml.safe_load(values.read_text()) or {}
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for d in docs:
        check(d["metadata"].get("namespace") == "monitoring", f"{name}: {d['kind']} {d['metadata']['name']} has no namespace")

    (sts,) = by_kind["StatefulSet"]
    (svc,) = by_kind["Service"]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    shards = vals.get("shards", 1)
    check(spec["replicas"] == shards, f"{name}: replicas {spec['replicas']}, shards {shards}")
    shard = [a for a in args if a.startswith("--shard")]
    env = {e["name"]: e for e in container.get("env", [])}
    if shards > 1:
        check(shard == [f"--shard=$(POD_INDEX)/{shards}"], f"{name}: {shard} with {shards} shards")
        check(env.get("POD_INDEX", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
              == "metadata.labels['apps.kubernetes.io/pod-index']", f"{name}: POD_INDEX not from the pod-index label")
    else:
        check(shard == [] and "POD_INDEX" not in env, f"{name}: --shard with one shard")
    check(spec["serviceName"] == svc["metadata"]["name"], f"{name}: serviceName is not the Service")
    check(svc["spec"].get("clusterIP") == "None", f"{name}: the governing Service is not headless")
    check(svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items(),
          f"{name}: the Service does not select the pods")
    check_hardened(name, pod, container)
    check(container["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness probe")
    check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness probe")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (config_map,) = [c for c in by_kind["ConfigMap"] if "config.yaml" in c.get("data", {})]
    check(volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"], f"{name}: config volume")
    config = vals.get("config") or yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    check(config_map["data"]["config.yaml"].strip() == config.strip(), f"{name}: the ConfigMap is not `config`")
    check(f"--config.file={mounts['config']}/config.yaml" in args, f"{name}: --config.file is not the ConfigMap")
    check(f"--storage.path={mounts['data']}" in args, f"{name}: --storage.path is not the data volume")
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
    persistent = vals.get("persistence", {}).get("enabled", False)
    check(claims == (["data"] if persistent else []), f"{name}: claims {claims}")
    check(("data" in volumes) != persistent, f"{name}: data volume and claim")
    web = vals.get("webConfig")
    web_args = [a for a in args if a.startswith("--web.config.file=")]
    if web:
        (secret,) = by_kind["Secret"]
        check(volumes["web-config"]["secret"]["secretName"] == secret["metadata"]["name"], f"{name}: web config volume")
        check(web_args == [f"--web.config.file={mounts['web-config']}/web-config.yml"], f"{name}: {web_args}")
        check(yaml.safe_load(secret["stringData"]["web-config.yml"]) == web, f"{name}: web config Secret")
    else:
        check(web_args == [] and "Secret" not in by_kind, f"{name}: web config without webConfig")

    def enabled(key):
        return vals.get(key, {}).get("enabled", False)

    check(len(by_kind.get("ServiceMonitor", [])) == enabled("serviceMonitor"), f"{name}: ServiceMonitor")
    for sm in by_kind.get("ServiceMonitor", []):
        selector = sm["spec"]["selector"]["matchLabels"]
        check(selector.items() <= svc["metadata"]["labels"].items(), f"{name}: ServiceMonitor does not select the Service")
        ports = {p.get("name") for p in svc["spec"]["ports"]}
        for endpoint in sm["spec"]["endpoints"]:
            check(endpoint["port"] in ports, f"{name}: ServiceMonitor port {endpoint['port']} not in the Service")
            check(endpoint["scheme"] == ("https" if web and "tls_server_config" in web else "http"),
                  f"{name}: ServiceMonitor scheme")
        job = svc["metadata"]["labels"].get(sm["spec"]["jobLabel"], "")
        check(re.fullmatch("aws-flow-exporter.*", job) is not None, f"{name}: job {job!r} escapes the alerts' job regex")
    check(len(by_kind.get("PrometheusRule", [])) == enabled("prometheusRule"), f"{name}: PrometheusRule")
    for rule in by_kind.get("PrometheusRule", []):
        base = vals["prometheusRule"].get("runbookUrlBase", RUNBOOK_BASE)
        expected = yaml.safe_load(RULES.read_text().replace(RUNBOOK_BASE, base))["groups"]
        check(rule["spec"]["groups"] == expected,
              f"{name}: PrometheusRule groups differ from {RULES.relative_to(REPO)} (copy it to {CHART.relative_to(REPO)}/files)")
        urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
        check(urls and all(u.startswith(base + "#") for u in urls), f"{name}: runbook_url not under {base}")
        check_rules(str(name).replace(" ", "_"), rule["spec"]["groups"], tmp)
    boards = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    shipped = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            for key, text in cm["data"].items():
                shipped[key.removeprefix("aws-flow-exporter-")] = text
    if enabled("grafanaDashboards"):
        check(shipped.keys() == boards.keys(), f"{name}: dashboard ConfigMaps {sorted(shipped)} vs {sorted(boards)}")
        for key, text in shipped.items():
            check(json.loads(text) == json.loads(boards.get(key, "null")),
                  f"{name}: ConfigMap of {key} differs from dashboards/{key} (copy it to {CHART.relative_to(REPO)}/dashboards)")
    else:
        check(not shipped, f"{name}: dashboards without grafanaDashboards.enabled")


def main():
    out = run([sys.executable, str(REPO / "deploy" / "kubernetes" / "generate-prometheusrule.py"), "--check"])
    check(out.returncode == 0, out.stderr.strip())
    with tempfile.TemporaryDirectory() as tmp:
        for kdir in KUSTOMIZATIONS:
            validate_dir(kdir, pathlib.Path(tmp))
        for values in CHART_VALUES:
            validate_chart(values, pathlib.Path(tmp))
    if failures:
        print(f"{len(failures)} Kubernetes manifest check(s) failed", file=sys.stderr)
        return 1
    print(f"Kubernetes manifests: {len(KUSTOMIZATIONS)} kustomizations and the chart with "
          f"{len(CHART_VALUES)} values files valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
