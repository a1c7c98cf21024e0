//! The exporter's own metrics (`aws_flow_exporter_*`, `process_*`).
//!
//! Each (target, service) keeps its series as plain numbers ([`UnitSeries`]),
//! and they are written as text directly: at 100 targets the `prometheus`
//! crate's vectors held some 6 MB of label strings and descriptors, and each
//! rendering gathered another few megabytes of copies. That crate still
//! provides the `process_*` series.
//!
//! Targets may carry different static labels, but a family has one set of
//! label names: every family uses the union of the targets' label names, a
//! label a target lacks is empty and is dropped when written. Series are
//! written as the `prometheus` crate wrote them: families by name, label
//! names sorted, series by their label values.
//!
//! Scrapes take the latest rendering from [`ExporterMetrics::rendered`] and
//! never render: a background task ([`ExporterMetrics::keep_rendered`])
//! renders and compresses in two parts. The series of the (target, service)s
//! and the global ones (megabytes at 100 targets) are rendered again when one
//! of them changed (every change here counts a generation), at most once per
//! [`ExporterMetrics::gap`]; the `process_*` series (a few hundred bytes,
//! read from /proc) every [`PROCESS_FRESHNESS`].

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{Encoder, Registry, TextEncoder};

use crate::aws::{AttemptObserver, Outcome};
use crate::exposition::body::{Own, OwnWriter};
use crate::exposition::Histogram;
use crate::sync::lock;

mod documented;
pub(crate) use documented::{documented, OwnFamilyDoc};

static API_DURATION_BUCKETS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];
/// How old the `process_*` series a scrape gets may be.
pub const PROCESS_FRESHNESS: Duration = Duration::from_secs(1);
/// The series change all the time while collections run: they are rendered
/// again at most this often, and never spend more than a tenth of a core.
const MIN_GAP: Duration = Duration::from_millis(100);
/// How long a collection's end or a reload waits for a rendering that shows
/// it, at most.
const SHOWN_WAIT: Duration = Duration::from_secs(2);

