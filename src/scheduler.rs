//! Runs the collectors: one background loop per (target, service), each
//! collection swapped into the [`Hub`] when it succeeds, the exporter's own
//! series recorded either way.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::collectors::{unix_seconds, Collector, Service};
use crate::metrics::exporter::{ExporterMetrics, ServiceMetrics};
use crate::metrics::exposition::{self, Exposition};
use crate::scrape::{Prepared, ScrapeBody, INFLATING};

/// How long a plain scrape waits for its turn to inflate.
const PERMIT_WAIT: Duration = Duration::from_secs(2);

/// What the HTTP side reads: the latest good exposition of every (target,
/// service), prepared for serving, the exporter's own metrics, and readiness.
pub struct Hub {
    snapshots: RwLock<BTreeMap<(usize, Service), Arc<Exposition>>>,
    prepared: RwLock<Arc<Prepared>>,
    /// Bumped by every publish; the last generation prepared, under the lock
    /// that keeps two preparations from running at once.
    published: AtomicU64,
    prepared_generation: Mutex<u64>,
    exporter: ExporterMetrics,
    units: usize,
    first_done: AtomicUsize,
    inflating: Arc<Semaphore>,
}

impl Hub {
    pub fn new(exporter: ExporterMetrics, units: usize) -> Self {
        Hub {
            snapshots: RwLock::new(BTreeMap::new()),
            prepared: RwLock::new(Arc::new(Prepared::default())),
            published: AtomicU64::new(0),
            prepared_generation: Mutex::new(0),
            exporter,
            units,
            first_done: AtomicUsize::new(0),
            inflating: Arc::new(Semaphore::new(INFLATING)),
        }
    }

    /// Every (target, service) has finished its first collection, good or bad.
    pub fn ready(&self) -> bool {
        self.first_done.load(Ordering::Acquire) >= self.units
    }

    fn current(&self) -> Arc<Prepared> {
        match self.prepared.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn exporter_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.exporter.render(&mut out);
        out
    }

    /// The whole exposition, gzip-compressed: AWS series, then the exporter's own.
    pub fn gzip(&self) -> std::io::Result<ScrapeBody> {
        self.current().gzip(&self.exporter_text())
    }

    /// The whole exposition as text. A large one is inflated while it is
    /// sent, a few scrapes at a time; one that waited [`PERMIT_WAIT`] goes
    /// ahead anyway, so clients that stop reading cannot hold up the rest.
    pub async fn plain(&self) -> ScrapeBody {
        let prepared = self.current();
        let mut permit = None;
        if prepared.inflates() {
            let wait = self.inflating.clone().acquire_owned();
            permit = tokio::time::timeout(PERMIT_WAIT, wait)
                .await
                .ok()
                .and_then(Result::ok);
        }
        prepared.plain(self.exporter_text(), permit)
    }

    /// Stores a collection's series and prepares the body scrapes will get.
    async fn publish(self: &Arc<Self>, key: (usize, Service), mut snapshot: Exposition) {
        snapshot.finish();
        {
            let mut snapshots = match self.snapshots.write() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            snapshots.insert(key, Arc::new(snapshot));
        }
        let generation = self.published.fetch_add(1, Ordering::AcqRel) + 1;
        // Compressing tens of megabytes is CPU work: off the async workers.
        let hub = self.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || hub.prepare(generation)).await {
            tracing::error!(%error, "preparing the exposition failed");
        }
    }

    /// Prepares the AWS part unless a later preparation already covered `generation`.
    fn prepare(&self, generation: u64) {
        let mut done = match self.prepared_generation.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *done >= generation {
            return;
        }
        let latest = self.published.load(Ordering::Acquire);
        let snapshots: Vec<Arc<Exposition>> = match self.snapshots.read() {
            Ok(s) => s.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        let pieces = exposition::pieces(snapshots.iter().map(|s| s.as_ref()));
        match Prepared::join(&pieces) {
            Ok(prepared) => {
                let prepared = Arc::new(prepared);
                match self.prepared.write() {
                    Ok(mut p) => *p = prepared,
                    Err(poisoned) => *poisoned.into_inner() = prepared,
                }
                *done = latest;
            }
            Err(error) => tracing::error!(%error, "cannot prepare the exposition"),
        }
        release_free_memory();
    }

    pub fn exporter(&self) -> &ExporterMetrics {
        &self.exporter
    }
}

