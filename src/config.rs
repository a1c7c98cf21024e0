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
//! Every key is optional except `targets[].region`:
//!
//! * an omitted `collection` key takes the default shown above
//!   ([`Collection::default`]);
//! * an omitted `services` block, or an omitted service, is enabled with no filter;
//! * `labels` defaults to none;
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
//! Unknown keys are errors, never silently ignored.
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
//! Three layers:
//!
//! 1. A file schema: private serde structs with `#[serde(deny_unknown_fields)]`. Every
//!    check that concerns a single value (duration syntax and range, regular expressions,
//!    region and ARN syntax, label names and values, number ranges, non-empty lists) is
//!    done *inside* deserialization by newtype wrappers implementing `Deserialize`, so
//!    that `serde_path_to_error` gives the exact path and `serde_yaml_ng` the line and
//!    column of the offending value.
//! 2. Cross-field validation after deserialization (`external_id` without `role_arn`,
//!    duplicate targets, `targets` written as null). These errors name the path but carry
//!    no line.
//! 3. The runtime types ([`Config`], [`Collection`], [`Target`], [`Services`], ...) that
//!    the rest of the program uses.
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
//! * `customerprofiles.domains` entries are non-empty strings, each listed once.
//! * `transfer.log_groups` is `auto` or a non-empty list of non-empty log group
//!   names, each listed once; omitted (or null), the workflow logs are not read.
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

pub use crate::filter::NameFilter;
pub use crate::services::{LogGroups, ServiceSettings};
pub use crate::shard::Shard;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

// ---------------------------------------------------------------------------
// Runtime types
// ---------------------------------------------------------------------------

/// Label names the exporter sets itself; a target's `labels` must not use them.
pub const RESERVED_LABEL_NAMES: &[&str] = &[
    "region",
    "aws_service",
    "operation",
    "outcome",
    "status",
    "flow_name",
    "workflow_id",
    "instance_id",
    "domain_name",
    "kind",
    "phase",
    "step_type",
    "error_type",
    "source_connector",
    "source_connector_label",
    "destination_connector",
    "destination_connector_label",
    "trigger_type",
    "source_type",
    "target_type",
    "transformation_type",
    "workflow_type",
    "connector_profile",
    "version",
    "revision",
    "le",
    "quantile",
];

/// Largest accepted duration (3650 days).
const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// Bounds of `max_concurrency`.
const MIN_CONCURRENCY: u64 = 1;
const MAX_CONCURRENCY: u64 = 1000;
/// Bounds of `requests_per_second`.
const MIN_REQUESTS_PER_SECOND: f64 = 0.001;
const MAX_REQUESTS_PER_SECOND: f64 = 10_000.0;

/// The validated configuration.
///
/// [`Config::default`] is what runs without a configuration file: the default
/// [`Collection`] and one default [`Target`] (region from the AWS chain, every service
/// on, no labels).
#[derive(Clone, Debug)]
pub struct Config {
    /// Collection settings shared by every target.
    pub collection: Collection,
    /// What to collect; never empty.
    pub targets: Vec<Target>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            collection: Collection::default(),
            targets: vec![Target::default()],
        }
    }
}

impl Config {
    /// Reads and validates a file.
    ///
    /// A file that cannot be read gives [`ConfigError::Read`]
    /// (`cannot read <path>: <error>`); otherwise as [`Config::parse`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text)
    }

    /// Parses and validates YAML text.
    ///
    /// Empty text (or only comments, or `{}`) gives [`Config::default`].
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let file: FileConfig =
            serde_path_to_error::deserialize(deserializer).map_err(ConfigError::from_yaml)?;
        validate(file)
    }
}

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
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The AWS region; `None` only for the default target: the AWS chain decides.
    pub region: Option<String>,
    /// Role to assume for this target's requests, if any; starts with `arn:`.
    pub role_arn: Option<String>,
    /// External id passed when assuming `role_arn`; only set together with it.
    pub external_id: Option<String>,
    /// Extra labels added to every series of this target.
    pub labels: BTreeMap<String, String>,
    /// Which services to collect and how to filter them.
    pub services: Services,
}

impl Target {
    /// The settings of the service named `name` (interim: until the
    /// configuration iterates the registry).
    pub fn service(&self, name: &'static str) -> Option<ServiceSettings> {
        let s = &self.services;
        let filtered = |c: &ServiceConfig| ServiceSettings {
            enabled: c.enabled,
            filter: c.filter.clone(),
            log_groups: c.log_groups.clone(),
            ..ServiceSettings::default_for(name)
        };
        match name {
            "appflow" => Some(filtered(&s.appflow)),
            "transfer" => Some(filtered(&s.transfer)),
            "supplychain" => Some(filtered(&s.supplychain)),
            "customerprofiles" => Some(ServiceSettings {
                enabled: s.customerprofiles.enabled,
                filter: NameFilter::default().with_shard(s.customerprofiles.shard),
                domains: s.customerprofiles.domains.clone(),
                ..ServiceSettings::default_for(name)
            }),
            _ => None,
        }
    }
}

/// Per-service settings of a target. The default enables every service with no filter.
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// Amazon AppFlow; the filter applies to flow names.
    pub appflow: ServiceConfig,
    /// AWS Transfer Family workflows; the filter applies to workflow ids.
    pub transfer: ServiceConfig,
    /// AWS Supply Chain data integration flows; the filter applies to flow names.
    pub supplychain: ServiceConfig,
    /// Amazon Connect Customer Profiles.
    pub customerprofiles: CustomerProfilesConfig,
}

/// Settings of a service whose resources are filtered by name.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Whether the service is collected (default true).
    pub enabled: bool,
    /// Which names are collected (default: all).
    pub filter: NameFilter,
    /// `log_groups`: where the workflow logs are read (only the `transfer` block has it).
    pub log_groups: Option<LogGroups>,
}

impl Default for ServiceConfig {
    /// Enabled, no filter.
    fn default() -> Self {
        ServiceConfig {
            enabled: true,
            filter: NameFilter::default(),
            log_groups: None,
        }
    }
}