static COLLECTION_DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// One family of the exporter's own series: name, type and help, as data.
struct OwnFamily {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

macro_rules! own {
    ($ident:ident, $name:literal, $kind:literal, $help:literal) => {
        static $ident: OwnFamily = OwnFamily {
            name: $name,
            kind: $kind,
            help: $help,
        };
    };
}

own!(
    API_DURATION,
    "aws_flow_exporter_api_request_duration_seconds",
    "histogram",
    "Duration of AWS API request attempts."
);
own!(
    API_REQUESTS,
    "aws_flow_exporter_api_requests_total",
    "counter",
    "AWS API request attempts, retries included, by outcome."
);
own!(
    BUILD_INFO,
    "aws_flow_exporter_build_info",
    "gauge",
    "A metric with a constant '1' value labeled by the exporter's version and revision."
);
own!(
    COLLECTION_DURATION,
    "aws_flow_exporter_collection_duration_seconds",
    "histogram",
    "Duration of collections of this service and target, failed ones included."
);
own!(
    COLLECTOR_UP,
    "aws_flow_exporter_collector_up",
    "gauge",
    "1 if the last collection of this service and target fully succeeded, else 0."
);
own!(
    CONFIG_HASH,
    "aws_flow_exporter_config_hash",
    "gauge",
    "1, with the hex SHA-256 of the configuration file in force (empty without a file)."
);
own!(
    CONFIG_SUCCESS_TIME,
    "aws_flow_exporter_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time when the configuration in force was loaded."
);
own!(
    CONFIG_SUCCESSFUL,
    "aws_flow_exporter_config_last_reload_successful",
    "gauge",
    "1 if the last reload of the configuration file succeeded (1 at start)."
);
own!(
    TRACKED,
    "aws_flow_exporter_executions_tracked",
    "gauge",
    "Execution ids (or workflow statuses) held in memory for de-duplication."
);
own!(
    LAST_SUCCESS,
    "aws_flow_exporter_last_collection_success_timestamp_seconds",
    "gauge",
    "Unix time when the last successful collection of this service and target ended."
);
own!(
    SHARD_ORDINAL,
    "aws_flow_exporter_shard_ordinal",
    "gauge",
    "This replica's shard index (--shard I/N: I)."
);
own!(
    STATE_BYTES,
    "aws_flow_exporter_state_bytes",
    "gauge",
    "Size of the service's last saved state file."
);
own!(
    STATE_LAST_SAVE,
    "aws_flow_exporter_state_last_save_timestamp_seconds",
    "gauge",
    "Unix time when the last successful save of the service's state ended."
);
own!(
    STATE_RESTORED,
    "aws_flow_exporter_state_restored",
    "gauge",
    "1 if the service resumed from saved state at start, 0 if it started with a baseline."
);
own!(
    STATE_SAVES,
    "aws_flow_exporter_state_saves_total",
    "counter",
    "Saves of the service's state to --storage.path, by outcome."
);
own!(
    TOTAL_SHARDS,
    "aws_flow_exporter_total_shards",
    "gauge",
    "The number of shards (--shard I/N: N)."
);

const SAVE_OUTCOMES: [&str; 2] = ["success", "failure"];

/// The exporter's own series, and the last rendering of them.
pub struct ExporterMetrics {
    /// `process_*` only.
    process: Registry,
    /// Names of the target labels, in the order their values are passed.
    target_label_names: Vec<String>,
    /// `--storage.path`: the `aws_flow_exporter_state_*` series exist.
    state: bool,
    global: Mutex<Global>,
    /// Every (target, service) with series, by (service, target label values).
    units: Units,
    /// Bumped after every change of a series here; holds the latest rendering.
    changes: Changes,
    /// Held while rendering: one rendering at a time.
    rendering: Mutex<()>,
}

/// (service, region then the target label values in `target_label_names` order).
type UnitKey = (&'static str, Vec<String>);

type Units = Arc<Mutex<BTreeMap<UnitKey, Arc<Mutex<UnitSeries>>>>>;

/// The series that are not per (target, service).
#[derive(Clone)]
struct Global {
    config_successful: i64,
    config_success_time: f64,
    config_hash: Option<String>,
    /// `--shard I/N`: (I, N).
    shard: Option<(u64, u64)>,
}

/// The series of one (target, service); None: the series does not exist yet.
#[derive(Clone, Default)]
struct UnitSeries {
    up: Option<f64>,
    last_success: Option<f64>,
    collection_duration: Option<Histogram>,
    tracked: Option<i64>,
    /// By operation name (the SDK's, static): nothing allocated per name.
    operations: BTreeMap<&'static str, Operation>,
    restored: Option<i64>,
    /// success, failure (the order of `SAVE_OUTCOMES`).
    saves: [Option<u64>; 2],
    last_save: Option<f64>,
    bytes: Option<i64>,
}

#[derive(Clone, Default)]
struct Operation {
    /// By outcome, in the order of `Outcome::ALL`.
    requests: [Option<u64>; 6],
    duration: Option<Histogram>,
}

/// Counts changes of the exporter's own series (process metrics aside),
/// wakes the renderer, and holds the latest rendering.
#[derive(Clone)]
struct Changes(Arc<Shared>);

struct Shared {
    count: AtomicU64,
    wake: tokio::sync::Notify,
    /// A scrape holds its lock only to clone the `Arc`.
    latest: tokio::sync::watch::Sender<Arc<Rendered>>,
    /// [`ExporterMetrics::keep_rendered`] runs: waiting for it makes sense.
    renderer: AtomicBool,
}

impl Changes {
    fn new(first: Rendered) -> Self {
        Changes(Arc::new(Shared {
            count: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            latest: tokio::sync::watch::Sender::new(Arc::new(first)),
            renderer: AtomicBool::new(false),
        }))
    }

    /// Called after a change.
    fn bump(&self) {
        self.0.count.fetch_add(1, Ordering::Release);
        self.0.wake.notify_one();
    }

    fn get(&self) -> u64 {
        self.0.count.load(Ordering::Acquire)
    }

    fn latest(&self) -> Arc<Rendered> {
        self.0.latest.borrow().clone()
    }

    /// Waits (at most [`SHOWN_WAIT`]) until a rendering shows every change
    /// made so far; at once when no renderer runs.
    async fn shown(&self) {
        if !self.0.renderer.load(Ordering::Acquire) {
            return;
        }
        let changes = self.get();
        let mut latest = self.0.latest.subscribe();
        let shown = latest.wait_for(|r| r.changes >= changes);
        let _ = tokio::time::timeout(SHOWN_WAIT, shown).await;
    }
}

/// One rendering of the exporter's own series.
pub struct Rendered {
    /// The series of the (target, service)s and the global ones, then the
    /// `process_*` series: each compressed as it was written (at 100 targets
    /// the first is some 3 MB of text). A new `Arc` per rendering of a part:
    /// what is made of them (the gzip tail) is known by them.
    pub parts: [Arc<Own>; 2],
    /// The change count the first part includes, at least.
    changes: u64,
    /// When the first part was rendered, and how long that took.
    units_at: Instant,
    units_took: Duration,
    /// When the `process_*` part was rendered.
    process_at: Instant,
}

impl ExporterMetrics {
    /// `target_label_names`: the union of the static label names of all targets.
    pub fn new(target_label_names: Vec<String>) -> prometheus::Result<Self> {
        let process = Registry::new();
        #[cfg(target_os = "linux")]
        process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let now = Instant::now();
        let empty = Arc::new(Own::default());
        let metrics = ExporterMetrics {
            process,
            target_label_names,
            state: false,
            global: Mutex::new(Global {
                config_successful: 0,
                config_success_time: 0.0,
                config_hash: None,
                shard: None,
            }),
            units: Units::default(),
            // Stands for no rendering: it shows no change, and is as old as can be.
            changes: Changes::new(Rendered {
                parts: [empty.clone(), empty],
                changes: 0,
                units_at: now,
                units_took: Duration::ZERO,
                process_at: now,
            }),
            rendering: Mutex::new(()),
        };
        metrics.render_parts(now, true, true);
        Ok(metrics)
    }

    /// `--storage.path`: the `aws_flow_exporter_state_*` series exist.
    /// Called before [`ExporterMetrics::for_service`].
    pub fn enable_state(&mut self) -> prometheus::Result<()> {
        self.state = true;
        Ok(())
    }

    /// The handle a (target, service) uses to record its own series. Handles
    /// for the same (target, service) share its series, as a reload that
    /// rebuilds a collector keeps its counters.
    pub fn for_service(
        &self,
        service: &'static str,
        region: &str,
        labels: &BTreeMap<String, String>,
    ) -> ServiceMetrics {
        let mut values = vec![region.to_string()];
        values.extend(
            self.target_label_names
                .iter()
                .map(|name| labels.get(name).cloned().unwrap_or_default()),
        );
        let key = (service, values);
        let series = lock(&self.units).entry(key.clone()).or_default().clone();
        ServiceMetrics {
            key: Arc::new(key),
            series,
            units: self.units.clone(),
            state: self.state,
            changes: self.changes.clone(),
            pooled: None,
        }
    }

    /// A configuration came into force: at start, or by a reload.
    pub fn config_loaded(&self, sha256: &str, unix_time: f64) {
        let mut global = lock(&self.global);
        global.config_successful = 1;
        global.config_success_time = unix_time;
        global.config_hash = Some(sha256.to_string());
        self.changes.bump();
    }

    /// A reload was refused; the configuration in force stays.
    pub fn config_reload_failed(&self) {
        lock(&self.global).config_successful = 0;
        self.changes.bump();
    }

    /// `--shard I/N`: `shard_ordinal` and `total_shards` (absent without it).
    pub fn set_shard(&self, index: u64, total: u64) -> prometheus::Result<()> {
        lock(&self.global).shard = Some((index, total));
        self.changes.bump();
        Ok(())
    }

    /// Whether a target with these label names fits the families, whose
    /// label names were fixed at start.
    pub fn fits_labels<'a>(&self, mut names: impl Iterator<Item = &'a String>) -> bool {
        names.all(|n| self.target_label_names.contains(n))
    }

    /// The latest rendering of [`ExporterMetrics::render`], in parts: what a
    /// scrape sends. Never renders, never waits for a rendering.
    pub fn rendered(&self) -> Arc<Rendered> {
        self.changes.latest()
    }

    /// Keeps [`ExporterMetrics::rendered`] current, until the task is
    /// dropped: renders off the async workers whatever is due.
    pub fn keep_rendered(self: Arc<Self>) -> impl std::future::Future<Output = ()> + Send {
        self.expect_renderer();
        self.render_when_due()
    }

    /// A renderer ([`ExporterMetrics::keep_rendered`]) runs, or is about to:
    /// [`ExporterMetrics::shown`] waits for it from now on.
    pub fn expect_renderer(&self) {
        self.changes.0.renderer.store(true, Ordering::Release);
    }

    async fn render_when_due(self: Arc<Self>) {
        loop {
            crate::fault::trip("renderer");
            let last = self.rendered();
            let process_due = last.process_at + PROCESS_FRESHNESS;
            if last.changes == self.changes.get() {
                tokio::select! {
                    () = self.changes.0.wake.notified() => continue,
                    () = tokio::time::sleep_until(process_due.into()) => {}
                }
            } else {
                let units_due = last.units_at + Self::gap(last.units_took);
                tokio::time::sleep_until(units_due.min(process_due).into()).await;
            }
            let this = self.clone();
            let rendered = tokio::task::spawn_blocking(move || this.refresh_at(Instant::now()));
            if let Err(error) = rendered.await {
                tracing::error!(%error, "rendering the exporter's own series failed");
                tokio::time::sleep(PROCESS_FRESHNESS).await;
            }
        }
    }

    /// The least time between two renderings of the (target, service)s'
    /// series: [`MIN_GAP`], or ten times what the last one took.
    fn gap(took: Duration) -> Duration {
        MIN_GAP.max(took * 10)
    }

    /// Waits (at most a couple of seconds) until the latest rendering shows
    /// every change made so far: what a collection's end or a reload changed
    /// is then in the scrapes that follow.
    pub async fn shown(&self) {
        self.changes.shown().await;
    }

    /// Renders what is due now, here: at start, so that the first scrape
    /// shows what was set up before serving.
    pub fn render_now(&self) {
        self.refresh_at(Instant::now());
    }

    /// Renders what is due at `now`: the (target, service)s' series if one
    /// changed, the `process_*` ones if they are [`PROCESS_FRESHNESS`] old.
    fn refresh_at(&self, now: Instant) -> Arc<Rendered> {
        let last = self.rendered();
        let units = last.changes != self.changes.get();
        let process = now.saturating_duration_since(last.process_at) >= PROCESS_FRESHNESS;
        self.render_parts(now, units, process)
    }

    /// Renders the parts asked for, keeps the others, and makes the result the latest.
    fn render_parts(&self, now: Instant, units: bool, process: bool) -> Arc<Rendered> {
        let _turn = lock(&self.rendering);
        let last = self.rendered();
        if !units && !process {
            return last;
        }
        let [mut units_part, mut process_part] = last.parts.clone();
        let (mut changes, mut units_at, mut units_took) =
            (last.changes, last.units_at, last.units_took);
        if units {
            // Read before rendering: the text shows this many changes at least.
            changes = self.changes.get();
            let mut own = OwnWriter::after(Some(&last.parts[0]));
            let mut text = Vec::with_capacity(2 * SPILL);
            self.render_units(&mut text, &mut |text: &mut Vec<u8>| {
                // Writing into memory cannot fail.
                let _ = own.write_all(text);
                text.clear();
            });
            units_part = Arc::new(own.finish());
            units_at = now;
            units_took = now.elapsed();
        }
        let mut process_at = last.process_at;
        if units || process {
            let mut text = Vec::new();
            self.render_process(&mut text);
            let mut own = OwnWriter::default();
            let _ = own.write_all(&text);
            process_part = Arc::new(own.finish());
            process_at = now;
        }
        let rendered = Arc::new(Rendered {
            parts: [units_part, process_part],
            changes,
            units_at,
            units_took,
            process_at,
        });
        self.changes.0.latest.send_replace(rendered.clone());
        rendered
    }

    /// The text exposition of every own series, `process_*` last.
    pub fn render(&self, out: &mut Vec<u8>) {
        self.render_units(out, &mut |_| {});
        self.render_process(out);
    }

    fn render_process(&self, out: &mut Vec<u8>) {
        if let Err(e) = TextEncoder::new().encode(&self.process.gather(), out) {
            tracing::error!(error = %e, "cannot encode the process metrics");
        }
    }

    /// The series but `process_*`, handing the text to `spill` whenever
    /// [`SPILL`] bytes are written, and at the end.
    fn render_units(&self, out: &mut Vec<u8>, spill: &mut dyn FnMut(&mut Vec<u8>)) {
        // Copied out one lock at a time (some 1 KB a unit), so that recording an
        // attempt never waits for the writing and compressing of megabytes.
        let units: Vec<(UnitKey, Arc<Mutex<UnitSeries>>)> = lock(&self.units)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let copies: Vec<(UnitKey, UnitSeries)> = units
            .into_iter()
            .map(|(k, u)| {
                let copy = lock(&u).clone();
                (k, copy)
            })
            .collect();
        let units: Vec<(&UnitKey, &UnitSeries)> = copies.iter().map(|(k, u)| (k, u)).collect();
        let global = lock(&self.global).clone();
        let mut w = Writer {
            out,
            spill,
            names: &self.target_label_names,
        };
        w.per_operation(
            &API_DURATION,
            &units,
            |op, _| op.duration.as_ref().map(Value::Histogram),
            false,
        );
        w.per_operation(
            &API_REQUESTS,
            &units,
            |op, i| op.requests[i].map(|n| Value::Number(n as f64)),
            true,
        );
        w.family(
            &BUILD_INFO,
            &["revision", "version"],
            vec![Line {
                own: [
                    option_env!("GIT_REVISION").unwrap_or("unknown"),
                    env!("CARGO_PKG_VERSION"),
                ],
                unit: None,
                value: Value::Number(1.0),
            }],
        );
        w.per_unit(&COLLECTION_DURATION, &units, |u| {
            u.collection_duration.as_ref().map(Value::Histogram)
        });
        w.per_unit(&COLLECTOR_UP, &units, |u| u.up.map(Value::Number));
        if let Some(hash) = &global.config_hash {
            w.family(
                &CONFIG_HASH,
                &["sha256"],
                vec![Line {
                    own: [hash, ""],
                    unit: None,
                    value: Value::Number(1.0),
                }],
            );
        }
        w.single(&CONFIG_SUCCESS_TIME, global.config_success_time);
        w.single(&CONFIG_SUCCESSFUL, global.config_successful as f64);
        w.per_unit(&TRACKED, &units, |u| {
            u.tracked.map(|n| Value::Number(n as f64))
        });
        w.per_unit(&LAST_SUCCESS, &units, |u| u.last_success.map(Value::Number));
        if let Some((index, _)) = global.shard {
            w.single(&SHARD_ORDINAL, index as f64);
        }
        if self.state {
            w.per_unit(&STATE_BYTES, &units, |u| {
                u.bytes.map(|n| Value::Number(n as f64))
            });
            w.per_unit(&STATE_LAST_SAVE, &units, |u| u.last_save.map(Value::Number));
            w.per_unit(&STATE_RESTORED, &units, |u| {
                u.restored.map(|n| Value::Number(n as f64))
            });
            w.per_save_outcome(&STATE_SAVES, &units);
        }
        if let Some((_, total)) = global.shard {
            w.single(&TOTAL_SHARDS, total as f64);
        }
        (w.spill)(w.out);
    }
}

/// What one series shows.
enum Value<'a> {
    Number(f64),
    Histogram(&'a Histogram),
}

/// One series: the values of its family's own labels (in the order of the
/// names given with them), the (target, service) whose `aws_service`, `region`
/// and target labels it carries, if any, and its value. Every series of a
/// family has the same label names, so they are sorted once per family, not
/// gathered per series.
struct Line<'a> {
    own: [&'a str; 2],
    unit: Option<&'a UnitKey>,
    value: Value<'a>,
}

/// Where a label of a family takes its value from.
#[derive(Clone, Copy)]
enum Source {
    Own(usize),
    Service,
    Region,
    Target(usize),
}

impl Source {
    fn value<'a>(self, line: &Line<'a>) -> &'a str {
        match (self, line.unit) {
            (Source::Own(i), _) => line.own[i],
            (Source::Service, Some(key)) => key.0,
            (Source::Region, Some(key)) => key.1.first().map_or("", String::as_str),
            (Source::Target(i), Some(key)) => key.1.get(1 + i).map_or("", String::as_str),
            (_, None) => "",
        }
    }
}

