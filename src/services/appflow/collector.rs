//! Amazon AppFlow: every `aws_appflow_*` series is computed here.
//!
//! Cost in steady state: ListFlows pages, plus one DescribeFlowExecutionRecords
//! call for each flow whose `lastRunExecutionDetails` changed or that has an
//! execution in progress, plus DescribeFlow for SAP OData and scheduled flows
//! that are new or changed (their ListFlows `lastUpdatedAt`).

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use serde::Deserialize;

use super::api::{AppFlowApi, Described, FlowSummary, Record, SapODataLimits};
use crate::aws::ApiError;
use crate::collector::{elapsed, max_opt, Collected, Collector, Setup};
use crate::compact::{ExecId, OptF64, OptI64};
use crate::exposition::{Exposition, Histogram};
use crate::interned::Code;
use crate::services::counting::{self, fingerprint, unless_recreated, Baselined};
use crate::state::{Keep, Kept};
use scheduled::Scheduled;

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

/// The AppFlow collector of one target.
pub struct AppFlowCollector<A> {
    api: A,
    setup: Setup,
    state: Kept<State>,
}

/// Everything saved by `--storage.path` (`saved.rs`: how; the serde derives
/// read format version 1).
#[derive(Default, Deserialize)]
struct State {
    /// Set by the first successful collection: until then nothing is counted.
    baselined: bool,
    /// Boxed: B-tree nodes are partly empty, and a flow is some 700 bytes.
    flows: BTreeMap<String, Box<Flow>>,
}

impl Baselined for State {
    fn baselined(&self) -> bool {
        self.baselined
    }
    fn set_baselined(&mut self) {
        self.baselined = true;
    }
}

/// What the exporter remembers of one flow.
#[derive(Default, Deserialize)]
struct Flow {
    summary: FlowSummary,
    /// From DescribeFlow, and the flow's lastUpdatedAt when it was read.
    /// Boxed: only SAP OData flows have it (8 bytes a flow, not 32).
    sap: Option<Box<SapODataLimits>>,
    described: Option<Option<f64>>,
    /// From DescribeFlow, for scheduled flows.
    #[serde(skip)]
    schedule: Option<Box<Scheduled>>,
    /// Executions within the lookback, by id fingerprint (see [`Seen`]).
    seen: Vec<Seen>,
    /// (start, id) of the newest execution seen: ties between equal starts go
    /// to the greater id, which fingerprints cannot order.
    newest: Option<(f64, ExecId)>,
    newest_finished: Option<LastRun>,
    last_success: OptF64,
    last_failure: OptF64,
    counters: Counters,
}

/// One execution within the lookback, its id as a fingerprint: a flow
/// remembers every execution of its lookback (docs/performance.md, "What the
/// state keeps").
/// Format version 1 saved it as `[id, started_at, status]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "(u64, f64, Status)")]
struct Seen {
    /// [`fingerprint`] of the execution id: a flow has at most a few thousand
    /// runs in the lookback, so a 64-bit hash tells them apart.
    id: u64,
    started_at: f64,
    status: Status,
}

impl From<(u64, f64, Status)> for Seen {
    fn from((id, started_at, status): (u64, f64, Status)) -> Seen {
        Seen {
            id,
            started_at,
            status,
        }
    }
}

/// An execution status: a known one as its index in `EXECUTION_STATUSES`,
/// anything AWS adds later as a [`Code`] (two bytes in all: a flow remembers
/// every execution of its lookback).
#[derive(Clone, Debug, PartialEq)]
enum Status {
    Known(u8),
    Other(Code),
}

impl Status {
    fn new(status: &str) -> Status {
        match EXECUTION_STATUSES.iter().position(|s| *s == status) {
            Some(i) => Status::Known(i as u8),
            None => Status::Other(Code::new(Some(status))),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Status::Known(i) => EXECUTION_STATUSES[usize::from(*i)],
            Status::Other(code) => code.as_str().unwrap_or_default(),
        }
    }
}

