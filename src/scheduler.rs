//! Runs the collectors: one supervised background loop per (target,
//! service). A successful collection is published to the [`Store`]; the
//! exporter's own series are recorded either way.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::aws::ApiError;
use crate::collector::{unix_seconds, Collected, Collector};
use crate::self_metrics::{ExporterMetrics, ServiceMetrics};
use crate::state::{Loaded, Slot};
use crate::store::{Key, Store};

/// One (target, service) and its collector.
pub struct Unit {
    pub key: Key,
    /// Its target as the logs name it: `targets[0]`, or a discovered
    /// `discovery.organizations[<account id>/<region>]`.
    pub target: Arc<str>,
    pub region: String,
    pub collector: Box<dyn Collector>,
    pub metrics: ServiceMetrics,
    /// `--storage.path`: where this unit's state is saved.
    state: Option<Slot>,
    failing: bool,
    /// When the last successful collection started (what its state is as of).
    last_good: Option<f64>,
    /// The last save failed: the next failure is not logged again.
    save_failing: bool,
    attempted: bool,
    /// Shared by the units of one target: its credentials are missing.
    no_credentials: Arc<AtomicBool>,
}

/// How one collection ended.
enum Ended {
    Collected(Collected),
    Failed(ApiError),
    Panicked(String),
}

impl Unit {
    pub fn new(
        key: Key,
        target: Arc<str>,
        region: String,
        collector: Box<dyn Collector>,
        metrics: ServiceMetrics,
        no_credentials: Arc<AtomicBool>,
    ) -> Self {
        Unit {
            no_credentials,
            key,
            target,
            region,
            collector,
            metrics,
            state: None,
            failing: false,
            last_good: None,
            save_failing: false,
            attempted: false,
        }
    }

    /// `--storage.path`: resumes from the saved state, if there is a usable
    /// one, and saves after every successful collection. An unusable state is
    /// set aside (`.bad`) with one ERROR log, and the service starts with a baseline.
    pub fn with_state(mut self, slot: Slot) -> Self {
        let mut restored = None;
        match slot.load() {
            Loaded::Missing => {
                tracing::info!(
                    aws_service = self.key.1,
                    file = %slot.path().display(),
                    "no saved state: starting with a baseline"
                );
            }
            Loaded::Found(saved) => match self.restore(&saved.state, saved.version, saved.saved_at)
            {
                Ok(()) => {
                    tracing::info!(
                        aws_service = self.key.1,
                        file = %slot.path().display(),
                        saved_at = saved.saved_at,
                        format_version = saved.version,
                        "resumed from the saved state"
                    );
                    restored = Some((saved.saved_at, saved.bytes));
                }
                Err(why) => slot.set_aside(&why),
            },
            Loaded::Bad(why) => slot.set_aside(&why),
        }
        self.metrics.state_started(restored.is_some(), restored);
        self.state = Some(slot);
        self
    }