/// Text is handed on in pieces of about this size.
const SPILL: usize = 64 * 1024;

/// Writes families in the text format, as the `prometheus` crate did.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    spill: &'a mut dyn FnMut(&mut Vec<u8>),
    names: &'a [String],
}

impl<'a> Writer<'a> {
    fn per_unit(
        &mut self,
        family: &OwnFamily,
        units: &[(&UnitKey, &UnitSeries)],
        value: impl for<'u> Fn(&'u UnitSeries) -> Option<Value<'u>>,
    ) {
        let lines = units
            .iter()
            .filter_map(|(key, u)| {
                Some(Line {
                    own: ["", ""],
                    unit: Some(key),
                    value: value(u)?,
                })
            })
            .collect();
        self.family(family, &[], lines);
    }

    fn per_operation(
        &mut self,
        family: &OwnFamily,
        units: &[(&UnitKey, &UnitSeries)],
        value: impl for<'u> Fn(&'u Operation, usize) -> Option<Value<'u>>,
        by_outcome: bool,
    ) {
        let mut lines = Vec::new();
        for (key, u) in units {
            for (name, op) in &u.operations {
                if by_outcome {
                    for (i, outcome) in Outcome::ALL.iter().enumerate() {
                        if let Some(v) = value(op, i) {
                            lines.push(Line {
                                own: [name, outcome.label()],
                                unit: Some(key),
                                value: v,
                            });
                        }
                    }
                } else if let Some(v) = value(op, 0) {
                    lines.push(Line {
                        own: [name, ""],
                        unit: Some(key),
                        value: v,
                    });
                }
            }
        }
        let own: &[&str] = if by_outcome {
            &["operation", "outcome"]
        } else {
            &["operation"]
        };
        self.family(family, own, lines);
    }

    fn per_save_outcome(&mut self, family: &OwnFamily, units: &[(&UnitKey, &UnitSeries)]) {
        let mut lines = Vec::new();
        for (key, u) in units {
            for (outcome, n) in SAVE_OUTCOMES.iter().zip(u.saves) {
                if let Some(n) = n {
                    lines.push(Line {
                        own: [outcome, ""],
                        unit: Some(key),
                        value: Value::Number(n as f64),
                    });
                }
            }
        }
        self.family(family, &["outcome"], lines);
    }

    fn single(&mut self, family: &OwnFamily, value: f64) {
        self.family(
            family,
            &[],
            vec![Line {
                own: ["", ""],
                unit: None,
                value: Value::Number(value),
            }],
        );
    }

    /// A family with its series (none: not written), label names sorted and
    /// series ordered by their label values.
    fn family(&mut self, family: &OwnFamily, own: &[&str], mut lines: Vec<Line<'_>>) {
        if lines.is_empty() {
            return;
        }
        let unit = lines.iter().any(|l| l.unit.is_some());
        let shape = shape(own, unit, self.names);
        lines.sort_by(|a, b| {
            let values = |line| shape.iter().map(move |(_, source)| source.value(line));
            values(a).cmp(values(b))
        });
        let out = &mut *self.out;
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(family.name.as_bytes());
        out.push(b' ');
        push_escaped(out, family.help, false);
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(family.name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(family.kind.as_bytes());
        out.push(b'\n');
        // One buffer for every series' labels.
        let mut labels = Vec::with_capacity(shape.len());
        for line in &lines {
            if out.len() >= SPILL {
                (self.spill)(out);
            }
            labels.clear();
            labels.extend(
                shape
                    .iter()
                    .map(|(name, source)| (*name, source.value(line))),
            );
            let labels = labels.as_slice();
            match line.value {
                Value::Number(v) => sample(out, family.name, "", labels, None, v),
                Value::Histogram(h) => {
                    let mut cumulative = 0;
                    for (bound, count) in h.bounds().iter().zip(h.counts()) {
                        cumulative += count;
                        let le = bound.to_string();
                        sample(
                            out,
                            family.name,
                            "_bucket",
                            labels,
                            Some(&le),
                            cumulative as f64,
                        );
                    }
                    sample(
                        out,
                        family.name,
                        "_bucket",
                        labels,
                        Some("+Inf"),
                        h.count() as f64,
                    );
                    sample(out, family.name, "_sum", labels, None, h.sum());
                    sample(out, family.name, "_count", labels, None, h.count() as f64);
                }
            }
        }
    }
}

