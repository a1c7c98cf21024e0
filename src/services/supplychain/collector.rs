//! AWS Supply Chain data integration flows: every `aws_supplychain_*` series is computed here.
//!
//! Cost in steady state, per collection: one ListInstances call per 20 instances, one
//! ListDataIntegrationFlows call per 20 flows of each Active instance, and the first
//! ListDataIntegrationFlowExecutions page of every flow. Flows carry no "last run" summary
//! (unlike AppFlow's `lastRunExecutionDetails`), so that first page is the only way to see a new
//! execution: it is the lower bound. A flow reads further pages only when more than a page of
//! executions started since the newest one already known to be settled.
//! GetDataIntegrationFlowExecution is called only for an execution known to be IN_PROGRESS that
//! is not on the pages read: one call follows it however deep it has sunk, where paging down to
//! it would cost one call per 20 newer executions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::api::{Execution, FlowSummary, InstanceSummary, SupplyChainApi};
use crate::aws::ApiError;
use crate::collector::{elapsed, max_opt, Collected, Collector, Setup};
use crate::compact::{ExecId, OptF64};
use crate::exposition::{Exposition, Histogram};
use crate::family;
use crate::interned::{Code, Interned};
use crate::services::counting::{self, fingerprint, unless_recreated, Baselined};
use crate::state::{Json, Keep, Kept};

const INSTANCE_STATES: &[&str] = &[
    "Initializing",
    "Active",
    "CreateFailed",
    "DeleteFailed",
    "Deleting",
    "Deleted",
];
const EXECUTION_STATUSES: &[&str] = &["SUCCEEDED", "IN_PROGRESS", "FAILED"];
const TERMINAL: &[&str] = &["SUCCEEDED", "FAILED"];
const RUNNING: &str = "IN_PROGRESS";
const FAILED: &str = "FAILED";
/// A flow's history longer than this many pages is a broken endpoint.
const MAX_EXECUTION_PAGES: usize = 1_000;
/// Data integration runs ingest files into datasets: from under a minute to several hours.
static DURATION_BUCKETS: [f64; 12] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

family!(
    INSTANCE_STATE,
    "aws_supplychain_instance_state",
    Gauge,
    ["instance_id", "status"],
    "The Supply Chain instance's state, one series per state (1 = current)."
);
family!(
    INFO,
    "aws_supplychain_flow_info",
    Gauge,
    [
        "instance_id",
        "flow_name",
        "source_type",
        "target_type",
        "transformation_type"
    ],
    "Information about a data integration flow; always 1."
);
family!(
    LAST_STATUS,
    "aws_supplychain_flow_last_execution_status",
    Gauge,
    ["instance_id", "flow_name", "status"],
    "Status of the flow's newest execution, one series per state (1 = current)."
);
family!(
    LAST_START,
    "aws_supplychain_flow_last_execution_start_timestamp_seconds",
    Gauge,
    ["instance_id", "flow_name"],
    "Start time of the flow's newest execution."
);
family!(
    LAST_SUCCESS,
    "aws_supplychain_flow_last_success_timestamp_seconds",
    Gauge,
    ["instance_id", "flow_name"],
    "endTime of the newest SUCCEEDED execution seen."
);
family!(
    LAST_FAILURE,
    "aws_supplychain_flow_last_failure_timestamp_seconds",
    Gauge,
    ["instance_id", "flow_name"],
    "endTime of the newest FAILED execution seen."
);
family!(
    IN_PROGRESS,
    "aws_supplychain_flow_executions_in_progress",
    Gauge,
    ["instance_id", "flow_name"],
    "Executions in IN_PROGRESS."
);
family!(
    LAST_DURATION,
    "aws_supplychain_last_execution_duration_seconds",
    Gauge,
    ["instance_id", "flow_name"],
    "endTime - startTime of the newest finished execution."
);
family!(
    EXECUTIONS,
    "aws_supplychain_flow_executions_total",
    Counter,
    ["instance_id", "flow_name", "status"],
    "Executions seen reaching a terminal status."
);
family!(
    DURATION,
    "aws_supplychain_flow_execution_duration_seconds",
    Histogram,
    ["instance_id", "flow_name"],
    "Durations (endTime - startTime) of counted executions."
);

