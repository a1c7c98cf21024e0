//! Amazon AppFlow: every `aws_appflow_*` series is computed here.
//!
//! Cost in steady state: ListFlows pages, plus one DescribeFlowExecutionRecords
//! call for each flow whose `lastRunExecutionDetails` changed or that has an
//! execution in progress, plus DescribeFlow for SAP OData flows that changed.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use super::{
    elapsed, family, fetch_all, max_opt, selected, unix_seconds, Collected, Collector, Service,
};
use crate::aws::appflow::{AppFlowApi, FlowSummary, Record, SapODataLimits};
use crate::aws::ApiError;
use crate::config::NameFilter;
use crate::metrics::exposition::{Exposition, Histogram};

const FLOW_STATUSES: &[&str] = &[
    "Active",
    "Deprecated",
    "Deleted",
    "Draft",
    "Errored",
    "Suspended",
];
const EXECUTION_STATUSES: &[&str] = &[
    "InProgress",
    "Successful",
    "Error",
    "CancelStarted",
    "Canceled",
];
const TERMINAL: &[&str] = &["Successful", "Error", "Canceled"];
const RUNNING: &[&str] = &["InProgress", "CancelStarted"];
/// A flow's history longer than this many pages is a broken endpoint.
const MAX_RECORD_PAGES: usize = 1_000;
/// AppFlow runs last from seconds to hours.
static DURATION_BUCKETS: [f64; 13] = [
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0,
];

family!(
    INFO,
    "aws_appflow_flow_info",
    Gauge,
    "Information about an AppFlow flow; always 1."
);
family!(
    STATUS,
    "aws_appflow_flow_status",
    Gauge,
    "The flow's status, one series per state (1 = current)."
);
family!(
    LAST_STATUS,
    "aws_appflow_flow_last_execution_status",
    Gauge,
    "Status of the flow's newest execution, one series per state (1 = current)."
);
family!(
    LAST_START,
    "aws_appflow_flow_last_execution_start_timestamp_seconds",
    Gauge,
    "Start time of the flow's newest execution."
);
family!(
    LAST_SUCCESS,
    "aws_appflow_flow_last_success_timestamp_seconds",
    Gauge,
    "lastUpdatedAt of the newest Successful execution seen."
);
family!(
    LAST_FAILURE,
    "aws_appflow_flow_last_failure_timestamp_seconds",
    Gauge,
    "lastUpdatedAt of the newest Error execution seen."
);
family!(
    IN_PROGRESS,
    "aws_appflow_flow_executions_in_progress",
    Gauge,
    "Executions in InProgress or CancelStarted."
);
family!(
    LAST_BYTES,
    "aws_appflow_last_execution_processed_bytes",
    Gauge,
    "Bytes processed by the newest finished execution."
);
family!(
    LAST_WRITTEN,
    "aws_appflow_last_execution_written_bytes",
    Gauge,
    "Bytes written by the newest finished execution."
);
family!(
    LAST_RECORDS,
    "aws_appflow_last_execution_processed_records",
    Gauge,
    "Records processed by the newest finished execution."
);
family!(
    LAST_PUT_FAILURES,
    "aws_appflow_last_execution_put_failures",
    Gauge,
    "Put failures of the newest finished execution (0 without errorInfo)."
);
family!(
    LAST_PARALLEL,
    "aws_appflow_last_execution_parallel_processes",
    Gauge,
    "Parallel processes used by the newest finished execution."
);
family!(
    LAST_PAGE_SIZE,
    "aws_appflow_last_execution_max_page_size",
    Gauge,
    "Maximum page size used by the newest finished execution."
);
family!(
    LAST_DURATION,
    "aws_appflow_last_execution_duration_seconds",
    Gauge,
    "lastUpdatedAt - startedAt of the newest finished execution."
);
family!(
    EXECUTIONS,
    "aws_appflow_executions_total",
    Counter,
    "Executions seen reaching a terminal status."
);
family!(
    BYTES,
    "aws_appflow_processed_bytes_total",
    Counter,
    "Bytes processed by counted executions."
);
family!(
    WRITTEN,
    "aws_appflow_written_bytes_total",
    Counter,
    "Bytes written by counted executions."
);
family!(
    RECORDS,
    "aws_appflow_processed_records_total",
    Counter,
    "Records processed by counted executions."
);
family!(
    PUT_FAILURES,
    "aws_appflow_put_failures_total",
    Counter,
    "Put failures of counted executions."
);
family!(
    DURATION,
    "aws_appflow_execution_duration_seconds",
    Histogram,
    "Durations (lastUpdatedAt - startedAt) of counted executions."
);
family!(
    MAX_PARALLELISM,
    "aws_appflow_flow_configured_max_parallelism",
    Gauge,
    "SAP OData parallelismConfig.maxParallelism of the flow."
);
family!(
    MAX_PAGE_SIZE,
    "aws_appflow_flow_configured_max_page_size",
    Gauge,
    "SAP OData paginationConfig.maxPageSize of the flow."
);
family!(
    REGISTRATIONS,
    "aws_appflow_catalog_registrations_total",
    Counter,
    "Glue Data Catalog registration outcomes of counted executions."
);