/// A family's label names, sorted, with where each takes its value: `own`,
/// then, for series of a (target, service), its service, region and the target's.
fn shape<'n>(own: &[&'n str], unit: bool, names: &'n [String]) -> Vec<(&'n str, Source)> {
    let mut labels: Vec<(&str, Source)> = own
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, Source::Own(i)))
        .collect();
    if unit {
        labels.push(("aws_service", Source::Service));
        labels.push(("region", Source::Region));
        let targets = names.iter().enumerate();
        labels.extend(targets.map(|(i, n)| (n.as_str(), Source::Target(i))));
    }
    labels.sort_unstable_by_key(|(name, _)| *name);
    labels
}

/// One sample line; labels with an empty value are left out.
fn sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    value: f64,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    let mut separator = b'{';
    let labels = labels.iter().filter(|(_, v)| !v.is_empty()).copied();
    for (label, v) in labels.chain(le.map(|le| ("le", le))) {
        out.push(separator);
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(b"=\"");
        push_escaped(out, v, true);
        out.push(b'"');
        separator = b',';
    }
    if separator == b',' {
        out.push(b'}');
    }
    out.push(b' ');
    out.extend_from_slice(value.to_string().as_bytes());
    out.push(b'\n');
}

/// Backslash and newline escaped, and the double quote in label values.
fn push_escaped(out: &mut Vec<u8>, text: &str, quote: bool) {
    for c in text.bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            c => out.push(c),
        }
    }
}

