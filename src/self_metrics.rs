//! The exporter's own metrics (`aws_flow_exporter_*`, `process_*`), kept in
//! an owned `prometheus::Registry`.
//!
//! Targets may carry different static labels, but a metric vector has one set
//! of label names: every vector uses the union of the targets' label names,
//! and a label a target lacks is left empty and dropped when rendering.
//!
//! Scrapes get the text from [`ExporterMetrics::rendered`], which renders
//! the registry again only when one of its series changed (every change here
//! counts a generation) or when the last rendering is [`PROCESS_FRESHNESS`]
//! old: the `process_*` series change all the time and are read from /proc.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::aws::{AttemptObserver, Outcome};
use crate::sync::lock;

const API_DURATION_BUCKETS: &[f64] = &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];
/// How old the `process_*` series a scrape gets may be.
pub const PROCESS_FRESHNESS: Duration = Duration::from_secs(1);

const COLLECTION_DURATION_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The registry and the vectors behind the exporter's own series.
pub struct ExporterMetrics {
    registry: Registry,
    collector_up: GaugeVec,
    last_success: GaugeVec,
    collection_duration: HistogramVec,
    api_requests: IntCounterVec,
    api_duration: HistogramVec,
    executions_tracked: IntGaugeVec,
    /// The configuration in force: loaded, when, and its hash.
    config: ConfigMetrics,
    /// `--storage.path` only.
    state: Option<StateVecs>,
    /// Names of the target labels, in the order their values are passed.
    target_label_names: Vec<String>,
    /// Bumped after every change of a series here.
    changes: Changes,
    /// The last rendering, for [`ExporterMetrics::rendered`].
    rendered: Mutex<Option<Arc<Rendered>>>,
}

/// Counts changes of the exporter's own series (process metrics aside).
#[derive(Clone, Default)]
struct Changes(Arc<AtomicU64>);

impl Changes {
    /// Called after a change.
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// One rendering of the exporter's own series.
pub struct Rendered {
    /// A new buffer per rendering: what is made of one (the gzip tail) is
    /// known by it.
    pub text: Bytes,
    /// The change count the text includes, at least.
    changes: u64,
    at: Instant,
}

/// `aws_flow_exporter_config_*`: which configuration is in force.
struct ConfigMetrics {
    last_reload_successful: prometheus::IntGauge,
    last_success: prometheus::Gauge,
    hash: IntGaugeVec,
}

/// The `aws_flow_exporter_state_*` vectors, registered with `--storage.path` only.
#[derive(Clone)]
struct StateVecs {
    restored: IntGaugeVec,
    saves: IntCounterVec,
    last_save: GaugeVec,
    bytes: IntGaugeVec,
}

impl ExporterMetrics {
    /// `target_label_names`: the union of the static label names of all targets.
    pub fn new(target_label_names: Vec<String>) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let with = |own: &[&str]| -> Vec<String> {
            own.iter()
                .map(|s| s.to_string())
                .chain(std::iter::once("region".to_string()))
                .chain(target_label_names.iter().cloned())
                .collect()
        };

