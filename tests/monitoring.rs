//! The dashboards, alert rules and example configurations shipped with the exporter, checked
//! without running anything but promtool: rules load and their unit tests pass, every
//! dashboard is provisionable and reads only series of the metric contract.

#[path = "support/dashboards.rs"]
mod dashboards;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use dashboards::*;
use serde_json::Value;

/// Whether promtool can run here; in CI (`CI` set) it must.
fn have_promtool() -> bool {
    if Command::new("promtool").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "promtool is required in CI (Debian package prometheus)"
    );
    eprintln!("promtool not installed: skipped");
    false
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| p.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {dir}");
    files
}

#[test]
fn promtool_checks_the_rules() {
    if have_promtool() {
        let files = yaml_files("alerts");
        let mut args = vec!["check", "rules"];
        args.extend(files.iter().map(String::as_str));
        promtool(&args);
    }
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    if have_promtool() {
        let files = yaml_files("alerts/tests");
        let mut args = vec!["test", "rules"];
        args.extend(files.iter().map(String::as_str));
        promtool(&args);
    }
}

#[test]
fn promtool_checks_the_example_prometheus_config() {
    if have_promtool() {
        promtool(&["check", "config", "examples/prometheus.yml"]);
    }
}

/// Where every runbook_url points by default (absolute, so that it is a live link in
/// Alertmanager and Grafana); the Helm chart's `prometheusRule.runbookUrlBase` rewrites it.
const RUNBOOK_BASE: &str =
    "https://github.com/aws-flow-exporter/aws-flow-exporter/blob/main/docs/runbook.md";