/// Records the exporter's own series for one (target, service).
#[derive(Clone)]
pub struct ServiceMetrics {
    key: Arc<UnitKey>,
    series: Arc<Mutex<UnitSeries>>,
    /// The exporter's, to leave it.
    units: Units,
    state: bool,
    changes: Changes,
    /// (v4) A discovered target's: where its collection durations are summed
    /// (per region and discovery labels); its API attempts go there through
    /// the caller's observer.
    pooled: Option<Box<ServiceMetrics>>,
}

impl ServiceMetrics {
    /// (v4) This (discovered) target's collection durations are observed in
    /// `pooled` instead of a histogram of its own.
    pub fn pooled_in(mut self, pooled: ServiceMetrics) -> ServiceMetrics {
        self.pooled = Some(Box::new(pooled));
        self
    }

    fn update(&self, change: impl FnOnce(&mut UnitSeries)) {
        change(&mut lock(&self.series));
        self.changes.bump();
    }

    /// Removes every series of this (target, service): it was removed from
    /// the configuration.
    pub fn remove(&self) {
        let mut units = lock(&self.units);
        if units
            .get(&*self.key)
            .is_some_and(|s| Arc::ptr_eq(s, &self.series))
        {
            units.remove(&*self.key);
        }
        drop(units);
        self.update(|u| *u = UnitSeries::default());
    }

