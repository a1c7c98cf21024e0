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
//! the same execution exists. Reads start [`OVERLAP`] before the newest event
//! time read (at the baseline: at the start of the lookback, counting
//! nothing), and re-read events are de-duplicated by (execution, type, step
//! name). A workflow is counted from the logs while its events were read in a
//! group that exists; a workflow whose events are in no readable group keeps
//! the listing-based counting. Where the two meet (a workflow whose logs
//! appear or disappear), the execution ids and error phases each source has
//! counted are shared, so nothing counts twice.
//!
//! Cost per collection: ListWorkflows pages, ListExecutions (pages) per
//! workflow, DescribeExecution per listed execution of a workflow not counted
//! from the logs; with `log_groups`, ListServers pages (`auto`) and
//! FilterLogEvents pages per log group.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::api::{ExecutionDetail, ListedExecution, Phase, StepError, TransferApi};
use super::logs::{server_log_group, EventKind, LoggedEvent, LogsApi, FILTER_PATTERN};
use crate::aws::ApiError;
use crate::collector::{fetch_all, unix_seconds, Collected, Collector};
use crate::exposition::Exposition;
use crate::family;
use crate::filter::NameFilter;
use crate::services::LogGroups;

/// Statuses whose series always exist; others only while an execution is listed in them.
const ALWAYS_SHOWN: [&str; 2] = ["IN_PROGRESS", "HANDLING_EXCEPTION"];
/// Statuses that make an execution's outcome `exception`.
const EXCEPTION_STATUSES: [&str; 2] = ["HANDLING_EXCEPTION", "EXCEPTION"];
/// `outcome` label values, indexed by "was an exception seen".
const OUTCOMES: [&str; 2] = ["completed", "exception"];
/// How far before the newest event read the next read of the logs starts:
/// CloudWatch Logs may deliver an event minutes after it happened.
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
    filter: NameFilter,
    concurrency: usize,
    lookback: Duration,
    base_labels: Vec<(String, String)>,
    state: State,
    /// `saved_at` of a restored state, until the first collection after the restore.
    resumed: Option<f64>,
}

/// Everything saved by `--storage.path` (derived: a field added here is saved with it).
#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Set by the first successful collection: until then nothing is counted.
    baselined: bool,
    workflows: BTreeMap<String, Workflow>,
    /// With `log_groups`: each log group of the last collection, and whether it exists.
    log_groups: BTreeMap<String, bool>,
    /// With `log_groups`: the newest event time read so far (epoch ms), the
    /// high-water mark the next read starts [`OVERLAP`] before.
    log_mark_ms: Option<i64>,
}

/// What the exporter remembers of one workflow.
#[derive(Default, Serialize, Deserialize)]
struct Workflow {
    /// The executions listed at the last collection, by id.
    executions: HashMap<String, Tracked>,
    /// By outcome, in the order of `OUTCOMES`.
    finished: [u64; 2],
    /// (phase, step type, error type) -> count.
    #[serde(with = "crate::state::pairs")]
    step_errors: BTreeMap<(Phase, String, String), u64>,
    /// With `log_groups`: the executions known from the logs (or ended by the
    /// listing), by id, until they are forgotten.
    logged: HashMap<String, Logged>,
    /// With `log_groups`: the log groups its events were read from.
    log_groups: BTreeSet<String>,
    /// With `log_groups`: time (epoch ms) of the newest end event, by outcome.
    last_end_ms: [Option<i64>; 2],
}

/// An execution being followed while it is listed.
#[derive(Serialize, Deserialize)]
struct Tracked {
    first_seen: f64,
    /// The latest status seen, for the `executions` gauge.
    status: String,
    /// Ever seen in an exception status or with a step error.
    exception: bool,
    /// (phase, step index) of the step errors already seen.
    errors_seen: HashSet<(Phase, usize)>,
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
    pub fn new(
        api: A,
        logs: Option<LogSource<L>>,
        filter: NameFilter,
        concurrency: usize,
        lookback: Duration,
        base_labels: Vec<(String, String)>,
    ) -> Self {
        TransferCollector {
            api,
            logs,
            filter,
            concurrency: concurrency.max(1),
            lookback,
            base_labels,
            state: State::default(),
            resumed: None,
        }
    }

