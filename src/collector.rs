//! What every service's collector is: one trait, and the helpers they share.
//!
//! A collector owns the state of one (target, service): what it has counted,
//! which executions it has seen. [`Collector::collect`] is all or nothing: it
//! first fetches everything it needs, and only when every request succeeded
//! does it apply the result to its state and render a fresh [`Exposition`].
//! A failed collection leaves the state, and so the published series, as
//! they were.

use std::future::Future;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};

use crate::aws::ApiError;
use crate::exposition::Exposition;
use crate::filter::NameFilter;
use crate::state::Keep;

/// The result of a successful collection.
pub struct Collected {
    pub exposition: Exposition,
    /// Execution ids (or statuses) held in memory, for `executions_tracked`.
    pub tracked: usize,
}

/// A service's collector for one target.
#[async_trait::async_trait]
pub trait Collector: Send {
    /// One collection at wall-clock time `now`; on error nothing is applied.
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError>;

    /// `--storage.path`: the state this collector keeps across restarts,
    /// saved after every successful collection and restored before the
    /// first; None: it keeps nothing.
    fn kept(&mut self) -> Option<&mut dyn Keep> {
        None
    }
}

/// What a target asks of each of its services' collectors: every collector
/// holds one, besides its API and its state.
pub struct Setup {
    /// Which resource names are collected (and the replica's shard).
    pub filter: NameFilter,
    /// How far back executions are read and remembered.
    pub lookback: Duration,
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    /// `region` and the target's labels, carried by every series.
    pub base_labels: Vec<(String, String)>,
}

impl Setup {
    pub fn new(
        filter: NameFilter,
        lookback: Duration,
        concurrency: usize,
        base_labels: Vec<(String, String)>,
    ) -> Setup {
        Setup {
            filter,
            lookback,
            concurrency: concurrency.max(1),
            base_labels,
        }
    }

    /// Unix seconds where the lookback of a collection at `now` starts.
    pub fn cutoff(&self, now: SystemTime) -> f64 {
        unix_seconds(now) - self.lookback.as_secs_f64()
    }

    /// An empty exposition with the target's labels.
    pub fn exposition(&self) -> Exposition {
        Exposition::new(&self.base_labels)
    }

    /// The listed resources the filter selects, each name once ([`selected`]).
    pub fn selected<T>(&self, listed: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        selected(listed, &self.filter, name)
    }

    /// [`fetch_all`] at this target's concurrency.
    pub async fn fetch_all<T, F>(
        &self,
        fetches: impl IntoIterator<Item = F>,
    ) -> Result<Vec<T>, ApiError>
    where
        F: Future<Output = Result<T, ApiError>>,
    {
        fetch_all(fetches, self.concurrency).await
    }
}

/// Unix seconds of a wall-clock time (0 before 1970, which never happens).
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs `fetches` at most `concurrency` at a time, results in their order; the first error
/// aborts the lot. Each future is made only when its turn comes: a fetch future holds an SDK
/// request's state (kilobytes), so making 10,000 of them up front would take tens of megabytes.
pub async fn fetch_all<T, F>(
    fetches: impl IntoIterator<Item = F>,
    concurrency: usize,
) -> Result<Vec<T>, ApiError>
where
    F: Future<Output = Result<T, ApiError>>,
{
    let fetches = fetches.into_iter();
    // Sized up front: a first collection's results are hundreds of bytes each,
    // and a vector grown by doubling holds up to twice what it needs.
    let mut results = Vec::with_capacity(fetches.size_hint().0);
    let mut stream = std::pin::pin!(stream::iter(fetches).buffered(concurrency));
    while let Some(result) = stream.next().await {
        results.push(result?);
    }
    Ok(results)
}

/// The listed resources `filter` selects, each name once: a listing that
/// repeats a name across pages must not make one resource two.
pub fn selected<T>(listed: Vec<T>, filter: &NameFilter, name: impl Fn(&T) -> &str) -> Vec<T> {
    let mut names = std::collections::HashSet::new();
    listed
        .into_iter()
        .filter(|item| filter.matches(name(item)) && names.insert(name(item).to_string()))
        .collect()
}

/// The later of two optional times.
pub fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `end - start`, when AWS gave both and they make sense.
pub fn elapsed(start: Option<f64>, end: Option<f64>) -> Option<f64> {
    let d = end? - start?;
    (d >= 0.0).then_some(d)
}

/// The error a unit test's fake returns for `operation`.
#[cfg(test)]
pub fn fake_error(operation: &'static str, outcome: crate::aws::Outcome, code: &str) -> ApiError {
    ApiError {
        operation,
        outcome,
        code: Some(code.into()),
        message: "boom".into(),
        credentials: false,
    }
}