    /// The `api_requests_total` series of `operations` at 0, every outcome,
    /// so that dashboards show 0 rather than "No data".
    pub fn known_operations(&self, operations: &[&'static str]) {
        self.update(|u| {
            for operation in operations {
                let op = u.operations.entry(operation).or_default();
                for n in &mut op.requests {
                    n.get_or_insert(0);
                }
            }
        });
    }

    /// One AWS API attempt and how it ended.
    pub fn api_attempt(&self, operation: &'static str, outcome: Outcome, elapsed: Duration) {
        self.update(|u| {
            let op = u.operations.entry(operation).or_default();
            let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
            *op.requests[i].get_or_insert(0) += 1;
            op.duration
                .get_or_insert_with(|| Histogram::new(&API_DURATION_BUCKETS))
                .observe(elapsed.as_secs_f64());
        });
    }

    /// The end of a collection, successful or not.
    pub fn collection_ended(&self, up: bool, elapsed: Duration, end_unix: f64) {
        if let Some(pooled) = &self.pooled {
            pooled.update(|u| {
                u.collection_duration
                    .get_or_insert_with(|| Histogram::new(&COLLECTION_DURATION_BUCKETS))
                    .observe(elapsed.as_secs_f64());
            });
        }
        self.update(|u| {
            u.up = Some(if up { 1.0 } else { 0.0 });
            if up {
                u.last_success = Some(end_unix);
            }
            if self.pooled.is_some() {
                return;
            }
            u.collection_duration
                .get_or_insert_with(|| Histogram::new(&COLLECTION_DURATION_BUCKETS))
                .observe(elapsed.as_secs_f64());
        });
    }

    /// `--storage.path`: whether the service resumed from a saved state; the
    /// saves counter of both outcomes at 0. `saved`: (time, size) of the file resumed from.
    pub fn state_started(&self, restored: bool, saved: Option<(f64, u64)>) {
        if !self.state {
            return;
        }
        self.update(|u| {
            u.restored = Some(i64::from(restored));
            for n in &mut u.saves {
                n.get_or_insert(0);
            }
            if let Some((at, bytes)) = saved {
                u.last_save = Some(at);
                u.bytes = Some(bytes as i64);
            }
        });
    }

    /// One save of the state: its size and end time when it succeeded.
    pub fn state_saved(&self, saved: Option<(f64, u64)>) {
        if !self.state {
            return;
        }
        self.update(|u| {
            let i = usize::from(saved.is_none());
            *u.saves[i].get_or_insert(0) += 1;
            if let Some((at, bytes)) = saved {
                u.last_save = Some(at);
                u.bytes = Some(bytes as i64);
            }
        });
    }

    /// AWS API attempts so far, every operation and outcome.
    pub fn attempts(&self) -> u64 {
        let series = lock(&self.series);
        let requests = series.operations.values().flat_map(|op| op.requests);
        requests.flatten().sum()
    }

    /// See [`ExporterMetrics::shown`].
    pub async fn shown(&self) {
        self.changes.shown().await;
    }

    pub fn set_tracked(&self, tracked: usize) {
        self.update(|u| u.tracked = Some(tracked as i64));
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

    /// The text without the `process_*` series, which change between renderings.
    fn without_process(text: &[u8]) -> String {
        String::from_utf8_lossy(text)
            .lines()
            .filter(|l| !l.starts_with("process_") && !l.contains(" process_"))
            .collect::<Vec<_>>()
            .join("\n")
    }

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
        let first = exporter.refresh_at(now);
        let again = exporter.refresh_at(now + Duration::from_millis(500));
        assert!(Arc::ptr_eq(&first, &again));
        service.api_attempt("ListFlows", Outcome::Success, Duration::from_millis(20));
        let changed = exporter.refresh_at(now + Duration::from_millis(600));
        assert!(!Arc::ptr_eq(&first, &changed));
        let text = String::from_utf8_lossy(&changed.parts[0].text().unwrap()).to_string();
        assert!(
            text.contains("aws_flow_exporter_api_requests_total{account=\"a\",aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"success\",region=\"us-east-1\"} 1"),
            "{text}"
        );
        // The same text as a direct rendering.
        let mut direct = Vec::new();
        exporter.render(&mut direct);
        assert_eq!(
            without_process(&direct),
            without_process(&changed.parts[0].text().unwrap())
        );
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
            let before = exporter.refresh_at(now + Duration::from_millis(700));
            change();
            let after = exporter.refresh_at(now + Duration::from_millis(700));
            assert!(!Arc::ptr_eq(&before, &after));
        }
    }