/// Format version 1 saved it as the AWS string.
impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Status, D::Error> {
        Ok(Status::new(&String::deserialize(deserializer)?))
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Counters {
    /// Successful, Error, Canceled (the order of `TERMINAL`).
    executions: [u64; 3],
    bytes_processed: u64,
    bytes_written: u64,
    records: u64,
    put_failures: u64,
    #[serde(deserialize_with = "duration_histogram")]
    duration: Histogram,
    /// Sorted by (kind, status); a vector, since most flows have none.
    #[serde(deserialize_with = "registrations")]
    registrations: Vec<Registrations>,
}

/// ((kind, status), count).
type Registrations = ((&'static str, String), u64);

fn duration_histogram<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram, D::Error> {
    Histogram::deserialize_with_bounds(&DURATION_BUCKETS, d)
}

/// The registration kinds are the API's (`table`, `partition`).
fn registrations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Registrations>, D::Error> {
    let saved = Vec::<((String, String), u64)>::deserialize(d)?;
    let mut registrations = Vec::with_capacity(saved.len());
    for ((kind, status), n) in saved {
        let kind = match kind.as_str() {
            "table" => "table",
            "partition" => "partition",
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown registration kind {other:?}"
                )))
            }
        };
        registrations.push(((kind, status), n));
    }
    registrations.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(registrations)
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
    described: Option<Described>,
    /// Some when execution records were read. Boxed: most steady collections
    /// read no flow's records, and every listed flow has a `Fetched`.
    runs: Option<Box<Runs>>,
}

/// A flow's fetched execution records, reduced as soon as they arrive to what
/// [`Flow::absorb`] needs: a first collection of 10,000 flows would otherwise
/// hold well over 100,000 full records until it applies them.
#[derive(Default)]
struct Runs {
    /// Every execution in the lookback, one per id.
    seen: Vec<Seen>,
    /// (start, id) of the newest of them.
    newest: Option<(f64, ExecId)>,
    newest_finished: Option<LastRun>,
    last_success: Option<f64>,
    last_failure: Option<f64>,
    /// The latest start among every record read, the lookback's or older.
    latest_start: Option<f64>,
    /// What the executions terminal now and not known terminal before add to
    /// the counters (nothing at the baseline).
    newly_terminal: Tally,
}

/// What newly terminal executions add to a flow's counters, kept instead of
/// their records until the collection is applied: a collection after a day
/// down (or the first after 10,000 flows appear) counts some 120,000.
#[derive(Default)]
struct Tally {
    /// Successful, Error, Canceled (the order of `TERMINAL`).
    executions: [u64; 3],
    bytes_processed: u64,
    bytes_written: u64,
    records: u64,
    put_failures: u64,
    /// Observed in this order when applied, as each record was before.
    durations: Vec<f64>,
    /// ((kind, status), count), in the order first met.
    registrations: Vec<Registrations>,
    /// (execution id, message) of the Error executions, logged when applied.
    failures: Vec<(Box<str>, Box<str>)>,
}

impl Tally {
    fn add(&mut self, r: &Record) {
        if let Some(i) = TERMINAL.iter().position(|s| *s == r.status) {
            self.executions[i] += 1;
        }
        let non_negative = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        self.bytes_processed += non_negative(r.bytes_processed);
        self.bytes_written += non_negative(r.bytes_written);
        self.records += non_negative(r.records_processed);
        self.put_failures += non_negative(r.put_failures);
        if let Some(d) = duration(r) {
            self.durations.push(d);
        }
        for (kind, status) in &r.registrations {
            match self
                .registrations
                .iter_mut()
                .find(|((k, s), _)| k == kind && s == status)
            {
                Some((_, n)) => *n += 1,
                None => self.registrations.push(((kind, status.clone()), 1)),
            }
        }
        if r.status == "Error" {
            let message = r.message.as_deref().unwrap_or("");
            self.failures.push((r.id.as_str().into(), message.into()));
        }
    }
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
        let mut runs = Runs {
            latest_start: records.iter().filter_map(start).reduce(f64::max),
            ..Runs::default()
        };
        // Sized once: a first collection holds every flow's runs until it applies them.
        runs.seen.reserve_exact(records.len());
        for record in records {
            let Some(started_at) = start(&record).filter(|s| *s >= cutoff) else {
                continue;
            };
            if runs.newest.is_none() {
                runs.newest = Some((started_at, ExecId::new(&record.id)));
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
                runs.newly_terminal.add(&record);
            }
        }
        runs
    }
}

