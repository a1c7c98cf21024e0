//! `--shard I/N`: which replica collects a name.
//!
//! A name goes to the bucket a jump consistent hash (Lamping and Veach,
//! "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014) gives its FNV-1a
//! hash. Going from N to N+1 replicas moves about 1/(N+1) of the names, so a
//! resize restarts the counters of few resources; `hash mod N` would move
//! almost all of them.

// Where the hashes live now; kept reachable here for code that names them so.
#[allow(unused_imports)]
pub(crate) use crate::hash::{fnv1a, jump_consistent_hash};

/// Replica `index` of `total` (0-based, as kube-state-metrics counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    total: u64,
}

impl Shard {
    /// Whether this replica collects `name`.
    pub fn owns(&self, name: &str) -> bool {
        jump_consistent_hash(fnv1a(name.as_bytes()), self.total) == self.index
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: expected I/N with 0 <= I < N, e.g. 0/3");
        let (index, total) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = index.trim().parse().map_err(|_| bad())?;
        let total: u64 = total.trim().parse().map_err(|_| bad())?;
        if total == 0 || total > u64::from(u32::MAX) || index >= total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        (0..10_000).map(|i| format!("flow-{i}")).collect()
    }

    fn owner(name: &str, total: u64) -> u64 {
        (0..total)
            .find(|&index| Shard { index, total }.owns(name))
            .expect("some shard owns every name")
    }

    #[test]
    fn every_name_has_exactly_one_shard() {
        for name in names() {
            let owners = (0..3).filter(|&index| Shard { index, total: 3 }.owns(&name));
            assert_eq!(owners.count(), 1, "{name}");
        }
    }

    #[test]
    fn growing_from_3_to_4_moves_about_a_quarter() {
        let moved = names()
            .iter()
            .filter(|n| owner(n, 3) != owner(n, 4))
            .count();
        assert!(moved <= 10_000 * 3 / 8, "{moved} of 10,000 moved");
        // Every moved name goes to the new shard, none between old ones.
        for name in names() {
            let (before, after) = (owner(&name, 3), owner(&name, 4));
            assert!(before == after || after == 3, "{name}: {before} -> {after}");
        }
    }

    #[test]
    fn shard_flags() {
        assert_eq!("1/3".parse::<Shard>().unwrap().to_string(), "1/3");
        for bad in ["3/3", "0/0", "x/2", "1", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