    #[test]
    fn process_metrics_are_at_most_a_second_old() {
        let (exporter, _service) = metrics();
        let now = Instant::now();
        let first = exporter.render_parts(now, false, true);
        let later = now + PROCESS_FRESHNESS - Duration::from_millis(1);
        assert!(Arc::ptr_eq(&first, &exporter.refresh_at(later)));
        let stale = exporter.refresh_at(now + PROCESS_FRESHNESS);
        assert!(!Arc::ptr_eq(&first, &stale));
        // Only the process part was rendered again.
        assert!(Arc::ptr_eq(&first.parts[0], &stale.parts[0]));
        assert!(!Arc::ptr_eq(&first.parts[1], &stale.parts[1]));
        assert!(Arc::ptr_eq(
            &stale,
            &exporter.refresh_at(now + PROCESS_FRESHNESS)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_renderer_keeps_the_rendering_current_and_scrapes_never_wait_for_it() {
        let (exporter, service) = metrics();
        let exporter = Arc::new(exporter);
        let renderer = tokio::spawn(exporter.clone().keep_rendered());
        let series = "aws_flow_exporter_api_requests_total{account=\"a\",aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"success\",region=\"us-east-1\"} 1";
        let text = |r: &Rendered| String::from_utf8_lossy(&r.parts[0].text().unwrap()).to_string();
        service.api_attempt("ListFlows", Outcome::Success, Duration::from_millis(20));
        // While a rendering is under way, a scrape takes the last one at once.
        let turn = lock(&exporter.rendering);
        let during = exporter.rendered();
        assert!(!text(&during).contains(series));
        drop(turn);
        // What a collection's end waits for: a rendering that shows its changes.
        service.shown().await;
        assert!(text(&exporter.rendered()).contains(series));
        // Unchanged series are not rendered again; the process part is, every second.
        let shown = exporter.rendered();
        tokio::time::sleep(PROCESS_FRESHNESS + Duration::from_millis(500)).await;
        let later = exporter.rendered();
        assert!(Arc::ptr_eq(&shown.parts[0], &later.parts[0]));
        assert!(!Arc::ptr_eq(&shown.parts[1], &later.parts[1]));
        renderer.abort();
    }

    #[test]
    fn many_targets_render_compressed_as_they_are_written_to_the_same_text() {
        let exporter = ExporterMetrics::new(vec!["account".into()]).unwrap();
        for i in 0..400 {
            let labels = [("account".to_string(), format!("a{i:04}"))].into();
            let service = exporter.for_service("appflow", "us-east-1", &labels);
            service.known_operations(&["ListFlows", "DescribeFlowExecutionRecords"]);
            service.api_attempt("ListFlows", Outcome::Success, Duration::from_millis(20));
            service.collection_ended(true, Duration::from_secs(1), 1.0);
        }
        let rendered = exporter.refresh_at(Instant::now());
        let text = rendered.parts[0].text().unwrap();
        assert!(
            text.len() > crate::exposition::body::OWN_TEXT_LIMIT,
            "{}",
            text.len()
        );
        let mut direct = Vec::new();
        exporter.render(&mut direct);
        assert_eq!(without_process(&direct), without_process(&text));
        assert!(without_process(&text).contains(
            "aws_flow_exporter_api_requests_total{account=\"a0399\",aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"success\",region=\"us-east-1\"} 1"
        ));
    }
}
