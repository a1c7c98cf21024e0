//! The dashboards in `dashboards/` and the metric contract, read the same way by the static
//! checks (`tests/monitoring.rs`) and the end-to-end test against a real Prometheus
//! (`tests/acceptance/prometheus.rs`).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The standard process metrics (the `prometheus` crate's, not in the registry).
const PROCESS_SERIES: &[&str] = &[
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
];

/// The series of a family: histograms as their `_bucket`/`_sum`/`_count`.
fn series_of(name: &str, histogram: bool) -> Vec<String> {
    if histogram {
        ["_bucket", "_sum", "_count"]
            .iter()
            .map(|suffix| format!("{name}{suffix}"))
            .collect()
    } else {
        vec![name.to_string()]
    }
}

/// Every series name of the metric contract: the families each service
/// declares in the registry (histograms as their `_bucket`/`_sum`/`_count`
/// series), then the exporter's own and the process metrics.
pub static CONTRACT: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    use aws_flow_exporter::exposition::Kind;
    let mut names = Vec::new();
    for family in aws_flow_exporter::services::SERVICES
        .iter()
        .flat_map(|s| s.families.iter())
    {
        names.extend(series_of(family.name, family.kind == Kind::Histogram));
    }
    for family in aws_flow_exporter::docs::own_families() {
        names.extend(series_of(family.name, family.kind == "histogram"));
    }
    names.extend(PROCESS_SERIES.iter().map(|s| s.to_string()));
    names
});

/// Whether `name` is a series of the contract.
pub fn in_contract(name: &str) -> bool {
    CONTRACT.iter().any(|c| c == name)
}

/// Name prefixes of the contract's series, and the part of the exporter each belongs to:
/// `aws_<name>_` for each service of the registry, then the exporter's own.
static PREFIXES: std::sync::LazyLock<Vec<(String, &'static str)>> =
    std::sync::LazyLock::new(|| {
        let services = aws_flow_exporter::services::SERVICES.iter();
        let mut prefixes: Vec<(String, &'static str)> = services
            .map(|s| (format!("aws_{}_", s.name), s.name))
            .collect();
        prefixes.push(("aws_flow_exporter_".into(), "exporter"));
        prefixes.push(("process_".into(), "exporter"));
        prefixes
    });

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

/// The annotations (the built-in "Annotations & Alerts" included).
pub fn annotations(dashboard: &Value) -> Vec<&Value> {
    dashboard["annotations"]["list"]
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

/// The dashboards' filter on the targets' labels: a textbox variable holding PromQL label
/// matchers (`account="prod", env=~"a|b"`), placed as the last matcher of every selector whose
/// series carry target labels, and of no other. Empty by default (a trailing comma in a
/// selector is valid PromQL).
pub const TARGET_FILTER: &str = "target_labels";

/// Replaces Grafana variables (`$name`, `${name}`, `$__rate_interval`, ...) with `values`;
/// panics on a variable that `values` does not know, so a typo cannot hide. The target filter
/// takes its default (empty) unless `values` gives it.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let re = regex::Regex::new(r"\$\{(\w+)\}|\$(\w+)").unwrap();
    re.replace_all(expr, |caps: &regex::Captures| {
        let name = caps.get(1).or_else(|| caps.get(2)).unwrap().as_str();
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => v.to_string(),
            None if name == TARGET_FILTER => String::new(),
            None => panic!("unknown variable ${name} in {expr}"),
        }
    })
    .into_owned()
}

/// The exporter's own families whose series carry a target's labels (spec: the series with
/// `aws_service` carry `region` and the target's labels), as name prefixes (histograms'
/// `_bucket`/`_sum`/`_count` included). `build_info`, `config_*`, the shard series, the
/// discovery series and `process_*` carry none.
static EXPORTER_TARGET_SERIES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        let own = aws_flow_exporter::docs::own_families().into_iter();
        own.filter(|f| f.per_target).map(|f| f.name).collect()
    });

