use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::aws::Outcome;
use crate::collector::fake_error;
use crate::filter::NameFilter;
use crate::services::transfer::logs::parse;
use crate::state::FORMAT_VERSION;

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
        events.sort_by(|a, b| (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id)));
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
    async fn list_executions(&self, id: &str) -> Result<Option<Vec<ListedExecution>>, ApiError> {
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
            status: status.as_deref().map(Into::into),
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
        Setup::new(
            NameFilter::default(),
            Duration::from_secs(86_400),
            4,
            vec![("region".into(), "us-east-1".into())],
        ),
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
    assert!(text.contains("aws_transfer_workflow_info{workflow_id=\"w\",region=\"us-east-1\"} 1"));
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
        Setup::new(
            NameFilter::new(vec![], vec![regex::Regex::new("^skip").unwrap()]),
            Duration::from_secs(86_400),
            4,
            vec![],
        ),
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
    let saved = before.state.saved().unwrap();

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
    after
        .state
        .restore(&saved, FORMAT_VERSION, NOW)
        .expect("restores");
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
        .state
        .restore(
            b"{\"baselined\":true,\"workflows\":[]}",
            FORMAT_VERSION,
            NOW
        )
        .is_err());
}

/// With `log_groups`: the counters come from the workflow logs.
mod logs;
