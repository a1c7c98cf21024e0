//! AWS Transfer Family managed workflows: every `aws_transfer_*` series is computed here.
//!
//! AWS only shows executions in progress, and without timestamps. So the
//! collector follows each execution while it is listed (when it first saw
//! it, whether it ever saw it in trouble, which step errors it has counted)
//! and counts it as finished once it is no longer listed. An execution that
//! starts and ends between two collections is never seen.
//!
//! Cost per collection: ListWorkflows pages, ListExecutions (pages) per
//! workflow, DescribeExecution per listed execution.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::api::{ExecutionDetail, ListedExecution, Phase, StepError, TransferApi};
use crate::aws::ApiError;
use crate::collector::{fetch_all, unix_seconds, Collected, Collector};
use crate::exposition::Exposition;
use crate::family;
use crate::filter::NameFilter;

/// Statuses whose series always exist; others only while an execution is listed in them.
const ALWAYS_SHOWN: [&str; 2] = ["IN_PROGRESS", "HANDLING_EXCEPTION"];
/// Statuses that make an execution's outcome `exception`.
const EXCEPTION_STATUSES: [&str; 2] = ["HANDLING_EXCEPTION", "EXCEPTION"];
/// `outcome` label values, indexed by "was an exception seen".
const OUTCOMES: [&str; 2] = ["completed", "exception"];

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
    "Executions that stopped being listed; exception if one was ever seen in \
           HANDLING_EXCEPTION or EXCEPTION or with a step error."
);
family!(
    STEP_ERRORS,
    "aws_transfer_workflow_step_errors_total",
    Counter,
    ["workflow_id", "phase", "step_type", "error_type"],
    "Step errors of executions, each (execution, phase, step) counted once."
);

/// The Transfer Family collector of one target.
pub struct TransferCollector<A> {
    api: A,
    filter: NameFilter,
    concurrency: usize,
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

/// One listed execution and, unless it was already gone, its description.
type Fetched = (ListedExecution, Option<ExecutionDetail>);

impl<A: TransferApi> TransferCollector<A> {
    pub fn new(
        api: A,
        filter: NameFilter,
        concurrency: usize,
        base_labels: Vec<(String, String)>,
    ) -> Self {
        TransferCollector {
            api,
            filter,
            concurrency: concurrency.max(1),
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

    /// Describes every listed execution, in the order of `listings`.
    async fn describe_all(
        &self,
        ids: &[String],
        listings: &[Option<Vec<ListedExecution>>],
    ) -> Result<Vec<Option<ExecutionDetail>>, ApiError> {
        // (workflow, execution) indices, so that each request future is made only when its turn comes.
        let work: Vec<(usize, usize)> = (0..ids.len())
            .flat_map(|i| (0..listings[i].as_deref().map_or(0, <[_]>::len)).map(move |j| (i, j)))
            .collect();
        let describes = work.into_iter().map(|(i, j)| {
            let executions = listings[i].as_deref().unwrap_or_default();
            self.api.describe_execution(&ids[i], &executions[j].id)
        });
        fetch_all(describes, self.concurrency).await
    }

    /// Applies a fully fetched collection to the state. Cannot fail.
    fn apply(&mut self, listed: Vec<(String, Option<Vec<Fetched>>)>, now: f64) {
        let mut workflows = BTreeMap::new();
        for (id, executions) in listed {
            // Gone between ListWorkflows and ListExecutions: deleted, like an unlisted one.
            let Some(executions) = executions else {
                continue;
            };
            let known = self.state.workflows.remove(&id);
            // ListWorkflows gives no creation time: a workflow absent from a state
            // just restored gets its own baseline (its step errors so far are not counted).
            let count = self.state.baselined && (known.is_some() || self.resumed.is_none());
            let mut workflow = known.unwrap_or_default();
            workflow.absorb(&id, executions, now, count);
            workflows.insert(id, workflow);
        }
        // Workflows left behind were deleted: their tracked executions go uncounted.
        self.state.workflows = workflows;
        self.state.baselined = true;
        self.resumed = None;
    }

    fn render(&self, now: f64) -> Exposition {
        let mut e = Exposition::new(&self.base_labels);
        for (id, workflow) in &self.state.workflows {
            workflow.render(id, now, &mut e);
        }
        e
    }
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

impl Workflow {
    /// Takes in this collection's listing: counts executions no longer listed,
    /// follows the listed ones, and counts new step errors (when `count`).
    fn absorb(&mut self, workflow_id: &str, listed: Vec<Fetched>, now: f64, count: bool) {
        let ids: HashSet<&str> = listed.iter().map(|(e, _)| e.id.as_str()).collect();
        let ended: Vec<String> = self
            .executions
            .keys()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        for execution_id in ended {
            if let Some(t) = self.executions.remove(&execution_id) {
                self.finished[usize::from(t.exception)] += 1;
                tracing::debug!(
                    workflow_id,
                    execution_id,
                    outcome = OUTCOMES[usize::from(t.exception)],
                    "Transfer execution finished"
                );
            }
        }
        for (execution, detail) in listed {
            let tracked = self
                .executions
                .entry(execution.id.clone())
                .or_insert_with(|| Tracked::new(now));
            tracked.see_status(execution.status.as_deref());
            // DescribeExecution came later: its status is the fresher one. When it no longer
            // knows the execution, that has finished, and is counted once it stops being listed.
            let Some(detail) = detail else { continue };
            tracked.see_status(detail.status.as_deref());
            for error in detail.step_errors {
                if !tracked.errors_seen.insert((error.phase, error.index)) {
                    continue;
                }
                tracked.exception = true;
                if count {
                    log_step_error(workflow_id, &execution.id, &error);
                    let key = (error.phase, error.step_type, error.error_type);
                    *self.step_errors.entry(key).or_default() += 1;
                }
            }
        }
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
impl<A: TransferApi + 'static> Collector for TransferCollector<A> {
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError> {
        let mut unique = HashSet::new();
        let ids: Vec<String> = self
            .api
            .list_workflows()
            .await?
            .into_iter()
            .filter(|id| self.filter.matches(id) && unique.insert(id.clone()))
            .collect();
        let listings = self.list_all(&ids).await?;
        let mut details = self.describe_all(&ids, &listings).await?.into_iter();
        let listed = ids
            .into_iter()
            .zip(listings)
            .map(|(id, listing)| {
                let fetched = listing.map(|executions| {
                    executions
                        .into_iter()
                        .map(|e| (e, details.next().flatten()))
                        .collect()
                });
                (id, fetched)
            })
            .collect();
        let now = unix_seconds(now);
        self.apply(listed, now);
        let tracked = self
            .state
            .workflows
            .values()
            .map(|w| w.executions.len())
            .sum();
        Ok(Collected {
            exposition: self.render(now),
            tracked,
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
    }

    impl TransferApi for Arc<Fake> {
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

    fn collector(fake: &Arc<Fake>) -> TransferCollector<Arc<Fake>> {
        TransferCollector::new(
            fake.clone(),
            NameFilter::default(),
            4,
            vec![("region".into(), "us-east-1".into())],
        )
    }

    async fn collect_at(c: &mut TransferCollector<Arc<Fake>>, t: f64) -> (String, usize) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t);
        let collected = c.collect(at).await.expect("collection");
        let mut out = String::new();
        crate::exposition::render([&collected.exposition], &mut out);
        (out, collected.tracked)
    }

    async fn collect(c: &mut TransferCollector<Arc<Fake>>) -> String {
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
        let mut c = TransferCollector::new(
            fake.clone(),
            NameFilter::new(vec![], vec![regex::Regex::new("^skip").unwrap()]),
            4,
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