/// The Supply Chain collector of one target.
pub struct SupplyChainCollector<A> {
    api: A,
    setup: Setup,
    state: Kept<State>,
}

/// Everything saved by `--storage.path`.
#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Set by the first successful collection: until then nothing is counted.
    baselined: bool,
    instances: BTreeMap<String, InstanceEntry>,
}

/// Saved as JSON.
impl Json for State {}

impl Baselined for State {
    fn baselined(&self) -> bool {
        self.baselined
    }
    fn set_baselined(&mut self) {
        self.baselined = true;
    }
}

/// What the exporter remembers of one instance.
#[derive(Default, Serialize, Deserialize)]
struct InstanceEntry {
    state: Option<Interned>,
    /// Flows are collected and shown only while the instance is Active; a non-Active instance
    /// keeps their memory (hidden), so counting resumes without replay if it comes back.
    active: bool,
    flows: BTreeMap<String, Box<Flow>>,
}

/// What the exporter remembers of one flow.
#[derive(Default, Serialize, Deserialize)]
#[serde(from = "SavedFlow")]
struct Flow {
    summary: FlowSummary,
    /// Executions within the lookback, sorted by id fingerprint.
    seen: Vec<Seen>,
    /// Ids of the executions last seen IN_PROGRESS: followed by id when they
    /// sink below the pages read.
    running: Vec<Box<str>>,
    /// (start, id) of the newest execution seen: ties between equal starts go
    /// to the greater id, which fingerprints cannot order.
    newest: Option<(f64, ExecId)>,
    newest_finished: Option<Finished>,
    last_success: OptF64,
    last_failure: OptF64,
    /// SUCCEEDED, FAILED (the order of `TERMINAL`).
    executions: [u64; 2],
    duration: Option<Histogram>,
}

/// A flow as read back: as saved now, or as the first releases saved it,
/// with `seen` a map `{id: [start, status]}` from which `running` and
/// `newest` are derived.
#[derive(Deserialize)]
struct SavedFlow {
    summary: FlowSummary,
    seen: SavedSeen,
    #[serde(default)]
    running: Vec<Box<str>>,
    #[serde(default)]
    newest: Option<(f64, ExecId)>,
    newest_finished: Option<Finished>,
    last_success: Option<f64>,
    last_failure: Option<f64>,
    executions: [u64; 2],
    #[serde(deserialize_with = "duration_histogram")]
    duration: Option<Histogram>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SavedSeen {
    Now(Vec<Seen>),
    Map(HashMap<String, (f64, Option<String>)>),
}

impl From<SavedFlow> for Flow {
    fn from(saved: SavedFlow) -> Flow {
        let (mut running, mut newest) = (saved.running, saved.newest);
        let mut seen = match saved.seen {
            SavedSeen::Now(seen) => seen,
            SavedSeen::Map(map) => {
                for (id, (start, status)) in &map {
                    if is_running(status.as_deref()) {
                        running.push(id.as_str().into());
                    }
                    if newest
                        .as_ref()
                        .is_none_or(|(s, n)| (*start, ExecId::new(id)) >= (*s, n.clone()))
                    {
                        newest = Some((*start, ExecId::new(id)));
                    }
                }
                map.into_iter()
                    .map(|(id, (start, status))| Seen::from((fingerprint(&id), start, status)))
                    .collect()
            }
        };
        seen.sort_by_key(|s| s.id);
        seen.dedup_by_key(|s| s.id);
        running.sort();
        running.dedup();
        Flow {
            summary: saved.summary,
            seen,
            running,
            newest,
            newest_finished: saved.newest_finished,
            last_success: saved.last_success.into(),
            last_failure: saved.last_failure.into(),
            executions: saved.executions,
            duration: saved.duration,
        }
    }
}

fn duration_histogram<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Histogram>, D::Error> {
    #[derive(Deserialize)]
    struct Saved(#[serde(deserialize_with = "bounded")] Histogram);
    fn bounded<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram, D::Error> {
        Histogram::deserialize_with_bounds(&DURATION_BUCKETS, d)
    }
    Ok(Option::<Saved>::deserialize(d)?.map(|s| s.0))
}

/// One execution within the lookback, without its id or status as text: a
/// flow remembers every execution of its lookback (docs/performance.md,
/// "What the state keeps"). Saved as `[fingerprint, start, status]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(
    from = "(u64, f64, Option<String>)",
    into = "(u64, f64, Option<String>)"
)]
struct Seen {
    /// [`fingerprint`] of the id: a flow has at most a few thousand
    /// executions in the lookback, so a 64-bit hash tells them apart.
    id: u64,
    start: f64,
    status: Status,
}