/// The AppFlow collector of one target.
pub struct AppFlowCollector<A> {
    api: A,
    filter: NameFilter,
    lookback: Duration,
    concurrency: usize,
    base_labels: Vec<(String, String)>,
    state: State,
}

#[derive(Default)]
struct State {
    /// Set by the first successful collection: until then nothing is counted.
    baselined: bool,
    /// Boxed: B-tree nodes are partly empty, and a flow is some 700 bytes.
    flows: BTreeMap<String, Box<Flow>>,
}

/// What the exporter remembers of one flow.
#[derive(Default)]
struct Flow {
    summary: FlowSummary,
    /// From DescribeFlow, and the flow's lastUpdatedAt when it was read.
    sap: Option<SapODataLimits>,
    described: Option<Option<f64>>,
    /// Executions within the lookback, by id fingerprint (see [`Seen`]).
    seen: Vec<Seen>,
    /// (start, id) of the newest execution seen: ties between equal starts go
    /// to the greater id, which fingerprints cannot order.
    newest: Option<(f64, Box<str>)>,
    newest_finished: Option<LastRun>,
    last_success: Option<f64>,
    last_failure: Option<f64>,
    counters: Counters,
}

/// One execution within the lookback: 24 bytes where the id alone (a UUID)
/// would take 36 plus a map entry; 10,000 flows with a day of hourly runs
/// make a quarter of a million of these.
#[derive(Clone, Debug)]
struct Seen {
    /// [`fingerprint`] of the execution id: a flow has at most a few thousand
    /// runs in the lookback, so a 64-bit hash tells them apart.
    id: u64,
    started_at: f64,
    status: Status,
}

/// An execution status: a known one as its index in `EXECUTION_STATUSES`,
/// anything AWS adds later as text.
#[derive(Clone, Debug, PartialEq)]
enum Status {
    Known(u8),
    Other(Box<str>),
}

impl Status {
    fn new(status: &str) -> Status {
        match EXECUTION_STATUSES.iter().position(|s| *s == status) {
            Some(i) => Status::Known(i as u8),
            None => Status::Other(status.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Status::Known(i) => EXECUTION_STATUSES[usize::from(*i)],
            Status::Other(s) => s,
        }
    }
}

/// FNV-1a of an execution id.
fn fingerprint(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Clone, Debug)]
struct Counters {
    /// Successful, Error, Canceled (the order of `TERMINAL`).
    executions: [u64; 3],
    bytes_processed: u64,
    bytes_written: u64,
    records: u64,
    put_failures: u64,
    duration: Histogram,
    /// Sorted by (kind, status); a vector, since most flows have none.
    registrations: Vec<((&'static str, String), u64)>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            executions: [0; 3],
            bytes_processed: 0,
            bytes_written: 0,
            records: 0,
            put_failures: 0,
            duration: Histogram::new(&DURATION_BUCKETS),
            registrations: Vec::new(),
        }
    }
}

/// What one collection fetched for a listed flow.
#[derive(Default)]
struct Fetched {
    /// The flow vanished between ListFlows and a describe.
    gone: bool,
    /// Some when DescribeFlow was called.
    sap: Option<SapODataLimits>,
    /// Some when execution records were read.
    runs: Option<Runs>,
}

/// A flow's fetched execution records, reduced as soon as they arrive to what
/// [`Flow::absorb`] needs: a first collection of 10,000 flows would otherwise
/// hold well over 100,000 full records until it applies them.
#[derive(Default)]
struct Runs {
    /// Every execution in the lookback, one per id.
    seen: Vec<Seen>,
    /// (start, id) of the newest of them.
    newest: Option<(f64, Box<str>)>,
    newest_finished: Option<LastRun>,
    last_success: Option<f64>,
    last_failure: Option<f64>,
    /// Terminal now and not known terminal before: to be counted (none at the baseline).
    newly_terminal: Vec<Record>,
}

