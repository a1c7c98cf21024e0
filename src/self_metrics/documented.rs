//! The exporter's own families as data, for the generated metric reference
//! (docs/metrics.md): what each family's series carry and when it exists.
//! A unit test renders every family and compares.

use super::{
    OwnFamily, API_DURATION, API_REQUESTS, BUILD_INFO, COLLECTION_DURATION, COLLECTOR_UP,
    CONFIG_HASH, CONFIG_SUCCESSFUL, CONFIG_SUCCESS_TIME, LAST_SUCCESS, SHARD_ORDINAL, STATE_BYTES,
    STATE_LAST_SAVE, STATE_RESTORED, STATE_SAVES, TOTAL_SHARDS, TRACKED,
};

/// One of the exporter's own families.
pub(crate) struct OwnFamilyDoc {
    pub(crate) name: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) help: &'static str,
    /// Its labels besides `region` and the target's.
    pub(crate) labels: &'static [&'static str],
    /// Its series carry `region` and the target's labels: one per (target, service).
    pub(crate) per_target: bool,
    /// The flag without which it does not exist; None: it always does.
    pub(crate) only_with: Option<&'static str>,
}

/// Every own family, by name (`process_*` aside: the `prometheus` crate's).
pub(crate) fn documented() -> Vec<OwnFamilyDoc> {
    let doc = |family: &OwnFamily, labels, per_target, only_with| OwnFamilyDoc {
        name: family.name,
        kind: family.kind,
        help: family.help,
        labels,
        per_target,
        only_with,
    };
    let storage = Some("--storage.path");
    vec![
        doc(&API_DURATION, &["aws_service", "operation"], true, None),
        doc(
            &API_REQUESTS,
            &["aws_service", "operation", "outcome"],
            true,
            None,
        ),
        doc(&BUILD_INFO, &["revision", "version"], false, None),
        doc(&COLLECTION_DURATION, &["aws_service"], true, None),
        doc(&COLLECTOR_UP, &["aws_service"], true, None),
        doc(&CONFIG_HASH, &["sha256"], false, None),
        doc(&CONFIG_SUCCESS_TIME, &[], false, None),
        doc(&CONFIG_SUCCESSFUL, &[], false, None),
        doc(&TRACKED, &["aws_service"], true, None),
        doc(&LAST_SUCCESS, &["aws_service"], true, None),
        doc(&SHARD_ORDINAL, &[], false, Some("--shard")),
        doc(&STATE_BYTES, &["aws_service"], true, storage),
        doc(&STATE_LAST_SAVE, &["aws_service"], true, storage),
        doc(&STATE_RESTORED, &["aws_service"], true, storage),
        doc(&STATE_SAVES, &["aws_service", "outcome"], true, storage),
        doc(&TOTAL_SHARDS, &[], false, Some("--shard")),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use super::*;
    use crate::aws::Outcome;
    use crate::self_metrics::ExporterMetrics;

    /// Every family rendered with every flag, by name: its type and label names.
    fn rendered() -> BTreeMap<String, (String, BTreeSet<String>)> {
        let mut exporter = ExporterMetrics::new(vec!["account".into()]).unwrap();
        exporter.enable_state().unwrap();
        exporter.set_shard(0, 2).unwrap();
        exporter.config_loaded("abc", 1.0);
        let labels = [("account".to_string(), "a".to_string())].into();
        let service = exporter.for_service("appflow", "us-east-1", &labels);
        service.known_operations(&["ListFlows"]);
        service.api_attempt("ListFlows", Outcome::Success, Duration::from_millis(5));
        service.collection_ended(true, Duration::from_secs(1), 2.0);
        service.set_tracked(1);
        service.state_started(true, Some((1.0, 10)));
        service.state_saved(Some((2.0, 10)));
        let mut text = Vec::new();
        exporter.render(&mut text);
        let mut families: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
        for line in String::from_utf8(text).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                families.insert(name.into(), (kind.into(), BTreeSet::new()));
            } else if let Some((series, _)) = line.split_once('{') {
                let name = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| series.strip_suffix(s).filter(|n| families.contains_key(*n)))
                    .unwrap_or(series);
                if let Some((_, names)) = families.get_mut(name) {
                    let labels = line[series.len() + 1..].split('}').next().unwrap();
                    for pair in labels.split(',') {
                        let label = pair.split('=').next().unwrap();
                        if label != "le" {
                            names.insert(label.to_string());
                        }
                    }
                }
            }
        }
        families.retain(|name, _| !name.starts_with("process_"));
        families
    }

    #[test]
    fn the_documented_families_are_those_rendered() {
        let rendered = rendered();
        let documented = documented();
        let names: BTreeSet<&str> = documented.iter().map(|d| d.name).collect();
        let seen: BTreeSet<&str> = rendered.keys().map(String::as_str).collect();
        assert_eq!(names, seen);
        for doc in documented {
            let (kind, labels) = &rendered[doc.name];
            assert_eq!(kind, doc.kind, "{}", doc.name);
            let mut expected: BTreeSet<String> = doc.labels.iter().map(|l| l.to_string()).collect();
            if doc.per_target {
                expected.extend(["region".to_string(), "account".to_string()]);
            }
            assert_eq!(labels, &expected, "{}", doc.name);
        }
    }
}
