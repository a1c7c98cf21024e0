//! Configuration file of the exporter: schema, validation and runtime types.
//!
//! # File format
//!
//! ```yaml
//! collection:
//!   interval: 60s            # how often every target is collected
//!   lookback: 7d             # executions started earlier are ignored
//!   max_concurrency: 8       # AWS requests in flight per target
//!   requests_per_second: 5   # per target and service; AWS's own API quotas are low
//!   timeout: 20s             # per AWS request attempt
//! targets:
//!   - region: us-east-1
//!     role_arn: arn:aws:iam::123456789012:role/flow-exporter   # optional: assume this role
//!     external_id: optional-external-id                         # optional, with role_arn
//!     labels: { account: prod }                                 # added to every series of this target
//!     services:
//!       appflow:
//!         enabled: true
//!         include: ["^sales-"]     # regular expressions on the flow name; empty = all
//!         exclude: ["-test$"]
//!       transfer: { enabled: true, include: [], exclude: [], log_groups: auto }   # on workflow ids
//!       supplychain: { enabled: true, include: [], exclude: [] }       # on flow names
//!       customerprofiles: { enabled: true, domains: [] }               # empty = every domain
//! ```
//!
//! The keys of `services` are the names of the registry
//! ([`crate::services::SERVICES`]); each service's block accepts `enabled` and the
//! keys of its [`ServiceDef::config_keys`](crate::services::ServiceDef::config_keys)
//! (`include`, `exclude`, `domains`, `log_groups`), and nothing else.
//!
//! Every key is optional except `targets[].region`:
//!
//! * an omitted `collection` key takes the default shown above
//!   ([`Collection::default`]);
//! * an omitted `services` block, or an omitted service, is enabled with no filter
//!   ([`ServiceSettings::new`]);
//! * `labels` defaults to none;
//! * `discovery` (v4, module `discovery`): the accounts of an AWS Organization as targets.
//!   With it, `targets` may be empty or omitted (then there is no static target).
//! * `targets` omitted entirely gives one default target ([`Target::default`]):
//!   region `None` (taken from the standard AWS chain), every service on, no labels.
//!   `targets: []` (or `targets:` with no value) is an error:
//!   `targets: at least one target is required`.
//!
//! A key written with no value (YAML null, e.g. `services:` whose children are all
//! commented out) means the same as the key omitted, except for `targets` (see above)
//! and label values (which must be a string, number or boolean).
//!
//! An empty file, or one holding only comments or `{}`, is [`Config::default`].
//!
//! Unknown keys are errors, never silently ignored; the error names the key by its
//! full path (`collection.intervall`, `targets[0].services.glue`).
//!
//! Durations are [humantime](https://docs.rs/humantime) strings: `500ms`, `30s`, `5m`,
//! `1h`, `7d`, also combined (`1h 30m`). A bare number without a unit is an error.
//!
//! `include` / `exclude` entries are unanchored regular expressions (syntax of the
//! `regex` crate), matched as a search ([`regex::Regex::is_match`]); see
//! [`NameFilter::matches`].
//!
//! # Design
//!
//! Three layers, one module each:
//!
//! 1. `schema`: the file schema, private serde types (`#[serde(deny_unknown_fields)]`,
//!    and the `services` mapping read from the registry). Every check that concerns a
//!    single value (duration syntax and range, regular expressions, region and ARN
//!    syntax, label names and values, number ranges, non-empty lists) is done *inside*
//!    deserialization by newtype wrappers implementing `Deserialize`, so that
//!    `serde_path_to_error` gives the exact path and `serde_yaml_ng` the line and
//!    column of the offending value.
//! 2. `validate`: from the schema to the runtime types, with the defaults, and the
//!    cross-field checks (`external_id` without `role_arn`, duplicate targets,
//!    `targets` written as null). These errors name the path but carry no line.
//! 3. `model`: the runtime types ([`Collection`], [`Target`], [`ServiceSettings`],
//!    [`LogGroups`]) that the rest of the program uses, with [`Config`] here.
//!
//! [`ConfigError`] (module `error`) is what goes wrong.
//!
//! # Validation rules
//!
//! * `targets[].region`: non-empty, shaped like `^[a-z]{2}(-[a-z]+)+-[0-9]+$`
//!   (`us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-2`).
//! * `role_arn` must start with `arn:`; `external_id` requires `role_arn`.
//! * `interval`, `lookback`, `timeout`: greater than zero and at most 3650 days (a bound
//!   that keeps clock arithmetic of the caller far from overflow).
//! * `max_concurrency`: an integer between 1 and 1000.
//! * `requests_per_second`: a number (fractions allowed, e.g. `0.5`) between 0.001 and
//!   10000; in particular it must be greater than zero.
//! * Label names match `^[a-zA-Z_][a-zA-Z0-9_]*$`, do not start with `__` and are not one
//!   of [`RESERVED_LABEL_NAMES`] (the labels the exporter sets itself). Label values are
//!   YAML strings, numbers or booleans, kept as written (the scalar's text, so `007`
//!   stays `007` and `1.50` stays `1.50`); null, empty strings, maps and lists are
//!   rejected. A label name may appear only once per target.
//! * A service appears once under `services`, a key once in a service's block.
//! * `domains` entries are non-empty strings, each listed once.
//! * `log_groups` is `auto` or a non-empty list of non-empty log group names, each
//!   listed once (a repeated name is an error at its index,
//!   `targets[0].services.transfer.log_groups[2]`).
//! * Two targets with identical (region, role_arn, labels) are an error naming the later
//!   one (`targets[1]: duplicates targets[0] ...`), since their series would collide.
//!
//! # Errors
//!
//! [`ConfigError`] displays on one line: the path of the field first, then the message,
//! then the location when the parser knows it:
//!
//! ```text
//! targets[0].services.appflow.include[1]: invalid regular expression "([": unclosed character class (line 12, column 9)
//! ```
//!
//! A YAML syntax error has no path: just the message and the location. An I/O error
//! reads `cannot read <path>: <error>`.