    fn restore(&mut self, state: &[u8], version: u64, saved_at: f64) -> Result<(), String> {
        match self.collector.kept() {
            Some(kept) => kept.restore(state, version, saved_at),
            None => Err("this collector keeps no state".into()),
        }
    }

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "collect",
            target = %self.target,
            region = %self.region,
            aws_service = self.key.1
        )
    }

    /// One collection; returns whether it succeeded.
    pub async fn collect_once(&mut self, store: &Arc<Store>) -> bool {
        let span = self.span();
        let (up, ready) = self.collect_inner(store).instrument(span).await;
        if ready {
            tracing::info!("ready: the first collection of every target and service has ended");
        }
        up
    }

    /// A panic inside the collection is a failed collection that changes
    /// nothing: nothing of it is published, the collector's state goes back
    /// to what it was before (a panic may come halfway through applying what
    /// was fetched), and the next one runs at the next interval.
    async fn supervised(&mut self, now: SystemTime) -> Ended {
        let checkpoint = self.collector.kept().map(|kept| kept.checkpoint());
        let collection = Supervised(self.collector.collect(now));
        match AssertUnwindSafe(collection).catch_unwind().await {
            Ok(Ok(collected)) => Ended::Collected(collected),
            Ok(Err(error)) => Ended::Failed(error),
            Err(payload) => {
                let panic = panic_message(payload.as_ref());
                let rolled_back = match (checkpoint, self.collector.kept()) {
                    (Some(Ok(checkpoint)), Some(kept)) => kept.rollback(&checkpoint),
                    (Some(Err(error)), _) => Err(error.to_string()),
                    _ => Ok(()),
                };
                if let Err(why) = rolled_back {
                    tracing::error!(%why, "cannot take the collector's state back to before the panic");
                }
                Ended::Panicked(panic)
            }
        }
    }

    /// Whether it succeeded, and whether it made the exporter ready.
    async fn collect_inner(&mut self, store: &Arc<Store>) -> (bool, bool) {
        crate::fault::trip("unit");
        let started = Instant::now();
        let now = SystemTime::now();
        let mut resources = None;
        let up = match self.supervised(now).await {
            Ended::Collected(collected) => {
                if !self.attempted {
                    resources = Some(resources_in(self.key.1, &collected.exposition));
                }
                self.last_good = Some(unix_seconds(now));
                // Saved before it is published: whatever a scrape shows survives a restart.
                self.save(now).await;
                store.publish(self.key.clone(), collected.exposition).await;
                crate::malloc::release_free_memory().await;
                self.metrics.set_tracked(collected.tracked);
                if self.failing {
                    tracing::info!("collection recovered");
                }
                self.failing = false;
                if self.no_credentials.swap(false, Ordering::AcqRel) {
                    tracing::info!("credentials found again for this target");
                }
                true
            }
            Ended::Failed(error) if error.credentials => {
                // Once per streak and per target: every service of the
                // target fails the same way.
                if !self.no_credentials.swap(true, Ordering::AcqRel) {
                    tracing::error!(
                        error = %error.message,
                        "no AWS credentials for this target; provide them through the standard chain \
                         (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity (IRSA), \
                         ECS or EC2 instance metadata) and check role_arn/external_id"
                    );
                } else {
                    tracing::debug!(%error, "still no credentials");
                }
                self.failing = true;
                false
            }
            Ended::Failed(error) => {
                // Once per streak of failures, not once per collection.
                if !self.failing {
                    tracing::warn!(%error, "collection failed; keeping the last good values");
                } else {
                    tracing::debug!(%error, "collection still failing");
                }
                self.failing = true;
                false
            }
            Ended::Panicked(panic) => {
                tracing::error!(%panic, "collection panicked; keeping the last good values");
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
        // The next collection starts once the scrapes show this one ended
        // (rendered in the background, within a few hundred milliseconds).
        self.metrics.shown().await;
        if !self.attempted {
            self.attempted = true;
            tracing::info!(
                up,
                resources,
                seconds = elapsed.as_secs_f64(),
                calls = self.metrics.attempts(),
                "first collection ended"
            );
            return (up, store.attempted(&self.key));
        }
        (up, false)
    }

    /// Saves the state after a successful collection that started at `now`,
    /// written straight to the file (never held whole in memory). A failure
    /// is logged once per streak; collecting and serving go on. Each save is
    /// logged at DEBUG with its size and times (what the scale benchmark
    /// reads): `seconds` in all, `sync_seconds` of it waiting for the disk
    /// (fsync, rename, fsync of the directory).
    async fn save(&mut self, now: SystemTime) {
        let Some(slot) = self.state.clone() else {
            return;
        };
        let Some(kept) = self.collector.kept() else {
            return;
        };
        let path = slot.path().display().to_string();
        let started = Instant::now();
        let saved = blocking(|| {
            crate::fault::trip("save");
            slot.save(unix_seconds(now), |out| kept.save(out))
        })
        .map(|(bytes, synced)| (unix_seconds(SystemTime::now()), bytes, synced))
        .map_err(|e| e.to_string());
        match saved {
            Ok((at, bytes, synced)) => {
                tracing::debug!(
                    file = %path,
                    bytes,
                    seconds = started.elapsed().as_secs_f64(),
                    sync_seconds = synced.as_secs_f64(),
                    "state saved"
                );
                self.metrics.state_saved(Some((at, bytes)));
                if self.save_failing {
                    tracing::info!(file = %path, "state saved again");
                }
                self.save_failing = false;
            }
            Err(error) => {
                self.metrics.state_saved(None);
                if !self.save_failing {
                    tracing::warn!(
                        file = %path,
                        %error,
                        "cannot save the state; collecting and serving go on"
                    );
                } else {
                    tracing::debug!(file = %path, %error, "state save still failing");
                }
                self.save_failing = true;
            }
        }
    }

    /// Collects every `interval` until the task is dropped. A collection that
    /// overruns the interval is followed at once by the next; they never overlap.
    ///
    /// The first collection runs at once; the second `phase` later than
    /// one interval after it, the others every interval from there (see [`phase`]).
    ///
    /// `stop` ends the loop between two collections and hands the unit back,
    /// so that a reload can carry its state over to the unit replacing it.
    pub async fn run(
        mut self,
        store: Arc<Store>,
        interval: Duration,
        phase: Duration,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) -> Unit {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return self,
                tick = ticker.tick() => {
                    if std::mem::take(&mut first) && !phase.is_zero() {
                        ticker.reset_at(tick + interval + phase);
                    }
                    self.collect_supervised(&store).await;
                }
            }
        }
    }

    /// [`Unit::collect_once`], and a panic outside the collection itself (in
    /// saving, publishing, recording) is logged once and is a failed
    /// collection: `collector_up` 0, and the unit goes on at the next interval.
    async fn collect_supervised(&mut self, store: &Arc<Store>) {
        let started = Instant::now();
        let attempt = Supervised(Box::pin(self.collect_once(store)));
        let result = AssertUnwindSafe(attempt).catch_unwind().await;
        let Err(payload) = result else {
            return;
        };
        let panic = panic_message(payload.as_ref());
        tracing::error!(
            target = %self.target,
            region = %self.region,
            aws_service = self.key.1,
            %panic,
            "collector panicked outside the collection; it goes on at the next interval"
        );
        self.failing = true;
        self.metrics
            .collection_ended(false, started.elapsed(), unix_seconds(SystemTime::now()));
        if !self.attempted {
            self.attempted = true;
            self.metrics.shown().await;
            store.attempted(&self.key);
        }
    }

    /// This unit's state and when the collection it comes from started, for
    /// the unit that replaces it; `None` before its first successful one.
    pub fn hand_over(&mut self) -> Option<(Vec<u8>, f64)> {
        let saved_at = self.last_good?;
        let state = self.collector.kept()?.saved().ok()?;
        Some((state, saved_at))
    }

    /// Takes over the state of the unit it replaces (a reload changed its
    /// settings): counters go on; what the new settings newly select gets a
    /// baseline of its own, what they no longer select is dropped.
    pub fn take_over(&mut self, state: &[u8], saved_at: f64) {
        match self.restore(state, crate::state::FORMAT_VERSION, saved_at) {
            // Handed on as it came, should the next reload stop this unit before it collects.
            Ok(()) => self.last_good = Some(saved_at),
            Err(why) => {
                tracing::warn!(
                    aws_service = self.key.1,
                    %why,
                    "cannot carry the state over the reload: starting with a baseline"
                );
            }
        }
    }
}