/// Settings of Customer Profiles.
#[derive(Clone, Debug)]
pub struct CustomerProfilesConfig {
    /// Whether the service is collected (default true).
    pub enabled: bool,
    /// Domains to collect; empty means every domain. Non-empty strings, no duplicates.
    pub domains: Vec<String>,
    /// `--shard`: only the domains this replica owns.
    pub shard: Option<Shard>,
}

impl Default for CustomerProfilesConfig {
    /// Enabled, every domain.
    fn default() -> Self {
        CustomerProfilesConfig {
            enabled: true,
            domains: Vec::new(),
            shard: None,
        }
    }
}

impl Config {
    /// Restricts every service of every target to the names `shard` owns
    /// (Customer Profiles: its domains, whose counters are per domain).
    pub fn apply_shard(&mut self, shard: Shard) {
        for target in &mut self.targets {
            let s = &mut target.services;
            for filter in [
                &mut s.appflow.filter,
                &mut s.transfer.filter,
                &mut s.supplychain.filter,
            ] {
                filter.shard = Some(shard);
            }
            s.customerprofiles.shard = Some(shard);
        }
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Where in the text an error was found (both 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number, from 1.
    pub column: usize,
}

/// Why a configuration could not be loaded. Displays on one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: `cannot read <path>: <error>`.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong (already part of the message, so not reported as `source`).
        error: std::io::Error,
    },
    /// The text is not valid YAML or not a valid configuration:
    /// `<path>: <message> (line L, column C)`, the path and the location when known.
    #[error("{}", render_invalid(.path.as_deref(), .message, .location.as_ref()))]
    Invalid {
        /// Path of the offending field, like `targets[0].services.appflow.include[1]`;
        /// `None` when the error concerns the whole document (e.g. YAML syntax).
        path: Option<String>,
        /// What is wrong, without path or location.
        message: String,
        /// Where the parser found the error, when it knows.
        location: Option<Location>,
    },
}

fn render_invalid(path: Option<&str>, message: &str, location: Option<&Location>) -> String {
    let mut out = String::new();
    if let Some(path) = path {
        out.push_str(path);
        out.push_str(": ");
    }
    out.push_str(message);
    if let Some(location) = location {
        out.push_str(&format!(
            " (line {}, column {})",
            location.line, location.column
        ));
    }
    out
}

impl ConfigError {
    /// Path of the offending field, when known.
    pub fn field_path(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { path, .. } => path.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }

    /// Where in the text the error was found, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Invalid { location, .. } => *location,
            ConfigError::Read { .. } => None,
        }
    }

    /// An error found after deserialization: a path but no location.
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: Some(path.into()),
            message: message.into(),
            location: None,
        }
    }

    /// Converts a deserialization error, keeping the path of `serde_path_to_error` and
    /// the location of `serde_yaml_ng`, and stripping both from the YAML message (which
    /// embeds its own `path: ` prefix and ` at line L column C`).
    ///
    /// For an unknown key, the path is the mapping that holds it (the message names the
    /// key); a trailing key that could not be read (`?`) is dropped as well.
    fn from_yaml(err: serde_path_to_error::Error<serde_yaml_ng::Error>) -> Self {
        let mut segments: Vec<serde_path_to_error::Segment> = err.path().iter().cloned().collect();
        let inner = err.into_inner();
        let location = inner.location().map(|loc| Location {
            line: loc.line(),
            column: loc.column(),
        });
        let mut message = inner.to_string();
        if let Some(loc) = location {
            let at = format!(" at line {} column {}", loc.line, loc.column);
            if let Some(stripped) = message.strip_suffix(&at) {
                message = stripped.to_owned();
            } else {
                message = message.replacen(&at, "", 1);
            }
        }
        // serde_yaml_ng prefixes custom messages with its own path to the value, which
        // is the path we know or one of its ancestors.
        for len in (1..=segments.len()).rev() {
            let prefix = format_path(&segments[..len]);
            if let Some(stripped) = message
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
            {
                message = stripped.to_owned();
                break;
            }
        }
        if let Some(serde_path_to_error::Segment::Map { key }) = segments.last() {
            if message.starts_with(&format!("unknown field `{key}`")) {
                segments.pop();
            }
        }
        while matches!(segments.last(), Some(serde_path_to_error::Segment::Unknown)) {
            segments.pop();
        }
        ConfigError::Invalid {
            path: (!segments.is_empty()).then(|| format_path(&segments)),
            message,
            location,
        }
    }
}

/// Formats path segments as `a.b[0].c`.
fn format_path(segments: &[serde_path_to_error::Segment]) -> String {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 && !matches!(segment, serde_path_to_error::Segment::Seq { .. }) {
            out.push('.');
        }
        out.push_str(&segment.to_string());
    }
    out
}

// ---------------------------------------------------------------------------
// File schema
// ---------------------------------------------------------------------------

/// The whole file.
#[derive(Default, serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with keys collection and targets"
)]
struct FileConfig {
    /// Collection settings; omitted keys take their defaults.
    collection: Option<FileCollection>,
    /// Targets. Outer `None`: key omitted (one default target); `Some(None)`: key written
    /// as null (an error); an empty list is rejected during deserialization.
    #[serde(default, deserialize_with = "present")]
    targets: Option<Option<TargetList>>,
}

/// Deserializes a key that is present, so that null can be told from omitted.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The `collection` block.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of collection settings")]
struct FileCollection {
    /// How often every target is collected.
    interval: Option<PositiveDuration>,
    /// Executions started earlier than this are ignored.
    lookback: Option<PositiveDuration>,
    /// AWS requests in flight per target.
    max_concurrency: Option<Concurrency>,
    /// Requests per second, per target and service.
    requests_per_second: Option<Rate>,
    /// Timeout per AWS request attempt.
    timeout: Option<PositiveDuration>,
}

/// One entry of `targets`.
#[derive(serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a target: a mapping with at least a region"
)]
struct FileTarget {
    /// AWS region, required.
    region: Region,
    /// Role to assume, optional.
    role_arn: Option<RoleArn>,
    /// External id for assuming `role_arn`; requires `role_arn`.
    external_id: Option<String>,
    /// Labels added to every series of this target.
    labels: Option<Labels>,
    /// Services to collect; omitted means all.
    services: Option<FileServices>,
}