mod discovery;
mod error;
mod model;
mod schema;
mod validate;

use std::path::Path;

pub use self::discovery::{Discovery, DiscoveryRegions, DEFAULT_REFRESH, DISCOVERY_LABEL_NAMES};
pub use self::error::{ConfigError, Location};
pub use self::model::{Collection, LogGroups, ServiceSettings, Target, RESERVED_LABEL_NAMES};
pub use crate::filter::NameFilter;
pub use crate::shard::Shard;

/// The validated configuration.
///
/// [`Config::default`] is what runs without a configuration file: the default
/// [`Collection`] and one default [`Target`] (region from the AWS chain, every service
/// on, no labels).
#[derive(Clone, Debug)]
pub struct Config {
    /// Collection settings shared by every target.
    pub collection: Collection,
    /// What to collect; never empty without `discovery`.
    pub targets: Vec<Target>,
    /// (v4) The accounts of an AWS Organization, found and kept current by the exporter.
    pub discovery: Option<Discovery>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            collection: Collection::default(),
            targets: vec![Target::default()],
            discovery: None,
        }
    }
}

impl Config {
    /// Reads and validates a file.
    ///
    /// A file that cannot be read gives [`ConfigError::Read`]
    /// (`cannot read <path>: <error>`); otherwise as [`Config::parse`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_text(path).map(|(config, _)| config)
    }

    /// As [`Config::load`], also returning the text that was read (so that a
    /// reload can tell whether the file changed).
    pub fn load_with_text(path: &Path) -> Result<(Config, String), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let config = Config::parse(&text)?;
        Ok((config, text))
    }

    /// Parses and validates YAML text.
    ///
    /// Empty text (or only comments, or `{}`) gives [`Config::default`].
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        // `targets: []` is valid only beside a `discovery` block, which may come after it.
        let discovery = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
            .is_ok_and(|v| v.get("discovery").is_some_and(|d| !d.is_null()));
        schema::DISCOVERY_PRESENT.set(discovery);
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let file: Result<schema::FileConfig, _> = serde_path_to_error::deserialize(deserializer);
        schema::DISCOVERY_PRESENT.set(false);
        validate::validate(file.map_err(ConfigError::from_yaml)?)
    }

    /// Restricts every service of every target to the names `shard` owns (by
    /// [`NameFilter::shard`]; a service selected by domain shards its domains).
    pub fn apply_shard(&mut self, shard: Shard) {
        // Discovered targets are split whole, by `<account_id>/<region>`.
        if let Some(discovery) = &mut self.discovery {
            discovery.shard = Some(shard);
        }
        for target in &mut self.targets {
            for service in &mut target.services {
                service.filter.shard = Some(shard);
            }
        }
    }
}

#[cfg(test)]
mod tests;