impl Runs {
    /// `known` is the flow as the state remembers it, `count` whether this
    /// collection counts (it is not the baseline).
    fn digest(mut records: Vec<Record>, known: Option<&Flow>, cutoff: f64, count: bool) -> Runs {
        // AppFlow promises no order: newest first by (start, id), one per id.
        records.sort_by(|a, b| {
            let key = |r: &Record| (start(r).unwrap_or(f64::MIN), r.id.clone());
            key(b)
                .partial_cmp(&key(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut ids = HashSet::new();
        records.retain(|r| ids.insert(r.id.clone()));
        let mut runs = Runs::default();
        for record in records {
            let Some(started_at) = start(&record).filter(|s| *s >= cutoff) else {
                continue;
            };
            if runs.newest.is_none() {
                runs.newest = Some((started_at, record.id.as_str().into()));
            }
            let id = fingerprint(&record.id);
            runs.seen.push(Seen {
                id,
                started_at,
                status: Status::new(&record.status),
            });
            if !is_terminal(&record.status) {
                continue;
            }
            let ended = record.last_updated_at;
            match record.status.as_str() {
                "Successful" => runs.last_success = max_opt(runs.last_success, ended),
                "Error" => runs.last_failure = max_opt(runs.last_failure, ended),
                _ => {}
            }
            if runs.newest_finished.is_none() {
                runs.newest_finished = Some(LastRun::new(&record, started_at));
            }
            let was_terminal = known.is_some_and(|k| {
                k.seen
                    .iter()
                    .any(|s| s.id == id && is_terminal(s.status.as_str()))
            });
            if count && !was_terminal {
                runs.newly_terminal.push(record);
            }
        }
        runs
    }
}

/// The newest finished execution: what its gauges show, and its (start, id) to order it.
#[derive(Clone, Debug)]
struct LastRun {
    id: Box<str>,
    started_at: f64,
    duration: Option<f64>,
    bytes_processed: Option<i64>,
    bytes_written: Option<i64>,
    records_processed: Option<i64>,
    put_failures: Option<i64>,
    parallel_processes: Option<i64>,
    max_page_size: Option<i64>,
}

impl LastRun {
    fn new(r: &Record, started_at: f64) -> LastRun {
        LastRun {
            id: r.id.as_str().into(),
            started_at,
            duration: duration(r),
            bytes_processed: r.bytes_processed,
            bytes_written: r.bytes_written,
            records_processed: r.records_processed,
            put_failures: r.put_failures,
            parallel_processes: r.parallel_processes,
            max_page_size: r.max_page_size,
        }
    }

    fn key(&self) -> (f64, &str) {
        (self.started_at, &self.id)
    }
}

/// When an execution started: startedAt, else lastUpdatedAt.
fn start(r: &Record) -> Option<f64> {
    r.started_at.or(r.last_updated_at)
}

fn is_terminal(status: &str) -> bool {
    TERMINAL.contains(&status)
}

fn is_sapodata(summary: &FlowSummary) -> bool {
    summary.source_connector.as_deref() == Some("SAPOData")
}

impl<A: AppFlowApi> AppFlowCollector<A> {
    pub fn new(
        api: A,
        filter: NameFilter,
        lookback: Duration,
        concurrency: usize,
        base_labels: Vec<(String, String)>,
    ) -> Self {
        AppFlowCollector {
            api,
            filter,
            lookback,
            concurrency: concurrency.max(1),
            base_labels,
            state: State::default(),
        }
    }

    /// The remembered flow this listing describes, unless it was re-created.
    fn known(&self, summary: &FlowSummary) -> Option<&Flow> {
        self.state
            .flows
            .get(&summary.name)
            .map(|f| &**f)
            .filter(|f| f.summary.created_at == summary.created_at)
    }

    async fn fetch(&self, summary: &FlowSummary, cutoff: f64) -> Result<Fetched, ApiError> {
        let known = self.known(summary);
        let mut fetched = Fetched::default();
        let changed = known.is_none_or(|k| k.described != Some(summary.last_updated_at));
        if is_sapodata(summary) && changed {
            match self.api.describe_flow(&summary.name).await? {
                Some(sap) => fetched.sap = Some(sap),
                None => {
                    fetched.gone = true;
                    return Ok(fetched);
                }
            }
        }
        let running: HashSet<u64> = known
            .map(|k| {
                k.seen
                    .iter()
                    .filter(|s| !is_terminal(s.status.as_str()))
                    .map(|s| s.id)
                    .collect()
            })
            .unwrap_or_default();
        let needs_records = match known {
            None => true,
            Some(k) => k.summary.last_run != summary.last_run || !running.is_empty(),
        };
        if !needs_records {
            return Ok(fetched);
        }
        // Page back until a whole page is older than what is already known
        // terminal (or than the lookback), and every running execution is found.
        let frontier = known
            .and_then(|k| {
                k.seen
                    .iter()
                    .filter(|s| is_terminal(s.status.as_str()))
                    .map(|s| s.started_at)
                    .reduce(f64::max)
            })
            .unwrap_or(cutoff)
            .max(cutoff);
        let mut pending = running;
        let mut records = Vec::new();
        let mut token = None;
        for _ in 0..MAX_RECORD_PAGES {
            let Some(page) = self.api.execution_records(&summary.name, token).await? else {
                fetched.gone = true;
                return Ok(fetched);
            };
            let start = |r: &Record| start(r).unwrap_or(f64::MIN);
            let older_than_frontier = page.records.iter().all(|r| start(r) < frontier);
            let older_than_lookback = page.records.iter().all(|r| start(r) < cutoff);
            for r in &page.records {
                pending.remove(&fingerprint(&r.id));
            }
            records.extend(page.records);
            token = page.next_token;
            if token.is_none() || older_than_lookback || (older_than_frontier && pending.is_empty())
            {
                break;
            }
        }
        fetched.runs = Some(Runs::digest(records, known, cutoff, self.state.baselined));
        Ok(fetched)
    }

    /// Applies a fully fetched collection to the state. Cannot fail.
    fn apply(&mut self, listed: Vec<FlowSummary>, mut fetched: Vec<Fetched>, cutoff: f64) {
        let mut flows = BTreeMap::new();
        for (summary, fetched) in listed.into_iter().zip(fetched.drain(..)) {
            if fetched.gone {
                continue;
            }
            let mut flow = match self.state.flows.remove(&summary.name) {
                Some(f) if f.summary.created_at == summary.created_at => f,
                _ => Box::default(),
            };
            if let Some(sap) = fetched.sap {
                flow.sap = Some(sap);
                flow.described = Some(summary.last_updated_at);
            } else if !is_sapodata(&summary) {
                flow.sap = None;
                flow.described = None;
            }
            if let Some(runs) = fetched.runs {
                flow.absorb(&summary.name, runs);
            }
            flow.forget_before(cutoff);
            flow.summary = summary;
            flows.insert(flow.summary.name.clone(), flow);
        }
        self.state.flows = flows;
        self.state.baselined = true;
    }

    fn render(&self) -> Exposition {
        let mut e = Exposition::new(&self.base_labels);
        for (name, flow) in &self.state.flows {
            flow.render(name, &mut e);
        }
        e
    }
}

impl Flow {
    /// Takes in a collection's runs: counts those newly terminal, and updates
    /// what the gauges show.
    fn absorb(&mut self, flow_name: &str, runs: Runs) {
        for seen in runs.seen {
            match self.seen.iter_mut().find(|s| s.id == seen.id) {
                Some(known) => *known = seen,
                None => self.seen.push(seen),
            }
        }
        if let Some((t, id)) = runs.newest {
            let newer = self
                .newest
                .as_ref()
                .is_none_or(|(nt, nid)| (t, &*id) >= (*nt, &**nid));
            if newer {
                self.newest = Some((t, id));
            }
        }
        if let Some(last) = runs.newest_finished {
            let newer = self
                .newest_finished
                .as_ref()
                .is_none_or(|n| last.key() >= n.key());
            if newer {
                self.newest_finished = Some(last);
            }
        }
        self.last_success = max_opt(self.last_success, runs.last_success);
        self.last_failure = max_opt(self.last_failure, runs.last_failure);
        for record in &runs.newly_terminal {
            self.count(flow_name, record);
        }
    }

    fn count(&mut self, flow_name: &str, r: &Record) {
        let c = &mut self.counters;
        if let Some(i) = TERMINAL.iter().position(|s| *s == r.status) {
            c.executions[i] += 1;
        }
        let non_negative = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        c.bytes_processed += non_negative(r.bytes_processed);
        c.bytes_written += non_negative(r.bytes_written);
        c.records += non_negative(r.records_processed);
        c.put_failures += non_negative(r.put_failures);
        if let Some(d) = duration(r) {
            c.duration.observe(d);
        }
        for (kind, status) in &r.registrations {
            let key = (*kind, status.clone());
            match c.registrations.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => c.registrations[i].1 += 1,
                Err(i) => c.registrations.insert(i, (key, 1)),
            }
        }
        if r.status == "Error" {
            tracing::warn!(
                flow_name,
                execution_id = %r.id,
                message = r.message.as_deref().unwrap_or(""),
                "AppFlow execution failed"
            );
        }
    }

    /// Executions that left the lookback are forgotten, so memory stays bounded.
    fn forget_before(&mut self, cutoff: f64) {
        self.seen.retain(|s| s.started_at >= cutoff);
        self.seen.shrink_to_fit();
        // The newest has the latest start: when it leaves, every other one has.
        if self.newest.as_ref().is_some_and(|(t, _)| *t < cutoff) {
            self.newest = None;
        }
        if self
            .newest_finished
            .as_ref()
            .is_some_and(|n| n.started_at < cutoff)
        {
            self.newest_finished = None;
        }
    }

    fn render(&self, name: &str, e: &mut Exposition) {
        let s = &self.summary;
        let flow = [("flow_name", name)];
        e.sample(
            &INFO,
            &[
                ("flow_name", name),
                (
                    "source_connector",
                    s.source_connector.as_deref().unwrap_or(""),
                ),
                (
                    "source_connector_label",
                    s.source_connector_label.as_deref().unwrap_or(""),
                ),
                (
                    "destination_connector",
                    s.destination_connector.as_deref().unwrap_or(""),
                ),
                (
                    "destination_connector_label",
                    s.destination_connector_label.as_deref().unwrap_or(""),
                ),
                ("trigger_type", s.trigger_type.as_deref().unwrap_or("")),
            ],
            1.0,
        );
        e.state_set(&STATUS, &flow, FLOW_STATUSES, s.status.as_deref());
        let newest = self.newest.as_ref().and_then(|(_, id)| {
            let id = fingerprint(id);
            self.seen.iter().find(|s| s.id == id)
        });
        if let Some(newest) = newest {
            e.state_set(
                &LAST_STATUS,
                &flow,
                EXECUTION_STATUSES,
                Some(newest.status.as_str()),
            );
            e.sample(&LAST_START, &flow, newest.started_at);
        }
        if let Some(t) = self.last_success {
            e.sample(&LAST_SUCCESS, &flow, t);
        }
        if let Some(t) = self.last_failure {
            e.sample(&LAST_FAILURE, &flow, t);
        }
        let running = self
            .seen
            .iter()
            .filter(|s| RUNNING.contains(&s.status.as_str()))
            .count();
        e.sample(&IN_PROGRESS, &flow, running as f64);
        if let Some(r) = &self.newest_finished {
            let gauges = [
                (&LAST_BYTES, r.bytes_processed),
                (&LAST_WRITTEN, r.bytes_written),
                (&LAST_RECORDS, r.records_processed),
                (&LAST_PUT_FAILURES, Some(r.put_failures.unwrap_or(0))),
                (&LAST_PARALLEL, r.parallel_processes),
                (&LAST_PAGE_SIZE, r.max_page_size),
            ];
            for (family, value) in gauges {
                if let Some(v) = value {
                    e.sample(family, &flow, v as f64);
                }
            }
            if let Some(d) = r.duration {
                e.sample(&LAST_DURATION, &flow, d);
            }
        }
        let c = &self.counters;
        for (status, n) in TERMINAL.iter().zip(c.executions) {
            e.sample(
                &EXECUTIONS,
                &[("flow_name", name), ("status", status)],
                n as f64,
            );
        }
        e.sample(&BYTES, &flow, c.bytes_processed as f64);
        e.sample(&WRITTEN, &flow, c.bytes_written as f64);
        e.sample(&RECORDS, &flow, c.records as f64);
        e.sample(&PUT_FAILURES, &flow, c.put_failures as f64);
        e.histogram(&DURATION, &flow, &c.duration);
        if let Some(sap) = &self.sap {
            if let Some(v) = sap.max_parallelism {
                e.sample(&MAX_PARALLELISM, &flow, v as f64);
            }
            if let Some(v) = sap.max_page_size {
                e.sample(&MAX_PAGE_SIZE, &flow, v as f64);
            }
        }
        for ((kind, status), n) in &c.registrations {
            e.sample(
                &REGISTRATIONS,
                &[("flow_name", name), ("kind", kind), ("status", status)],
                *n as f64,
            );
        }
    }
}

/// lastUpdatedAt - startedAt, when AWS gave both and they make sense.
fn duration(r: &Record) -> Option<f64> {
    elapsed(r.started_at, r.last_updated_at)
}

#[async_trait::async_trait]
impl<A: AppFlowApi + 'static> Collector for AppFlowCollector<A> {
    fn service(&self) -> Service {
        Service::AppFlow
    }

    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError> {
        let cutoff = unix_seconds(now) - self.lookback.as_secs_f64();
        let listed = selected(self.api.list_flows().await?, &self.filter, |f| &f.name);
        // By index: a closure taking a reference trips async-trait's Send inference.
        let fetches = (0..listed.len()).map(|i| self.fetch(&listed[i], cutoff));
        let fetched: Vec<Fetched> = fetch_all(fetches, self.concurrency).await?;
        self.apply(listed, fetched, cutoff);
        let tracked = self.state.flows.values().map(|f| f.seen.len()).sum();
        Ok(Collected {
            exposition: self.render(),
            tracked,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::aws::appflow::RecordsPage;
    use crate::aws::Outcome;
    use crate::collectors::fake_error;

    const NOW: f64 = 1_700_000_000.0;

    /// AppFlow in memory: flows, their records (any order), pages of `page` records.
    #[derive(Default)]
    struct Fake {
        flows: Mutex<Vec<FlowSummary>>,
        records: Mutex<HashMap<String, Vec<Record>>>,
        page: usize,
        calls: Mutex<Vec<String>>,
        fail_records: Mutex<bool>,
    }

    impl AppFlowApi for Arc<Fake> {
        async fn list_flows(&self) -> Result<Vec<FlowSummary>, ApiError> {
            self.calls.lock().unwrap().push("ListFlows".into());
            Ok(self.flows.lock().unwrap().clone())
        }
        async fn describe_flow(&self, name: &str) -> Result<Option<SapODataLimits>, ApiError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("DescribeFlow {name}"));
            Ok(Some(SapODataLimits {
                max_parallelism: Some(4),
                max_page_size: None,
            }))
        }
        async fn execution_records(
            &self,
            name: &str,
            token: Option<String>,
        ) -> Result<Option<RecordsPage>, ApiError> {
            self.calls.lock().unwrap().push(format!("Records {name}"));
            if *self.fail_records.lock().unwrap() {
                return Err(fake_error(
                    "DescribeFlowExecutionRecords",
                    Outcome::ServerError,
                    "InternalServerException",
                ));
            }
            let records = self.records.lock().unwrap();
            let Some(all) = records.get(name) else {
                return Ok(None);
            };
            let start: usize = token.map(|t| t.parse().unwrap()).unwrap_or(0);
            let end = (start + self.page).min(all.len());
            Ok(Some(RecordsPage {
                records: all[start..end].to_vec(),
                next_token: (end < all.len()).then(|| end.to_string()),
            }))
        }
    }

    fn flow(name: &str) -> FlowSummary {
        FlowSummary {
            name: name.into(),
            status: Some("Active".into()),
            source_connector: Some("S3".into()),
            destination_connector: Some("Redshift".into()),
            trigger_type: Some("Scheduled".into()),
            created_at: Some(1.0),
            ..FlowSummary::default()
        }
    }

    fn run(id: &str, status: &str, started: f64) -> Record {
        Record {
            id: id.into(),
            status: status.into(),
            started_at: Some(started),
            last_updated_at: Some(started + 60.0),
            bytes_processed: Some(100),
            bytes_written: Some(90),
            records_processed: Some(10),
            parallel_processes: Some(2),
            max_page_size: Some(500),
            ..Record::default()
        }
    }

    impl Fake {
        fn new(page: usize) -> Self {
            Fake {
                page,
                ..Fake::default()
            }
        }
        /// Sets a flow's records (newest first) and its lastRunExecutionDetails.
        fn set(&self, name: &str, records: Vec<Record>) {
            let last = records
                .first()
                .map(|r| (Some(r.status.clone()), r.last_updated_at));
            let mut flows = self.flows.lock().unwrap();
            match flows.iter_mut().find(|f| f.name == name) {
                Some(f) => f.last_run = last,
                None => flows.push(FlowSummary {
                    last_run: last,
                    ..flow(name)
                }),
            }
            self.records.lock().unwrap().insert(name.into(), records);
        }
        fn shared(page: usize) -> Arc<Self> {
            Arc::new(Fake::new(page))
        }
        fn take_calls(&self) -> Vec<String> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    fn collector(fake: &Arc<Fake>) -> AppFlowCollector<Arc<Fake>> {
        AppFlowCollector::new(
            fake.clone(),
            NameFilter::default(),
            Duration::from_secs(7 * 86400),
            4,
            vec![("region".into(), "us-east-1".into())],
        )
    }

    async fn collect(c: &mut AppFlowCollector<Arc<Fake>>) -> String {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
        let collected = c.collect(at).await.expect("collection");
        let mut out = String::new();
        crate::metrics::exposition::render([&collected.exposition], &mut out);
        out
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map(|v| v.parse().unwrap())
    }

    const OK: &str =
        "aws_appflow_executions_total{flow_name=\"f\",status=\"Successful\",region=\"us-east-1\"}";
    const ERR: &str =
        "aws_appflow_executions_total{flow_name=\"f\",status=\"Error\",region=\"us-east-1\"}";

    #[tokio::test]
    async fn baseline_counts_nothing_then_each_execution_once() {
        let fake = Fake::shared(100);
        fake.set(
            "f",
            vec![
                run("b", "Successful", NOW - 100.0),
                run("a", "Error", NOW - 200.0),
            ],
        );
        let mut c = collector(&fake);
        let text = collect(&mut c).await;
        assert_eq!(value(&text, OK), Some(0.0));
        assert_eq!(value(&text, ERR), Some(0.0));
        assert_eq!(
            value(
                &text,
                "aws_appflow_processed_bytes_total{flow_name=\"f\",region=\"us-east-1\"}"
            ),
            Some(0.0)
        );
        assert!(text.contains(
            "aws_appflow_execution_duration_seconds_count{flow_name=\"f\",region=\"us-east-1\"} 0"
        ));
        // Gauges are filled from history at the baseline.
        assert_eq!(value(&text, "aws_appflow_flow_last_success_timestamp_seconds{flow_name=\"f\",region=\"us-east-1\"}"), Some(NOW - 40.0));
        assert_eq!(value(&text, "aws_appflow_flow_last_failure_timestamp_seconds{flow_name=\"f\",region=\"us-east-1\"}"), Some(NOW - 140.0));

        fake.set(
            "f",
            vec![
                run("c", "Successful", NOW - 50.0),
                run("b", "Successful", NOW - 100.0),
                run("a", "Error", NOW - 200.0),
            ],
        );
        for _ in 0..3 {
            let text = collect(&mut c).await;
            assert_eq!(value(&text, OK), Some(1.0));
            assert_eq!(value(&text, ERR), Some(0.0));
            assert_eq!(
                value(
                    &text,
                    "aws_appflow_processed_bytes_total{flow_name=\"f\",region=\"us-east-1\"}"
                ),
                Some(100.0)
            );
        }
    }

    #[tokio::test]
    async fn in_progress_is_followed_until_it_fails_and_counted_once() {
        let fake = Fake::shared(1);
        fake.set("f", vec![run("a", "Successful", NOW - 500.0)]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        fake.set(
            "f",
            vec![
                run("b", "InProgress", NOW - 100.0),
                run("a", "Successful", NOW - 500.0),
            ],
        );
        let text = collect(&mut c).await;
        assert_eq!(
            value(
                &text,
                "aws_appflow_flow_executions_in_progress{flow_name=\"f\",region=\"us-east-1\"}"
            ),
            Some(1.0)
        );
        assert_eq!(value(&text, "aws_appflow_flow_last_execution_status{flow_name=\"f\",status=\"InProgress\",region=\"us-east-1\"}"), Some(1.0));
        // Newer runs bury the running one on later pages: it is still followed.
        let mut failed = run("b", "Error", NOW - 100.0);
        failed.put_failures = Some(7);
        failed.message = Some("secret stuff".into());
        fake.set(
            "f",
            vec![
                run("d", "Successful", NOW - 10.0),
                run("c", "Successful", NOW - 20.0),
                failed,
                run("a", "Successful", NOW - 500.0),
            ],
        );
        fake.take_calls();
        let text = collect(&mut c).await;
        assert_eq!(
            fake.take_calls(),
            vec![
                "ListFlows",
                "Records f",
                "Records f",
                "Records f",
                "Records f"
            ]
        );
        assert_eq!(value(&text, ERR), Some(1.0));
        assert_eq!(value(&text, OK), Some(2.0));
        assert_eq!(
            value(
                &text,
                "aws_appflow_put_failures_total{flow_name=\"f\",region=\"us-east-1\"}"
            ),
            Some(7.0)
        );
        assert_eq!(
            value(
                &text,
                "aws_appflow_flow_executions_in_progress{flow_name=\"f\",region=\"us-east-1\"}"
            ),
            Some(0.0)
        );
        assert!(!text.contains("secret"));
        let text = collect(&mut c).await;
        assert_eq!(value(&text, ERR), Some(1.0));
    }

    #[tokio::test]
    async fn steady_state_needs_only_list_flows() {
        let fake = Fake::shared(100);
        fake.set("f", vec![run("a", "Successful", NOW - 100.0)]);
        fake.set("g", vec![]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        fake.take_calls();
        collect(&mut c).await;
        assert_eq!(fake.take_calls(), vec!["ListFlows"]);
        fake.set(
            "f",
            vec![
                run("b", "Successful", NOW - 10.0),
                run("a", "Successful", NOW - 100.0),
            ],
        );
        collect(&mut c).await;
        assert_eq!(fake.take_calls(), vec!["ListFlows", "Records f"]);
    }

    #[tokio::test]
    async fn paging_stops_at_the_known_frontier_and_the_lookback() {
        let fake = Fake::shared(2);
        let old = NOW - 8.0 * 86400.0;
        fake.set(
            "f",
            vec![
                run("e", "Successful", NOW - 10.0),
                run("d", "Successful", NOW - 20.0),
                run("c", "Successful", NOW - 30.0),
                run("b", "Successful", old),
                run("a", "Successful", old - 1.0),
                run("z", "Successful", old - 2.0),
            ],
        );
        let mut c = collector(&fake);
        let text = collect(&mut c).await;
        // Page 2 still holds an execution in the lookback; page 3 is wholly older: stop there.
        assert_eq!(
            fake.take_calls(),
            vec!["ListFlows", "Records f", "Records f", "Records f"]
        );
        assert!(!text.contains("\"z\""));
        let t = "aws_appflow_flow_last_execution_start_timestamp_seconds{flow_name=\"f\",region=\"us-east-1\"}";
        assert_eq!(value(&text, t), Some(NOW - 10.0));
    }

    #[tokio::test]
    async fn records_are_sorted_by_start_not_by_wire_order() {
        let fake = Fake::shared(100);
        fake.set(
            "f",
            vec![
                run("a", "Error", NOW - 300.0),
                run("b", "Successful", NOW - 100.0),
                run("c", "InProgress", NOW - 50.0),
            ],
        );
        let mut c = collector(&fake);
        let text = collect(&mut c).await;
        assert_eq!(value(&text, "aws_appflow_flow_last_execution_status{flow_name=\"f\",status=\"InProgress\",region=\"us-east-1\"}"), Some(1.0));
        assert_eq!(
            value(
                &text,
                "aws_appflow_last_execution_duration_seconds{flow_name=\"f\",region=\"us-east-1\"}"
            ),
            Some(60.0)
        );
        assert_eq!(
            value(
                &text,
                "aws_appflow_last_execution_put_failures{flow_name=\"f\",region=\"us-east-1\"}"
            ),
            Some(0.0)
        );
    }

    #[tokio::test]
    async fn equal_starts_go_to_the_greater_execution_id() {
        for (first, second) in [("a", "b"), ("b", "a")] {
            let fake = Fake::shared(100);
            let status = |id: &str| if id == "b" { "Error" } else { "Successful" };
            fake.set(
                "f",
                vec![
                    run(first, status(first), NOW - 100.0),
                    run(second, status(second), NOW - 100.0),
                ],
            );
            let mut c = collector(&fake);
            let text = collect(&mut c).await;
            let last = |s: &str| {
                value(&text, &format!("aws_appflow_flow_last_execution_status{{flow_name=\"f\",status=\"{s}\",region=\"us-east-1\"}}"))
            };
            assert_eq!(last("Error"), Some(1.0), "{first} then {second}");
            assert_eq!(last("Successful"), Some(0.0), "{first} then {second}");
        }
    }

    #[tokio::test]
    async fn a_failed_collection_applies_nothing() {
        let fake = Fake::shared(100);
        fake.set("f", vec![run("a", "Successful", NOW - 100.0)]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        fake.set(
            "f",
            vec![
                run("b", "Successful", NOW - 10.0),
                run("a", "Successful", NOW - 100.0),
            ],
        );
        *fake.fail_records.lock().unwrap() = true;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
        assert!(c.collect(at).await.is_err());
        *fake.fail_records.lock().unwrap() = false;
        let text = collect(&mut c).await;
        assert_eq!(value(&text, OK), Some(1.0));
    }

    #[tokio::test]
    async fn deleted_flows_vanish_and_recreated_flows_start_again() {
        let fake = Fake::shared(100);
        fake.set("f", vec![run("a", "Successful", NOW - 100.0)]);
        fake.set("g", vec![run("x", "Successful", NOW - 100.0)]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        fake.flows.lock().unwrap().retain(|f| f.name != "g");
        let text = collect(&mut c).await;
        assert!(!text.contains("flow_name=\"g\""));
        // Re-created under the same name: a new flow, all its executions counted.
        fake.flows.lock().unwrap()[0].created_at = Some(2.0);
        let text = collect(&mut c).await;
        assert_eq!(value(&text, OK), Some(1.0));
    }

    #[tokio::test]
    async fn unknown_values_and_missing_fields() {
        let fake = Fake::shared(100);
        let bare = Record {
            id: "a".into(),
            status: "Successful".into(),
            started_at: Some(NOW - 100.0),
            ..Record::default()
        };
        fake.set(
            "f",
            vec![
                Record {
                    id: "b".into(),
                    status: "Paused".into(),
                    started_at: Some(NOW - 10.0),
                    ..Record::default()
                },
                bare,
            ],
        );
        fake.flows.lock().unwrap()[0].status = Some("Hibernating".into());
        fake.flows.lock().unwrap()[0].source_connector = Some("SAPOData".into());
        let mut c = collector(&fake);
        let text = collect(&mut c).await;
        assert!(text.contains("aws_appflow_flow_status{flow_name=\"f\",status=\"Hibernating\",region=\"us-east-1\"} 1"));
        assert!(text.contains(
            "aws_appflow_flow_status{flow_name=\"f\",status=\"Active\",region=\"us-east-1\"} 0"
        ));
        assert!(text.contains("aws_appflow_flow_last_execution_status{flow_name=\"f\",status=\"Paused\",region=\"us-east-1\"} 1"));
        assert!(!text.contains("aws_appflow_last_execution_processed_bytes"));
        assert!(!text.contains("aws_appflow_last_execution_duration_seconds"));
        assert!(text.contains(
            "aws_appflow_last_execution_put_failures{flow_name=\"f\",region=\"us-east-1\"} 0"
        ));
        assert!(text.contains(
            "aws_appflow_flow_configured_max_parallelism{flow_name=\"f\",region=\"us-east-1\"} 4"
        ));
        assert!(!text.contains("aws_appflow_flow_configured_max_page_size"));
        // Unchanged SAP OData flow: no second DescribeFlow.
        fake.take_calls();
        collect(&mut c).await;
        assert!(!fake
            .take_calls()
            .iter()
            .any(|c| c.starts_with("DescribeFlow")));
    }
}