/// How long a supervised task that panicked waits before it starts over.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Runs the task `make` makes, and again whenever it panics: the panic is
/// logged once (ERROR, with its message and location) and the task starts
/// over [`RESTART_DELAY`] later. Ends when the task ends.
pub fn supervise<F, Fut>(task: &'static str, make: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let run = Supervised(Box::pin(make()));
            let Err(payload) = AssertUnwindSafe(run).catch_unwind().await else {
                return;
            };
            let panic = panic_message(payload.as_ref());
            tracing::error!(task, %panic, "task panicked; restarting it");
            tokio::time::sleep(RESTART_DELAY).await;
        }
    })
}

/// How much later than the interval a (target, service)'s second collection
/// runs, when the exporter has more than one target: a fixed share of up to
/// half the interval, from a hash of its identity, so that the collections of
/// many targets, which all start together, do not keep running all at once
/// (measured at 100 targets: the memory peak 3.9 MiB lower). Stable across
/// restarts and reloads; zero with one target.
pub fn phase(key: &Key, interval: Duration, targets: usize) -> Duration {
    if targets < 2 {
        return Duration::ZERO;
    }
    let identity = format!("{}\0{}", key.0, key.1);
    let share = (crate::shard::fnv1a(identity.as_bytes()) % 1024) as f64 / 2048.0;
    interval.mul_f64(share)
}

/// The resources (flows, workflows) a collection of `service` shows: the
/// series of its `*_info` families, one per resource.
fn resources_in(service: &str, exposition: &crate::exposition::Exposition) -> usize {
    crate::services::find(service).map_or(0, |def| {
        def.families
            .iter()
            .filter(|f| f.name.ends_with("_info"))
            .map(|f| exposition.series(f))
            .sum()
    })
}

/// Runs `f`, which blocks on the disk, without holding up the other tasks of
/// a multi-threaded runtime (the exporter's); inline on any other.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `--once`: every unit collected once, concurrently; the exposition goes to `out`.
pub async fn collect_all_once(
    units: Vec<Unit>,
    store: &Arc<Store>,
    exporter: &ExporterMetrics,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let results = futures::future::join_all(
        units
            .into_iter()
            .map(|mut unit| async move { unit.collect_once(store).await }),
    )
    .await;
    let mut tail = Vec::new();
    exporter.render(&mut tail);
    let body = store.current().plain(tail, None);
    out.write_all(&body.collect()?)?;
    Ok(results.into_iter().all(|up| up))
}