/// The newest finished execution: what its gauges show, and its (start, id) to order it.
/// Its optional numbers are compact ([`OptF64`], [`OptI64`]): every flow has one.
#[derive(Clone, Debug, Deserialize)]
struct LastRun {
    id: ExecId,
    started_at: f64,
    duration: OptF64,
    bytes_processed: OptI64,
    bytes_written: OptI64,
    records_processed: OptI64,
    put_failures: OptI64,
    parallel_processes: OptI64,
    max_page_size: OptI64,
}

impl LastRun {
    fn new(r: &Record, started_at: f64) -> LastRun {
        LastRun {
            id: ExecId::new(&r.id),
            started_at,
            duration: duration(r).into(),
            bytes_processed: r.bytes_processed.into(),
            bytes_written: r.bytes_written.into(),
            records_processed: r.records_processed.into(),
            put_failures: r.put_failures.into(),
            parallel_processes: r.parallel_processes.into(),
            max_page_size: r.max_page_size.into(),
        }
    }

    fn key(&self) -> (f64, &ExecId) {
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

fn is_scheduled(summary: &FlowSummary) -> bool {
    summary.trigger_type.as_deref() == Some("Scheduled")
}

impl<A: AppFlowApi> AppFlowCollector<A> {
    pub fn new(api: A, setup: Setup) -> Self {
        AppFlowCollector {
            api,
            setup,
            state: Kept::default(),
        }
    }

    /// The remembered flow this listing describes, unless it was re-created.
    fn known(&self, summary: &FlowSummary) -> Option<&Flow> {
        let remembered = self.state.flows.get(&summary.name).map(|f| &**f);
        unless_recreated(remembered, |f| f.summary.created_at, summary.created_at)
    }

    async fn fetch(&self, summary: &FlowSummary, cutoff: f64) -> Result<Fetched, ApiError> {
        let known = self.known(summary);
        let mut fetched = Fetched::default();
        // A scheduled flow known without its schedule was restored from a state
        // saved before schedules were read.
        let changed = known.is_none_or(|k| {
            k.described != Some(summary.last_updated_at)
                || (is_scheduled(summary) && k.schedule.is_none())
        });
        if (is_sapodata(summary) || is_scheduled(summary)) && changed {
            match self.api.describe_flow(&summary.name).await? {
                Some(described) => fetched.described = Some(described),
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
        let count = counting::counts(&self.state, known.is_some(), summary.created_at);
        fetched.runs = Some(Box::new(Runs::digest(records, known, cutoff, count)));
        Ok(fetched)
    }

    /// Applies a fully fetched collection to the state. Cannot fail.
    fn apply(&mut self, listed: Vec<FlowSummary>, mut fetched: Vec<Fetched>, cutoff: f64) {
        let mut flows = Vec::with_capacity(listed.len());
        for (mut summary, fetched) in listed.into_iter().zip(fetched.drain(..)) {
            if fetched.gone {
                continue;
            }
            // The remembered key is kept (the listing's copy is dropped with the
            // collection); the name is held once, as the key: a remembered
            // summary's own is empty.
            let remembered = self.state.flows.remove_entry(&summary.name);
            let (key, mut flow) = unless_recreated(
                remembered,
                |(_, f)| f.summary.created_at,
                summary.created_at,
            )
            .unwrap_or_else(|| (std::mem::take(&mut summary.name), Box::default()));
            if let Some(described) = fetched.described {
                flow.sap = is_sapodata(&summary).then(|| Box::new(described.sap));
                flow.described = Some(summary.last_updated_at);
                flow.schedule = is_scheduled(&summary).then(|| {
                    let last_start = flow.schedule.as_ref().map(|s| s.last_start);
                    let config = described.schedule.unwrap_or_default();
                    Box::new(Scheduled::new(config, last_start.unwrap_or_default()))
                });
            } else if !is_sapodata(&summary) && !is_scheduled(&summary) {
                flow.sap = None;
                flow.described = None;
            }
            if !is_scheduled(&summary) {
                flow.schedule = None;
            }
            let mut latest_start = None;
            if let Some(runs) = fetched.runs {
                latest_start = runs.latest_start;
                flow.absorb(&key, *runs);
            }
            if let Some(schedule) = &mut flow.schedule {
                schedule.saw_start(max_opt(latest_start, flow.newest.as_ref().map(|n| n.0)));
                schedule.refresh(&key, summary.last_updated_at);
            }
            crate::fault::point("appflow");
            flow.forget_before(cutoff);
            flow.summary = FlowSummary {
                name: String::new(),
                ..summary
            };
            flows.push((key, flow));
        }
        // Collected at once: a map built in one go has full B-tree nodes, where
        // inserts in key order leave them half empty.
        self.state.flows = BTreeMap::from_iter(flows);
        counting::applied(&mut self.state);
    }

    fn render(&self) -> Exposition {
        let mut e = self.setup.exposition();
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
        // Room for the new ones at once: pushed one by one into an empty list
        // (a first collection), a day of hourly runs would leave room for 32.
        let new = runs
            .seen
            .iter()
            .filter(|seen| !self.seen.iter().any(|s| s.id == seen.id))
            .count();
        self.seen.reserve(new);
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
                .is_none_or(|(nt, nid)| (t, &id) >= (*nt, nid));
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
        self.last_success = max_opt(self.last_success.get(), runs.last_success).into();
        self.last_failure = max_opt(self.last_failure.get(), runs.last_failure).into();
        self.count(flow_name, runs.newly_terminal);
    }

    fn count(&mut self, flow_name: &str, tally: Tally) {
        let c = &mut self.counters;
        for (n, more) in c.executions.iter_mut().zip(tally.executions) {
            *n += more;
        }
        c.bytes_processed += tally.bytes_processed;
        c.bytes_written += tally.bytes_written;
        c.records += tally.records;
        c.put_failures += tally.put_failures;
        for d in tally.durations {
            c.duration.observe(d);
        }
        for (key, more) in tally.registrations {
            match c.registrations.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => c.registrations[i].1 += more,
                Err(i) => c.registrations.insert(i, (key, more)),
            }
        }
        for (execution_id, message) in tally.failures {
            tracing::warn!(
                flow_name,
                execution_id = %execution_id,
                message = %message,
                "AppFlow execution failed"
            );
        }
    }

    /// Executions that left the lookback are forgotten, so memory stays bounded.
    fn forget_before(&mut self, cutoff: f64) {
        self.seen.retain(|s| s.started_at >= cutoff);
        // Shrunk only when mostly empty: a list that is reallocated at every
        // collection (a run added, one forgotten) fragments the heap.
        if self.seen.capacity() > 2 * self.seen.len() + 4 {
            self.seen.shrink_to_fit();
        }
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
}

/// lastUpdatedAt - startedAt, when AWS gave both and they make sense.
fn duration(r: &Record) -> Option<f64> {
    elapsed(r.started_at, r.last_updated_at)
}

#[async_trait::async_trait]
impl<A: AppFlowApi + 'static> Collector for AppFlowCollector<A> {
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError> {
        let cutoff = self.setup.cutoff(now);
        let listed = self
            .setup
            .selected(self.api.list_flows().await?, |f| &f.name);
        // By index: a closure taking a reference trips async-trait's Send inference.
        let fetches = (0..listed.len()).map(|i| self.fetch(&listed[i], cutoff));
        let fetched: Vec<Fetched> = self.setup.fetch_all(fetches).await?;
        self.apply(listed, fetched, cutoff);
        let tracked = self.state.flows.values().map(|f| f.seen.len()).sum();
        Ok(Collected {
            exposition: self.render(),
            tracked,
        })
    }

    fn kept(&mut self) -> Option<&mut dyn Keep> {
        Some(&mut self.state)
    }
}

mod render;
mod saved;
mod scheduled;
#[cfg(test)]
mod tests;
