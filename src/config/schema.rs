//! The file schema: what the YAML file may hold, as serde types.
//!
//! Every check that concerns a single value happens while deserializing it,
//! inside a visitor method, so that `serde_path_to_error` knows its path and
//! `serde_yaml_ng` attaches its line and column to the error. The structs use
//! `#[serde(deny_unknown_fields)]`; the `services` mapping is read by hand
//! from the registry ([`crate::services::SERVICES`]): a key must name a
//! registered service, and a service's block accepts `enabled` and that
//! service's [`ConfigKey`]s only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::model::{LogGroups, RESERVED_LABEL_NAMES};
use crate::services::{self, ConfigKey, ServiceDef, SERVICES};

/// Largest accepted duration (3650 days).
const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// Bounds of `max_concurrency`.
const MIN_CONCURRENCY: u64 = 1;
const MAX_CONCURRENCY: u64 = 1000;
/// Bounds of `requests_per_second`.
const MIN_REQUESTS_PER_SECOND: f64 = 0.001;
const MAX_REQUESTS_PER_SECOND: f64 = 10_000.0;

/// The message of an empty (or null) `targets`.
pub(super) const NO_TARGETS: &str = "at least one target is required";

/// The whole file.
#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with keys collection, targets and discovery"
)]
pub(super) struct FileConfig {
    /// Collection settings; omitted keys take their defaults.
    pub collection: Option<FileCollection>,
    /// Targets. Outer `None`: key omitted (one default target); `Some(None)`: key written
    /// as null (an error); an empty list is rejected during deserialization.
    #[serde(default, deserialize_with = "present")]
    pub targets: Option<Option<TargetList>>,
    /// (v4) Organizations discovery; with it, `targets` may be empty.
    pub discovery: Option<super::discovery::FileDiscovery>,
}

thread_local! {
    /// Set while a file with a `discovery` block is read: `targets: []` is then valid.
    pub(super) static DISCOVERY_PRESENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of collection settings")]
pub(super) struct FileCollection {
    /// How often every target is collected.
    pub interval: Option<PositiveDuration>,
    /// Executions started earlier than this are ignored.
    pub lookback: Option<PositiveDuration>,
    /// AWS requests in flight per target.
    pub max_concurrency: Option<Concurrency>,
    /// Requests per second, per target and service.
    pub requests_per_second: Option<Rate>,
    /// Timeout per AWS request attempt.
    pub timeout: Option<PositiveDuration>,
}

/// One entry of `targets`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a target: a mapping with at least a region"
)]
pub(super) struct FileTarget {
    /// AWS region, required.
    pub region: Region,
    /// Role to assume, optional.
    pub role_arn: Option<RoleArn>,
    /// External id for assuming `role_arn`; requires `role_arn`.
    pub external_id: Option<String>,
    /// Labels added to every series of this target.
    pub labels: Option<Labels>,
    /// Services to collect; omitted means all.
    pub services: Option<FileServices>,
}

// ---------------------------------------------------------------------------
// `services`: read by hand from the registry.
// ---------------------------------------------------------------------------

/// The `services` mapping of a target: the blocks the file writes, in file order,
/// each service at most once.
pub(super) struct FileServices(pub Vec<FileService>);

/// The block of one service. Only the fields of the service's
/// [`ServiceDef::config_keys`] can be set; a block written as null sets none.
pub(super) struct FileService {
    /// The registry entry.
    pub def: &'static ServiceDef,
    /// Whether to collect the service (default true).
    pub enabled: Option<bool>,
    /// [`ConfigKey::Include`]: a name must match one of these (unless empty).
    pub include: Option<Vec<Pattern>>,
    /// [`ConfigKey::Exclude`]: a name must match none of these.
    pub exclude: Option<Vec<Pattern>>,
    /// [`ConfigKey::Domains`]: domains to collect; empty means all.
    pub domains: Option<Domains>,
    /// [`ConfigKey::LogGroups`]: `auto` or a list of log group names.
    pub log_groups: Option<LogGroupsValue>,
}

impl<'de> Deserialize<'de> for FileServices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileServices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of services")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileServices, A::Error> {
                let mut blocks: Vec<FileService> = Vec::new();
                let mut seen = Vec::new();
                while let Some(def) = map.next_key_seed(ServiceName { seen: &mut seen })? {
                    blocks.push(map.next_value_seed(Block(def))?);
                }
                Ok(FileServices(blocks))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A key of `services`: the name of a registered service not seen yet.
struct ServiceName<'a> {
    seen: &'a mut Vec<&'static str>,
}

impl<'de> DeserializeSeed<'de> for ServiceName<'_> {
    type Value = &'static ServiceDef;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for ServiceName<'_> {
    type Value = &'static ServiceDef;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a service name")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        let Some(def) = services::find(value) else {
            let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
            return Err(E::custom(format!(
                "unknown service `{value}`, expected one of {}",
                names.join(", ")
            )));
        };
        if self.seen.contains(&def.name) {
            return Err(E::duplicate_field(def.name));
        }
        self.seen.push(def.name);
        Ok(def)
    }
}

/// The keys a service's block accepts: `enabled`, then its configuration keys.
fn block_keys(def: &ServiceDef) -> Vec<&'static str> {
    std::iter::once("enabled")
        .chain(def.config_keys.iter().map(|k| k.as_str()))
        .collect()
}

