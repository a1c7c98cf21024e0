//! One collector per AWS service, behind one trait.
//!
//! A collector owns the state of one (target, service): what it has counted,
//! which executions it has seen. [`Collector::collect`] is all or nothing: it
//! first fetches everything it needs, and only when every request succeeded
//! does it apply the result to its state and render a fresh [`Exposition`].
//! A failed collection leaves the state, and so the published series, as
//! they were.

pub mod appflow;
pub mod customerprofiles;
pub mod supplychain;
pub mod transfer;

use std::time::SystemTime;

use crate::aws::ApiError;
use crate::metrics::exposition::Exposition;

/// The AWS services the exporter collects, as the `aws_service` label names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    AppFlow,
    Transfer,
    SupplyChain,
    CustomerProfiles,
}

impl Service {
    pub fn label(self) -> &'static str {
        match self {
            Service::AppFlow => "appflow",
            Service::Transfer => "transfer",
            Service::SupplyChain => "supplychain",
            Service::CustomerProfiles => "customerprofiles",
        }
    }
}

/// The result of a successful collection.
pub struct Collected {
    pub exposition: Exposition,
    /// Execution ids (or statuses) held in memory, for `executions_tracked`.
    pub tracked: usize,
}

/// A service's collector for one target.
#[async_trait::async_trait]
pub trait Collector: Send {
    fn service(&self) -> Service;

    /// One collection at wall-clock time `now`; on error nothing is applied.
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError>;
}

/// Unix seconds of a wall-clock time (0 before 1970, which never happens).
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
