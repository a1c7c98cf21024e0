//! What the exporter's execution counters must read: each service's world
//! computes it (`AppFlow::truth`, ...); the acceptance soak and the scale
//! bench's soak compare the exporter's counters with it.

use std::collections::{BTreeMap, HashSet};

/// Counter values by (resource, status).
pub type Counts = BTreeMap<(String, String), f64>;
/// Executions already terminal at the baseline, by (resource, execution id).
pub type Baseline = HashSet<(String, String)>;