impl From<(u64, f64, Option<String>)> for Seen {
    fn from((id, start, status): (u64, f64, Option<String>)) -> Seen {
        Seen {
            id,
            start,
            status: Status::new(status.as_deref()),
        }
    }
}

impl From<Seen> for (u64, f64, Option<String>) {
    fn from(s: Seen) -> Self {
        (s.id, s.start, s.status.as_str().map(String::from))
    }
}

/// An execution status in one byte (see [`Code`]): a flow remembers every
/// execution of its lookback.
type Status = Code;

/// 40 bytes, with no allocation for a UUID id ([`ExecId`], [`OptF64`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Finished {
    start: f64,
    id: ExecId,
    duration: OptF64,
}

/// What one collection fetched for a listed flow.
#[derive(Default)]
struct Fetched {
    /// The flow vanished between ListDataIntegrationFlows and its executions.
    gone: bool,
    /// The executions read, not known settled, as [`digest`] leaves them.
    runs: Vec<Run>,
    /// Executions known IN_PROGRESS and not on the pages read: gone when None.
    followed: Vec<(String, Option<Execution>)>,
}

/// One fetched execution, reduced as soon as its flow's pages are read to
/// what [`Flow::absorb`] needs: a first collection holds every flow's runs
/// until it applies them.
struct Run {
    /// [`fingerprint`] of the id.
    print: u64,
    /// [`start_of`] the execution.
    start: f64,
    end: Option<f64>,
    duration: Option<f64>,
    status: Status,
    /// Kept only where their text is needed: a running execution (followed
    /// by id), a failed one (logged), and the newest of the fetch, of all
    /// and of the finished (their ids order ties, and are remembered).
    text: Option<Box<RunText>>,
}

struct RunText {
    id: Box<str>,
    message: Option<Box<str>>,
}

impl Run {
    /// None when AWS gave the execution no time at all.
    fn new(print: u64, e: Execution, keep_text: bool) -> Option<Run> {
        let start = start_of(&e)?;
        let status = Status::new(e.status.as_deref());
        let keep_text = keep_text || is_running(status.as_str()) || status.as_str() == Some(FAILED);
        Some(Run {
            print,
            start,
            end: e.end_time,
            duration: duration(&e),
            status,
            text: keep_text.then(|| {
                Box::new(RunText {
                    id: e.id.into(),
                    message: e.message.map(String::into_boxed_str),
                })
            }),
        })
    }

    fn id(&self) -> Option<&str> {
        self.text.as_ref().map(|t| &*t.id)
    }
}