/// The value of a service's key in `services`: its block, or null.
#[derive(Clone, Copy)]
struct Block(&'static ServiceDef);

impl Block {
    fn empty(self) -> FileService {
        FileService {
            def: self.0,
            enabled: None,
            include: None,
            exclude: None,
            domains: None,
            log_groups: None,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Block {
    type Value = FileService;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FileService, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Block {
    type Value = FileService;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // "a mapping with keys enabled, include and exclude"
        let keys = block_keys(self.0);
        let (last, rest) = keys.split_last().expect("`enabled` is always a key");
        write!(f, "a mapping with keys ")?;
        if !rest.is_empty() {
            write!(f, "{} and ", rest.join(", "))?;
        }
        f.write_str(last)
    }
    fn visit_none<E: de::Error>(self) -> Result<FileService, E> {
        Ok(self.empty())
    }
    fn visit_unit<E: de::Error>(self) -> Result<FileService, E> {
        Ok(self.empty())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<FileService, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileService, A::Error> {
        let mut block = self.empty();
        let mut seen = Vec::new();
        while let Some(key) = map.next_key_seed(BlockKey {
            def: self.0,
            seen: &mut seen,
        })? {
            match key {
                None => block.enabled = map.next_value()?,
                Some(ConfigKey::Include) => block.include = map.next_value()?,
                Some(ConfigKey::Exclude) => block.exclude = map.next_value()?,
                Some(ConfigKey::Domains) => block.domains = map.next_value()?,
                Some(ConfigKey::LogGroups) => block.log_groups = map.next_value()?,
            }
        }
        Ok(block)
    }
}

/// A key of a service's block, not seen yet: `None` for `enabled`, else one of
/// the service's configuration keys.
struct BlockKey<'a> {
    def: &'static ServiceDef,
    seen: &'a mut Vec<&'static str>,
}

impl<'de> DeserializeSeed<'de> for BlockKey<'_> {
    type Value = Option<ConfigKey>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for BlockKey<'_> {
    type Value = Option<ConfigKey>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        let (name, key) = if value == "enabled" {
            ("enabled", None)
        } else {
            match self.def.config_keys.iter().find(|k| k.as_str() == value) {
                Some(key) => (key.as_str(), Some(*key)),
                None => {
                    return Err(E::custom(format!(
                        "unknown field `{value}`, expected {}",
                        one_of(&block_keys(self.def))
                    )))
                }
            }
        };
        if self.seen.contains(&name) {
            return Err(E::duplicate_field(name));
        }
        self.seen.push(name);
        Ok(key)
    }
}

/// Names the expected keys the way serde's `unknown_field` does: "`a`", "`a` or
/// `b`", "one of `a`, `b`, `c`".
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        _ => format!("one of {}", quoted.join(", ")),
    }
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
pub(super) use from_str_scalar;

/// A duration greater than zero and at most [`MAX_DURATION`].
pub(super) struct PositiveDuration(pub Duration);

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
pub(super) struct Pattern(pub Regex);

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
pub(super) struct Region(pub String);

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
pub(super) struct RoleArn(pub String);

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
pub(super) struct Labels(pub BTreeMap<String, String>);

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

/// A domain name: a non-empty string.
struct Domain(String);

from_str_scalar!(Domain, "a domain name", |value| {
    if value.trim().is_empty() {
        Err("domain name must not be empty".to_owned())
    } else {
        Ok(Domain(value.to_owned()))
    }
});

/// The `domains` list, each domain once.
pub(super) struct Domains(pub Vec<String>);

impl<'de> Deserialize<'de> for Domains {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Domains;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of domain names")
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

/// The `log_groups` value: `auto`, or a non-empty list of log group names, each
/// once (a repeated name is an error at its own index).
pub(super) struct LogGroupsValue(pub LogGroups);

const LOG_GROUPS_EXPECTING: &str = "`auto` or a list of log group names";

impl<'de> Deserialize<'de> for LogGroupsValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LogGroupsValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(LOG_GROUPS_EXPECTING)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<LogGroupsValue, E> {
                if value == "auto" {
                    Ok(LogGroupsValue(LogGroups::Auto))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(value), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LogGroupsValue, A::Error> {
                let mut names = Vec::new();
                let mut seen = BTreeSet::new();
                while let Some(name) = seq.next_element_seed(LogGroupName { seen: &mut seen })? {
                    names.push(name);
                }
                if names.is_empty() {
                    return Err(de::Error::custom(
                        "log_groups must list at least one log group, or be `auto`",
                    ));
                }
                Ok(LogGroupsValue(LogGroups::Names(names)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// An entry of a `log_groups` list: a non-empty name not listed before.
struct LogGroupName<'a> {
    seen: &'a mut BTreeSet<String>,
}

impl<'de> DeserializeSeed<'de> for LogGroupName<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for LogGroupName<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a log group name")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        if value.trim().is_empty() {
            Err(E::custom("log group name must not be empty"))
        } else if !self.seen.insert(value.to_owned()) {
            Err(E::custom(format!(
                "log group {value:?} is listed more than once"
            )))
        } else {
            Ok(value.to_owned())
        }
    }
}

/// `targets` as a non-empty list.
pub(super) struct TargetList(pub Vec<FileTarget>);

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
                if targets.is_empty() && !DISCOVERY_PRESENT.get() {
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
pub(super) struct Concurrency(pub usize);

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
pub(super) struct Rate(pub f64);

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