fn rules() -> Vec<serde_yaml_ng::Value> {
    let text = std::fs::read_to_string(repo().join("alerts/aws-flow-exporter.rules.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .collect()
}

fn alert_names() -> BTreeSet<String> {
    rules()
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

/// Every alert has a severity, a summary, a description and a runbook section that exists;
/// rules read only contract series and the threshold recording rules.
#[test]
fn every_alert_is_documented_and_reads_the_contract() {
    let runbook = std::fs::read_to_string(repo().join("docs/runbook.md")).unwrap();
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let rules = rules();
    let recorded: BTreeSet<&str> = rules.iter().filter_map(|r| r["record"].as_str()).collect();
    let colon = regex::Regex::new(r"[a-z_]+:[a-z_:]+").unwrap();
    for rule in &rules {
        let expr = rule["expr"].as_str().unwrap();
        for name in metric_names(expr) {
            assert!(
                in_contract(&name),
                "{name} in {expr} is not in the contract"
            );
        }
        let Some(alert) = rule["alert"].as_str() else {
            continue;
        };
        for used in colon.find_iter(expr) {
            assert!(
                recorded.contains(used.as_str()),
                "{alert} uses unknown {}",
                used.as_str()
            );
        }
        assert!(
            matches!(
                rule["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ),
            "{alert}: severity"
        );
        for key in ["summary", "description"] {
            assert!(
                rule["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{alert}: {key}"
            );
        }
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or("");
        assert_eq!(url, format!("{RUNBOOK_BASE}#{}", alert.to_lowercase()));
        assert!(
            anchors.contains(&alert.to_lowercase()),
            "docs/runbook.md has no ## {alert}"
        );
    }
}

/// The unit tests show, for every alert, a case where it fires and one where it does not.
#[test]
fn every_alert_has_a_firing_and_a_silent_unit_test() {
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for file in yaml_files("alerts/tests") {
        let text = std::fs::read_to_string(repo().join(&file)).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        for test in doc["tests"].as_sequence().unwrap() {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let expected = case["exp_alerts"].as_sequence().map_or(0, |s| s.len());
                if expected == 0 {
                    silent.insert(name);
                } else {
                    firing.insert(name);
                }
            }
        }
    }
    let alerts = alert_names();
    assert_eq!(
        alerts.difference(&firing).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "never fires"
    );
    assert_eq!(
        alerts.difference(&silent).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "never silent"
    );
}

#[test]
fn dashboards_are_provisionable_with_stable_uids() {
    let boards = dashboards();
    // The overview, the exporter's health, and every service of the registry on a dashboard
    // named for it (services may share one).
    for file in ["overview.json", "exporter-health.json"] {
        assert!(boards.iter().any(|(f, _)| f == file), "{file}");
    }
    for service in aws_flow_exporter::services::SERVICES {
        assert!(
            boards.iter().any(|(f, _)| f.contains(service.name)),
            "no dashboard named for {}",
            service.name
        );
    }
    let mut uids = BTreeMap::new();
    for (file, board) in &boards {
        let uid = board["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: uid"));
        assert!(
            uid.starts_with("aws-flow-") && uid.len() <= 40,
            "{file}: uid {uid}"
        );
        assert!(
            uids.insert(uid.to_string(), file).is_none(),
            "{file}: duplicate uid {uid}"
        );
        assert!(
            board["schemaVersion"].as_u64().unwrap_or(0) >= 39,
            "{file}: schemaVersion"
        );
        assert!(
            board.get("id").is_none_or(Value::is_null),
            "{file}: a fixed id breaks provisioning"
        );
        assert!(
            board["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
    }
}

#[test]
fn dashboards_have_the_datasource_region_filter_and_name_variables() {
    for (file, board) in dashboards() {
        let vars = variables(&board);
        let by_name = |name: &str| vars.iter().find(|v| v["name"] == name).copied();
        let ds = by_name("datasource").unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(ds["type"], "datasource", "{file}");
        assert_eq!(ds["query"], "prometheus", "{file}");
        assert!(by_name("region").is_some(), "{file}: no region variable");
        // Grafana's ad hoc filters go into every selector of every query, also those of
        // series without target labels (process_*, build_info, config_*, shards), which then
        // show "No data": the filter is a textbox placed only where it applies.
        assert!(
            !vars.iter().any(|v| v["type"] == "adhoc"),
            "{file}: an ad hoc filter applies to every query"
        );
        let filter =
            by_name(TARGET_FILTER).unwrap_or_else(|| panic!("{file}: no {TARGET_FILTER} variable"));
        assert_eq!(filter["type"], "textbox", "{file}");
        assert_eq!(
            filter["query"], "",
            "{file}: the filter is empty by default"
        );
        assert!(
            ["flow", "workflow", "name", "aws_service"]
                .iter()
                .any(|n| by_name(n).is_some()),
            "{file}: no flow/workflow variable"
        );
        for var in &vars {
            if var["type"] == "query" {
                assert_eq!(
                    var["datasource"]["uid"], "${datasource}",
                    "{file}: {}",
                    var["name"]
                );
            }
            if let Some(query) = variable_query(var) {
                let (selector, _) = label_values(query)
                    .unwrap_or_else(|| panic!("{file}: {query} is not label_values(...)"));
                assert_contract(&file, query, selector);
            }
        }
    }
}

fn assert_contract(file: &str, what: &str, expr: &str) {
    let names = metric_names(expr);
    assert!(
        !names.is_empty(),
        "{file}: {what}: reads no series of the exporter"
    );
    for name in names {
        assert!(
            in_contract(&name),
            "{file}: {what}: {name} is not in the contract"
        );
    }
}

#[test]
fn every_panel_is_described_and_queries_the_contract_through_the_datasource_variable() {
    let mut queries = 0;
    for (file, board) in dashboards() {
        for panel in panels(&board) {
            if is_row(panel) {
                continue;
            }
            let title = panel["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{file}: a panel without title");
            assert!(
                panel["description"].as_str().is_some_and(|d| d.len() > 10),
                "{file}: {title}: no description"
            );
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{file}: {title}"
            );
            let targets = panel["targets"].as_array().map_or(&[][..], |v| v);
            assert!(!targets.is_empty(), "{file}: {title}: no query");
            for target in targets {
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{file}: {title}"
                );
            }
        }
        for q in panel_queries(&file, &board) {
            assert_contract(&file, &q.panel, &q.expr);
            queries += 1;
        }
    }
    assert!(queries > 50);
}

/// Every query of the dashboards: panels, variables (their selector), annotations.
fn all_queries(file: &str, board: &Value) -> Vec<(String, String)> {
    let mut queries: Vec<(String, String)> = panel_queries(file, board)
        .into_iter()
        .map(|q| (format!("{} ({})", q.panel, q.ref_id), q.expr))
        .collect();
    for var in variables(board) {
        if let Some((selector, _)) = variable_query(var).and_then(label_values) {
            queries.push((format!("variable {}", var["name"]), selector.to_string()));
        }
    }
    for annotation in annotations(board) {
        if let Some(expr) = annotation["expr"].as_str() {
            queries.push((
                format!("annotation {}", annotation["name"]),
                expr.to_string(),
            ));
        }
    }
    queries
}

/// The target filter is in every selector of series with target labels, and in no other:
/// setting it narrows the flows, workflows, collectors and requests, and leaves the process,
/// build, configuration and shard panels as they are.
#[test]
fn the_target_filter_applies_only_to_series_with_target_labels() {
    let mut filtered = 0;
    let mut unfiltered = 0;
    for (file, board) in dashboards() {
        for (what, expr) in all_queries(&file, &board) {
            let problems = target_filter_problems(&expr);
            assert!(
                problems.is_empty(),
                "{file}: {what}: {problems:?}\n    {expr}"
            );
            for (name, _) in selectors(&expr) {
                if carries_target_labels(&name) {
                    filtered += 1;
                } else {
                    unfiltered += 1;
                }
            }
        }
    }
    assert!(
        filtered > 100 && unfiltered > 10,
        "{filtered} / {unfiltered}"
    );
}

/// Every panel has a unit, and no panel plots a rate and a gauge on one axis.
#[test]
fn every_panel_has_a_unit_and_rates_and_gauges_have_their_own_axes() {
    for (file, board) in dashboards() {
        for panel in panels(&board) {
            if is_row(panel) {
                continue;
            }
            let problems = unit_problems(panel);
            assert!(
                problems.is_empty(),
                "{file}: {}: {problems:?}",
                panel["title"]
            );
        }
    }
}

/// The checks above are not vacuous: they catch a filter on a series without target labels,
/// a series with them left unfiltered, a panel without unit, and a gauge on a rate's axis.
#[test]
fn the_dashboard_checks_catch_a_misplaced_filter_and_a_missing_unit() {
    assert!(
        target_filter_problems(r#"process_resident_memory_bytes{job=~"$job", $target_labels}"#)
            .len()
            == 1
    );
    assert!(
        target_filter_problems(r#"aws_flow_exporter_build_info{job=~"$job", $target_labels}"#)
            .len()
            == 1
    );
    assert!(
        target_filter_problems(r#"aws_flow_exporter_config_hash{job=~"$job", $target_labels}"#)
            .len()
            == 1
    );
    assert!(
        target_filter_problems(r#"aws_flow_exporter_total_shards{job=~"$job", $target_labels}"#)
            .len()
            == 1
    );
    assert!(target_filter_problems(r#"aws_appflow_flow_info{job=~"$job"}"#).len() == 1);
    assert!(target_filter_problems(r#"rate(aws_flow_exporter_api_requests_total[5m])"#).len() == 1);
    assert!(target_filter_problems(
        r#"aws_appflow_flow_info{job=~"$job", $target_labels} * on (instance) group_left process_start_time_seconds{job=~"$job"}"#
    )
    .is_empty());

    let panel = |unit: Option<&str>, overrides: Value| -> Value {
        serde_json::json!({
            "type": "timeseries",
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": overrides},
            "targets": [
                {"refId": "A", "expr": "sum(rate(aws_appflow_processed_records_total[5m]))"},
                {"refId": "B", "expr": "sum(aws_customerprofiles_workflow_processed_records)"}
            ]
        })
    };
    let right_axis = serde_json::json!([{
        "matcher": {"id": "byFrameRefID", "options": "B"},
        "properties": [{"id": "custom.axisPlacement", "value": "right"}, {"id": "unit", "value": "short"}]
    }]);
    assert!(unit_problems(&panel(Some("short"), right_axis.clone())).is_empty());
    assert_eq!(unit_problems(&panel(None, right_axis)).len(), 1, "no unit");
    assert_eq!(
        unit_problems(&panel(Some("short"), serde_json::json!([]))).len(),
        1,
        "shared axis"
    );
}

/// Every dashboard marks exporter restarts and configuration reloads.
#[test]
fn dashboards_annotate_restarts_and_reloads() {
    for (file, board) in dashboards() {
        let list = annotations(&board);
        for (name, series) in [
            ("Exporter restarts", "process_start_time_seconds"),
            (
                "Configuration reloads",
                "aws_flow_exporter_config_last_reload_success_timestamp_seconds",
            ),
        ] {
            let annotation = list
                .iter()
                .find(|a| a["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no annotation {name}"));
            assert_eq!(
                annotation["datasource"]["uid"], "${datasource}",
                "{file}: {name}"
            );
            assert_eq!(annotation["enable"], true, "{file}: {name}");
            let expr = annotation["expr"].as_str().unwrap();
            assert!(
                expr.contains(&format!("changes({series}")),
                "{file}: {name}: {expr}"
            );
            assert_eq!(annotation["target"]["expr"], expr, "{file}: {name}");
            assert_contract(&file, name, expr);
        }
    }
}

/// The AppFlow dashboard shows the schedules (spec v4): when the next run is due and the
/// consecutive failures against the deactivation threshold.
#[test]
fn the_appflow_dashboard_shows_schedules() {
    let (_, board) = dashboards()
        .into_iter()
        .find(|(f, _)| f == "appflow.json")
        .unwrap();
    let queries = panel_queries("appflow.json", &board);
    let panel = |title: &str| -> Vec<&str> {
        queries
            .iter()
            .filter(|q| q.panel == title)
            .map(|q| q.expr.as_str())
            .collect()
    };
    let due = panel("Next run due in");
    assert!(due.iter().any(|e| e
        .contains("aws_appflow_flow_next_scheduled_run_timestamp_seconds")
        && e.contains("- time()")));
    let failures = panel("Consecutive failures");
    assert!(failures
        .iter()
        .any(|e| e.contains("aws_appflow_flow_consecutive_failures")));
    assert!(failures
        .iter()
        .any(|e| e.contains("aws_appflow_flow_error_deactivation_threshold")));
}

#[test]
fn metric_names_skip_labels_and_strings() {
    let names = metric_names(
        r#"sum by (aws_service) (rate(aws_flow_exporter_api_requests_total{outcome="aws_appflow_x"}[5m]))"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["aws_flow_exporter_api_requests_total"]
    );
    assert_eq!(
        substitute(
            "x[$__rate_interval] ${flow}",
            &[("__rate_interval", "1m"), ("flow", "a")]
        ),
        "x[1m] a"
    );
}

#[test]
fn example_provisioning_points_at_the_dashboards() {
    let dir = repo().join("examples");
    let compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    let provisioning: PathBuf = dir.join("grafana/provisioning/dashboards");
    let provider = std::fs::read_to_string(provisioning.join("aws-flow-exporter.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&provider).unwrap();
    let path = doc["providers"][0]["options"]["path"].as_str().unwrap();
    assert!(
        compose.contains(&format!("../dashboards:{path}:ro")),
        "docker-compose.yml mounts ../dashboards read-only at {path}"
    );
    assert!(compose.contains("--demo"));
}

/// The demo keeps the collectors' state in a named volume, at the directory the image makes
/// writable for its user.
#[test]
fn example_exporter_keeps_its_state_in_a_volume() {
    let compose = std::fs::read_to_string(repo().join("examples/docker-compose.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&compose).unwrap();
    let exporter = &doc["services"]["exporter"];
    let args: Vec<&str> = exporter["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args.iter().position(|a| *a == "--storage.path").unwrap();
    let dir = args[at + 1];
    let mount = format!("exporter-state:{dir}");
    let volumes = exporter["volumes"].as_sequence().unwrap();
    assert!(
        volumes.iter().any(|v| v.as_str() == Some(&mount)),
        "{mount}"
    );
    assert!(doc["volumes"].get("exporter-state").is_some());
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("--chown=65532:65532 /state {dir}")),
        "the image makes {dir} writable by its user"
    );
}

/// The recipe for a service (CONTRIBUTING.md, "Adding a service"): each
/// registered service has families, a simulator module, a section in
/// docs/services.md and a block in docs/configuration.md's example. Its
/// metric table in docs/metrics.md is generated (tests/generated_docs.rs).
#[test]
fn every_registered_service_is_complete() {
    let services = std::fs::read_to_string(repo().join("docs/services.md")).unwrap();
    let configuration = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    for service in aws_flow_exporter::services::SERVICES {
        assert!(!service.families.is_empty(), "{}", service.name);
        let simulator = repo().join(format!("simulator/src/{}.rs", service.name));
        assert!(
            simulator.exists(),
            "{} has no simulator module",
            service.name
        );
        assert!(
            services.contains(&format!("## {}\n", service.title)),
            "{} has no section in docs/services.md",
            service.name
        );
        let block = format!("{}:", service.name);
        assert!(
            configuration.contains(&block),
            "docs/configuration.md's example has no `{block}` block"
        );
    }
}

/// The example configuration does what its comment says: AppFlow only (an omitted
/// service would be enabled), and so does the README's minimal configuration.
#[test]
fn example_configuration_collects_appflow_only() {
    use aws_flow_exporter::config::Config;
    let example = Config::load(&repo().join("examples/config.yaml")).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let minimal = readme
        .split("```yaml\n")
        .map(|block| block.split("```").next().unwrap())
        .find(|block| block.starts_with("targets:") && block.contains("appflow:"))
        .expect("the README's minimal configuration");
    let minimal = Config::parse(minimal).unwrap();
    for config in [example, minimal] {
        let enabled: Vec<&str> = config.targets[0]
            .services
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.name)
            .collect();
        assert_eq!(enabled, ["appflow"]);
    }
}