thread_local! {
    /// Set while a collection is being polled on this thread: its panics are
    /// reported by the supervisor, in one ERROR line, not by the panic hook.
    static SUPERVISING: Cell<bool> = const { Cell::new(false) };
    /// Where the last supervised panic on this thread happened.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Polls a collection with [`SUPERVISING`] set.
struct Supervised<F>(F);

impl<F: Future + Unpin> Future for Supervised<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Puts the flag back however the poll ends, a panic included: the
        /// thread's later panics outside supervision are reported as usual.
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                SUPERVISING.set(self.0);
            }
        }
        let _restore = Restore(SUPERVISING.replace(true));
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Keeps the default panic report for panics outside collections; inside one
/// only its location is kept, for the supervisor's log line.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if SUPERVISING.get() {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_LOCATION.set(location);
        } else {
            default(info);
        }
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    match PANIC_LOCATION.take() {
        Some(location) => format!("{message} (at {location})"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Exposition;

    /// Panics in its second collection, then works again.
    struct Flaky {
        calls: u32,
    }

    #[async_trait::async_trait]
    impl Collector for Flaky {
        async fn collect(&mut self, _now: SystemTime) -> Result<Collected, ApiError> {
            self.calls += 1;
            tokio::task::yield_now().await;
            if self.calls == 2 {
                panic!("flaky collector broke");
            }
            Ok(Collected {
                exposition: Exposition::new(&[]),
                tracked: self.calls as usize,
            })
        }
    }

    #[tokio::test]
    async fn a_panic_is_a_failed_collection_and_the_next_one_runs() {
        install_panic_hook();
        let exporter = ExporterMetrics::new(Vec::new()).unwrap();
        let metrics = exporter.for_service("appflow", "us-east-1", &Default::default());
        let key: Key = (Arc::from("us-east-1"), "appflow");
        let store = Arc::new(Store::new(vec![key.clone()]));
        let mut unit = Unit::new(
            key,
            "targets[0]".into(),
            "us-east-1".into(),
            Box::new(Flaky { calls: 0 }),
            metrics,
            Arc::default(),
        );
        assert!(unit.collect_once(&store).await);
        assert!(!unit.collect_once(&store).await, "the panic is a failure");
        assert!(unit.failing);
        let mut text = Vec::new();
        exporter.render(&mut text);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(
                "aws_flow_exporter_collector_up{aws_service=\"appflow\",region=\"us-east-1\"} 0"
            ),
            "{text}"
        );
        assert!(unit.collect_once(&store).await, "the next collection runs");
        assert!(store.ready());
    }

    /// Counts its collections.
    struct Counting(Arc<std::sync::atomic::AtomicU32>);

    #[async_trait::async_trait]
    impl Collector for Counting {
        async fn collect(&mut self, _now: SystemTime) -> Result<Collected, ApiError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Collected {
                exposition: Exposition::new(&[]),
                tracked: 0,
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_second_collection_comes_an_interval_and_the_phase_after_the_first() {
        let exporter = ExporterMetrics::new(Vec::new()).unwrap();
        let metrics = exporter.for_service("appflow", "us-east-1", &Default::default());
        let key: Key = (Arc::from("us-east-1"), "appflow");
        let store = Arc::new(Store::new(vec![key.clone()]));
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let unit = Unit::new(
            key,
            "targets[0]".into(),
            "us-east-1".into(),
            Box::new(Counting(count.clone())),
            metrics,
            Arc::default(),
        );
        let (_stop, stopped) = tokio::sync::oneshot::channel();
        let interval = Duration::from_secs(10);
        tokio::spawn(unit.run(store, interval, Duration::from_secs(3), stopped));
        let at = |seconds: f64| tokio::time::sleep(Duration::from_secs_f64(seconds));
        let collections = || count.load(Ordering::SeqCst);
        at(0.1).await;
        assert_eq!(collections(), 1, "the first at once");
        at(12.8).await; // 12.9 s
        assert_eq!(collections(), 1);
        at(0.2).await; // 13.1 s
        assert_eq!(collections(), 2, "the second at 13 s");
        at(9.8).await; // 22.9 s
        assert_eq!(collections(), 2);
        at(0.2).await; // 23.1 s
        assert_eq!(collections(), 3, "then every interval");
    }

    #[test]
    fn phases_spread_over_half_the_interval_with_several_targets_only() {
        let interval = Duration::from_secs(60);
        let keys: Vec<Key> = (0..200)
            .map(|i| (Arc::from(format!("us-east-1 a{i}").as_str()), "appflow"))
            .collect();
        let phases: Vec<Duration> = keys.iter().map(|k| phase(k, interval, 100)).collect();
        assert!(phases.iter().all(|p| *p < interval / 2));
        assert!(phases.iter().any(|p| *p < interval / 8));
        assert!(phases.iter().any(|p| *p > interval * 3 / 8));
        assert_eq!(phase(&keys[7], interval, 100), phases[7], "stable");
        assert_eq!(phase(&keys[7], interval, 1), Duration::ZERO);
    }

    #[test]
    fn panic_messages_of_both_payload_kinds() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "(no message)");
    }
}