/// The `services` block of a target.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of services")]
struct FileServices {
    /// AppFlow; patterns apply to flow names.
    appflow: Option<FileService>,
    /// Transfer Family workflows; patterns apply to workflow ids.
    transfer: Option<FileTransfer>,
    /// Supply Chain; patterns apply to flow names.
    supplychain: Option<FileService>,
    /// Customer Profiles; selected by domain name.
    customerprofiles: Option<FileCustomerProfiles>,
}

/// A service filtered by name.
#[derive(serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with keys enabled, include and exclude"
)]
struct FileService {
    /// Whether to collect the service (default true).
    enabled: Option<bool>,
    /// A name must match one of these (unless empty).
    include: Option<Vec<Pattern>>,
    /// A name must match none of these.
    exclude: Option<Vec<Pattern>>,
}

/// The `transfer` service: filtered by workflow id, and where its workflow logs are.
#[derive(serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with keys enabled, include, exclude and log_groups"
)]
struct FileTransfer {
    /// Whether to collect the service (default true).
    enabled: Option<bool>,
    /// A workflow id must match one of these (unless empty).
    include: Option<Vec<Pattern>>,
    /// A workflow id must match none of these.
    exclude: Option<Vec<Pattern>>,
    /// `auto` or a list of log group names; omitted: the logs are not read.
    log_groups: Option<FileLogGroups>,
}

/// The `customerprofiles` service.
#[derive(serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with keys enabled and domains"
)]
struct FileCustomerProfiles {
    /// Whether to collect the service (default true).
    enabled: Option<bool>,
    /// Domains to collect; empty means all.
    domains: Option<Domains>,
}

// ---------------------------------------------------------------------------
// Validating newtypes: every check on a single value happens while deserializing it,
// inside a visitor method, so that the YAML deserializer attaches that value's
// location to the error.
// ---------------------------------------------------------------------------

/// Implements `Deserialize` for a newtype built from a string scalar by `$parse`.
macro_rules! from_str_scalar {
    ($ty:ident, $expecting:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, value: &str) -> Result<$ty, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(value).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

/// A duration greater than zero and at most [`MAX_DURATION`].
struct PositiveDuration(Duration);

from_str_scalar!(
    PositiveDuration,
    "a duration such as \"30s\", \"5m\", \"1h\", \"7d\" or \"500ms\"",
    |value| {
        let duration = humantime::parse_duration(value.trim())
            .map_err(|e| format!("invalid duration {value:?}: {e}"))?;
        if duration.is_zero() {
            Err(format!("duration must be greater than zero, got {value:?}"))
        } else if duration > MAX_DURATION {
            Err(format!("duration must be at most 3650d, got {value:?}"))
        } else {
            Ok(PositiveDuration(duration))
        }
    }
);

/// A compiled regular expression.
struct Pattern(Regex);

from_str_scalar!(Pattern, "a regular expression", |value| {
    Regex::new(value).map(Pattern).map_err(|e| {
        format!(
            "invalid regular expression {value:?}: {}",
            regex_summary(&e)
        )
    })
});

/// One line describing a regex error (the crate's syntax errors span several lines,
/// with the pattern and a caret; the last line starting with `error: ` says what).
fn regex_summary(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// An AWS region name such as `us-east-1`.
struct Region(String);

from_str_scalar!(
    Region,
    "an AWS region name such as \"us-east-1\"",
    |value| {
        if value.is_empty() {
            Err("region must not be empty".to_owned())
        } else if is_region(value) {
            Ok(Region(value.to_owned()))
        } else {
            Err(format!(
                "invalid region {value:?}: expected a region name such as \"us-east-1\" \
                 (lowercase letters and hyphens, then a number)"
            ))
        }
    }
);

/// Whether `value` matches `^[a-z]{2}(-[a-z]+)+-[0-9]+$`.
fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM role ARN (only checked to start with `arn:`).
struct RoleArn(String);

from_str_scalar!(RoleArn, "an IAM role ARN", |value| {
    if value.starts_with("arn:") {
        Ok(RoleArn(value.to_owned()))
    } else {
        Err(format!(
            "invalid role ARN {value:?}: must start with \"arn:\""
        ))
    }
});

/// A valid label name that the exporter does not set itself.
struct LabelName(String);

from_str_scalar!(LabelName, "a label name", |value| {
    let mut chars = value.chars();
    let well_formed = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        Err(format!(
            "invalid label name {value:?}: must match [a-zA-Z_][a-zA-Z0-9_]*"
        ))
    } else if value.starts_with("__") {
        Err(format!(
            "invalid label name {value:?}: names starting with \"__\" are reserved"
        ))
    } else if RESERVED_LABEL_NAMES.contains(&value) {
        Err(format!(
            "invalid label name {value:?}: the exporter sets this label itself"
        ))
    } else {
        Ok(LabelName(value.to_owned()))
    }
});

/// A label value: the text of a string, number or boolean scalar, as written.
struct LabelValue(String);

const LABEL_VALUE_EXPECTING: &str = "a label value (a string, number or boolean)";

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = LabelValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(LABEL_VALUE_EXPECTING)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<LabelValue, E> {
                if value.is_empty() {
                    Err(E::custom("label value must not be empty"))
                } else {
                    Ok(LabelValue(value.to_owned()))
                }
            }
        }
        struct Nullable;
        impl<'de> Visitor<'de> for Nullable {
            type Value = LabelValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(LABEL_VALUE_EXPECTING)
            }
            fn visit_none<E: de::Error>(self) -> Result<LabelValue, E> {
                Err(E::custom(
                    "label value must be a string, number or boolean, not null",
                ))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LabelValue, D::Error> {
                // The YAML deserializer hands any scalar's text to `visit_str`.
                d.deserialize_str(Text)
            }
        }
        deserializer.deserialize_option(Nullable)
    }
}

