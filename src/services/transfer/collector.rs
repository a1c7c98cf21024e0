//! AWS Transfer Family managed workflows: every `aws_transfer_*` series is computed here.
//!
//! AWS only shows executions in progress, and without timestamps. So the
//! collector follows each execution while it is listed (when it first saw
//! it, whether it ever saw it in trouble, which step errors it has counted)
//! and counts it as finished once it is no longer listed. An execution that
//! starts and ends between two collections is never seen.
//!
//! With `log_groups`, the two counters come from the workflow events Transfer
//! writes to CloudWatch Logs instead, and are exact: each execution once, by
//! its first ExecutionCompleted/ExecutionErrored; each StepErrored once per
//! (execution, step name), `on_exception_steps` when an earlier StepErrored of
//! the same execution exists. Each group has a read mark, the end of its last
//! read (the time of the last collection, whether or not events were found),
//! and its next read starts [`OVERLAP`] before it: a quiet group costs one
//! short read, never the whole lookback again. At the baseline, reads start at
//! the start of the lookback and count nothing; a group new since the last
//! collection starts at the newest mark. Re-read events are de-duplicated by
//! (execution, type, step name), and an execution is remembered until its
//! events are older than every next read's start. A workflow is counted from
//! the logs while its events were read in a group that exists; a workflow
//! whose events are in no readable group keeps the listing-based counting.
//! Where the two meet (a workflow whose logs appear or disappear), the
//! execution ids and error phases each source has counted are shared, so
//! nothing counts twice.
//!
//! Cost per collection: ListWorkflows pages, ListExecutions (pages) per
//! workflow, DescribeExecution per listed execution of a workflow not counted
//! from the logs; with `log_groups`, ListServers pages (`auto`) and
//! FilterLogEvents pages per log group.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::api::{ExecutionDetail, ListedExecution, Phase, StepError, TransferApi};
use super::logs::{server_log_group, EventKind, LoggedEvent, LogsApi, FILTER_PATTERN};
use crate::aws::ApiError;
use crate::collector::{unix_seconds, Collected, Collector, Setup};
use crate::compact::OptI64;
use crate::exposition::Exposition;
use crate::family;
use crate::interned::Interned;
use crate::services::counting::{self, Baselined};
use crate::services::LogGroups;
use crate::state::{Json, Keep, Kept};

/// Statuses whose series always exist; others only while an execution is listed in them.
const ALWAYS_SHOWN: [&str; 2] = ["IN_PROGRESS", "HANDLING_EXCEPTION"];
/// Statuses that make an execution's outcome `exception`.
const EXCEPTION_STATUSES: [&str; 2] = ["HANDLING_EXCEPTION", "EXCEPTION"];
/// `outcome` label values, indexed by "was an exception seen".
const OUTCOMES: [&str; 2] = ["completed", "exception"];
/// How far before the end of its last read the next read of a log group
/// starts: CloudWatch Logs may deliver an event minutes after it happened.
/// (The end of a read is the exporter's clock at the collection's start: a
/// skew of the exporter's clock ahead of AWS's comes off this margin.)
const OVERLAP: Duration = Duration::from_secs(5 * 60);

family!(
    INFO,
    "aws_transfer_workflow_info",
    Gauge,
    ["workflow_id"],
    "Information about a Transfer Family managed workflow; always 1."
);
family!(
    EXECUTIONS,
    "aws_transfer_workflow_executions",
    Gauge,
    ["workflow_id", "status"],
    "Executions listed in progress, by status."
);
family!(
    OLDEST_AGE,
    "aws_transfer_workflow_oldest_execution_age_seconds",
    Gauge,
    ["workflow_id"],
    "Time since the exporter first saw the oldest execution still listed (0 when none)."
);
family!(
    FINISHED,
    "aws_transfer_workflow_executions_finished_total",
    Counter,
    ["workflow_id", "outcome"],
    "Finished executions: from their ExecutionCompleted or ExecutionErrored event with \
           log_groups, else when they stop being listed (exception if one was ever seen in \
           HANDLING_EXCEPTION or EXCEPTION or with a step error)."
);
family!(
    STEP_ERRORS,
    "aws_transfer_workflow_step_errors_total",
    Counter,
    ["workflow_id", "phase", "step_type", "error_type"],
    "Step errors of executions, each (execution, phase, step) counted once."
);
family!(
    LOG_GROUP_UP,
    "aws_transfer_log_group_up",
    Gauge,
    ["log_group"],
    "1 if the log group was read at the last collection, 0 if it does not exist."
);
family!(
    LAST_END,
    "aws_transfer_workflow_last_execution_end_timestamp_seconds",
    Gauge,
    ["workflow_id", "outcome"],
    "Time of the newest ExecutionCompleted (completed) or ExecutionErrored (exception) event \
           in the workflow logs."
);