/// Hands the memory freed after a collection back to the system. A
/// collection of 10,000 flows allocates tens of megabytes for a moment (the
/// fetched records, the new exposition); glibc keeps such freed memory in its
/// heaps, so the resident set would stay at the peak between collections.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: glibc's malloc_trim only releases free pages; it takes no pointers.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// One (target, service) and its collector.
pub struct Unit {
    pub target: usize,
    pub region: String,
    pub collector: Box<dyn Collector>,
    pub metrics: ServiceMetrics,
    failing: bool,
    attempted: bool,
}

impl Unit {
    pub fn new(
        target: usize,
        region: String,
        collector: Box<dyn Collector>,
        metrics: ServiceMetrics,
    ) -> Self {
        Unit {
            target,
            region,
            collector,
            metrics,
            failing: false,
            attempted: false,
        }
    }

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "collect",
            target = %format!("targets[{}]", self.target),
            region = %self.region,
            aws_service = self.collector.service().label()
        )
    }

    /// One collection; returns whether it succeeded.
    pub async fn collect_once(&mut self, hub: &Arc<Hub>) -> bool {
        let span = self.span();
        self.collect_inner(hub).instrument(span).await
    }

    async fn collect_inner(&mut self, hub: &Arc<Hub>) -> bool {
        let started = Instant::now();
        let result = self.collector.collect(SystemTime::now()).await;
        let up = match result {
            Ok(collected) => {
                hub.publish(
                    (self.target, self.collector.service()),
                    collected.exposition,
                )
                .await;
                self.metrics.set_tracked(collected.tracked);
                if self.failing {
                    tracing::info!("collection recovered");
                }
                self.failing = false;
                true
            }
            Err(error) => {
                // Once per streak of failures, not once per collection.
                if !self.failing {
                    tracing::warn!(%error, "collection failed; keeping the last good values");
                } else {
                    tracing::debug!(%error, "collection still failing");
                }
                self.failing = true;
                false
            }
        };
        let elapsed = started.elapsed();
        tracing::debug!(
            up,
            elapsed_seconds = elapsed.as_secs_f64(),
            "collection ended"
        );
        self.metrics
            .collection_ended(up, elapsed, unix_seconds(SystemTime::now()));
        if !self.attempted {
            self.attempted = true;
            hub.first_done.fetch_add(1, Ordering::AcqRel);
        }
        up
    }

    /// Collects every `interval` until the task is dropped. A collection that
    /// overruns the interval is followed at once by the next; they never overlap.
    pub async fn run(mut self, hub: Arc<Hub>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.collect_once(&hub).await;
        }
    }
}

/// `--once`: every unit collected once, concurrently; the exposition goes to `out`.
pub async fn collect_all_once(
    units: Vec<Unit>,
    hub: &Arc<Hub>,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let results = futures::future::join_all(
        units
            .into_iter()
            .map(|mut unit| async move { unit.collect_once(hub).await }),
    )
    .await;
    out.write_all(&hub.plain().await.collect()?)?;
    Ok(results.into_iter().all(|up| up))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::Piece;
    use crate::scrape::PLAIN_LIMIT;

    fn hub_serving(text: &[u8]) -> Hub {
        let hub = Hub::new(ExporterMetrics::new(Vec::new()).unwrap(), 1);
        let pieces: Vec<Piece> = text.chunks(1 << 20).map(Piece::compress).collect();
        *hub.prepared.write().unwrap() = Arc::new(Prepared::join(&pieces).unwrap());
        hub
    }

    #[tokio::test(start_paused = true)]
    async fn plain_scrapes_that_inflate_take_turns_but_never_wait_forever() {
        let hub = hub_serving(&vec![b'#'; PLAIN_LIMIT + 1]);
        let mut bodies = Vec::new();
        for _ in 0..INFLATING {
            bodies.push(hub.plain().await);
        }
        assert_eq!(hub.inflating.available_permits(), 0);
        // The next one waits its turn, up to PERMIT_WAIT (virtual time here).
        let waited = tokio::time::Instant::now();
        let late = hub.plain().await;
        assert_eq!(waited.elapsed(), PERMIT_WAIT);
        assert_eq!(
            late.collect().unwrap().len(),
            PLAIN_LIMIT + 1 + hub.exporter_text().len()
        );
        // A finished body gives its turn back.
        drop(bodies.pop());
        let waited = tokio::time::Instant::now();
        let _next = hub.plain().await;
        assert_eq!(waited.elapsed(), Duration::ZERO);
        assert_eq!(hub.inflating.available_permits(), 0);
    }

    #[tokio::test]
    async fn small_plain_scrapes_are_kept_text_and_take_no_turn() {
        let hub = hub_serving(b"x 1\n");
        let _body = hub.plain().await;
        assert_eq!(hub.inflating.available_permits(), INFLATING);
    }
}
