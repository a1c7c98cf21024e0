//! The dashboards in `dashboards/` and the metric contract, read the same way by the static
//! checks (`tests/monitoring.rs`) and the end-to-end test against a real Prometheus
//! (`tests/acceptance/prometheus.rs`).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The exporter's own series (`src/self_metrics.rs`), histograms as their
/// `_bucket`/`_sum`/`_count` series, and the standard process metrics.
const EXPORTER_SERIES: &[&str] = &[
    "aws_flow_exporter_build_info",
    "aws_flow_exporter_collector_up",
    "aws_flow_exporter_last_collection_success_timestamp_seconds",
    "aws_flow_exporter_collection_duration_seconds_bucket",
    "aws_flow_exporter_collection_duration_seconds_sum",
    "aws_flow_exporter_collection_duration_seconds_count",
    "aws_flow_exporter_api_requests_total",
    "aws_flow_exporter_api_request_duration_seconds_bucket",
    "aws_flow_exporter_api_request_duration_seconds_sum",
    "aws_flow_exporter_api_request_duration_seconds_count",
    "aws_flow_exporter_executions_tracked",
    "aws_flow_exporter_state_restored",
    "aws_flow_exporter_state_saves_total",
    "aws_flow_exporter_state_last_save_timestamp_seconds",
    "aws_flow_exporter_state_bytes",
    "aws_flow_exporter_config_last_reload_successful",
    "aws_flow_exporter_config_last_reload_success_timestamp_seconds",
    "aws_flow_exporter_config_hash",
    "aws_flow_exporter_shard_ordinal",
    "aws_flow_exporter_total_shards",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
];

/// The AppFlow schedule families of spec v4 ("Schedules (v4)"), which the alerts and the
/// AppFlow dashboard read. Listed here as well as in the registry (duplicates are dropped) so
/// that the checks hold whichever of the two branches is merged first.
const SCHEDULE_SERIES: &[&str] = &[
    "aws_appflow_flow_next_scheduled_run_timestamp_seconds",
    "aws_appflow_flow_schedule_interval_seconds",
    "aws_appflow_flow_consecutive_failures",
    "aws_appflow_flow_error_deactivation_threshold",
];

/// Every series name of the metric contract: the families each service
/// declares in the registry (histograms as their `_bucket`/`_sum`/`_count`
/// series), then the exporter's own.
pub static CONTRACT: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    use aws_flow_exporter::exposition::Kind;
    let mut names = Vec::new();
    for family in aws_flow_exporter::services::SERVICES
        .iter()
        .flat_map(|s| s.families.iter())
    {
        match family.kind {
            Kind::Histogram => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{}{suffix}", family.name));
                }
            }
            _ => names.push(family.name.to_string()),
        }
    }
    names.extend(EXPORTER_SERIES.iter().map(|s| s.to_string()));
    for name in SCHEDULE_SERIES {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
});

/// Whether `name` is a series of the contract.
pub fn in_contract(name: &str) -> bool {
    CONTRACT.iter().any(|c| c == name)
}

/// Name prefixes of the contract's series, and the part of the exporter each belongs to.
const PREFIXES: &[(&str, &str)] = &[
    ("aws_appflow_", "appflow"),
    ("aws_transfer_", "transfer"),
    ("aws_supplychain_", "supplychain"),
    ("aws_customerprofiles_", "customerprofiles"),
    ("aws_flow_exporter_", "exporter"),
    ("process_", "exporter"),
];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `dashboards/*.json`, parsed, by file name.
pub fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("dashboards"))
        .expect("dashboards/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", p.display()));
            (file_name(p), json)
        })
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// All panels, those nested in collapsed rows included, rows themselves included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

pub fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

/// One PromQL query of one panel.
pub struct PanelQuery {
    pub dashboard: String,
    pub panel: String,
    pub ref_id: String,
    pub expr: String,
}

pub fn panel_queries(file: &str, dashboard: &Value) -> Vec<PanelQuery> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |target| PanelQuery {
                    dashboard: file.to_string(),
                    panel: panel["title"].as_str().unwrap_or("").to_string(),
                    ref_id: target["refId"].as_str().unwrap_or("").to_string(),
                    expr: target["expr"].as_str().unwrap_or("").to_string(),
                })
        })
        .collect()
}

/// The template variables.
pub fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

/// The query of a query variable (Grafana stores it as a string or as `{query: ...}`).
pub fn variable_query(variable: &Value) -> Option<&str> {
    if variable["type"] != "query" {
        return None;
    }
    variable["query"]
        .as_str()
        .or_else(|| variable["query"]["query"].as_str())
}

/// `label_values(<selector>, <label>)` as (selector, label).
pub fn label_values(query: &str) -> Option<(&str, &str)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim(), label.trim()))
}

/// Replaces Grafana variables (`$name`, `${name}`, `$__rate_interval`, ...) with `values`;
/// panics on a variable that `values` does not know, so a typo cannot hide.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let re = regex::Regex::new(r"\$\{(\w+)\}|\$(\w+)").unwrap();
    re.replace_all(expr, |caps: &regex::Captures| {
        let name = caps.get(1).or_else(|| caps.get(2)).unwrap().as_str();
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => v.to_string(),
            None => panic!("unknown variable ${name} in {expr}"),
        }
    })
    .into_owned()
}

/// The identifiers in `expr` (outside string literals) that look like series of this exporter.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#).unwrap();
    let code = strings.replace_all(expr, "\"\"");
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    ident
        .find_iter(&code)
        .map(|m| m.as_str())
        .filter(|name| PREFIXES.iter().any(|(p, _)| name.starts_with(p)))
        .map(str::to_string)
        .collect()
}

/// The parts of the exporter (`appflow`, ..., `exporter`) whose series `expr` reads.
pub fn services(expr: &str) -> BTreeSet<&'static str> {
    metric_names(expr)
        .iter()
        .filter_map(|name| {
            PREFIXES
                .iter()
                .find(|(p, _)| name.starts_with(p))
                .map(|(_, s)| *s)
        })
        .collect()
}