/// Where the workflow logs are read (`log_groups`), and how.
pub struct LogSource<L> {
    pub api: L,
    pub groups: LogGroups,
}

/// The Transfer Family collector of one target.
pub struct TransferCollector<A, L> {
    api: A,
    /// `None`: `log_groups` is not set, the logs are not read.
    logs: Option<LogSource<L>>,
    setup: Setup,
    state: Kept<State>,
}

/// Everything saved by `--storage.path` (derived: a field added here is saved with it).
#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Set by the first successful collection: until then nothing is counted.
    baselined: bool,
    workflows: BTreeMap<String, Box<Workflow>>,
    /// With `log_groups`: each log group of the last collection, and whether it exists.
    log_groups: BTreeMap<String, bool>,
    /// With `log_groups`: by log group of the last collection, where its last
    /// read ended (epoch ms: the time of that collection, whether or not the
    /// read found events or the group); its next read starts [`OVERLAP`]
    /// before. Absent from state files older than this field.
    #[serde(default)]
    log_read_ms: BTreeMap<String, i64>,
    /// With `log_groups`: the newest read mark, where the read of a group
    /// without a mark of its own (new since the last collection) starts
    /// [`OVERLAP`] before: whatever it holds from before that collection was
    /// there, and was not selected, when the others were read. (State files
    /// older than `log_read_ms` hold the newest event time read here; read
    /// the same way, it only starts the reads earlier.)
    log_mark_ms: Option<i64>,
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

/// Maps and sets of execution ids with an unkeyed hasher: smaller than with a
/// `RandomState`, in every workflow (the ids come from AWS, not from a caller).
type Fixed = BuildHasherDefault<DefaultHasher>;

/// What the exporter remembers of one workflow.
#[derive(Default, Serialize, Deserialize)]
struct Workflow {
    /// The executions listed at the last collection, by id.
    executions: HashMap<String, Tracked, Fixed>,
    /// By outcome, in the order of `OUTCOMES`.
    finished: [u64; 2],
    /// (phase, step type, error type) -> count.
    #[serde(with = "crate::state::pairs")]
    step_errors: BTreeMap<(Phase, String, String), u64>,
    /// With `log_groups`: the executions known from the logs (or ended by the
    /// listing), by id, until they are forgotten.
    logged: HashMap<String, Logged, Fixed>,
    /// With `log_groups`: the log groups its events were read from.
    log_groups: BTreeSet<String>,
    /// With `log_groups`: time (epoch ms) of the newest end event, by outcome.
    /// In 8 bytes each ([`OptI64`]): saved as the options they are.
    last_end_ms: [OptI64; 2],
}

/// An execution being followed while it is listed.
#[derive(Serialize, Deserialize)]
struct Tracked {
    first_seen: f64,
    /// The latest status seen, for the `executions` gauge.
    status: Interned,
    /// Ever seen in an exception status or with a step error.
    exception: bool,
    /// (phase, step index) of the step errors already seen.
    errors_seen: HashSet<(Phase, usize), Fixed>,
}

/// An execution as the workflow logs show it, for de-duplication.
#[derive(Default, Serialize, Deserialize)]
struct Logged {
    /// Its outcome was counted (or, at the baseline, seen): by its first end
    /// event, or by the listing when it stopped being listed.
    ended: bool,
    /// The step names of the StepErrored events read.
    errored_steps: BTreeSet<String>,
    /// (timestamp ms, event id) of its first StepErrored: a later one is an
    /// error of the exception handler.
    first_error: Option<(i64, String)>,
    /// By phase: a StepErrored read from the logs.
    log_errors: [bool; 2],
    /// By phase: a step error the listing (DescribeExecution) counted and no
    /// log event has matched yet.
    listed_errors: [bool; 2],
    /// The newest time it was seen (epoch ms): when it is forgotten.
    last_ms: i64,
}