/// A flow's fetched executions (in the order listed) as runs: the first of
/// each id, those started within the lookback, their text kept where
/// [`Run::text`] says. Only the newest of a fetch can move the flow's
/// newest, so the others need no id to compare.
fn digest(executions: Vec<Execution>, cutoff: f64) -> Vec<Run> {
    let mut prints = HashSet::new();
    let kept: Vec<(u64, Execution)> = executions
        .into_iter()
        .map(|e| (fingerprint(&e.id), e))
        .filter(|(print, _)| prints.insert(*print))
        .filter(|(_, e)| start_of(e).is_some_and(|start| start >= cutoff))
        .collect();
    let newest = |terminal: bool| {
        kept.iter()
            .enumerate()
            .filter(|(_, (_, e))| !terminal || is_terminal(e.status.as_deref()))
            .max_by(|(_, (_, a)), (_, (_, b))| {
                (start_of(a), a.id.as_str())
                    .partial_cmp(&(start_of(b), b.id.as_str()))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(i, _)| i)
    };
    let (newest, newest_finished) = (newest(false), newest(true));
    let mut runs = Vec::with_capacity(kept.len());
    for (i, (print, e)) in kept.into_iter().enumerate() {
        let keep_text = Some(i) == newest || Some(i) == newest_finished;
        runs.extend(Run::new(print, e, keep_text));
    }
    runs
}

/// One listed instance and, when Active, its flows (None: it vanished meanwhile).
struct ListedInstance {
    summary: InstanceSummary,
    flows: Option<Vec<FlowSummary>>,
}

fn is_terminal(status: Option<&str>) -> bool {
    status.is_some_and(|s| TERMINAL.contains(&s))
}

fn is_running(status: Option<&str>) -> bool {
    status == Some(RUNNING)
}

fn is_active(instance: &InstanceSummary) -> bool {
    instance.state.as_deref() == Some("Active")
}

/// Where an execution sits in time: its start, or its end when AWS left the start out.
fn start_of(e: &Execution) -> Option<f64> {
    e.start_time.or(e.end_time)
}

impl<A: SupplyChainApi> SupplyChainCollector<A> {
    pub fn new(api: A, setup: Setup) -> Self {
        SupplyChainCollector {
            api,
            setup,
            state: Kept::default(),
        }
    }

    /// The remembered flow this listing describes, unless it was re-created.
    fn known(&self, instance_id: &str, summary: &FlowSummary) -> Option<&Flow> {
        let instance = self.state.instances.get(instance_id)?;
        let remembered = instance.flows.get(&summary.name).map(|f| &**f);
        unless_recreated(remembered, |f| f.summary.created_time, summary.created_time)
    }

    async fn list_flows(&self, instance: InstanceSummary) -> Result<ListedInstance, ApiError> {
        let flows = if is_active(&instance) {
            self.api
                .list_flows(&instance.id)
                .await?
                .map(|flows| self.setup.selected(flows, |f| &f.name))
        } else {
            Some(Vec::new())
        };
        Ok(ListedInstance {
            summary: instance,
            flows,
        })
    }

    /// Reads executions (newest first) until a page reaches the newest execution already known
    /// settled, or the lookback; then follows the running ones not found on those pages.
    async fn fetch(
        &self,
        instance_id: &str,
        summary: &FlowSummary,
        cutoff: f64,
    ) -> Result<Fetched, ApiError> {
        let known = self.known(instance_id, summary);
        let frontier = known
            .and_then(|k| {
                k.seen
                    .iter()
                    .filter(|s| !is_running(s.status.as_str()))
                    .map(|s| s.start)
                    .reduce(f64::max)
            })
            .unwrap_or(cutoff)
            .max(cutoff);
        let mut pending: BTreeSet<&str> = known
            .map(|k| k.running.iter().map(|id| &**id).collect())
            .unwrap_or_default();
        let mut fetched = Fetched::default();
        let mut executions = Vec::new();
        let mut token = None;
        for _ in 0..MAX_EXECUTION_PAGES {
            let Some(page) = self
                .api
                .executions(instance_id, &summary.name, token)
                .await?
            else {
                fetched.gone = true;
                return Ok(fetched);
            };
            // Newest first: once the frontier is reached, the rest is known or too old.
            let start = |e: &Execution| start_of(e).unwrap_or(f64::MIN);
            let reached = page.executions.iter().any(|e| start(e) <= frontier);
            for e in &page.executions {
                pending.remove(e.id.as_str());
            }
            // Those known settled change nothing: not held until the collection is applied.
            let settled = |e: &Execution| known.is_some_and(|k| k.settled(e));
            executions.extend(page.executions.into_iter().filter(|e| !settled(e)));
            token = page.next_token;
            if token.is_none() || reached {
                break;
            }
        }
        fetched.runs = digest(executions, cutoff);
        for id in pending {
            let found = self.api.execution(instance_id, &summary.name, id).await?;
            fetched.followed.push((id.to_string(), found));
        }
        Ok(fetched)
    }

    /// Applies a fully fetched collection to the state. Cannot fail.
    fn apply(
        &mut self,
        listed: Vec<ListedInstance>,
        mut fetched: impl Iterator<Item = Fetched>,
        cutoff: f64,
    ) {
        let mut instances = Vec::with_capacity(listed.len());
        for ListedInstance { summary, flows } in listed {
            let Some(flows) = flows else {
                continue; // Gone between ListInstances and ListDataIntegrationFlows.
            };
            // The remembered key is kept: the listing's copy is dropped with the collection.
            let (id, mut entry) = self
                .state
                .instances
                .remove_entry(&summary.id)
                .unwrap_or_else(|| (summary.id.clone(), InstanceEntry::default()));
            entry.active = is_active(&summary);
            entry.state = summary.state;
            if entry.active {
                let mut kept = Vec::with_capacity(flows.len());
                for (mut flow_summary, fetched) in flows.into_iter().zip(fetched.by_ref()) {
                    if fetched.gone {
                        continue;
                    }
                    let known = unless_recreated(
                        entry.flows.remove_entry(&flow_summary.name),
                        |(_, f)| f.summary.created_time,
                        flow_summary.created_time,
                    );
                    let count =
                        counting::counts(&self.state, known.is_some(), flow_summary.created_time);
                    // The name is held once, as the key: a remembered summary's is empty.
                    let (key, mut flow) = known.unwrap_or_else(|| {
                        (std::mem::take(&mut flow_summary.name), Box::default())
                    });
                    flow.absorb(&id, &key, fetched, cutoff, count);
                    crate::fault::point("supplychain");
                    flow.summary = FlowSummary {
                        name: String::new(),
                        ..flow_summary
                    };
                    kept.push((key, flow));
                }
                // Collected at once: a map built in one go has full B-tree nodes, where
                // inserts in key order leave them half empty.
                entry.flows = BTreeMap::from_iter(kept);
            }
            for flow in entry.flows.values_mut() {
                flow.forget_before(cutoff);
            }
            instances.push((id, entry));
        }
        self.state.instances = BTreeMap::from_iter(instances);
        counting::applied(&mut self.state);
    }

    fn render(&self) -> Exposition {
        let mut e = self.setup.exposition();
        for (id, instance) in &self.state.instances {
            e.state_set(
                &INSTANCE_STATE,
                &[("instance_id", id)],
                INSTANCE_STATES,
                instance.state.as_deref(),
            );
        }
        for (id, instance) in &self.state.instances {
            if instance.active {
                for (name, flow) in &instance.flows {
                    flow.render(id, name, &mut e);
                }
            }
        }
        e
    }

    fn tracked(&self) -> usize {
        let flows = self.state.instances.values().flat_map(|i| i.flows.values());
        flows.map(|f| f.seen.len()).sum()
    }
}

/// endTime - startTime, when AWS gave both and they make sense.
fn duration(e: &Execution) -> Option<f64> {
    elapsed(e.start_time, e.end_time)
}

#[async_trait::async_trait]
impl<A: SupplyChainApi + 'static> Collector for SupplyChainCollector<A> {
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError> {
        let cutoff = self.setup.cutoff(now);
        let mut ids = HashSet::new();
        let instances: Vec<InstanceSummary> = self
            .api
            .list_instances()
            .await?
            .into_iter()
            .filter(|i| ids.insert(i.id.clone()))
            .collect();
        let listings = instances.into_iter().map(|i| self.list_flows(i));
        let listed: Vec<ListedInstance> = self.setup.fetch_all(listings).await?;
        // (instance, flow) indices, so that each fetch future is made only when its turn comes.
        let flows = |l: &ListedInstance| l.flows.as_deref().unwrap_or_default().len();
        let work: Vec<(usize, usize)> = (0..listed.len())
            .filter(|i| is_active(&listed[*i].summary))
            .flat_map(|i| (0..flows(&listed[i])).map(move |j| (i, j)))
            .collect();
        let fetches = work.into_iter().map(|(i, j)| {
            let l = &listed[i];
            self.fetch(
                &l.summary.id,
                &l.flows.as_deref().unwrap_or_default()[j],
                cutoff,
            )
        });
        let fetched: Vec<Fetched> = self.setup.fetch_all(fetches).await?;
        self.apply(listed, fetched.into_iter(), cutoff);
        Ok(Collected {
            exposition: self.render(),
            tracked: self.tracked(),
        })
    }

    fn kept(&mut self) -> Option<&mut dyn Keep> {
        Some(&mut self.state)
    }
}

mod flow;
#[cfg(test)]
mod tests;