    /// Lists the executions of every workflow; `None` for a workflow that vanished meanwhile.
    async fn list_all(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<Vec<ListedExecution>>>, ApiError> {
        let lists = (0..ids.len()).map(|i| self.api.list_executions(&ids[i]));
        let mut listings: Vec<Option<Vec<ListedExecution>>> =
            fetch_all(lists, self.concurrency).await?;
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
        fetch_all(describes, self.concurrency).await
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
        let start_ms = self.read_start_ms(now);
        let reads = (0..groups.len()).map(|i| {
            source
                .api
                .filter_log_events(&groups[i], start_ms, FILTER_PATTERN)
        });
        let results = fetch_all(reads, self.concurrency).await?;
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

    /// Where the next read of the logs starts (epoch ms): [`OVERLAP`] before
    /// the newest event read, never before the lookback (at the baseline: the
    /// start of the lookback).
    fn read_start_ms(&self, now: f64) -> i64 {
        let floor = self.lookback_start_ms(now);
        let overlap = OVERLAP.as_millis() as i64;
        self.state
            .log_mark_ms
            .map_or(floor, |mark| (mark - overlap).max(floor))
    }

    /// `now` - lookback, epoch ms.
    fn lookback_start_ms(&self, now: f64) -> i64 {
        to_ms(now).saturating_sub(self.lookback.as_millis().min(i64::MAX as u128) as i64)
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
        let count = self.state.baselined;
        // ListWorkflows gives no creation time: a workflow absent from a state
        // just restored gets its own baseline (what it did so far is not counted).
        let mut unknown = HashSet::new();
        let mut workflows = BTreeMap::new();
        for (id, executions) in &listed {
            // Gone between ListWorkflows and ListExecutions: deleted, like an unlisted one.
            if executions.is_some() {
                let known = self.state.workflows.remove(id);
                if known.is_none() && self.resumed.is_some() {
                    unknown.insert(id.clone());
                }
                workflows.insert(id.clone(), known.unwrap_or_default());
            }
        }
        // Workflows left behind were deleted: their tracked executions go uncounted.
        self.state.workflows = workflows;
        let logs_on = read.is_some();
        // The logs first: an execution they count is not counted again by the listing.
        if let Some(read) = read {
            self.apply_logs(read, count, &unknown);
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
        }
        if logs_on {
            let (read_start, lookback_start) =
                (self.read_start_ms(now), self.lookback_start_ms(now));
            for workflow in self.state.workflows.values_mut() {
                workflow.forget(read_start, lookback_start);
            }
        }
        self.state.baselined = true;
        self.resumed = None;
    }

    /// Counts the events read (at the baseline: only remembers them), moves
    /// the high-water mark, and records which groups exist.
    fn apply_logs(&mut self, read: LogRead, count: bool, baselined: &HashSet<String>) {
        let LogRead { groups, mut events } = read;
        events.sort_by(|(_, a), (_, b)| {
            (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id))
        });
        let newest = events.last().map(|(_, e)| e.timestamp_ms);
        self.state.log_mark_ms = self.state.log_mark_ms.max(newest);
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
                    "Transfer log group does not exist: workflows whose events are in no \
                     readable group are counted from the listing"
                );
            }
        }
        let current: BTreeMap<String, bool> = groups.into_iter().collect();
        for workflow in self.state.workflows.values_mut() {
            workflow.log_groups.retain(|g| current.contains_key(g));
        }
        self.state.log_groups = current;
    }

    fn render(&self, now: f64) -> Exposition {
        let mut e = Exposition::new(&self.base_labels);
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

impl Tracked {
    fn new(first_seen: f64) -> Tracked {
        Tracked {
            first_seen,
            status: String::new(),
            exception: false,
            errors_seen: HashSet::new(),
        }
    }

    fn see_status(&mut self, status: Option<&str>) {
        if let Some(status) = status {
            self.exception |= EXCEPTION_STATUSES.contains(&status);
            self.status = status.to_string();
        }
    }
}

impl Logged {
    fn seen_at(last_ms: i64) -> Logged {
        Logged {
            last_ms,
            ..Logged::default()
        }
    }
}

impl Workflow {
    /// Takes in this collection's listing: counts executions no longer listed,
    /// follows the listed ones, and counts new step errors (when `count`),
    /// unless the logs count this workflow.
    fn absorb(
        &mut self,
        workflow_id: &str,
        listed: Vec<Fetched>,
        now: f64,
        count: bool,
        source: Source,
    ) {
        let ids: HashSet<&str> = listed.iter().map(|(e, _)| e.id.as_str()).collect();
        let ended: Vec<String> = self
            .executions
            .keys()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        for execution_id in ended {
            let Some(t) = self.executions.remove(&execution_id) else {
                continue;
            };
            let outcome = usize::from(t.exception);
            match source {
                Source::Logs => continue,
                Source::ListingBesideLogs(now_ms) => {
                    let logged = self
                        .logged
                        .entry(execution_id.clone())
                        .or_insert_with(|| Logged::seen_at(now_ms));
                    // Its end event was read (while its logs were readable): counted then.
                    if std::mem::replace(&mut logged.ended, true) {
                        continue;
                    }
                    logged.last_ms = logged.last_ms.max(now_ms);
                }
                Source::Listing => {}
            }
            self.finished[outcome] += 1;
            tracing::debug!(
                workflow_id,
                execution_id,
                outcome = OUTCOMES[outcome],
                "Transfer execution finished"
            );
        }
        for (execution, detail) in listed {
            let tracked = self
                .executions
                .entry(execution.id.clone())
                .or_insert_with(|| Tracked::new(now));
            tracked.see_status(execution.status.as_deref());
            // DescribeExecution came later: its status is the fresher one. When it no longer
            // knows the execution (or was not asked: the logs count it), that has finished,
            // and is counted once it stops being listed.
            let Some(detail) = detail else { continue };
            tracked.see_status(detail.status.as_deref());
            for error in detail.step_errors {
                if !tracked.errors_seen.insert((error.phase, error.index)) {
                    continue;
                }
                tracked.exception = true;
                if let Source::ListingBesideLogs(now_ms) = source {
                    let logged = self
                        .logged
                        .entry(execution.id.clone())
                        .or_insert_with(|| Logged::seen_at(now_ms));
                    logged.last_ms = logged.last_ms.max(now_ms);
                    let phase = error.phase.index();
                    // Read from the logs already (while they were readable): counted then.
                    if logged.log_errors[phase] {
                        continue;
                    }
                    logged.listed_errors[phase] = true;
                }
                if count {
                    log_step_error(workflow_id, &execution.id, &error);
                    let key = (error.phase, error.step_type, error.error_type);
                    *self.step_errors.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// Takes in one event of the logs, read at `at` (timestamp ms, event id);
    /// counts it when `count` and it is new.
    fn see_event(
        &mut self,
        workflow_id: &str,
        execution_id: &str,
        kind: EventKind,
        at: (i64, String),
        count: bool,
    ) {
        let logged = self
            .logged
            .entry(execution_id.to_owned())
            .or_insert_with(|| Logged::seen_at(at.0));
        logged.last_ms = logged.last_ms.max(at.0);
        match kind {
            EventKind::Ended { exception } => {
                if std::mem::replace(&mut logged.ended, true) {
                    return;
                }
                let outcome = usize::from(exception);
                let last = &mut self.last_end_ms[outcome];
                *last = (*last).max(Some(at.0));
                if count {
                    self.finished[outcome] += 1;
                    tracing::debug!(
                        workflow_id,
                        execution_id,
                        outcome = OUTCOMES[outcome],
                        "Transfer execution finished (workflow logs)"
                    );
                }
            }
            EventKind::StepErrored {
                step_name,
                step_type,
                error_type,
                message,
            } => {
                if !logged.errored_steps.insert(step_name.clone()) {
                    return;
                }
                let phase = match &logged.first_error {
                    Some(first) if *first < at => Phase::OnExceptionSteps,
                    _ => Phase::Steps,
                };
                if phase == Phase::Steps {
                    logged.first_error = Some(at);
                }
                logged.log_errors[phase.index()] = true;
                // Counted by the listing before this workflow's logs could be read.
                if std::mem::take(&mut logged.listed_errors[phase.index()]) {
                    return;
                }
                if count {
                    tracing::warn!(
                        workflow_id,
                        execution_id,
                        phase = phase.label(),
                        step = %step_name,
                        step_type = %step_type,
                        error_type = %error_type,
                        %message,
                        "Transfer workflow step failed"
                    );
                    let key = (phase, step_type, error_type);
                    *self.step_errors.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// Forgets the executions the next read cannot return again: an ended
    /// one once its events are older than `read_start` (the overlap), one
    /// that has not ended once older than `lookback_start`.
    fn forget(&mut self, read_start: i64, lookback_start: i64) {
        self.logged.retain(|_, l| {
            let horizon = if l.ended { read_start } else { lookback_start };
            l.last_ms >= horizon
        });
    }

    fn render(&self, id: &str, now: f64, e: &mut Exposition) {
        let workflow = [("workflow_id", id)];
        e.sample(&INFO, &workflow, 1.0);
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        for t in self.executions.values() {
            *by_status.entry(t.status.as_str()).or_default() += 1;
        }
        for status in ALWAYS_SHOWN {
            let n = by_status.remove(status).unwrap_or(0);
            e.sample(
                &EXECUTIONS,
                &[("workflow_id", id), ("status", status)],
                n as f64,
            );
        }
        for (status, n) in by_status {
            e.sample(
                &EXECUTIONS,
                &[("workflow_id", id), ("status", status)],
                n as f64,
            );
        }
        let oldest = self
            .executions
            .values()
            .map(|t| t.first_seen)
            .reduce(f64::min);
        let age = oldest.map_or(0.0, |first| (now - first).max(0.0));
        e.sample(&OLDEST_AGE, &workflow, age);
        for (outcome, n) in OUTCOMES.iter().zip(self.finished) {
            e.sample(
                &FINISHED,
                &[("workflow_id", id), ("outcome", outcome)],
                n as f64,
            );
        }
        for ((phase, step_type, error_type), n) in &self.step_errors {
            e.sample(
                &STEP_ERRORS,
                &[
                    ("workflow_id", id),
                    ("phase", phase.label()),
                    ("step_type", step_type),
                    ("error_type", error_type),
                ],
                *n as f64,
            );
        }
        for (outcome, last) in OUTCOMES.iter().zip(self.last_end_ms) {
            if let Some(ms) = last {
                e.sample(
                    &LAST_END,
                    &[("workflow_id", id), ("outcome", outcome)],
                    ms as f64 / 1000.0,
                );
            }
        }
    }
}

fn log_step_error(workflow_id: &str, execution_id: &str, error: &StepError) {
    tracing::warn!(
        workflow_id,
        execution_id,
        phase = error.phase.label(),
        step = error.index,
        step_type = %error.step_type,
        error_type = %error.error_type,
        message = %error.message,
        "Transfer workflow step failed"
    );
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
            .filter(|id| self.filter.matches(id) && unique.insert(id.clone()))
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

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(crate::state::to_json(&self.state))
    }

    fn restore(&mut self, state: &str, saved_at: f64) -> Result<(), String> {
        self.state = crate::state::from_json(state)?;
        self.resumed = Some(saved_at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::aws::Outcome;
    use crate::collector::fake_error;
    use crate::services::transfer::logs::parse;

    const NOW: f64 = 1_700_000_000.0;

    /// One execution in the fake: its listing and what DescribeExecution says (None: gone).
    type FakeExecution = (ListedExecution, Option<ExecutionDetail>);

    /// Transfer in memory: workflows and their executions in progress.
    #[derive(Default)]
    struct Fake {
        workflows: Mutex<BTreeMap<String, Vec<FakeExecution>>>,
        calls: Mutex<Vec<String>>,
        fail_describe: Mutex<bool>,
        /// Listed by ListWorkflows, unknown to ListExecutions.
        ghost: Mutex<Option<String>>,
        /// Server ids, for ListServers.
        servers: Mutex<Vec<String>>,
        /// Log groups and their events (timestamp ms, message), in any order.
        groups: Mutex<BTreeMap<String, Vec<(i64, String)>>>,
        /// FilterLogEvents fails (after its retries) with this code.
        fail_logs: Mutex<Option<&'static str>>,
    }

    impl LogsApi for Arc<Fake> {
        async fn filter_log_events(
            &self,
            group: &str,
            start_ms: i64,
            pattern: &str,
        ) -> Result<Option<Vec<LoggedEvent>>, ApiError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("FilterLogEvents {group} {start_ms}"));
            assert_eq!(pattern, FILTER_PATTERN);
            if let Some(code) = *self.fail_logs.lock().unwrap() {
                return Err(fake_error("FilterLogEvents", Outcome::Throttled, code));
            }
            let groups = self.groups.lock().unwrap();
            let Some(events) = groups.get(group) else {
                return Ok(None);
            };
            let mut events: Vec<LoggedEvent> = events
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| *t >= start_ms)
                .map(|(i, (t, message))| LoggedEvent {
                    timestamp_ms: *t,
                    event_id: format!("{t:020}{i:036}"),
                    event: parse(message),
                })
                .collect();
            events
                .sort_by(|a, b| (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id)));
            Ok(Some(events))
        }
    }

    impl TransferApi for Arc<Fake> {
        async fn list_servers(&self) -> Result<Vec<String>, ApiError> {
            self.calls.lock().unwrap().push("ListServers".into());
            Ok(self.servers.lock().unwrap().clone())
        }
        async fn list_workflows(&self) -> Result<Vec<String>, ApiError> {
            self.calls.lock().unwrap().push("ListWorkflows".into());
            let mut ids: Vec<String> = self.workflows.lock().unwrap().keys().cloned().collect();
            ids.extend(self.ghost.lock().unwrap().clone());
            Ok(ids)
        }
        async fn list_executions(
            &self,
            id: &str,
        ) -> Result<Option<Vec<ListedExecution>>, ApiError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("ListExecutions {id}"));
            let workflows = self.workflows.lock().unwrap();
            Ok(workflows
                .get(id)
                .map(|list| list.iter().map(|(e, _)| e.clone()).collect()))
        }
        async fn describe_execution(
            &self,
            id: &str,
            execution: &str,
        ) -> Result<Option<ExecutionDetail>, ApiError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("DescribeExecution {id} {execution}"));
            if *self.fail_describe.lock().unwrap() {
                return Err(fake_error(
                    "DescribeExecution",
                    Outcome::ServerError,
                    "InternalServiceError",
                ));
            }
            let workflows = self.workflows.lock().unwrap();
            let list = workflows.get(id).map(Vec::as_slice).unwrap_or_default();
            Ok(list
                .iter()
                .find(|(e, _)| e.id == execution)
                .and_then(|(_, d)| d.clone()))
        }
    }

    impl Fake {
        fn set(&self, workflow: &str, executions: Vec<FakeExecution>) {
            self.workflows
                .lock()
                .unwrap()
                .insert(workflow.into(), executions);
        }
        fn remove(&self, workflow: &str) {
            self.workflows.lock().unwrap().remove(workflow);
        }
        fn take_calls(&self) -> Vec<String> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    fn error(phase: Phase, index: usize, step_type: &str, error_type: &str) -> StepError {
        StepError {
            phase,
            index,
            step_type: step_type.into(),
            error_type: error_type.into(),
            message: "secret path /home/alice/payroll.csv".into(),
        }
    }

    /// An execution listed and described with `status` and these step errors.
    fn exec(id: &str, status: &str, errors: Vec<StepError>) -> FakeExecution {
        let status = Some(status.to_string());
        (
            ListedExecution {
                id: id.into(),
                status: status.clone(),
            },
            Some(ExecutionDetail {
                status,
                step_errors: errors,
            }),
        )
    }

    type Tested = TransferCollector<Arc<Fake>, Arc<Fake>>;

    fn collector(fake: &Arc<Fake>) -> Tested {
        TransferCollector::new(
            fake.clone(),
            None,
            NameFilter::default(),
            4,
            Duration::from_secs(86_400),
            vec![("region".into(), "us-east-1".into())],
        )
    }

    async fn collect_at(c: &mut Tested, t: f64) -> (String, usize) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t);
        let collected = c.collect(at).await.expect("collection");
        let mut out = String::new();
        crate::exposition::render([&collected.exposition], &mut out);
        (out, collected.tracked)
    }

    async fn collect(c: &mut Tested) -> String {
        collect_at(c, NOW).await.0
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map(|v| v.parse().unwrap())
    }

    fn finished(text: &str, workflow: &str, outcome: &str) -> Option<f64> {
        value(text, &format!("aws_transfer_workflow_executions_finished_total{{workflow_id=\"{workflow}\",outcome=\"{outcome}\",region=\"us-east-1\"}}"))
    }

    fn executions(text: &str, workflow: &str, status: &str) -> Option<f64> {
        value(text, &format!("aws_transfer_workflow_executions{{workflow_id=\"{workflow}\",status=\"{status}\",region=\"us-east-1\"}}"))
    }

    fn step_errors(text: &str, workflow: &str, labels: &str) -> Option<f64> {
        value(text, &format!("aws_transfer_workflow_step_errors_total{{workflow_id=\"{workflow}\",{labels},region=\"us-east-1\"}}"))
    }

    const COPY_DENIED: &str = "phase=\"steps\",step_type=\"COPY\",error_type=\"PERMISSION_DENIED\"";

    #[tokio::test]
    async fn baseline_tracks_without_counting_then_counts_when_unlisted() {
        let fake = Arc::new(Fake::default());
        fake.set(
            "w",
            vec![
                exec("plain", "IN_PROGRESS", vec![]),
                exec(
                    "erred",
                    "IN_PROGRESS",
                    vec![error(Phase::Steps, 0, "COPY", "PERMISSION_DENIED")],
                ),
                exec("handling", "HANDLING_EXCEPTION", vec![]),
            ],
        );
        let mut c = collector(&fake);
        let (text, tracked) = collect_at(&mut c, NOW).await;
        assert_eq!(tracked, 3);
        assert!(
            text.contains("aws_transfer_workflow_info{workflow_id=\"w\",region=\"us-east-1\"} 1")
        );
        assert_eq!(finished(&text, "w", "completed"), Some(0.0));
        assert_eq!(finished(&text, "w", "exception"), Some(0.0));
        assert_eq!(executions(&text, "w", "IN_PROGRESS"), Some(2.0));
        assert_eq!(executions(&text, "w", "HANDLING_EXCEPTION"), Some(1.0));
        assert!(!text.contains("aws_transfer_workflow_step_errors_total"));

        // Still listed with the same error: not counted later either.
        let (text, _) = collect_at(&mut c, NOW + 60.0).await;
        assert!(!text.contains("aws_transfer_workflow_step_errors_total"));
        let age = "aws_transfer_workflow_oldest_execution_age_seconds{workflow_id=\"w\",region=\"us-east-1\"}";
        assert_eq!(value(&text, age), Some(60.0));

        fake.set("w", vec![]);
        for _ in 0..2 {
            let (text, tracked) = collect_at(&mut c, NOW + 120.0).await;
            assert_eq!(tracked, 0);
            assert_eq!(finished(&text, "w", "completed"), Some(1.0));
            // Statuses and step errors seen at the baseline decide the outcome.
            assert_eq!(finished(&text, "w", "exception"), Some(2.0));
            assert_eq!(executions(&text, "w", "IN_PROGRESS"), Some(0.0));
            assert_eq!(executions(&text, "w", "HANDLING_EXCEPTION"), Some(0.0));
            assert_eq!(value(&text, age), Some(0.0));
        }
    }

    #[tokio::test]
    async fn each_step_error_is_counted_once_per_execution_phase_and_step() {
        let fake = Arc::new(Fake::default());
        fake.set("w", vec![]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        let copy = error(Phase::Steps, 1, "COPY", "PERMISSION_DENIED");
        fake.set("w", vec![exec("a", "IN_PROGRESS", vec![copy.clone()])]);
        let text = collect(&mut c).await;
        assert_eq!(step_errors(&text, "w", COPY_DENIED), Some(1.0));
        assert!(!text.contains("payroll"), "a message leaked into a label");
        // Seen again, plus the exception handler failing, plus a second execution.
        let handler = error(Phase::OnExceptionSteps, 0, "", "NEW_KIND");
        fake.set(
            "w",
            vec![
                exec("a", "HANDLING_EXCEPTION", vec![copy.clone(), handler]),
                exec("b", "IN_PROGRESS", vec![copy.clone()]),
            ],
        );
        for _ in 0..2 {
            let text = collect(&mut c).await;
            assert_eq!(step_errors(&text, "w", COPY_DENIED), Some(2.0));
            let handler = "phase=\"on_exception_steps\",step_type=\"\",error_type=\"NEW_KIND\"";
            assert_eq!(step_errors(&text, "w", handler), Some(1.0));
        }
        fake.set("w", vec![]);
        let text = collect(&mut c).await;
        assert_eq!(finished(&text, "w", "exception"), Some(2.0));
        assert_eq!(finished(&text, "w", "completed"), Some(0.0));
    }

    #[tokio::test]
    async fn other_statuses_show_only_while_listed() {
        let fake = Arc::new(Fake::default());
        fake.set("w", vec![]);
        let mut c = collector(&fake);
        let text = collect(&mut c).await;
        assert_eq!(executions(&text, "w", "IN_PROGRESS"), Some(0.0));
        assert_eq!(executions(&text, "w", "HANDLING_EXCEPTION"), Some(0.0));
        fake.set(
            "w",
            vec![
                exec("a", "EXCEPTION", vec![]),
                exec("b", "COMPLETED", vec![]),
                exec("c", "PAUSED", vec![]),
            ],
        );
        let text = collect(&mut c).await;
        for status in ["EXCEPTION", "COMPLETED", "PAUSED"] {
            assert_eq!(executions(&text, "w", status), Some(1.0), "{status}");
        }
        fake.set("w", vec![]);
        let text = collect(&mut c).await;
        assert!(!text.contains("status=\"EXCEPTION\""));
        assert!(!text.contains("PAUSED"));
        // EXCEPTION seen: exception; COMPLETED and an unknown status: completed.
        assert_eq!(finished(&text, "w", "exception"), Some(1.0));
        assert_eq!(finished(&text, "w", "completed"), Some(2.0));
    }

    #[tokio::test]
    async fn the_fresher_described_status_wins() {
        let fake = Arc::new(Fake::default());
        let (listed, _) = exec("a", "IN_PROGRESS", vec![]);
        let detail = ExecutionDetail {
            status: Some("HANDLING_EXCEPTION".into()),
            step_errors: vec![],
        };
        fake.set("w", vec![(listed, Some(detail))]);
        let mut c = collector(&fake);
        let text = collect(&mut c).await;
        assert_eq!(executions(&text, "w", "IN_PROGRESS"), Some(0.0));
        assert_eq!(executions(&text, "w", "HANDLING_EXCEPTION"), Some(1.0));
    }

    #[tokio::test]
    async fn deleted_workflows_take_their_executions_uncounted() {
        let fake = Arc::new(Fake::default());
        fake.set("keep", vec![exec("a", "IN_PROGRESS", vec![])]);
        fake.set("gone", vec![exec("b", "HANDLING_EXCEPTION", vec![])]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        fake.remove("gone");
        let (text, tracked) = collect_at(&mut c, NOW).await;
        assert!(!text.contains("workflow_id=\"gone\""));
        assert_eq!(tracked, 1);
        // Re-created: a new workflow whose executions all count.
        fake.set(
            "gone",
            vec![exec(
                "c",
                "IN_PROGRESS",
                vec![error(Phase::Steps, 0, "COPY", "PERMISSION_DENIED")],
            )],
        );
        let text = collect(&mut c).await;
        assert_eq!(finished(&text, "gone", "exception"), Some(0.0));
        assert_eq!(step_errors(&text, "gone", COPY_DENIED), Some(1.0));
    }

    #[tokio::test]
    async fn an_execution_gone_before_its_describe_is_not_a_failure() {
        let fake = Arc::new(Fake::default());
        fake.set("w", vec![]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        let (listed, _) = exec("a", "IN_PROGRESS", vec![]);
        fake.set("w", vec![(listed, None)]);
        let (text, tracked) = collect_at(&mut c, NOW).await;
        assert_eq!(tracked, 1);
        assert_eq!(executions(&text, "w", "IN_PROGRESS"), Some(1.0));
        fake.set("w", vec![]);
        let text = collect(&mut c).await;
        assert_eq!(finished(&text, "w", "completed"), Some(1.0));
        // A workflow gone between ListWorkflows and ListExecutions is simply gone.
        *fake.ghost.lock().unwrap() = Some("w-ghost".into());
        let (text, tracked) = collect_at(&mut c, NOW).await;
        assert!(!text.contains("w-ghost"));
        assert_eq!(tracked, 0);
    }

    #[tokio::test]
    async fn a_failed_collection_applies_nothing() {
        let fake = Arc::new(Fake::default());
        fake.set("w", vec![exec("a", "IN_PROGRESS", vec![])]);
        let mut c = collector(&fake);
        collect(&mut c).await;
        fake.set(
            "w",
            vec![exec(
                "b",
                "IN_PROGRESS",
                vec![error(Phase::Steps, 0, "COPY", "PERMISSION_DENIED")],
            )],
        );
        *fake.fail_describe.lock().unwrap() = true;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
        assert!(c.collect(at).await.is_err());
        *fake.fail_describe.lock().unwrap() = false;
        for _ in 0..2 {
            let text = collect(&mut c).await;
            assert_eq!(finished(&text, "w", "completed"), Some(1.0));
            assert_eq!(step_errors(&text, "w", COPY_DENIED), Some(1.0));
        }
    }

    #[tokio::test]
    async fn calls_are_one_list_per_workflow_and_one_describe_per_execution() {
        let fake = Arc::new(Fake::default());
        fake.set(
            "w1",
            vec![
                exec("a", "IN_PROGRESS", vec![]),
                exec("b", "IN_PROGRESS", vec![]),
            ],
        );
        fake.set("w2", vec![]);
        fake.set("skip-me", vec![exec("c", "IN_PROGRESS", vec![])]);
        let mut c: Tested = TransferCollector::new(
            fake.clone(),
            None,
            NameFilter::new(vec![], vec![regex::Regex::new("^skip").unwrap()]),
            4,
            Duration::from_secs(86_400),
            vec![],
        );
        collect(&mut c).await;
        let mut calls = fake.take_calls();
        calls.sort();
        assert_eq!(
            calls,
            vec![
                "DescribeExecution w1 a",
                "DescribeExecution w1 b",
                "ListExecutions w1",
                "ListExecutions w2",
                "ListWorkflows",
            ]
        );
    }

    // ---- With log_groups ----

    const GROUP: &str = "/aws/transfer/s-1";
    const NOW_MS: i64 = 1_700_000_000_000;
    const DAY_MS: i64 = 86_400_000;
    const OVERLAP_MS: i64 = 300_000;

    fn message(
        kind: &str,
        workflow: &str,
        execution: &str,
        step: Option<(&str, &str, &str)>,
    ) -> String {
        let details = match step {
            Some((name, step_type, error_type)) => serde_json::json!({
                "stepName": name, "stepType": step_type, "errorType": error_type,
                "errorMessage": "secret path /home/alice/payroll.csv",
            }),
            None => serde_json::json!({}),
        };
        serde_json::json!({
            "type": kind, "workflowId": workflow, "executionId": execution, "details": details,
        })
        .to_string()
    }

    impl Fake {
        fn create_group(&self, group: &str) {
            self.groups.lock().unwrap().entry(group.into()).or_default();
        }
        fn log(&self, group: &str, t_ms: i64, message: String) {
            self.groups
                .lock()
                .unwrap()
                .get_mut(group)
                .expect("the group exists")
                .push((t_ms, message));
        }
        /// A run in GROUP: its step errors one second apart from `t_ms`, then its end event
        /// (`ExecutionCompleted` or `ExecutionErrored`) a second later; returns the end time.
        fn run(
            &self,
            workflow: &str,
            execution: &str,
            t_ms: i64,
            errors: &[(&str, &str, &str)],
            end: &str,
        ) -> i64 {
            let mut t = t_ms;
            for error in errors {
                self.log(
                    GROUP,
                    t,
                    message("StepErrored", workflow, execution, Some(*error)),
                );
                t += 1000;
            }
            self.log(GROUP, t, message(end, workflow, execution, None));
            t
        }
        fn reads(&self) -> Vec<String> {
            self.take_calls()
                .into_iter()
                .filter(|c| c.starts_with("FilterLogEvents") || c == "ListServers")
                .collect()
        }
    }

    fn logged(fake: &Arc<Fake>, groups: LogGroups) -> Tested {
        TransferCollector::new(
            fake.clone(),
            Some(LogSource {
                api: fake.clone(),
                groups,
            }),
            NameFilter::new(vec![], vec![regex::Regex::new("^skip").unwrap()]),
            4,
            Duration::from_secs(86_400),
            vec![("region".into(), "us-east-1".into())],
        )
    }

    fn named(groups: &[&str]) -> LogGroups {
        LogGroups::Names(groups.iter().map(|g| g.to_string()).collect())
    }

    fn group_up(text: &str, group: &str) -> Option<f64> {
        value(
            text,
            &format!("aws_transfer_log_group_up{{log_group=\"{group}\",region=\"us-east-1\"}}"),
        )
    }

    fn last_end(text: &str, workflow: &str, outcome: &str) -> Option<f64> {
        value(text, &format!("aws_transfer_workflow_last_execution_end_timestamp_seconds{{workflow_id=\"{workflow}\",outcome=\"{outcome}\",region=\"us-east-1\"}}"))
    }

    const TAG_BAD: &str = "phase=\"steps\",step_type=\"TAG\",error_type=\"BAD_REQUEST\"";
    const HANDLER_DENIED: &str =
        "phase=\"on_exception_steps\",step_type=\"DELETE\",error_type=\"PERMISSION_DENIED\"";

    #[tokio::test]
    async fn the_baseline_reads_the_lookback_and_counts_nothing_then_each_event_counts_once() {
        let fake = Arc::new(Fake::default());
        fake.set("w", vec![]);
        fake.create_group(GROUP);
        let old_end = fake.run("w", "old-1", NOW_MS - 3_600_000, &[], "ExecutionCompleted");
        let failed_end = fake.run(
            "w",
            "old-2",
            NOW_MS - 1_800_000,
            &[("tag", "TAG", "BAD_REQUEST")],
            "ExecutionErrored",
        );
        // Under way at the baseline, its first step already failed.
        fake.log(
            GROUP,
            NOW_MS - 60_000,
            message(
                "StepErrored",
                "w",
                "run-1",
                Some(("tag", "TAG", "BAD_REQUEST")),
            ),
        );
        let mut c = logged(&fake, named(&[GROUP]));
        let (text, tracked) = collect_at(&mut c, NOW).await;
        assert_eq!(
            fake.reads(),
            vec![format!("FilterLogEvents {GROUP} {}", NOW_MS - DAY_MS)]
        );
        assert_eq!(group_up(&text, GROUP), Some(1.0));
        assert_eq!(finished(&text, "w", "completed"), Some(0.0));
        assert_eq!(finished(&text, "w", "exception"), Some(0.0));
        assert!(
            !text.contains("aws_transfer_workflow_step_errors_total"),
            "{text}"
        );
        // Gauges are filled from history.
        assert_eq!(
            last_end(&text, "w", "completed"),
            Some(old_end as f64 / 1000.0)
        );
        assert_eq!(
            last_end(&text, "w", "exception"),
            Some(failed_end as f64 / 1000.0)
        );
        // The ended ones are older than the next read: forgotten; run-1 is remembered.
        assert_eq!(tracked, 1);

        // run-1's handler fails too and it ends; a quick run starts and completes.
        fake.log(
            GROUP,
            NOW_MS + 10_000,
            message(
                "StepErrored",
                "w",
                "run-1",
                Some(("cleanup", "DELETE", "PERMISSION_DENIED")),
            ),
        );
        fake.log(
            GROUP,
            NOW_MS + 11_000,
            message("ExecutionErrored", "w", "run-1", None),
        );
        let quick_end = fake.run("w", "q-1", NOW_MS + 15_000, &[], "ExecutionCompleted");
        for (i, at) in [NOW + 30.0, NOW + 60.0].into_iter().enumerate() {
            let (text, tracked) = collect_at(&mut c, at).await;
            let start = if i == 0 { NOW_MS - 60_000 } else { quick_end } - OVERLAP_MS;
            assert_eq!(
                fake.reads(),
                vec![format!("FilterLogEvents {GROUP} {start}")]
            );
            assert_eq!(finished(&text, "w", "completed"), Some(1.0));
            assert_eq!(finished(&text, "w", "exception"), Some(1.0));
            assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
            assert_eq!(step_errors(&text, "w", TAG_BAD), None);
            assert_eq!(
                last_end(&text, "w", "completed"),
                Some(quick_end as f64 / 1000.0)
            );
            assert!(!text.contains("payroll"), "a message leaked into a label");
            assert_eq!(tracked, 2);
        }
    }

    #[tokio::test]
    async fn late_events_inside_the_overlap_count_once_and_phases_follow_time() {
        let fake = Arc::new(Fake::default());
        fake.set("w", vec![]);
        fake.create_group(GROUP);
        let mut c = logged(&fake, named(&[GROUP]));
        collect_at(&mut c, NOW).await;
        let end = fake.run(
            "w",
            "a",
            NOW_MS + 1_000,
            &[
                ("tag", "TAG", "BAD_REQUEST"),
                ("cleanup", "DELETE", "PERMISSION_DENIED"),
            ],
            "ExecutionErrored",
        );
        let text = collect_at(&mut c, NOW + 10.0).await.0;
        assert_eq!(finished(&text, "w", "exception"), Some(1.0));
        assert_eq!(step_errors(&text, "w", TAG_BAD), Some(1.0));
        assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
        // Delivered late (two minutes old): another run, and a second copy of a's events.
        fake.run(
            "w",
            "b",
            end - 120_000,
            &[("tag", "TAG", "BAD_REQUEST")],
            "ExecutionErrored",
        );
        fake.log(GROUP, end, message("ExecutionCompleted", "w", "a", None));
        fake.log(
            GROUP,
            end - 1_000,
            message(
                "StepErrored",
                "w",
                "a",
                Some(("cleanup", "DELETE", "PERMISSION_DENIED")),
            ),
        );
        // Older than the overlap: never read (CloudWatch promises no later delivery than that).
        fake.run(
            "w",
            "too-late",
            end - OVERLAP_MS - 1_000,
            &[],
            "ExecutionCompleted",
        );
        for at in [NOW + 20.0, NOW + 30.0] {
            let text = collect_at(&mut c, at).await.0;
            assert_eq!(finished(&text, "w", "exception"), Some(2.0));
            assert_eq!(finished(&text, "w", "completed"), Some(0.0));
            assert_eq!(step_errors(&text, "w", TAG_BAD), Some(2.0));
            assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
        }
    }

    #[tokio::test]
    async fn a_missing_group_is_not_a_failure_and_its_workflows_keep_the_listing() {
        let fake = Arc::new(Fake::default());
        let missing = "/aws/transfer/s-quiet";
        fake.create_group(GROUP);
        fake.set("logged", vec![exec("l", "IN_PROGRESS", vec![])]);
        fake.set("quiet", vec![exec("q", "IN_PROGRESS", vec![])]);
        fake.run(
            "logged",
            "history",
            NOW_MS - 600_000,
            &[],
            "ExecutionCompleted",
        );
        let mut c = logged(&fake, named(&[GROUP, missing]));
        let text = collect(&mut c).await;
        assert_eq!(group_up(&text, GROUP), Some(1.0));
        assert_eq!(group_up(&text, missing), Some(0.0));
        let calls = fake.take_calls();
        assert!(
            calls.contains(&"DescribeExecution quiet q".to_string()),
            "{calls:?}"
        );
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("DescribeExecution logged")),
            "{calls:?}"
        );
        // Both end: the quiet one is counted by the listing, the logged one by its event only.
        fake.set("logged", vec![]);
        fake.set("quiet", vec![]);
        let text = collect_at(&mut c, NOW + 10.0).await.0;
        assert_eq!(finished(&text, "quiet", "completed"), Some(1.0));
        assert_eq!(finished(&text, "logged", "completed"), Some(0.0));
        fake.run("logged", "l", NOW_MS + 5_000, &[], "ExecutionCompleted");
        for at in [NOW + 20.0, NOW + 30.0] {
            let text = collect_at(&mut c, at).await.0;
            assert_eq!(finished(&text, "logged", "completed"), Some(1.0));
            assert_eq!(finished(&text, "quiet", "completed"), Some(1.0));
            assert_eq!(last_end(&text, "quiet", "completed"), None);
        }
    }

    #[tokio::test]
    async fn what_the_listing_counted_is_not_counted_again_when_the_logs_appear() {
        let fake = Arc::new(Fake::default());
        fake.create_group(GROUP);
        fake.set("w", vec![exec("e", "IN_PROGRESS", vec![])]);
        let mut c = logged(&fake, named(&[GROUP]));
        collect(&mut c).await;
        // No event of w yet: the listing counts e's error and, when it vanishes, e.
        fake.set(
            "w",
            vec![exec(
                "e",
                "HANDLING_EXCEPTION",
                vec![error(Phase::Steps, 0, "TAG", "BAD_REQUEST")],
            )],
        );
        let text = collect_at(&mut c, NOW + 10.0).await.0;
        assert_eq!(step_errors(&text, "w", TAG_BAD), Some(1.0));
        fake.set("w", vec![]);
        let text = collect_at(&mut c, NOW + 20.0).await.0;
        assert_eq!(finished(&text, "w", "exception"), Some(1.0));
        // Its events arrive late, with a new run's: only the new run counts.
        fake.run(
            "w",
            "e",
            NOW_MS + 5_000,
            &[("tag", "TAG", "BAD_REQUEST")],
            "ExecutionErrored",
        );
        fake.run(
            "w",
            "f",
            NOW_MS + 25_000,
            &[("tag", "TAG", "BAD_REQUEST")],
            "ExecutionErrored",
        );
        for at in [NOW + 30.0, NOW + 40.0] {
            let text = collect_at(&mut c, at).await.0;
            assert_eq!(finished(&text, "w", "exception"), Some(2.0));
            assert_eq!(step_errors(&text, "w", TAG_BAD), Some(2.0));
        }
    }

    #[tokio::test]
    async fn a_group_that_disappears_hands_its_workflows_back_to_the_listing() {
        let fake = Arc::new(Fake::default());
        fake.create_group(GROUP);
        fake.set("w", vec![]);
        fake.run("w", "a", NOW_MS - 60_000, &[], "ExecutionCompleted");
        let mut c = logged(&fake, named(&[GROUP]));
        collect(&mut c).await;
        fake.set("w", vec![exec("b", "IN_PROGRESS", vec![])]);
        fake.run(
            "w",
            "c",
            NOW_MS + 1_000,
            &[("tag", "TAG", "BAD_REQUEST")],
            "ExecutionErrored",
        );
        let text = collect_at(&mut c, NOW + 10.0).await.0;
        assert_eq!(finished(&text, "w", "exception"), Some(1.0));
        assert!(!fake
            .take_calls()
            .iter()
            .any(|c| c.starts_with("DescribeExecution")));
        fake.groups.lock().unwrap().clear();
        let text = collect_at(&mut c, NOW + 20.0).await.0;
        assert_eq!(group_up(&text, GROUP), Some(0.0));
        assert!(fake
            .take_calls()
            .contains(&"DescribeExecution w b".to_string()));
        fake.set("w", vec![]);
        let text = collect_at(&mut c, NOW + 30.0).await.0;
        assert_eq!(finished(&text, "w", "completed"), Some(1.0));
        assert_eq!(finished(&text, "w", "exception"), Some(1.0));
    }

    #[tokio::test]
    async fn a_failed_read_applies_nothing_and_keeps_the_mark() {
        let fake = Arc::new(Fake::default());
        fake.create_group(GROUP);
        fake.set("w", vec![]);
        let end = fake.run("w", "a", NOW_MS - 60_000, &[], "ExecutionCompleted");
        let mut c = logged(&fake, named(&[GROUP]));
        collect(&mut c).await;
        fake.take_calls();
        fake.run("w", "b", NOW_MS + 1_000, &[], "ExecutionCompleted");
        *fake.fail_logs.lock().unwrap() = Some("ThrottlingException");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW + 10.0);
        let e = c.collect(at).await.err().expect("the collection fails");
        assert_eq!(e.operation, "FilterLogEvents");
        *fake.fail_logs.lock().unwrap() = Some("AccessDeniedException");
        assert!(c.collect(at).await.is_err());
        *fake.fail_logs.lock().unwrap() = None;
        for _ in 0..2 {
            let text = collect_at(&mut c, NOW + 20.0).await.0;
            assert_eq!(finished(&text, "w", "completed"), Some(1.0));
        }
        let reads = fake.reads();
        assert_eq!(
            reads[0],
            format!("FilterLogEvents {GROUP} {}", end - OVERLAP_MS)
        );
        assert_eq!(
            reads[2],
            format!("FilterLogEvents {GROUP} {}", end - OVERLAP_MS)
        );
    }

    #[tokio::test]
    async fn auto_reads_the_group_of_every_server() {
        let fake = Arc::new(Fake::default());
        fake.create_group(GROUP);
        *fake.servers.lock().unwrap() = vec!["s-1".into(), "s-2".into(), "s-1".into()];
        fake.set("w", vec![]);
        let mut c = logged(&fake, LogGroups::Auto);
        let text = collect(&mut c).await;
        assert_eq!(group_up(&text, GROUP), Some(1.0));
        assert_eq!(group_up(&text, "/aws/transfer/s-2"), Some(0.0));
        let start = NOW_MS - DAY_MS;
        assert_eq!(
            fake.reads(),
            vec![
                "ListServers".to_string(),
                format!("FilterLogEvents {GROUP} {start}"),
                format!("FilterLogEvents /aws/transfer/s-2 {start}"),
            ]
        );
        // A server deleted: its group's series goes.
        *fake.servers.lock().unwrap() = vec!["s-1".into()];
        let text = collect(&mut c).await;
        assert!(!text.contains("s-2"), "{text}");
    }

    #[tokio::test]
    async fn bad_events_and_other_workflows_are_skipped_but_move_the_mark() {
        let fake = Arc::new(Fake::default());
        fake.create_group(GROUP);
        fake.set("w", vec![]);
        fake.set("skip-me", vec![]);
        let mut c = logged(&fake, named(&[GROUP]));
        collect(&mut c).await;
        fake.take_calls();
        fake.log(GROUP, NOW_MS + 1_000, "not json".into());
        fake.log(
            GROUP,
            NOW_MS + 2_000,
            message("ExecutionStarted", "w", "a", None),
        );
        fake.log(
            GROUP,
            NOW_MS + 3_000,
            r#"{"type":"ExecutionCompleted","executionId":"a"}"#.into(),
        );
        fake.run("w-deleted", "b", NOW_MS + 4_000, &[], "ExecutionCompleted");
        fake.run("skip-me", "c", NOW_MS + 5_000, &[], "ExecutionCompleted");
        fake.log(GROUP, NOW_MS + 9_000, "{}".into());
        let (text, tracked) = collect_at(&mut c, NOW + 10.0).await;
        assert_eq!(finished(&text, "w", "completed"), Some(0.0));
        assert!(
            !text.contains("w-deleted") && !text.contains("skip-me"),
            "{text}"
        );
        assert_eq!(tracked, 0);
        collect_at(&mut c, NOW + 20.0).await;
        assert_eq!(
            fake.reads(),
            vec![
                // Nothing read yet: the whole lookback again.
                format!("FilterLogEvents {GROUP} {}", NOW_MS + 10_000 - DAY_MS),
                format!("FilterLogEvents {GROUP} {}", NOW_MS + 9_000 - OVERLAP_MS),
            ]
        );
    }

    #[tokio::test]
    async fn ids_are_forgotten_after_the_overlap_once_ended_and_after_the_lookback_otherwise() {
        let fake = Arc::new(Fake::default());
        fake.create_group(GROUP);
        fake.set("w", vec![]);
        let mut c = logged(&fake, named(&[GROUP]));
        collect(&mut c).await;
        fake.log(
            GROUP,
            NOW_MS + 1_000,
            message(
                "StepErrored",
                "w",
                "running",
                Some(("tag", "TAG", "BAD_REQUEST")),
            ),
        );
        fake.run("w", "done", NOW_MS + 2_000, &[], "ExecutionCompleted");
        assert_eq!(collect_at(&mut c, NOW + 10.0).await.1, 2);
        fake.run("w", "later", NOW_MS + 400_000, &[], "ExecutionCompleted");
        assert_eq!(
            collect_at(&mut c, NOW + 410.0).await.1,
            2,
            "done is forgotten"
        );
        // The handler of "running" fails much later: still an exception-handler error.
        fake.log(
            GROUP,
            NOW_MS + 3_600_000,
            message(
                "StepErrored",
                "w",
                "running",
                Some(("cleanup", "DELETE", "PERMISSION_DENIED")),
            ),
        );
        let (text, tracked) = collect_at(&mut c, NOW + 3_610.0).await;
        assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
        assert_eq!(tracked, 1, "later is forgotten");
        let (_, tracked) = collect_at(&mut c, NOW + 3_610.0 + 86_400.0).await;
        assert_eq!(tracked, 0, "older than the lookback");
    }

    #[tokio::test]
    async fn a_restored_state_follows_its_executions_and_baselines_unknown_workflows() {
        let fake = Arc::new(Fake::default());
        let denied = || vec![error(Phase::Steps, 0, "COPY", "PERMISSION_DENIED")];
        fake.set(
            "w",
            vec![
                exec("a", "IN_PROGRESS", vec![]),
                exec("b", "IN_PROGRESS", vec![]),
            ],
        );
        let mut before = collector(&fake);
        collect(&mut before).await;
        fake.set(
            "w",
            vec![
                exec("a", "IN_PROGRESS", vec![]),
                exec("b", "IN_PROGRESS", denied()),
            ],
        );
        let text = collect(&mut before).await;
        assert_eq!(step_errors(&text, "w", COPY_DENIED), Some(1.0));
        let saved = String::from_utf8(before.save().unwrap().unwrap()).unwrap();

        // While down: a ends, b goes on, c starts with an error; workflow v appears
        // (no creation time in ListWorkflows: its own baseline).
        fake.set(
            "w",
            vec![
                exec("b", "IN_PROGRESS", denied()),
                exec("c", "IN_PROGRESS", denied()),
            ],
        );
        fake.set("v", vec![exec("d", "IN_PROGRESS", denied())]);
        let mut after = collector(&fake);
        after.restore(&saved, NOW).expect("restores");
        let (text, tracked) = collect_at(&mut after, NOW + 60.0).await;
        assert_eq!(tracked, 3);
        assert_eq!(finished(&text, "w", "completed"), Some(1.0), "a, once");
        assert_eq!(step_errors(&text, "w", COPY_DENIED), Some(2.0), "b once, c");
        assert_eq!(step_errors(&text, "v", COPY_DENIED), None, "v's baseline");
        assert_eq!(
            value(&text, "aws_transfer_workflow_oldest_execution_age_seconds{workflow_id=\"w\",region=\"us-east-1\"}"),
            Some(60.0),
            "b was first seen before the restart"
        );
        // After that first collection, v is known: its executions end and count.
        fake.set("v", vec![]);
        fake.set("w", vec![]);
        let (text, _) = collect_at(&mut after, NOW + 120.0).await;
        assert_eq!(finished(&text, "v", "exception"), Some(1.0));
        assert_eq!(finished(&text, "w", "exception"), Some(2.0));
        assert!(after
            .restore("{\"baselined\":true,\"workflows\":[]}", NOW)
            .is_err());
    }
}
