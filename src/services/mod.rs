//! The registry of AWS services: one entry per service, and nothing outside
//! a service's own module names it. Configuration, start-up, sharding and the
//! scheduler iterate [`SERVICES`].

/// One AWS service, as the rest of the exporter sees it.
pub struct ServiceDef {
    /// The `aws_service` label value and the key of its block under
    /// `targets[].services`.
    pub name: &'static str,
    /// The keys its configuration block accepts besides `enabled`.
    pub config_keys: &'static [ConfigKey],
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

const FILTERED: &[ConfigKey] = &[ConfigKey::Include, ConfigKey::Exclude];

/// Every service, in the order their series are written.
pub static SERVICES: &[&ServiceDef] = &[
    &ServiceDef {
        name: "appflow",
        config_keys: FILTERED,
    },
    &ServiceDef {
        name: "transfer",
        config_keys: &[ConfigKey::Include, ConfigKey::Exclude, ConfigKey::LogGroups],
    },
    &ServiceDef {
        name: "supplychain",
        config_keys: FILTERED,
    },
    &ServiceDef {
        name: "customerprofiles",
        config_keys: &[ConfigKey::Domains],
    },
];

/// The registry entry named `name`.
pub fn find(name: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().copied().find(|s| s.name == name)
}
