//! The `discovery` block (v4): every account of an AWS Organization as targets.
//!
//! ```yaml
//! discovery:
//!   organizations:
//!     role_name: flow-exporter      # assumed in each member account
//!     external_id: optional-id
//!     regions: [us-east-1, eu-west-1]   # or "enabled"
//!     include: []                   # on the account id or name
//!     exclude: []
//!     refresh_interval: 1h
//!     labels: { org: main }
//!     services: { ... }             # as a target's
//! ```
//!
//! Single values are checked while deserializing (path and line known), as in
//! [`super::schema`]; `role_name` and `regions` are required.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::ConfigError;
use super::schema::{FileServices, Labels, Pattern, PositiveDuration, Region};
use crate::services::ServiceSettings;

/// Label names a discovered target sets itself, besides [`super::RESERVED_LABEL_NAMES`].
pub const DISCOVERY_LABEL_NAMES: [&str; 2] = ["account_id", "account_name"];

/// The default `refresh_interval`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// The validated `discovery.organizations` block.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// The role assumed in every account but the exporter's own.
    pub role_name: String,
    pub external_id: Option<String>,
    pub regions: DiscoveryRegions,
    /// On the account id or name: an account is collected when either matches.
    pub include: Vec<regex::Regex>,
    pub exclude: Vec<regex::Regex>,
    pub refresh_interval: Duration,
    pub labels: BTreeMap<String, String>,
    /// One entry per registered service, as a target's.
    pub services: Vec<ServiceSettings>,
    /// `--shard I/N`: only the (account, region) targets this replica owns.
    pub shard: Option<crate::shard::Shard>,
}

/// Which regions of each account are targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryRegions {
    /// These, in every account.
    List(Vec<String>),
    /// Those enabled in each account (Account Management ListRegions).
    Enabled,
}

impl Discovery {
    /// Whether the account is selected: its id or name matches some include (or
    /// there is none), and neither matches an exclude.
    pub fn selects(&self, id: &str, name: &str) -> bool {
        let hit = |re: &regex::Regex| re.is_match(id) || re.is_match(name);
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }

    /// The settings of the service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSettings> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Everything a discovered target is built from, as written: a refresh or a
    /// reload rebuilds the targets when any of it changed.
    pub fn fingerprint(&self) -> String {
        format!(
            "{:?} {:?} {:?} {:?}",
            self.role_name, self.external_id, self.labels, self.services
        )
    }
}

/// The file's `discovery` block.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the key organizations"
)]
pub(super) struct FileDiscovery {
    pub organizations: FileOrganizations,
}

/// `discovery.organizations`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with at least role_name and regions"
)]
pub(super) struct FileOrganizations {
    role_name: RoleName,
    external_id: Option<ExternalId>,
    regions: FileRegions,
    include: Option<Vec<Pattern>>,
    exclude: Option<Vec<Pattern>>,
    refresh_interval: Option<PositiveDuration>,
    labels: Option<Labels>,
    services: Option<FileServices>,
}

/// An IAM role name, optionally with its path (`path/name`): what follows `:role/` in its ARN.
struct RoleName(String);

super::schema::from_str_scalar!(RoleName, "an IAM role name", |value| {
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c));
    let name = value.rsplit('/').next().unwrap_or("");
    if value.is_empty() {
        Err("role_name must not be empty".to_owned())
    } else if value.starts_with("arn:") {
        Err(format!(
            "role_name {value:?} is an ARN: write only the role's name; the ARN is made per \
             account (arn:<partition>:iam::<account id>:role/<role_name>)"
        ))
    } else if !ok || name.is_empty() || name.len() > 64 || value.len() > 512 {
        Err(format!(
            "invalid role name {value:?}: 1 to 64 characters of letters, digits and _+=,.@- \
             (optionally after a path ending in /)"
        ))
    } else {
        Ok(RoleName(value.to_owned()))
    }
});

