//! Which resources a service collects: include and exclude expressions on
//! their names, and the replica's shard.

use regex::Regex;

use crate::shard::Shard;

/// Selects names by regular expressions.
///
/// A name is selected when it matches some `include` expression (or `include` is empty)
/// and no `exclude` expression. Expressions are unanchored: they are searched for
/// anywhere in the name ([`Regex::is_match`]); write `^...$` to match a whole name.
/// The default selects every name.
#[derive(Clone, Debug, Default)]
pub struct NameFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    /// `--shard`: only the names this replica owns.
    pub(crate) shard: Option<Shard>,
}

impl NameFilter {
    /// A filter from include and exclude expressions.
    pub fn new(include: Vec<Regex>, exclude: Vec<Regex>) -> Self {
        NameFilter {
            include,
            exclude,
            shard: None,
        }
    }

    /// Whether `name` matches some include expression (or there is none) and no
    /// exclude expression, and belongs to this replica's shard.
    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|re| re.is_match(name)))
            && !self.exclude.iter().any(|re| re.is_match(name))
            && self.shard.is_none_or(|s| s.owns(name))
    }

    /// The same filter, restricted to a shard (or to none).
    pub fn with_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// The include expressions.
    pub fn include(&self) -> &[Regex] {
        &self.include
    }

    /// The exclude expressions.
    pub fn exclude(&self) -> &[Regex] {
        &self.exclude
    }

    /// The shard this filter is restricted to, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }
}
