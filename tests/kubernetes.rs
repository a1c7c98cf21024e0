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

const CHART: &str = "deploy/helm/aws-flow-exporter";

/// The chart cannot read files outside its directory, so it holds copies of the rule file and
/// of the dashboards; they must stay identical (`.ci/run` also compares the rendered output).
#[test]
fn the_chart_ships_the_rule_file_and_the_dashboards_unchanged() {
    let rules = std::fs::read_to_string(repo().join("alerts/aws-flow-exporter.rules.yml")).unwrap();
    let copy =
        std::fs::read_to_string(repo().join(CHART).join("files/aws-flow-exporter.rules.yml"))
            .unwrap();
    assert!(
        rules == copy,
        "{CHART}/files/aws-flow-exporter.rules.yml differs: \
         cp alerts/aws-flow-exporter.rules.yml {CHART}/files/"
    );
    let json_files = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
    };
    let boards = json_files(&repo().join("dashboards"));
    assert!(!boards.is_empty());
    assert_eq!(
        json_files(&repo().join(CHART).join("dashboards")),
        boards,
        "cp dashboards/*.json {CHART}/dashboards/"
    );
    for name in boards {
        let original = std::fs::read(repo().join("dashboards").join(&name)).unwrap();
        let copy = std::fs::read(repo().join(CHART).join("dashboards").join(&name)).unwrap();
        assert!(
            original == copy,
            "{CHART}/dashboards/{name} differs: cp dashboards/*.json {CHART}/dashboards/"
        );
    }
}

/// The `config` of the chart's values files and the example overlay's file are accepted by
/// the exporter.
#[test]
fn the_chart_and_overlay_configurations_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut files = vec![format!("{CHART}/values.yaml")];
    for entry in std::fs::read_dir(repo().join(CHART).join("ci")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        files.push(format!("{CHART}/ci/{name}"));
    }
    for values in files {
        let Some(config) = yaml(&values)["config"].as_str().map(str::to_string) else {
            continue;
        };
        let file = dir.path().join(format!("config-{checked}.yaml"));
        std::fs::write(&file, config).unwrap();
        let out = check_config(&file);
        assert!(
            out.status.success(),
            "--check-config rejects the config of {values}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "values.yaml and ci/all-on-values.yaml have a config"
    );
    let overlay = repo().join("deploy/examples/overlay/config.yaml");
    let out = check_config(&overlay);
    assert!(
        out.status.success(),
        "--check-config rejects deploy/examples/overlay/config.yaml:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_chart_defaults_are_hardened_and_the_ci_values_turn_everything_on() {
    let chart = yaml(&format!("{CHART}/Chart.yaml"));
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "aws-flow-exporter");
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "Chart.yaml appVersion is the exporter's version"
    );

    let values = yaml(&format!("{CHART}/values.yaml"));
    assert_eq!(values["shards"], 1);
    let sec = &values["securityContext"];
    assert_eq!(sec["runAsNonRoot"], true);
    assert_eq!(sec["readOnlyRootFilesystem"], true);
    assert_eq!(sec["allowPrivilegeEscalation"], false);
    assert_eq!(str_list(&sec["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(sec["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(values["podSecurityContext"]["runAsNonRoot"], true);
    assert!(values["podSecurityContext"]["fsGroup"].as_u64().is_some());
    assert!(values["resources"]["limits"]["memory"].as_str().is_some());
    let rules = std::fs::read_to_string(repo().join("alerts/aws-flow-exporter.rules.yml")).unwrap();
    let base = values["prometheusRule"]["runbookUrlBase"].as_str().unwrap();
    assert!(
        rules.contains(&format!("runbook_url: {base}#")),
        "prometheusRule.runbookUrlBase is the rule file's base, which the chart rewrites"
    );
    for key in [
        "serviceMonitor",
        "prometheusRule",
        "grafanaDashboards",
        "persistence",
    ] {
        assert_eq!(values[key]["enabled"], false, "{key} is off by default");
    }
    assert_eq!(
        values["grafanaDashboards"]["labels"]["grafana_dashboard"],
        "1"
    );

    let all_on = yaml(&format!("{CHART}/ci/all-on-values.yaml"));
    assert_eq!(all_on["shards"], 3);
    for key in [
        "serviceMonitor",
        "prometheusRule",
        "grafanaDashboards",
        "persistence",
    ] {
        assert_eq!(all_on[key]["enabled"], true, "ci/all-on-values.yaml: {key}");
    }
    assert!(all_on["webConfig"]
        .as_mapping()
        .is_some_and(|m| !m.is_empty()));
    assert!(repo().join(CHART).join("ci/default-values.yaml").exists());
}

/// The example overlay changes what a user must change without touching the base.
#[test]
fn the_example_overlay_sets_image_namespace_role_and_config() {
    let overlay = yaml("deploy/examples/overlay/kustomization.yaml");
    assert_eq!(str_list(&overlay["resources"]), ["../../kubernetes"]);
    assert!(overlay["namespace"].as_str().is_some());
    assert_eq!(overlay["images"][0]["name"], "aws-flow-exporter");
    assert!(overlay["images"][0]["newName"].as_str().is_some());
    let generator = &overlay["configMapGenerator"][0];
    assert_eq!(generator["name"], "aws-flow-exporter-config");
    assert_eq!(generator["behavior"], "replace");
    assert_eq!(str_list(&generator["files"]), ["config.yaml"]);
    let patches: Vec<&str> = overlay["patches"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p["patch"].as_str())
        .collect();
    assert!(
        patches
            .iter()
            .any(|p| p.contains("kind: ServiceAccount") && p.contains("eks.amazonaws.com/role-arn")),
        "the overlay sets the IRSA role"
    );
}

/// The trust policies are valid JSON with `${NAME}` placeholders for envsubst, and grant what
/// each way of getting credentials needs: IRSA (web identity, bound to one service account),
/// EKS Pod Identity, and the role of another account assumed with an external id.
#[test]
fn the_trust_policies_grant_what_each_identity_needs() {
    let read = |name: &str| -> (String, serde_json::Value) {
        let text = std::fs::read_to_string(repo().join("deploy/iam").join(name)).unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        (text, json)
    };
    let (text, irsa) = read("trust-irsa.json");
    let statement = &irsa["Statement"][0];
    assert_eq!(irsa["Version"], "2012-10-17");
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        statement["Condition"]["StringEquals"]["${OIDC_PROVIDER}:sub"],
        "system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}"
    );
    assert!(text.contains("oidc-provider/${OIDC_PROVIDER}"));

    let (_, pod_identity) = read("trust-pod-identity.json");
    let statement = &pod_identity["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "pods.eks.amazonaws.com");
    assert_eq!(statement["Action"][0], "sts:AssumeRole");
    assert_eq!(statement["Action"][1], "sts:TagSession");

    let (_, cross) = read("trust-cross-account.json");
    let statement = &cross["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        "${EXTERNAL_ID}"
    );
}
