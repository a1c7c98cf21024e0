//! The runtime configuration: what the rest of the program reads, once validated.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use crate::services::SERVICES;
pub use crate::services::{LogGroups, ServiceSettings};

/// Label names the exporter sets itself, so a target's `labels` must not use
/// them: every label of a service's family and of the exporter's per-target ones, `region`,
/// and the `le` and `quantile` of histograms and summaries. Derived from the
/// registry, so a new family's labels are reserved with it.
pub static RESERVED_LABEL_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names = vec!["region", "le", "quantile"];
    let own = crate::self_metrics::documented();
    // Only families that carry target labels can clash with them (`build_info`'s
    // `version` and `config_hash`'s `sha256` cannot).
    let per_target = own.iter().filter(|f| f.per_target);
    names.extend(per_target.flat_map(|f| f.labels.iter().copied()));
    names.extend(crate::services::label_names());
    names.sort_unstable();
    names.dedup();
    names
});

/// How and how often targets are collected.
#[derive(Clone, Debug, PartialEq)]
pub struct Collection {
    /// How often every target is collected (default 60s).
    pub interval: Duration,
    /// Executions started earlier than this before now are ignored (default 7d).
    pub lookback: Duration,
    /// AWS requests in flight per target, at least 1 (default 8).
    pub max_concurrency: usize,
    /// Request rate per target and service, greater than zero (default 5.0).
    pub requests_per_second: f64,
    /// Timeout of one AWS request attempt (default 20s).
    pub timeout: Duration,
}

impl Default for Collection {
    fn default() -> Self {
        Collection {
            interval: Duration::from_secs(60),
            lookback: Duration::from_secs(7 * 24 * 60 * 60),
            max_concurrency: 8,
            requests_per_second: 5.0,
            timeout: Duration::from_secs(20),
        }
    }
}

/// One AWS region (and optionally one assumed role) to collect.
///
/// [`Target::default`] is the default target used when the file has no `targets` key:
/// region `None`, no role, no labels, every service enabled with no filter.
#[derive(Clone, Debug)]
pub struct Target {
    /// The AWS region; `None` only for the default target: the AWS chain decides.
    pub region: Option<String>,
    /// Role to assume for this target's requests, if any; starts with `arn:`.
    pub role_arn: Option<String>,
    /// External id passed when assuming `role_arn`; only set together with it.
    pub external_id: Option<String>,
    /// Extra labels added to every series of this target.
    pub labels: BTreeMap<String, String>,
    /// One entry per service of [`SERVICES`], in the registry's order, whether
    /// the file mentions it or not.
    pub services: Vec<ServiceSettings>,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            region: None,
            role_arn: None,
            external_id: None,
            labels: BTreeMap::new(),
            services: SERVICES
                .iter()
                .map(|def| ServiceSettings::new(def))
                .collect(),
        }
    }
}

impl Target {
    /// The settings of the service named `name` (a [`crate::services::ServiceDef::name`]); `None`
    /// only for a name that is not in the registry.
    pub fn service(&self, name: &str) -> Option<&ServiceSettings> {
        self.services.iter().find(|s| s.name == name)
    }
}