/// What one collection read from the logs.
struct LogRead {
    /// Every log group, and whether it exists.
    groups: Vec<(String, bool)>,
    /// (index in `groups`, event), in the order read.
    events: Vec<(usize, LoggedEvent)>,
}

/// One listed execution and, unless it was already gone or not needed, its description.
type Fetched = (ListedExecution, Option<ExecutionDetail>);

impl<A: TransferApi, L: LogsApi> TransferCollector<A, L> {
    pub fn new(api: A, logs: Option<LogSource<L>>, setup: Setup) -> Self {
        TransferCollector {
            api,
            logs,
            setup,
            state: Kept::default(),
        }
    }

    /// Lists the executions of every workflow; `None` for a workflow that vanished meanwhile.
    async fn list_all(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<Vec<ListedExecution>>>, ApiError> {
        let lists = (0..ids.len()).map(|i| self.api.list_executions(&ids[i]));
        let mut listings: Vec<Option<Vec<ListedExecution>>> = self.setup.fetch_all(lists).await?;
        for executions in listings.iter_mut().flatten() {
            let mut seen = HashSet::new();
            executions.retain(|e| seen.insert(e.id.clone()));
        }
        Ok(listings)
    }

    /// Describes every listed execution of the workflows not counted from the
    /// logs, in the order of `listings`.
    async fn describe_all(
        &self,
        ids: &[String],
        listings: &[Option<Vec<ListedExecution>>],
        covered: &[bool],
    ) -> Result<Vec<Option<ExecutionDetail>>, ApiError> {
        // (workflow, execution) indices, so that each request future is made only when its turn comes.
        let work: Vec<(usize, usize)> = (0..ids.len())
            .filter(|&i| !covered[i])
            .flat_map(|i| (0..listings[i].as_deref().map_or(0, <[_]>::len)).map(move |j| (i, j)))
            .collect();
        let describes = work.into_iter().map(|(i, j)| {
            let executions = listings[i].as_deref().unwrap_or_default();
            self.api.describe_execution(&ids[i], &executions[j].id)
        });
        self.setup.fetch_all(describes).await
    }

    /// The log groups (ListServers with `auto`) and every event of them from
    /// the read start on; `None` without `log_groups`.
    async fn read_logs(&self, now: f64) -> Result<Option<LogRead>, ApiError> {
        let Some(source) = &self.logs else {
            return Ok(None);
        };
        let mut groups: Vec<String> = match &source.groups {
            LogGroups::Auto => self
                .api
                .list_servers()
                .await?
                .iter()
                .map(|id| server_log_group(id))
                .collect(),
            LogGroups::Names(names) => names.clone(),
        };
        let mut unique = HashSet::new();
        groups.retain(|g| unique.insert(g.clone()));
        let starts: Vec<i64> = groups
            .iter()
            .map(|g| self.read_start_ms(Some(g), now))
            .collect();
        let reads = (0..groups.len()).map(|i| {
            source
                .api
                .filter_log_events(&groups[i], starts[i], FILTER_PATTERN)
        });
        let results = self.setup.fetch_all(reads).await?;
        let mut read = LogRead {
            groups: Vec::with_capacity(groups.len()),
            events: Vec::new(),
        };
        for (i, (group, events)) in groups.into_iter().zip(results).enumerate() {
            read.groups.push((group, events.is_some()));
            read.events
                .extend(events.into_iter().flatten().map(|event| (i, event)));
        }
        Ok(Some(read))
    }

    /// Where the next read of `group` starts (epoch ms; `None`: a group
    /// without a mark of its own): [`OVERLAP`] before its read mark (the end
    /// of its last read), or before the newest mark for a group new since the
    /// last collection; never before the lookback (at the baseline: the start
    /// of the lookback).
    fn read_start_ms(&self, group: Option<&str>, now: f64) -> i64 {
        let floor = self.lookback_start_ms(now);
        let overlap = OVERLAP.as_millis() as i64;
        group
            .and_then(|g| self.state.log_read_ms.get(g).copied())
            .or(self.state.log_mark_ms)
            .map_or(floor, |mark| (mark - overlap).max(floor))
    }

    /// The earliest start of the next reads (epoch ms): an execution whose
    /// events are all older can no longer be read again.
    fn next_reads_start_ms(&self, now: f64) -> i64 {
        let groups = self.state.log_read_ms.keys();
        groups
            .map(|g| self.read_start_ms(Some(g), now))
            .fold(self.read_start_ms(None, now), i64::min)
    }

    /// `now` - lookback, epoch ms.
    fn lookback_start_ms(&self, now: f64) -> i64 {
        let lookback = self.setup.lookback.as_millis();
        to_ms(now).saturating_sub(lookback.min(i64::MAX as u128) as i64)
    }

    /// By workflow (in the order of `ids`): whether its counters come from the
    /// logs, that is, its events were read (now or before) in a group that exists.
    fn covered(&self, ids: &[String], read: Option<&LogRead>) -> Vec<bool> {
        let Some(read) = read else {
            return vec![false; ids.len()];
        };
        let readable: HashSet<&str> = read
            .groups
            .iter()
            .filter(|(_, exists)| *exists)
            .map(|(g, _)| g.as_str())
            .collect();
        let fresh: HashSet<&str> = read
            .events
            .iter()
            .filter_map(|(_, e)| e.event.as_ref().map(|e| e.workflow_id.as_str()))
            .collect();
        ids.iter()
            .map(|id| {
                fresh.contains(id.as_str())
                    || self
                        .state
                        .workflows
                        .get(id)
                        .is_some_and(|w| w.log_groups.iter().any(|g| readable.contains(g.as_str())))
            })
            .collect()
    }

    /// Applies a fully fetched collection to the state. Cannot fail.
    fn apply(
        &mut self,
        listed: Vec<(String, Option<Vec<Fetched>>)>,
        covered: Vec<bool>,
        read: Option<LogRead>,
        now: f64,
    ) {
        let count = counting::counts(&self.state, true, None);
        // ListWorkflows gives no creation time: a workflow absent from a state
        // just restored gets its own baseline (what it did so far is not counted).
        let mut unknown = HashSet::new();
        let mut workflows = Vec::with_capacity(listed.len());
        for (id, executions) in &listed {
            // Gone between ListWorkflows and ListExecutions: deleted, like an unlisted one.
            if executions.is_some() {
                // The remembered key is kept: the listing's copy is dropped with the collection.
                let known = self.state.workflows.remove_entry(id);
                if known.is_none() && !counting::counts(&self.state, false, None) {
                    unknown.insert(id.clone());
                }
                workflows.push(known.unwrap_or_else(|| (id.clone(), Box::default())));
            }
        }
        // Workflows left behind were deleted: their tracked executions go uncounted.
        // Collected at once: a map built in one go has full B-tree nodes, where
        // inserts in key order leave them half empty.
        self.state.workflows = BTreeMap::from_iter(workflows);
        let logs_on = read.is_some();
        // The logs first: an execution they count is not counted again by the listing.
        if let Some(read) = read {
            self.apply_logs(read, count, &unknown, to_ms(now));
        }
        for ((id, executions), covered) in listed.into_iter().zip(covered) {
            let (Some(executions), Some(workflow)) =
                (executions, self.state.workflows.get_mut(&id))
            else {
                continue;
            };
            let source = match (logs_on, covered) {
                (false, _) => Source::Listing,
                (true, false) => Source::ListingBesideLogs(to_ms(now)),
                (true, true) => Source::Logs,
            };
            let count = count && !unknown.contains(&id);
            workflow.absorb(&id, executions, now, count, source);
            crate::fault::point("transfer");
        }
        if logs_on {
            let (read_start, lookback_start) =
                (self.next_reads_start_ms(now), self.lookback_start_ms(now));
            for workflow in self.state.workflows.values_mut() {
                workflow.forget(read_start, lookback_start);
            }
        }
        counting::applied(&mut self.state);
    }

    /// Counts the events read (at the baseline: only remembers them), moves
    /// every group's read mark to `read_ms` (the collection's time: each read
    /// returned what CloudWatch held when it was made, later), and records
    /// which groups exist.
    fn apply_logs(
        &mut self,
        read: LogRead,
        count: bool,
        baselined: &HashSet<String>,
        read_ms: i64,
    ) {
        let LogRead { groups, mut events } = read;
        events.sort_by(|(_, a), (_, b)| {
            (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id))
        });
        for (group, logged) in events {
            let Some(event) = logged.event else { continue };
            // A workflow that is not listed (deleted, or not selected): skipped.
            let Some(workflow) = self.state.workflows.get_mut(&event.workflow_id) else {
                continue;
            };
            if !workflow.log_groups.contains(&groups[group].0) {
                workflow.log_groups.insert(groups[group].0.clone());
            }
            let at = (logged.timestamp_ms, logged.event_id);
            let count = count && !baselined.contains(&event.workflow_id);
            workflow.see_event(
                &event.workflow_id,
                &event.execution_id,
                event.kind,
                at,
                count,
            );
        }
        for (group, exists) in &groups {
            if !exists && self.state.log_groups.get(group) != Some(&false) {
                tracing::info!(
                    log_group = %group,
                    "Transfer log group not found (a server without a logging role?); \
                     this is not an error: the workflows whose events are in no readable \
                     group are counted from the listing, as without log_groups"
                );
            }
        }
        let current: BTreeMap<String, bool> = groups.into_iter().collect();
        for workflow in self.state.workflows.values_mut() {
            workflow.log_groups.retain(|g| current.contains_key(g));
        }
        // A group that leaves loses its mark: should it come back, what it
        // holds since is read from the newest mark, like any new group's
        // (its remembered ids are forgotten by then).
        let marks = std::mem::take(&mut self.state.log_read_ms);
        self.state.log_read_ms = current
            .keys()
            .map(|g| (g.clone(), marks.get(g).map_or(read_ms, |&m| m.max(read_ms))))
            .collect();
        self.state.log_mark_ms = self.state.log_mark_ms.max(Some(read_ms));
        self.state.log_groups = current;
    }