        let build_info = GaugeVec::new(
            Opts::new(
                "aws_flow_exporter_build_info",
                "A metric with a constant '1' value labeled by the exporter's version and revision.",
            ),
            &["version", "revision"],
        )?;
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("GIT_REVISION").unwrap_or("unknown"),
            ])
            .set(1.0);
        registry.register(Box::new(build_info))?;

        let svc = with(&["aws_service"]);
        let svc: Vec<&str> = svc.iter().map(String::as_str).collect();
        let collector_up = GaugeVec::new(
            Opts::new(
                "aws_flow_exporter_collector_up",
                "1 if the last collection of this service and target fully succeeded, else 0.",
            ),
            &svc,
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "aws_flow_exporter_last_collection_success_timestamp_seconds",
                "Unix time when the last successful collection of this service and target ended.",
            ),
            &svc,
        )?;
        let collection_duration = HistogramVec::new(
            HistogramOpts::new(
                "aws_flow_exporter_collection_duration_seconds",
                "Duration of collections of this service and target, failed ones included.",
            )
            .buckets(COLLECTION_DURATION_BUCKETS.to_vec()),
            &svc,
        )?;
        let executions_tracked = IntGaugeVec::new(
            Opts::new(
                "aws_flow_exporter_executions_tracked",
                "Execution ids (or workflow statuses) held in memory for de-duplication.",
            ),
            &svc,
        )?;
        let op = with(&["aws_service", "operation"]);
        let op: Vec<&str> = op.iter().map(String::as_str).collect();
        let api_duration = HistogramVec::new(
            HistogramOpts::new(
                "aws_flow_exporter_api_request_duration_seconds",
                "Duration of AWS API request attempts.",
            )
            .buckets(API_DURATION_BUCKETS.to_vec()),
            &op,
        )?;
        let outcome = with(&["aws_service", "operation", "outcome"]);
        let outcome: Vec<&str> = outcome.iter().map(String::as_str).collect();
        let api_requests = IntCounterVec::new(
            Opts::new(
                "aws_flow_exporter_api_requests_total",
                "AWS API request attempts, retries included, by outcome.",
            ),
            &outcome,
        )?;
        registry.register(Box::new(collector_up.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(collection_duration.clone()))?;
        registry.register(Box::new(executions_tracked.clone()))?;
        registry.register(Box::new(api_duration.clone()))?;
        registry.register(Box::new(api_requests.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        let config = ConfigMetrics {
            last_reload_successful: prometheus::IntGauge::new(
                "aws_flow_exporter_config_last_reload_successful",
                "1 if the last reload of the configuration file succeeded (1 at start).",
            )?,
            last_success: prometheus::Gauge::new(
                "aws_flow_exporter_config_last_reload_success_timestamp_seconds",
                "Unix time when the configuration in force was loaded.",
            )?,
            hash: IntGaugeVec::new(
                Opts::new(
                    "aws_flow_exporter_config_hash",
                    "1, with the hex SHA-256 of the configuration file in force (empty without a file).",
                ),
                &["sha256"],
            )?,
        };
        registry.register(Box::new(config.last_reload_successful.clone()))?;
        registry.register(Box::new(config.last_success.clone()))?;
        registry.register(Box::new(config.hash.clone()))?;

        Ok(ExporterMetrics {
            registry,
            config,
            collector_up,
            last_success,
            collection_duration,
            api_requests,
            api_duration,
            executions_tracked,
            state: None,
            target_label_names,
            changes: Changes::default(),
            rendered: Mutex::new(None),
        })
    }

    /// `--storage.path`: registers the `aws_flow_exporter_state_*` series.
    /// Called before [`ExporterMetrics::for_service`].
    pub fn enable_state(&mut self) -> prometheus::Result<()> {
        let with = |own: &[&str]| -> Vec<String> {
            own.iter()
                .map(|s| s.to_string())
                .chain(std::iter::once("region".to_string()))
                .chain(self.target_label_names.iter().cloned())
                .collect()
        };
        let svc = with(&["aws_service"]);
        let svc: Vec<&str> = svc.iter().map(String::as_str).collect();
        let outcome = with(&["aws_service", "outcome"]);
        let outcome: Vec<&str> = outcome.iter().map(String::as_str).collect();
        let state = StateVecs {
            restored: IntGaugeVec::new(
                Opts::new(
                    "aws_flow_exporter_state_restored",
                    "1 if the service resumed from saved state at start, 0 if it started with a baseline.",
                ),
                &svc,
            )?,
            saves: IntCounterVec::new(
                Opts::new(
                    "aws_flow_exporter_state_saves_total",
                    "Saves of the service's state to --storage.path, by outcome.",
                ),
                &outcome,
            )?,
            last_save: GaugeVec::new(
                Opts::new(
                    "aws_flow_exporter_state_last_save_timestamp_seconds",
                    "Unix time when the last successful save of the service's state ended.",
                ),
                &svc,
            )?,
            bytes: IntGaugeVec::new(
                Opts::new(
                    "aws_flow_exporter_state_bytes",
                    "Size of the service's last saved state file.",
                ),
                &svc,
            )?,
        };
        self.registry.register(Box::new(state.restored.clone()))?;
        self.registry.register(Box::new(state.saves.clone()))?;
        self.registry.register(Box::new(state.last_save.clone()))?;
        self.registry.register(Box::new(state.bytes.clone()))?;
        self.state = Some(state);
        Ok(())
    }

    /// The handle a (target, service) uses to record its own series.
    pub fn for_service(
        &self,
        service: &'static str,
        region: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> ServiceMetrics {
        let mut values = vec![region.to_string()];
        values.extend(
            self.target_label_names
                .iter()
                .map(|name| labels.get(name).cloned().unwrap_or_default()),
        );
        ServiceMetrics {
            service,
            target_values: values,
            collector_up: self.collector_up.clone(),
            last_success: self.last_success.clone(),
            collection_duration: self.collection_duration.clone(),
            api_requests: self.api_requests.clone(),
            api_duration: self.api_duration.clone(),
            executions_tracked: self.executions_tracked.clone(),
            operations: Default::default(),
            state: self.state.clone(),
            changes: self.changes.clone(),
        }
    }

    /// A configuration came into force: at start, or by a reload.
    pub fn config_loaded(&self, sha256: &str, unix_time: f64) {
        self.config.last_reload_successful.set(1);
        self.config.last_success.set(unix_time);
        self.config.hash.reset();
        self.config.hash.with_label_values(&[sha256]).set(1);
        self.changes.bump();
    }

    /// A reload was refused; the configuration in force stays.
    pub fn config_reload_failed(&self) {
        self.config.last_reload_successful.set(0);
        self.changes.bump();
    }

    /// `--shard I/N`: `shard_ordinal` and `total_shards` (absent without it).
    pub fn set_shard(&self, index: u64, total: u64) -> prometheus::Result<()> {
        let ordinal = prometheus::IntGauge::new(
            "aws_flow_exporter_shard_ordinal",
            "This replica's shard index (--shard I/N: I).",
        )?;
        let shards = prometheus::IntGauge::new(
            "aws_flow_exporter_total_shards",
            "The number of shards (--shard I/N: N).",
        )?;
        ordinal.set(index as i64);
        shards.set(total as i64);
        self.registry.register(Box::new(ordinal))?;
        let registered = self.registry.register(Box::new(shards));
        self.changes.bump();
        registered
    }

    /// Whether a target with these label names fits the registry's vectors,
    /// whose label names were fixed at start.
    pub fn fits_labels<'a>(&self, mut names: impl Iterator<Item = &'a String>) -> bool {
        names.all(|n| self.target_label_names.contains(n))
    }

    /// The text of [`ExporterMetrics::render`], rendered again only when a
    /// series changed since, or when it is [`PROCESS_FRESHNESS`] old.
    pub fn rendered(&self) -> Arc<Rendered> {
        self.rendered_at(Instant::now())
    }

    fn rendered_at(&self, now: Instant) -> Arc<Rendered> {
        // Held while rendering: scrapes arriving meanwhile wait and share it.
        let mut kept = lock(&self.rendered);
        let changes = self.changes.get();
        if let Some(last) = kept.as_ref() {
            if last.changes == changes && now.saturating_duration_since(last.at) < PROCESS_FRESHNESS
            {
                return last.clone();
            }
        }
        // Room for the series that appeared since: growing would double the buffer (at 100
        // targets the text is megabytes). Kept with its spare room: shrinking it would copy.
        let last = kept.as_ref().map_or(0, |r| r.text.len());
        let mut text = Vec::with_capacity(8 * 1024 + last + last / 16);
        self.render(&mut text);
        let rendered = Arc::new(Rendered {
            text: Bytes::from(text),
            changes,
            at: now,
        });
        *kept = Some(rendered.clone());
        rendered
    }

    /// Text exposition of the registry, with empty labels dropped.
    pub fn render(&self, out: &mut Vec<u8>) {
        let mut families = self.registry.gather();
        for family in &mut families {
            for metric in family.mut_metric() {
                let labels = metric.take_label();
                metric.set_label(
                    labels
                        .into_iter()
                        .filter(|l| !l.value().is_empty())
                        .collect(),
                );
            }
        }
        if let Err(e) = TextEncoder::new().encode(&families, out) {
            tracing::error!(error = %e, "cannot encode the exporter's own metrics");
        }
    }
}

/// Records the exporter's own series for one (target, service).
#[derive(Clone)]
pub struct ServiceMetrics {
    service: &'static str,
    /// region, then the target label values in the registry's order.
    target_values: Vec<String>,
    collector_up: GaugeVec,
    last_success: GaugeVec,
    collection_duration: HistogramVec,
    api_requests: IntCounterVec,
    api_duration: HistogramVec,
    executions_tracked: IntGaugeVec,
    /// The operations with series, so that [`ServiceMetrics::remove`] finds them.
    operations: Arc<Mutex<BTreeSet<String>>>,
    state: Option<StateVecs>,
    changes: Changes,
}

impl ServiceMetrics {
    /// Removes every series of this (target, service): it was removed from
    /// the configuration.
    pub fn remove(&self) {
        let service = self.values(&[self.service]);
        let _ = self.collector_up.remove_label_values(&service);
        let _ = self.last_success.remove_label_values(&service);
        let _ = self.collection_duration.remove_label_values(&service);
        let _ = self.executions_tracked.remove_label_values(&service);
        if let Some(state) = &self.state {
            let _ = state.restored.remove_label_values(&service);
            let _ = state.last_save.remove_label_values(&service);
            let _ = state.bytes.remove_label_values(&service);
            for outcome in ["success", "failure"] {
                let _ = state
                    .saves
                    .remove_label_values(&self.values(&[self.service, outcome]));
            }
        }
        for operation in lock(&self.operations).iter() {
            let _ = self
                .api_duration
                .remove_label_values(&self.values(&[self.service, operation]));
            for outcome in Outcome::ALL {
                let _ = self.api_requests.remove_label_values(&self.values(&[
                    self.service,
                    operation,
                    outcome.label(),
                ]));
            }
        }
        self.changes.bump();
    }

    fn values<'a>(&'a self, own: &[&'a str]) -> Vec<&'a str> {
        own.iter()
            .copied()
            .chain(self.target_values.iter().map(String::as_str))
            .collect()
    }

    /// The `api_requests_total` series of `operations` at 0, every outcome,
    /// so that dashboards show 0 rather than "No data".
    pub fn known_operations(&self, operations: &[&'static str]) {
        for operation in operations {
            lock(&self.operations).insert(operation.to_string());
            for outcome in Outcome::ALL {
                self.api_requests
                    .with_label_values(&self.values(&[self.service, operation, outcome.label()]))
                    .inc_by(0);
            }
        }
        self.changes.bump();
    }

    /// One AWS API attempt and how it ended.
    pub fn api_attempt(&self, operation: &str, outcome: Outcome, elapsed: Duration) {
        let service = self.service;
        if !lock(&self.operations).contains(operation) {
            lock(&self.operations).insert(operation.to_string());
        }
        self.api_requests
            .with_label_values(&self.values(&[service, operation, outcome.label()]))
            .inc();
        self.api_duration
            .with_label_values(&self.values(&[service, operation]))
            .observe(elapsed.as_secs_f64());
        self.changes.bump();
    }

    /// The end of a collection, successful or not.
    pub fn collection_ended(&self, up: bool, elapsed: Duration, end_unix: f64) {
        let values = self.values(&[self.service]);
        self.collector_up
            .with_label_values(&values)
            .set(if up { 1.0 } else { 0.0 });
        if up {
            self.last_success.with_label_values(&values).set(end_unix);
        }
        self.collection_duration
            .with_label_values(&values)
            .observe(elapsed.as_secs_f64());
        self.changes.bump();
    }

    /// `--storage.path`: whether the service resumed from a saved state; the
    /// saves counter of both outcomes at 0. `saved`: (time, size) of the file resumed from.
    pub fn state_started(&self, restored: bool, saved: Option<(f64, u64)>) {
        let Some(state) = &self.state else { return };
        let values = self.values(&[self.service]);
        state
            .restored
            .with_label_values(&values)
            .set(i64::from(restored));
        for outcome in ["success", "failure"] {
            state
                .saves
                .with_label_values(&self.values(&[self.service, outcome]))
                .inc_by(0);
        }
        if let Some((at, bytes)) = saved {
            state.last_save.with_label_values(&values).set(at);
            state.bytes.with_label_values(&values).set(bytes as i64);
        }
        self.changes.bump();
    }

    /// One save of the state: its size and end time when it succeeded.
    pub fn state_saved(&self, saved: Option<(f64, u64)>) {
        let Some(state) = &self.state else { return };
        let outcome = if saved.is_some() {
            "success"
        } else {
            "failure"
        };
        state
            .saves
            .with_label_values(&self.values(&[self.service, outcome]))
            .inc();
        if let Some((at, bytes)) = saved {
            let values = self.values(&[self.service]);
            state.last_save.with_label_values(&values).set(at);
            state.bytes.with_label_values(&values).set(bytes as i64);
        }
        self.changes.bump();
    }

    pub fn set_tracked(&self, tracked: usize) {
        self.executions_tracked
            .with_label_values(&self.values(&[self.service]))
            .set(tracked as i64);
        self.changes.bump();
    }
}

impl AttemptObserver for ServiceMetrics {
    fn attempt(&self, operation: &'static str, outcome: Outcome, elapsed: Duration) {
        self.api_attempt(operation, outcome, elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> (ExporterMetrics, ServiceMetrics) {
        let exporter = ExporterMetrics::new(vec!["account".into()]).unwrap();
        let labels = [("account".to_string(), "a".to_string())].into();
        let service = exporter.for_service("appflow", "us-east-1", &labels);
        (exporter, service)
    }

    #[test]
    fn the_rendering_is_kept_until_a_series_changes() {
        let (exporter, service) = metrics();
        let now = Instant::now();
        let first = exporter.rendered_at(now);
        let again = exporter.rendered_at(now + Duration::from_millis(500));
        assert!(Arc::ptr_eq(&first, &again));
        service.api_attempt("ListFlows", Outcome::Success, Duration::from_millis(20));
        let changed = exporter.rendered_at(now + Duration::from_millis(600));
        assert!(!Arc::ptr_eq(&first, &changed));
        let text = String::from_utf8_lossy(&changed.text).to_string();
        assert!(
            text.contains("aws_flow_exporter_api_requests_total{account=\"a\",aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"success\",region=\"us-east-1\"} 1"),
            "{text}"
        );
        // The same text as a direct rendering.
        let mut direct = Vec::new();
        exporter.render(&mut direct);
        let strip = |t: &[u8]| {
            String::from_utf8_lossy(t)
                .lines()
                .filter(|l| !l.starts_with("process_"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&direct), strip(&changed.text));
        // Every kind of change is seen.
        let changes: Vec<Box<dyn Fn()>> = vec![
            Box::new(|| service.collection_ended(true, Duration::from_secs(1), 1.0)),
            Box::new(|| service.set_tracked(3)),
            Box::new(|| service.known_operations(&["DescribeFlow"])),
            Box::new(|| exporter.config_loaded("abc", 2.0)),
            Box::new(|| exporter.config_reload_failed()),
            Box::new(|| service.remove()),
        ];
        for change in changes {
            let before = exporter.rendered_at(now + Duration::from_millis(700));
            change();
            let after = exporter.rendered_at(now + Duration::from_millis(700));
            assert!(!Arc::ptr_eq(&before, &after));
        }
    }

    #[test]
    fn process_metrics_are_at_most_a_second_old() {
        let (exporter, _service) = metrics();
        let now = Instant::now();
        let first = exporter.rendered_at(now);
        let later = now + PROCESS_FRESHNESS - Duration::from_millis(1);
        assert!(Arc::ptr_eq(&first, &exporter.rendered_at(later)));
        let stale = exporter.rendered_at(now + PROCESS_FRESHNESS);
        assert!(!Arc::ptr_eq(&first, &stale));
        assert!(Arc::ptr_eq(
            &stale,
            &exporter.rendered_at(now + PROCESS_FRESHNESS)
        ));
    }
}