/// The `labels` mapping, each name once.
struct Labels(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of label names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut labels = BTreeMap::new();
                while let Some(LabelName(name)) = map.next_key()? {
                    let LabelValue(value) = map.next_value()?;
                    if labels.contains_key(&name) {
                        return Err(de::Error::custom(format!(
                            "label {name:?} is set more than once"
                        )));
                    }
                    labels.insert(name, value);
                }
                Ok(Labels(labels))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A domain name of Customer Profiles: a non-empty string.
struct Domain(String);

from_str_scalar!(Domain, "a Customer Profiles domain name", |value| {
    if value.trim().is_empty() {
        Err("domain name must not be empty".to_owned())
    } else {
        Ok(Domain(value.to_owned()))
    }
});

/// The `domains` list, each domain once.
struct Domains(Vec<String>);

impl<'de> Deserialize<'de> for Domains {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Domains;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of Customer Profiles domain names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Domains, A::Error> {
                let mut domains = Vec::new();
                let mut seen = BTreeSet::new();
                while let Some(Domain(domain)) = seq.next_element()? {
                    if !seen.insert(domain.clone()) {
                        return Err(de::Error::custom(format!(
                            "domain {domain:?} is listed more than once"
                        )));
                    }
                    domains.push(domain);
                }
                Ok(Domains(domains))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// A CloudWatch Logs group name: a non-empty string.
struct LogGroupName(String);

from_str_scalar!(LogGroupName, "a log group name", |value| {
    if value.trim().is_empty() {
        Err("log group name must not be empty".to_owned())
    } else {
        Ok(LogGroupName(value.to_owned()))
    }
});

/// `transfer.log_groups`: `auto`, or a non-empty list of names, each once.
struct FileLogGroups(LogGroups);

impl<'de> Deserialize<'de> for FileLogGroups {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileLogGroups;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("auto or a list of log group names")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<FileLogGroups, E> {
                if value == "auto" {
                    Ok(FileLogGroups(LogGroups::Auto))
                } else {
                    Err(E::custom(format!(
                        "expected auto or a list of log group names, got {value:?}"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FileLogGroups, A::Error> {
                let mut names = Vec::new();
                let mut seen = BTreeSet::new();
                while let Some(LogGroupName(name)) = seq.next_element()? {
                    if !seen.insert(name.clone()) {
                        return Err(de::Error::custom(format!(
                            "log group {name:?} is listed more than once"
                        )));
                    }
                    names.push(name);
                }
                if names.is_empty() {
                    return Err(de::Error::custom(
                        "log_groups must list at least one log group (or be auto)",
                    ));
                }
                Ok(FileLogGroups(LogGroups::Names(names)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `targets` as a non-empty list.
struct TargetList(Vec<FileTarget>);

const NO_TARGETS: &str = "at least one target is required";

impl<'de> Deserialize<'de> for TargetList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TargetList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of targets")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TargetList, A::Error> {
                let mut targets = Vec::new();
                while let Some(target) = seq.next_element()? {
                    targets.push(target);
                }
                if targets.is_empty() {
                    Err(de::Error::custom(NO_TARGETS))
                } else {
                    Ok(TargetList(targets))
                }
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// `max_concurrency`: an integer from [`MIN_CONCURRENCY`] to [`MAX_CONCURRENCY`].
struct Concurrency(usize);

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn out_of_range<E: de::Error>(value: impl fmt::Display) -> E {
                E::custom(format!(
                    "must be an integer between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}, got {value}"
                ))
            }
        }
        impl Visitor<'_> for V {
            type Value = Concurrency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "an integer between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}"
                )
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Concurrency, E> {
                if (MIN_CONCURRENCY..=MAX_CONCURRENCY).contains(&value) {
                    usize::try_from(value)
                        .map(Concurrency)
                        .map_err(|_| V::out_of_range(value))
                } else {
                    Err(V::out_of_range(value))
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Concurrency, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(V::out_of_range(value)),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `requests_per_second`: a finite number from [`MIN_REQUESTS_PER_SECOND`] to
/// [`MAX_REQUESTS_PER_SECOND`].
struct Rate(f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of requests per second, such as 5 or 0.5")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Rate, E> {
                if (MIN_REQUESTS_PER_SECOND..=MAX_REQUESTS_PER_SECOND).contains(&value) {
                    Ok(Rate(value))
                } else {
                    Err(E::custom(format!(
                        "must be a number between {MIN_REQUESTS_PER_SECOND} and \
                         {MAX_REQUESTS_PER_SECOND}, got {value}"
                    )))
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Rate, E> {
                // Exact for every accepted value; larger ones are rejected anyway.
                self.visit_f64(value as f64)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Rate, E> {
                self.visit_f64(value as f64)
            }
        }
        deserializer.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Validation: file schema -> runtime types
// ---------------------------------------------------------------------------

fn validate(file: FileConfig) -> Result<Config, ConfigError> {
    let collection = match file.collection {
        None => Collection::default(),
        Some(c) => {
            let default = Collection::default();
            Collection {
                interval: c.interval.map_or(default.interval, |d| d.0),
                lookback: c.lookback.map_or(default.lookback, |d| d.0),
                max_concurrency: c.max_concurrency.map_or(default.max_concurrency, |n| n.0),
                requests_per_second: c
                    .requests_per_second
                    .map_or(default.requests_per_second, |r| r.0),
                timeout: c.timeout.map_or(default.timeout, |d| d.0),
            }
        }
    };

    let file_targets = match file.targets {
        None => {
            return Ok(Config {
                collection,
                targets: vec![Target::default()],
            })
        }
        Some(None) => return Err(ConfigError::at("targets", NO_TARGETS)),
        Some(Some(TargetList(targets))) => targets,
    };

    let mut targets = Vec::with_capacity(file_targets.len());
    for (i, t) in file_targets.into_iter().enumerate() {
        let role_arn = t.role_arn.map(|r| r.0);
        if t.external_id.is_some() && role_arn.is_none() {
            return Err(ConfigError::at(
                format!("targets[{i}].external_id"),
                "external_id requires role_arn",
            ));
        }
        let services = t.services.map_or_else(Services::default, |s| Services {
            appflow: service(s.appflow),
            transfer: transfer(s.transfer),
            supplychain: service(s.supplychain),
            customerprofiles: s.customerprofiles.map_or_else(
                CustomerProfilesConfig::default,
                |c| CustomerProfilesConfig {
                    enabled: c.enabled.unwrap_or(true),
                    domains: c.domains.map(|d| d.0).unwrap_or_default(),
                    shard: None,
                },
            ),
        });
        targets.push(Target {
            region: Some(t.region.0),
            role_arn,
            external_id: t.external_id,
            labels: t.labels.map(|l| l.0).unwrap_or_default(),
            services,
        });
    }

    // Targets whose series would carry the same label set.
    let mut seen = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        let key = (&t.region, &t.role_arn, &t.labels);
        if let Some(j) = seen.insert(key, i) {
            return Err(ConfigError::at(
                format!("targets[{i}]"),
                format!(
                    "duplicates targets[{j}] (same region, role_arn and labels, \
                     so their series would collide)"
                ),
            ));
        }
    }

    Ok(Config {
        collection,
        targets,
    })
}

fn service(file: Option<FileService>) -> ServiceConfig {
    match file {
        None => ServiceConfig::default(),
        Some(s) => ServiceConfig {
            enabled: s.enabled.unwrap_or(true),
            filter: NameFilter::new(patterns(s.include), patterns(s.exclude)),
            log_groups: None,
        },
    }
}

fn transfer(file: Option<FileTransfer>) -> ServiceConfig {
    match file {
        None => ServiceConfig::default(),
        Some(t) => ServiceConfig {
            log_groups: t.log_groups.map(|g| g.0),
            ..service(Some(FileService {
                enabled: t.enabled,
                include: t.include,
                exclude: t.exclude,
            }))
        },
    }
}

fn patterns(list: Option<Vec<Pattern>>) -> Vec<Regex> {
    list.unwrap_or_default().into_iter().map(|p| p.0).collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn shards_split_names_with_no_overlap_and_no_gap() {
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        let mut per_shard = [0; 3];
        for n in 0..3000 {
            let name = format!("flow-{n}");
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].owns(&name)).collect();
            assert_eq!(owners.len(), 1, "{name}");
            per_shard[owners[0]] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 800), "{per_shard:?}");
        // Stable across builds: pinned.
        assert!(
            "0/2".parse::<Shard>().unwrap().owns("orders")
                != "1/2".parse::<Shard>().unwrap().owns("orders")
        );
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("1/4".parse::<Shard>().unwrap().to_string(), "1/4");
        for bad in ["", "1", "4/4", "0/0", "-1/2", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shard_narrows_the_name_filter() {
        let mut config = Config::default();
        config.apply_shard("1/2".parse().unwrap());
        let filter = &config.targets[0].services.appflow.filter;
        let owned = (0..100)
            .filter(|n| filter.matches(&format!("f{n}")))
            .count();
        assert!(owned > 20 && owned < 80, "{owned}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        match Config::parse(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => {
                println!("{e}");
                e
            }
        }
    }

    fn ok(text: &str) -> Config {
        match Config::parse(text) {
            Ok(config) => config,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn line(e: &ConfigError) -> Option<usize> {
        e.location().map(|l| l.line)
    }

    fn path(e: &ConfigError) -> Option<&str> {
        e.field_path()
    }

    const EXAMPLE: &str = r#"
collection:
  interval: 60s            # how often every target is collected
  lookback: 7d             # executions started earlier are ignored
  max_concurrency: 8       # AWS requests in flight per target
  requests_per_second: 5   # per target and service; AWS's own API quotas are low
  timeout: 20s             # per AWS request attempt
targets:
  - region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/flow-exporter   # optional: assume this role
    external_id: optional-external-id                         # optional, with role_arn
    labels: { account: prod }                                 # added to every series of this target
    services:
      appflow:
        enabled: true
        include: ["^sales-"]     # regular expressions on the flow name; empty = all
        exclude: ["-test$"]
      transfer: { enabled: true, include: [], exclude: [] }          # on workflow ids
      supplychain: { enabled: true, include: [], exclude: [] }       # on flow names
      customerprofiles: { enabled: true, domains: [] }               # empty = every domain
"#;

    fn strs(res: &[Regex]) -> Vec<&str> {
        res.iter().map(Regex::as_str).collect()
    }

    fn assert_all_enabled_unfiltered(services: &Services) {
        for s in [&services.appflow, &services.transfer, &services.supplychain] {
            assert!(s.enabled);
            assert!(s.filter.include().is_empty() && s.filter.exclude().is_empty());
        }
        assert!(services.customerprofiles.enabled);
        assert!(services.customerprofiles.domains.is_empty());
    }

    fn assert_default_config(config: &Config) {
        assert_eq!(config.collection, Collection::default());
        assert_eq!(config.targets.len(), 1);
        let t = &config.targets[0];
        assert_eq!(t.region, None);
        assert_eq!(t.role_arn, None);
        assert_eq!(t.external_id, None);
        assert!(t.labels.is_empty());
        assert_all_enabled_unfiltered(&t.services);
    }

    /// A one-target file with `extra` appended under the target (4-space indent).
    fn target(extra: &str) -> String {
        format!("targets:\n  - region: us-east-1\n{extra}")
    }

    #[test]
    fn full_example_parses() {
        let config = ok(EXAMPLE);
        assert_eq!(
            config.collection,
            Collection {
                interval: Duration::from_secs(60),
                lookback: Duration::from_secs(7 * 86_400),
                max_concurrency: 8,
                requests_per_second: 5.0,
                timeout: Duration::from_secs(20),
            }
        );
        assert_eq!(config.targets.len(), 1);
        let t = &config.targets[0];
        assert_eq!(t.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            t.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/flow-exporter")
        );
        assert_eq!(t.external_id.as_deref(), Some("optional-external-id"));
        assert_eq!(
            t.labels,
            BTreeMap::from([("account".to_owned(), "prod".to_owned())])
        );
        let appflow = &t.services.appflow;
        assert!(appflow.enabled);
        assert_eq!(strs(appflow.filter.include()), ["^sales-"]);
        assert_eq!(strs(appflow.filter.exclude()), ["-test$"]);
        assert!(appflow.filter.matches("sales-daily"));
        assert!(!appflow.filter.matches("sales-daily-test"));
        assert!(!appflow.filter.matches("marketing"));
        assert_all_enabled_unfiltered(&Services {
            appflow: ServiceConfig::default(),
            ..t.services.clone()
        });
    }

    #[test]
    fn empty_file_gives_defaults() {
        for text in [
            "",
            "\n",
            "# only a comment\n",
            "{}",
            "{}\n",
            "collection:\n",
        ] {
            assert_default_config(&ok(text));
        }
        assert_default_config(&Config::default());
        assert_eq!(
            Collection::default(),
            Collection {
                interval: Duration::from_secs(60),
                lookback: Duration::from_secs(7 * 86_400),
                max_concurrency: 8,
                requests_per_second: 5.0,
                timeout: Duration::from_secs(20),
            }
        );
    }

    #[test]
    fn defaults_when_keys_omitted() {
        let config = ok("collection:\n  interval: 30s\n  max_concurrency: 2\n");
        assert_eq!(
            config.collection,
            Collection {
                interval: Duration::from_secs(30),
                max_concurrency: 2,
                ..Collection::default()
            }
        );
        assert_eq!(config.targets.len(), 1);
        assert_eq!(config.targets[0].region, None);

        let config = ok("targets:\n  - region: eu-west-1\n");
        assert_eq!(config.collection, Collection::default());
        let t = &config.targets[0];
        assert_eq!(t.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            (t.role_arn.as_deref(), t.external_id.as_deref()),
            (None, None)
        );
        assert!(t.labels.is_empty());
        assert_all_enabled_unfiltered(&t.services);

        // A services block with some services, some keys, or null values.
        let config = ok(&target(concat!(
            "    services:\n",
            "      appflow: { include: [a] }\n",
            "      transfer: { enabled: false }\n",
            "      supplychain:\n",
            "      customerprofiles: { domains: [d1, d2] }\n",
        )));
        let s = &config.targets[0].services;
        assert!(s.appflow.enabled);
        assert_eq!(strs(s.appflow.filter.include()), ["a"]);
        assert!(s.appflow.filter.exclude().is_empty());
        assert!(!s.transfer.enabled);
        assert!(s.supplychain.enabled);
        assert!(s.customerprofiles.enabled);
        assert_eq!(s.customerprofiles.domains, ["d1", "d2"]);

        let config = ok(&target("    services: {}\n    labels: {}\n"));
        assert_all_enabled_unfiltered(&config.targets[0].services);
        assert!(config.targets[0].labels.is_empty());
    }

    #[test]
    fn duration_forms() {
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("7d", Duration::from_secs(7 * 86_400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("\"2m\"", Duration::from_secs(120)),
        ] {
            let c = ok(&format!(
                "collection:\n  interval: {text}\n  lookback: {text}\n  timeout: {text}\n"
            ))
            .collection;
            assert_eq!(
                (c.interval, c.lookback, c.timeout),
                (expected, expected, expected)
            );
        }
    }

    #[test]
    fn bad_duration() {
        let e = err("collection:\n  interval: 60s\n  lookback: 5 parsecs\n");
        assert_eq!(path(&e), Some("collection.lookback"));
        assert_eq!(line(&e), Some(3));
        assert!(e.to_string().starts_with(
            "collection.lookback: invalid duration \"5 parsecs\": unknown time unit \"parsecs\""
        ));

        let e = err("collection:\n  timeout: 0s\n");
        assert_eq!(path(&e), Some("collection.timeout"));
        assert_eq!(line(&e), Some(2));
        assert!(e.to_string().contains("greater than zero"));

        let e = err("collection:\n  interval: 60\n");
        assert_eq!(path(&e), Some("collection.interval"));
        assert!(e.to_string().contains("time unit needed"));

        let e = err("collection:\n  interval: 100000d\n");
        assert!(e.to_string().contains("at most 3650d"));

        let e = err("collection:\n  interval: [1s]\n");
        assert_eq!(path(&e), Some("collection.interval"));
        assert_eq!(line(&e), Some(2));
    }

    #[test]
    fn transfer_log_groups_are_auto_or_a_list_of_names() {
        let service = |yaml: &str| {
            let config = ok(&target(&format!("    services:\n      transfer: {yaml}\n")));
            config.targets[0].service("transfer").unwrap()
        };
        assert_eq!(service("{ enabled: true }").log_groups, None);
        assert_eq!(service("{ log_groups: }").log_groups, None);
        assert_eq!(
            service("{ log_groups: auto }").log_groups,
            Some(LogGroups::Auto)
        );
        assert_eq!(
            service("{ include: [w-], log_groups: [/aws/transfer/s-1, custom] }").log_groups,
            Some(LogGroups::Names(vec![
                "/aws/transfer/s-1".into(),
                "custom".into()
            ]))
        );
        assert_eq!(
            ok(&target("")).targets[0]
                .service("appflow")
                .unwrap()
                .log_groups,
            None
        );
        for (bad, message) in [
            ("automatic", "expected auto or a list of log group names"),
            ("[]", "at least one log group"),
            ("[a, \"\"]", "log group name must not be empty"),
            ("[a, a]", "listed more than once"),
            ("5", "expected auto or a list of log group names"),
        ] {
            let e = err(&target(&format!(
                "    services:\n      transfer: {{ log_groups: {bad} }}\n"
            )));
            let path = path(&e).unwrap_or_default();
            assert!(
                path.starts_with("targets[0].services.transfer.log_groups"),
                "{bad}: {e}"
            );
            assert!(e.to_string().contains(message), "{bad}: {e}");
        }
        // Only the transfer block has it.
        let e = err(&target(
            "    services:\n      appflow: { log_groups: auto }\n",
        ));
        assert!(e.to_string().contains("log_groups"), "{e}");
    }

    #[test]
    fn bad_regex_names_path_and_line() {
        let text = EXAMPLE.replace(r#"include: ["^sales-"]"#, r#"include: ["^sales-", "(["]"#);
        let e = err(&text);
        assert_eq!(path(&e), Some("targets[0].services.appflow.include[1]"));
        // Line 1 of EXAMPLE is empty; the include list is on line 16.
        assert_eq!(
            e.to_string(),
            "targets[0].services.appflow.include[1]: invalid regular expression \"([\": \
             unclosed character class (line 16, column 30)"
        );

        let e = err(&target(concat!(
            "    services:\n",
            "      transfer:\n",
            "        exclude:\n",
            "          - ok\n",
            "          - \"a{2,1}\"\n",
        )));
        assert_eq!(path(&e), Some("targets[0].services.transfer.exclude[1]"));
        assert_eq!(line(&e), Some(7));
        assert!(e
            .to_string()
            .contains("invalid regular expression \"a{2,1}\""));
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = err("collection:\n  interval: 5s\n  intervall: 5s\n");
        assert_eq!(path(&e), Some("collection"));
        assert_eq!(line(&e), Some(3));
        assert!(e
            .to_string()
            .starts_with("collection: unknown field `intervall`, expected one of `interval`"));

        let e = err("collection: {}\ntarget: []\n");
        assert_eq!(path(&e), None);
        assert_eq!(line(&e), Some(2));
        assert!(e.to_string().starts_with("unknown field `target`"));

        let e = err(&target(
            "    services:\n      appflow: { enabled: true, includes: [] }\n",
        ));
        assert_eq!(path(&e), Some("targets[0].services.appflow"));
        assert_eq!(line(&e), Some(4));
        assert!(e.to_string().contains("unknown field `includes`"));

        let e = err(&target("    services:\n      glue: {}\n"));
        assert_eq!(path(&e), Some("targets[0].services"));
        assert!(e.to_string().contains("unknown field `glue`"));
    }

    #[test]
    fn missing_or_bad_region() {
        let e = err("targets:\n  - role_arn: arn:aws:iam::1:role/x\n");
        assert_eq!(path(&e), Some("targets[0]"));
        assert_eq!(line(&e), Some(2));
        assert!(e.to_string().contains("missing field `region`"));

        for (value, message) in [
            ("\"\"", "region must not be empty"),
            ("US-East-1", "invalid region \"US-East-1\""),
            ("useast1", "invalid region"),
            ("us-east", "invalid region"),
            ("us-east-1a", "invalid region"),
            ("u-east-1", "invalid region"),
            ("us--1", "invalid region"),
            ("[a]", "invalid type: sequence"),
        ] {
            let e = err(&format!(
                "targets:\n  - region: us-east-1\n  - region: {value}\n"
            ));
            assert_eq!(path(&e), Some("targets[1].region"), "{value}");
            assert_eq!(line(&e), Some(3), "{value}");
            assert!(e.to_string().contains(message), "{value}: {e}");
        }

        for region in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2"] {
            let config = ok(&format!("targets:\n  - region: {region}\n"));
            assert_eq!(config.targets[0].region.as_deref(), Some(region));
        }
    }

    #[test]
    fn max_concurrency_and_rate() {
        for value in ["-1", "0", "1001"] {
            let e = err(&format!("collection:\n  max_concurrency: {value}\n"));
            assert_eq!(path(&e), Some("collection.max_concurrency"));
            assert_eq!(line(&e), Some(2));
            assert!(
                e.to_string().contains(&format!(
                    "must be an integer between 1 and 1000, got {value}"
                )),
                "{e}"
            );
        }
        let e = err("collection:\n  max_concurrency: 1.5\n");
        assert_eq!(path(&e), Some("collection.max_concurrency"));
        for (value, expected) in [("1", 1), ("1000", 1000)] {
            let config = ok(&format!("collection:\n  max_concurrency: {value}\n"));
            assert_eq!(config.collection.max_concurrency, expected);
        }

        for value in ["0", "-2", "0.0", ".nan", ".inf", "0.0001", "20000", "fast"] {
            let e = err(&format!("collection:\n  requests_per_second: {value}\n"));
            assert_eq!(path(&e), Some("collection.requests_per_second"), "{value}");
            assert_eq!(line(&e), Some(2), "{value}");
        }
        for (value, expected) in [("0.5", 0.5), ("2", 2.0), ("0.001", 0.001), ("10000", 1e4)] {
            let config = ok(&format!("collection:\n  requests_per_second: {value}\n"));
            assert_eq!(config.collection.requests_per_second, expected);
        }
    }

    #[test]
    fn label_names() {
        let e = err(&target("    labels:\n      team: a\n      __x: b\n"));
        assert_eq!(path(&e), Some("targets[0].labels.__x"));
        assert_eq!(line(&e), Some(5));
        assert!(e.to_string().contains("reserved"));

        let e = err(&target("    labels: { region: eu }\n"));
        assert_eq!(path(&e), Some("targets[0].labels.region"));
        assert_eq!(line(&e), Some(3));
        assert!(e
            .to_string()
            .contains("the exporter sets this label itself"));

        for name in RESERVED_LABEL_NAMES {
            let e = err(&target(&format!("    labels: {{ {name}: x }}\n")));
            assert_eq!(path(&e), Some(format!("targets[0].labels.{name}").as_str()));
        }

        for name in ["5a", "a-b", "\"\"", "\"a b\"", "é"] {
            let e = err(&target(&format!("    labels:\n      {name}: x\n")));
            assert!(e.to_string().contains("invalid label name"), "{name}: {e}");
            assert_eq!(line(&e), Some(4));
        }

        let e = err(&target("    labels:\n      a: x\n      a: y\n"));
        assert_eq!(path(&e), Some("targets[0].labels"));
        assert!(e.to_string().contains("label \"a\" is set more than once"));

        let config = ok(&target("    labels: { _a: x, B9_z: y, regions: z }\n"));
        assert_eq!(
            config.targets[0].labels.keys().collect::<Vec<_>>(),
            ["B9_z", "_a", "regions"]
        );
    }

    #[test]
    fn label_values_keep_scalar_text() {
        let config = ok(&target(concat!(
            "    labels:\n",
            "      account: 012345678901\n",
            "      big: 123456789012345678901234567890\n",
            "      ratio: 1.50\n",
            "      hex: 0x1F\n",
            "      on: true\n",
            "      neg: -3\n",
            "      quoted: \"42\"\n",
            "      text: hello world\n",
        )));
        let labels = &config.targets[0].labels;
        let expected = [
            ("account", "012345678901"),
            ("big", "123456789012345678901234567890"),
            ("ratio", "1.50"),
            ("hex", "0x1F"),
            ("on", "true"),
            ("neg", "-3"),
            ("quoted", "42"),
            ("text", "hello world"),
        ];
        assert_eq!(
            *labels,
            expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        );

        for (value, message) in [
            ("{ a: 1 }", "invalid type: map"),
            ("[1, 2]", "invalid type: sequence"),
            ("~", "not null"),
            ("", "not null"),
            ("\"\"", "must not be empty"),
        ] {
            let e = err(&target(&format!("    labels:\n      team: {value}\n")));
            assert_eq!(path(&e), Some("targets[0].labels.team"), "{value}");
            assert_eq!(line(&e), Some(4), "{value}");
            assert!(e.to_string().contains(message), "{value}: {e}");
        }
    }

    #[test]
    fn role_arn_and_external_id() {
        let e = err(&target("    external_id: abc\n"));
        assert_eq!(
            e.to_string(),
            "targets[0].external_id: external_id requires role_arn"
        );
        assert_eq!(line(&e), None);

        let e = err(&target("    role_arn: aws:iam::1:role/x\n"));
        assert_eq!(path(&e), Some("targets[0].role_arn"));
        assert_eq!(line(&e), Some(3));
        assert!(e.to_string().contains("must start with \"arn:\""));

        let config = ok(&target("    role_arn: arn:aws:iam::1:role/x\n"));
        assert_eq!(
            config.targets[0].role_arn.as_deref(),
            Some("arn:aws:iam::1:role/x")
        );
        assert_eq!(config.targets[0].external_id, None);
    }

    #[test]
    fn duplicate_targets() {
        let e = err(concat!(
            "targets:\n",
            "  - { region: us-east-1, labels: { account: a } }\n",
            "  - { region: us-east-1, labels: { account: b } }\n",
            "  - { region: us-east-1, labels: { account: a }, services: { appflow: { enabled: false } } }\n",
        ));
        assert_eq!(path(&e), Some("targets[2]"));
        assert!(e
            .to_string()
            .starts_with("targets[2]: duplicates targets[0]"));

        let e = err(concat!(
            "targets:\n",
            "  - { region: eu-west-1, role_arn: \"arn:x\", external_id: a }\n",
            "  - { region: eu-west-1, role_arn: \"arn:x\", external_id: b }\n",
        ));
        assert_eq!(path(&e), Some("targets[1]"));

        // Any difference in region, role or labels is enough.
        let config = ok(concat!(
            "targets:\n",
            "  - { region: us-east-1 }\n",
            "  - { region: us-east-2 }\n",
            "  - { region: us-east-1, role_arn: \"arn:x\" }\n",
            "  - { region: us-east-1, labels: { a: b } }\n",
        ));
        assert_eq!(config.targets.len(), 4);
    }

    #[test]
    fn targets_must_not_be_empty() {
        let e = err("targets: []\n");
        assert_eq!(path(&e), Some("targets"));
        assert_eq!(line(&e), Some(1));
        assert!(e
            .to_string()
            .starts_with("targets: at least one target is required"));

        let e = err("collection: {}\ntargets:\n");
        assert_eq!(e.to_string(), "targets: at least one target is required");
    }

    #[test]
    fn customer_profiles_domains() {
        let e = err(&target(
            "    services:\n      customerprofiles:\n        domains: [a, \"\"]\n",
        ));
        assert_eq!(
            path(&e),
            Some("targets[0].services.customerprofiles.domains[1]")
        );
        assert_eq!(line(&e), Some(5));
        assert!(e.to_string().contains("must not be empty"));

        let e = err(&target(
            "    services:\n      customerprofiles:\n        domains: [a, b, a]\n",
        ));
        assert_eq!(
            path(&e),
            Some("targets[0].services.customerprofiles.domains")
        );
        assert!(e
            .to_string()
            .contains("domain \"a\" is listed more than once"));
    }

    #[test]
    fn yaml_errors_without_path() {
        let e = err("\tcollection: {}\n");
        assert_eq!(path(&e), None);
        assert_eq!(line(&e), Some(1));
        assert!(!e.to_string().contains(" at line "));

        let e = err("- a\n");
        assert_eq!(path(&e), None);
        assert!(e.to_string().starts_with("invalid type: sequence"));

        let e = err("{}\n---\n{}\n");
        assert_eq!(path(&e), None);
        assert!(e.to_string().contains("more than one document"));

        let e = err("collection:\n  interval: 5s\n  timeout: 'a\n");
        assert_eq!(line(&e), Some(4));
        assert!(e.to_string().contains("unexpected end of stream"));
    }

    #[test]
    fn name_filter_semantics() {
        let re = |s: &str| Regex::new(s).unwrap();
        let all = NameFilter::default();
        assert!(all.matches("anything") && all.matches(""));

        // Empty include = all, but excludes still apply.
        let f = NameFilter::new(vec![], vec![re("-test$")]);
        assert!(f.matches("sales"));
        assert!(!f.matches("sales-test"));

        // Unanchored search.
        let f = NameFilter::new(vec![re("sales")], vec![]);
        assert!(f.matches("eu-sales-daily"));
        assert!(!f.matches("marketing"));
        let f = NameFilter::new(vec![re("^sales$")], vec![]);
        assert!(f.matches("sales") && !f.matches("sales-daily"));

        // Any include suffices; exclude wins.
        let f = NameFilter::new(vec![re("^a"), re("^b")], vec![re("x")]);
        assert!(f.matches("a1") && f.matches("b1"));
        assert!(!f.matches("c1"));
        assert!(!f.matches("ax"));
    }

    #[test]
    fn load_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, EXAMPLE).unwrap();
        let config = Config::load(&file).unwrap();
        assert_eq!(config.targets[0].region.as_deref(), Some("us-east-1"));

        let missing = dir.path().join("missing.yaml");
        let e = Config::load(&missing).unwrap_err();
        println!("{e}");
        assert!(matches!(e, ConfigError::Read { .. }));
        let text = e.to_string();
        assert!(text.starts_with(&format!("cannot read {}: ", missing.display())));
        assert!(text.contains("No such file"));

        std::fs::write(&file, "collection:\n  timeout: soon\n").unwrap();
        let e = Config::load(&file).unwrap_err();
        assert_eq!(path(&e), Some("collection.timeout"));
        assert_eq!(line(&e), Some(2));
    }
}