/// An AssumeRole `ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`.
struct ExternalId(String);

super::schema::from_str_scalar!(ExternalId, "an external id", |value| {
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok && (2..=1224).contains(&value.len()) {
        Ok(ExternalId(value.to_owned()))
    } else {
        Err(format!(
            "invalid external id {value:?}: 2 to 1224 characters of letters, digits and _+=,.@:/-"
        ))
    }
});

/// `regions`: a non-empty list of region names, or `enabled`.
struct FileRegions(DiscoveryRegions);

impl<'de> Deserialize<'de> for FileRegions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileRegions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of region names, or \"enabled\"")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<FileRegions, E> {
                if value == "enabled" {
                    Ok(FileRegions(DiscoveryRegions::Enabled))
                } else {
                    Err(E::custom(format!(
                        "expected a list of region names or \"enabled\", got {value:?}"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FileRegions, A::Error> {
                let mut regions: Vec<String> = Vec::new();
                while let Some(Region(region)) = seq.next_element()? {
                    if regions.contains(&region) {
                        return Err(de::Error::custom(format!(
                            "region {region:?} is listed twice"
                        )));
                    }
                    regions.push(region);
                }
                if regions.is_empty() {
                    return Err(de::Error::custom(
                        "at least one region is required (or \"enabled\")",
                    ));
                }
                Ok(FileRegions(DiscoveryRegions::List(regions)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// From the file's block to [`Discovery`], with the defaults; the cross-field checks.
pub(super) fn validate(file: FileDiscovery) -> Result<Discovery, ConfigError> {
    let o = file.organizations;
    let labels = o.labels.map(|l| l.0).unwrap_or_default();
    if let Some(name) = labels
        .keys()
        .find(|n| DISCOVERY_LABEL_NAMES.contains(&n.as_str()))
    {
        return Err(ConfigError::at(
            format!("discovery.organizations.labels.{name}"),
            format!("label name `{name}` is reserved: discovered targets set it themselves"),
        ));
    }
    let patterns = |list: Option<Vec<Pattern>>| -> Vec<regex::Regex> {
        list.unwrap_or_default().into_iter().map(|p| p.0).collect()
    };
    Ok(Discovery {
        role_name: o.role_name.0,
        external_id: o.external_id.map(|e| e.0),
        regions: o.regions.0,
        include: patterns(o.include),
        exclude: patterns(o.exclude),
        refresh_interval: o.refresh_interval.map_or(DEFAULT_REFRESH, |d| d.0),
        labels,
        services: super::validate::services(o.services),
        shard: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DiscoveryRegions};

    fn block(body: &str) -> String {
        format!("targets: []\ndiscovery:\n  organizations:\n{body}")
    }

    fn err(text: &str) -> (Option<String>, Option<usize>, String) {
        let e = Config::parse(text).unwrap_err();
        (
            e.field_path().map(str::to_string),
            e.location().map(|l| l.line),
            e.to_string(),
        )
    }

    #[test]
    fn a_full_block_and_its_defaults() {
        let c = Config::parse(&block(
            "    role_name: flow-exporter\n    external_id: ext-1\n    regions: [us-east-1, eu-west-1]\n    \
             include: ['^prod-']\n    exclude: ['-test$']\n    refresh_interval: 15m\n    \
             labels: { org: main }\n    services:\n      transfer: { enabled: false }\n",
        ))
        .unwrap();
        assert!(c.targets.is_empty());
        let d = c.discovery.unwrap();
        assert_eq!(d.role_name, "flow-exporter");
        assert_eq!(d.external_id.as_deref(), Some("ext-1"));
        assert_eq!(
            d.regions,
            DiscoveryRegions::List(vec!["us-east-1".into(), "eu-west-1".into()])
        );
        assert_eq!(d.refresh_interval.as_secs(), 900);
        assert_eq!(d.labels["org"], "main");
        assert!(!d.service("transfer").unwrap().enabled);
        assert!(d.service("appflow").unwrap().enabled);
        assert!(d.selects("111111111111", "prod-data"));
        assert!(!d.selects("111111111111", "prod-test"));
        assert!(!d.selects("111111111111", "dev"));

        let d =
            Config::parse("discovery:\n  organizations:\n    role_name: r\n    regions: enabled\n")
                .unwrap();
        assert!(d.targets.is_empty(), "no default target beside discovery");
        let d = d.discovery.unwrap();
        assert_eq!(d.regions, DiscoveryRegions::Enabled);
        assert_eq!(d.refresh_interval.as_secs(), 3600);
        // An id matches too.
        assert!(Config::parse(&block(
            "    role_name: r\n    regions: enabled\n    include: ['^1234']\n"
        ))
        .unwrap()
        .discovery
        .unwrap()
        .selects("123456789012", "x"));
    }

    #[test]
    fn bad_fields_are_named_with_their_line() {
        let cases = [
            (
                "    regions: enabled\n",
                "discovery.organizations",
                "role_name",
            ),
            ("    role_name: r\n", "discovery.organizations", "regions"),
            (
                "    role_name: r\n    regions: [us-east-1, nowhere]\n",
                "discovery.organizations.regions[1]",
                "invalid region",
            ),
            (
                "    role_name: r\n    regions: all\n",
                "discovery.organizations.regions",
                "enabled",
            ),
            (
                "    role_name: r\n    regions: []\n",
                "discovery.organizations.regions",
                "at least one",
            ),
            (
                "    role_name: r\n    regions: [us-east-1, us-east-1]\n",
                "discovery.organizations.regions",
                "twice",
            ),
            (
                "    role_name: arn:aws:iam::1:role/r\n    regions: enabled\n",
                "discovery.organizations.role_name",
                "ARN",
            ),
            (
                "    role_name: 'a b'\n    regions: enabled\n",
                "discovery.organizations.role_name",
                "invalid role name",
            ),
            (
                "    role_name: r\n    regions: enabled\n    include: ['([']\n",
                "discovery.organizations.include[0]",
                "regular expression",
            ),
            (
                "    role_name: r\n    regions: enabled\n    refresh_interval: 0s\n",
                "discovery.organizations.refresh_interval",
                "",
            ),
            (
                "    role_name: r\n    regions: enabled\n    external_id: x\n",
                "discovery.organizations.external_id",
                "external id",
            ),
            (
                "    role_name: r\n    regions: enabled\n    services: { glue: {} }\n",
                "discovery.organizations.services.glue",
                "unknown service",
            ),
            (
                "    role_name: r\n    regions: enabled\n    region: us-east-1\n",
                "discovery.organizations.region",
                "unknown field",
            ),
        ];
        for (body, path, message) in cases {
            let (got_path, line, text) = err(&block(body));
            assert_eq!(got_path.as_deref(), Some(path), "{body}: {text}");
            assert!(line.is_some(), "{body}: {text}");
            assert!(text.contains(message), "{body}: {text}");
        }
        let (path, _, text) = err(&block(
            "    role_name: r\n    regions: enabled\n    labels: { account_id: x }\n",
        ));
        assert_eq!(
            path.as_deref(),
            Some("discovery.organizations.labels.account_id")
        );
        assert!(text.contains("reserved"), "{text}");
        let (path, _, _) = err("discovery:\n  accounts: {}\n");
        assert_eq!(path.as_deref(), Some("discovery.accounts"));
    }

    #[test]
    fn empty_targets_need_discovery() {
        let (path, line, _) = err("targets: []\n");
        assert_eq!((path.as_deref(), line), (Some("targets"), Some(1)));
        // Discovery written after the targets counts too.
        assert!(Config::parse(&block("    role_name: r\n    regions: enabled\n")).is_ok());
        // And a later file without it is refused again (the flag does not stick).
        assert!(Config::parse("targets: []\n").is_err());
    }
}
