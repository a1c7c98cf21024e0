//! The registry of AWS services: one entry per service, and nothing outside
//! a service's own folder names it. Configuration, start-up, sharding and
//! the scheduler iterate [`SERVICES`].
//!
//! A service is a folder: `api.rs` (the narrow trait of the calls it makes
//! and its SDK adapter), `collector.rs` (its state, its metric families and
//! how it counts) and `mod.rs` (its [`ServiceDef`]). Adding one is that
//! folder, one line in [`SERVICES`], a simulator module and its docs
//! (CONTRIBUTING.md, "Adding a service").

mod appflow;
mod counting;
mod customerprofiles;
mod supplychain;
mod transfer;

use std::time::Duration;

use crate::aws::Caller;
use crate::collector::{Collector, Setup};
use crate::exposition::Family;
use crate::filter::NameFilter;

/// Every service, in the order their series are written.
pub static SERVICES: &[&ServiceDef] = &[
    &appflow::SERVICE,
    &transfer::SERVICE,
    &supplychain::SERVICE,
    &customerprofiles::SERVICE,
];

/// One AWS service, as the rest of the exporter sees it.
pub struct ServiceDef {
    /// The `aws_service` label value and the key of its block under
    /// `targets[].services`.
    pub name: &'static str,
    /// The heading of its section in docs/metrics.md and docs/services.md.
    pub title: &'static str,
    /// The keys its configuration block accepts besides `enabled`.
    pub config_keys: &'static [ConfigKey],
    /// Every metric family it writes.
    pub families: &'static [&'static Family],
    /// The AWS operations it calls with these settings (their
    /// `api_requests_total` series exist from the start, at 0).
    pub operations: fn(&ServiceSettings) -> Vec<&'static str>,
    /// Its collector for one target.
    pub build: fn(Build<'_>) -> anyhow::Result<Box<dyn Collector>>,
    /// Which IAM actions its operations need (docs/iam.md and the policies
    /// in deploy/iam/ are generated from it).
    pub iam: Iam,
}

/// The IAM actions of a service's operations: `<prefix>:<Operation>`.
pub struct Iam {
    /// The IAM prefix of the service's API (botocore's `signingName`:
    /// Supply Chain's is `scn`, Customer Profiles' `profile`).
    pub prefix: &'static str,
    /// Operations it calls on another AWS API, with that API's prefix.
    pub elsewhere: &'static [(&'static str, &'static str)],
}

impl Iam {
    /// A service calling only its own API.
    pub const fn of(prefix: &'static str) -> Self {
        Iam {
            prefix,
            elsewhere: &[],
        }
    }

    /// The IAM action `operation` needs, e.g. `appflow:ListFlows`.
    pub fn action(&self, operation: &str) -> String {
        let prefix = self
            .elsewhere
            .iter()
            .find(|(op, _)| *op == operation)
            .map_or(self.prefix, |(_, prefix)| prefix);
        format!("{prefix}:{operation}")
    }
}

/// What a service's collector is built from.
pub struct Build<'a> {
    /// Shared with the targets that reach AWS alike.
    pub sdk: &'a crate::aws::Sdk,
    /// Sends every request: rate limit, concurrency, timeout, retries, metrics.
    pub caller: Caller,
    pub settings: &'a ServiceSettings,
    pub lookback: Duration,
    /// Requests in flight per target.
    pub max_concurrency: usize,
    /// `region` and the target's labels, carried by every series.
    pub base_labels: Vec<(String, String)>,
}

impl Build<'_> {
    /// What the collector holds of these settings, selecting names with `filter`.
    fn setup(&self, filter: NameFilter) -> Setup {
        Setup::new(
            filter,
            self.lookback,
            self.max_concurrency,
            self.base_labels.clone(),
        )
    }
}

/// How one target collects one service, as validated from its block under
/// `services`. The keys a service accepts are its [`ServiceDef::config_keys`];
/// the fields of the keys it does not accept keep their defaults.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// The service's [`ServiceDef::name`].
    pub name: &'static str,
    /// Whether the service is collected (default true).
    pub enabled: bool,
    /// `include` / `exclude`, and the replica's shard (`--shard`): which
    /// resource names are collected (default: all).
    pub filter: NameFilter,
    /// `domains`: which domains are collected; empty (the default) means
    /// every one. Non-empty strings, each listed once.
    pub domains: Vec<String>,
    /// `log_groups`: where to read the service's logs; `None` (the default):
    /// they are not read.
    pub log_groups: Option<LogGroups>,
}

impl ServiceSettings {
    /// The settings of a service the file does not mention: enabled, no filter.
    pub fn new(def: &ServiceDef) -> Self {
        ServiceSettings {
            name: def.name,
            enabled: true,
            filter: NameFilter::default(),
            domains: Vec::new(),
            log_groups: None,
        }
    }
}

/// The `log_groups` key: which CloudWatch Logs groups to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogGroups {
    /// `auto`: the service finds its log groups itself.
    Auto,
    /// These groups: non-empty names, at least one, each listed once.
    Names(Vec<String>),
}

/// A key of a service's configuration block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKey {
    /// `include`: regular expressions on the resource names.
    Include,
    /// `exclude`: regular expressions on the resource names.
    Exclude,
    /// `domains`: names of Customer Profiles domains.
    Domains,
    /// `log_groups`: `auto` or a list of CloudWatch Logs group names.
    LogGroups,
}

impl ConfigKey {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKey::Include => "include",
            ConfigKey::Exclude => "exclude",
            ConfigKey::Domains => "domains",
            ConfigKey::LogGroups => "log_groups",
        }
    }
}

/// The keys of a service filtered by resource name.
pub const FILTERED: &[ConfigKey] = &[ConfigKey::Include, ConfigKey::Exclude];

/// The registry entry named `name`.
pub fn find(name: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().copied().find(|s| s.name == name)
}

/// Every label name a series of some service uses: a target's `labels`
/// must not take one of these.
pub fn label_names() -> impl Iterator<Item = &'static str> {
    SERVICES
        .iter()
        .flat_map(|s| s.families.iter())
        .flat_map(|f| f.labels.iter().copied())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_registry_walk() {
        let mut names = HashSet::new();
        let mut families = HashSet::new();
        for service in SERVICES {
            assert!(names.insert(service.name), "{} twice", service.name);
            assert!(
                !service.families.is_empty(),
                "{} has no family",
                service.name
            );
            let prefix = format!("aws_{}_", service.name);
            for family in service.families {
                assert!(family.name.starts_with(&prefix), "{}", family.name);
                assert!(families.insert(family.name), "{} twice", family.name);
            }
            let settings = ServiceSettings::new(service);
            assert!(!(service.operations)(&settings).is_empty());
        }
    }
}
