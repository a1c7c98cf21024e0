//! The Kubernetes manifests in `deploy/kubernetes`, checked from their source files without a
//! cluster or kubectl: the PrometheusRule holds exactly the groups of the rule file, N is the
//! same wherever it is written, and the ConfigMap's configuration passes `--check-config`.
//! `deploy/kubernetes/validate.py` (run by `.ci/run`) checks the rendered output.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn str_list(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn container(statefulset: &Value) -> &Value {
    let containers = statefulset["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The `--FLAG=value` argument of the container, if any.
fn arg<'a>(container: &'a Value, flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    str_list(&container["args"])
        .into_iter()
        .find_map(|a| a.strip_prefix(prefix.as_str()))
}

/// The `count` of the `replicas:` entry for the StatefulSet in a kustomization.
fn kustomize_replicas(kustomization: &Value) -> Option<u64> {
    kustomization["replicas"]
        .as_sequence()?
        .iter()
        .find(|r| r["name"] == "aws-flow-exporter")?["count"]
        .as_u64()
}

/// Whether a kustomization copies the StatefulSet's replicas into the N of `--shard`.
fn copies_replicas_into_shard(kustomization: &Value) -> bool {
    kustomization["replacements"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|r| {
            r["source"]["kind"] == "StatefulSet"
                && r["source"]["fieldPath"] == "spec.replicas"
                && r["targets"].as_sequence().into_iter().flatten().any(|t| {
                    str_list(&t["fieldPaths"])
                        .iter()
                        .any(|p| p.contains("args"))
                        && t["options"]["delimiter"] == "/"
                        && t["options"]["index"].as_u64() == Some(1)
                })
        })
}

#[test]
fn the_prometheus_rule_holds_exactly_the_groups_of_the_rule_file() {
    let rules = yaml("alerts/aws-flow-exporter.rules.yml");
    let resource = yaml("deploy/kubernetes/prometheusrule.yaml");
    assert_eq!(resource["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(resource["kind"], "PrometheusRule");
    assert!(rules["groups"].as_sequence().is_some_and(|g| !g.is_empty()));
    assert!(
        resource["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule.yaml differs from alerts/aws-flow-exporter.rules.yml: \
         run python3 deploy/kubernetes/generate-prometheusrule.py"
    );
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    assert!(str_list(&kustomization["resources"]).contains(&"prometheusrule.yaml"));
}

#[test]
fn the_number_of_shards_is_the_number_of_replicas() {
    let statefulset = yaml("deploy/kubernetes/statefulset.yaml");
    let replicas = statefulset["spec"]["replicas"].as_u64().expect("replicas");
    let shard = arg(container(&statefulset), "--shard").expect("--shard argument");
    let n: u64 = shard
        .strip_prefix("$(POD_INDEX)/")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("--shard={shard} is not $(POD_INDEX)/N"));
    assert_eq!(n, replicas, "statefulset.yaml: replicas vs --shard");

    let base = yaml("deploy/kubernetes/kustomization.yaml");
    assert_eq!(
        kustomize_replicas(&base),
        Some(replicas),
        "kustomization.yaml replicas"
    );
    assert!(
        copies_replicas_into_shard(&base),
        "kustomization.yaml replacement"
    );

    // Every example overlay that changes N also repeats the replacement (a base's
    // replacements run before an overlay's transformers).
    let mut overlays = 0;
    for entry in std::fs::read_dir(repo().join("deploy/examples")).unwrap() {
        let dir = entry.unwrap().path();
        let file = dir.join("kustomization.yaml");
        if !file.exists() {
            continue;
        }
        let rel = file.strip_prefix(repo()).unwrap().display().to_string();
        let overlay = yaml(&rel);
        if kustomize_replicas(&overlay).is_some() {
            assert!(copies_replicas_into_shard(&overlay), "{rel}: replacement");
        }
        overlays += 1;
    }
    assert!(overlays > 0);
}

#[test]
fn the_pod_is_sharded_by_its_index_and_locked_down() {
    let statefulset = yaml("deploy/kubernetes/statefulset.yaml");
    let spec = &statefulset["spec"];
    let pod = &spec["template"]["spec"];
    let c = container(&statefulset);
    let env = c["env"].as_sequence().expect("env");
    let pod_index = env
        .iter()
        .find(|e| e["name"] == "POD_INDEX")
        .expect("POD_INDEX");
    assert_eq!(
        pod_index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    assert_eq!(
        arg(c, "--config.file"),
        Some("/etc/aws-flow-exporter/config.yaml")
    );
    assert_eq!(arg(c, "--storage.path"), Some("/var/lib/aws-flow-exporter"));
    let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
    let mount = |name: &str| {
        mounts
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("mount {name}"))["mountPath"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(mount("config"), "/etc/aws-flow-exporter");
    assert_eq!(mount("data"), "/var/lib/aws-flow-exporter");
    let claims = spec["volumeClaimTemplates"].as_sequence().expect("claims");
    assert!(claims.iter().any(|c| c["metadata"]["name"] == "data"));

    let sec = &c["securityContext"];
    assert_eq!(sec["runAsNonRoot"], true);
    assert_eq!(sec["readOnlyRootFilesystem"], true);
    assert_eq!(sec["allowPrivilegeEscalation"], false);
    assert_eq!(str_list(&sec["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(sec["seccompProfile"]["type"], "RuntimeDefault");
    assert!(pod["securityContext"]["fsGroup"].as_u64().is_some());
    assert!(c["resources"]["limits"]["memory"].as_str().is_some());
    assert!(c["resources"]["requests"]["memory"].as_str().is_some());

    let port = &c["ports"][0];
    assert_eq!(port["name"], "http-metrics");
    assert_eq!(port["containerPort"], 9816);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");

    let service = yaml("deploy/kubernetes/service.yaml");
    assert_eq!(spec["serviceName"], service["metadata"]["name"]);
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(service["spec"]["ports"][0]["name"], "http-metrics");
    let monitor = yaml("deploy/kubernetes/servicemonitor.yaml");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http-metrics");
    let account = yaml("deploy/kubernetes/serviceaccount.yaml");
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    assert!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:iam::"))
    );
}

fn check_config(file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aws-flow-exporter"))
        .arg("--check-config")
        .arg("--config.file")
        .arg(file)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the exporter runs")
}

#[test]
fn the_config_map_configuration_passes_check_config() {
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let generator = &kustomization["configMapGenerator"][0];
    assert_eq!(generator["name"], "aws-flow-exporter-config");
    assert_eq!(str_list(&generator["files"]), ["config.yaml"]);

    let file = repo().join("deploy/kubernetes/config.yaml");
    let out = check_config(&file);
    assert!(
        out.status.success(),
        "--check-config rejects deploy/kubernetes/config.yaml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The check is not vacuous: the same file with an unknown key is refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("config.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&bad, format!("{text}\nno_such_key: 1\n")).unwrap();
    assert_eq!(check_config(&bad).status.code(), Some(2));
}