/// Whether the series `name` carries the labels of the target it was collected for.
pub fn carries_target_labels(name: &str) -> bool {
    let service = PREFIXES
        .iter()
        .any(|(prefix, part)| *part != "exporter" && name.starts_with(prefix));
    service || EXPORTER_TARGET_SERIES.iter().any(|p| name.starts_with(p))
}

/// The selectors of the exporter's series in `expr`: (name, the text between its braces, or
/// None for a bare name).
pub fn selectors(expr: &str) -> Vec<(String, Option<String>)> {
    // String literals blanked to spaces, so that offsets stay those of `expr`.
    let strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#).unwrap();
    let code = strings.replace_all(expr, |m: &regex::Captures| " ".repeat(m[0].len()));
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    ident
        .find_iter(&code)
        .filter(|m| PREFIXES.iter().any(|(p, _)| m.as_str().starts_with(p)))
        .map(|m| {
            let rest = &code[m.end()..];
            let matchers = rest
                .strip_prefix('{')
                .and_then(|r| r.find('}'))
                .map(|close| expr[m.end() + 1..m.end() + 1 + close].to_string());
            (m.as_str().to_string(), matchers)
        })
        .collect()
}

/// What is wrong with the target filter in `expr`: a selector of series with target labels
/// that lacks it, or one of series without target labels that has it (it would match nothing
/// as soon as the filter is set).
pub fn target_filter_problems(expr: &str) -> Vec<String> {
    let filter = format!("${TARGET_FILTER}");
    let mut problems = Vec::new();
    for (name, matchers) in selectors(expr) {
        let filtered = matchers.as_deref().is_some_and(|m| m.contains(&filter));
        if carries_target_labels(&name) && !filtered {
            problems.push(format!(
                "{name} carries target labels but is not filtered by {filter}"
            ));
        } else if !carries_target_labels(&name) && filtered {
            problems.push(format!(
                "{name} carries no target label but is filtered by {filter}"
            ));
        }
    }
    problems
}

/// Whether a query's values are a rate or an increase of a counter (as opposed to a value of
/// a gauge, a ratio or a quantile).
pub fn is_rate(expr: &str) -> bool {
    (expr.contains("rate(") || expr.contains("increase("))
        && !expr.contains(" / ")
        && !expr.contains("histogram_quantile(")
}

/// What is wrong with the units of a panel: no unit, or rates and gauge values on one axis
/// (each gauge query of a panel that also plots rates must be moved to the right axis, with
/// its own unit, by an override on its refId).
pub fn unit_problems(panel: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let defaults = &panel["fieldConfig"]["defaults"];
    if defaults["unit"].as_str().is_none_or(str::is_empty) {
        problems.push("no unit (fieldConfig.defaults.unit)".to_string());
    }
    if panel["type"] != "timeseries" {
        return problems;
    }
    let targets = panel["targets"].as_array().map_or(&[][..], |v| v);
    let expr = |t: &Value| t["expr"].as_str().unwrap_or("").to_string();
    if !targets.iter().any(|t| is_rate(&expr(t))) {
        return problems;
    }
    let overrides = panel["fieldConfig"]["overrides"]
        .as_array()
        .map_or(&[][..], |v| v);
    for target in targets.iter().filter(|t| !is_rate(&expr(t))) {
        let ref_id = target["refId"].as_str().unwrap_or("");
        let own_axis = overrides.iter().any(|o| {
            let props = o["properties"].as_array().map_or(&[][..], |v| v);
            o["matcher"]["id"] == "byFrameRefID"
                && o["matcher"]["options"] == ref_id
                && props
                    .iter()
                    .any(|p| p["id"] == "custom.axisPlacement" && p["value"] == "right")
                && props.iter().any(|p| p["id"] == "unit")
        });
        if !own_axis {
            problems.push(format!(
                "query {ref_id} (a gauge) shares the axis of a rate: give it the right axis and a unit"
            ));
        }
    }
    problems
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