    fn render(&self, now: f64) -> Exposition {
        let mut e = self.setup.exposition();
        for (group, exists) in &self.state.log_groups {
            e.sample(
                &LOG_GROUP_UP,
                &[("log_group", group)],
                f64::from(u8::from(*exists)),
            );
        }
        for (id, workflow) in &self.state.workflows {
            workflow.render(id, now, &mut e);
        }
        e
    }

    /// Execution ids held in memory: listed ones being followed, and those
    /// remembered from the logs.
    fn tracked(&self) -> usize {
        self.state
            .workflows
            .values()
            .map(|w| w.executions.len() + w.logged.len())
            .sum()
    }
}

/// Epoch milliseconds of Unix seconds.
fn to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Where the counters of a workflow come from at this collection.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    /// No `log_groups`: the listing alone.
    Listing,
    /// `log_groups` set but none of the workflow's events in a readable group:
    /// the listing counts, and tells the logs what it counted (at this time, ms).
    ListingBesideLogs(i64),
    /// The logs count; the listing only feeds the gauges.
    Logs,
}

#[async_trait::async_trait]
impl<A: TransferApi + 'static, L: LogsApi + 'static> Collector for TransferCollector<A, L> {
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError> {
        let now = unix_seconds(now);
        let mut unique = HashSet::new();
        let ids: Vec<String> = self
            .api
            .list_workflows()
            .await?
            .into_iter()
            .filter(|id| self.setup.filter.matches(id) && unique.insert(id.clone()))
            .collect();
        let read = self.read_logs(now).await?;
        let listings = self.list_all(&ids).await?;
        let covered = self.covered(&ids, read.as_ref());
        let mut details = self
            .describe_all(&ids, &listings, &covered)
            .await?
            .into_iter();
        let listed = ids
            .into_iter()
            .zip(listings)
            .zip(&covered)
            .map(|((id, listing), &covered)| {
                let fetched = listing.map(|executions| {
                    executions
                        .into_iter()
                        .map(|e| {
                            let detail = if covered {
                                None
                            } else {
                                details.next().flatten()
                            };
                            (e, detail)
                        })
                        .collect()
                });
                (id, fetched)
            })
            .collect();
        self.apply(listed, covered, read, now);
        Ok(Collected {
            exposition: self.render(now),
            tracked: self.tracked(),
        })
    }

    fn kept(&mut self) -> Option<&mut dyn Keep> {
        Some(&mut self.state)
    }
}

mod workflow;

#[cfg(test)]
mod tests;
