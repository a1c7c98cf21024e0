use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::aws::Outcome;
use crate::collector::fake_error;
use crate::state::FORMAT_VERSION;
use std::time::Duration;

const NOW: f64 = 1_700_000_000.0;
const WEEK: f64 = 7.0 * 86400.0;

/// Customer Profiles in memory: domains and their workflows (with details).
#[derive(Default)]
struct Fake {
    domains: Mutex<Vec<DomainSummary>>,
    workflows: Mutex<HashMap<String, Vec<(WorkflowSummary, WorkflowDetails)>>>,
    calls: Mutex<Vec<String>>,
    fail_get: Mutex<bool>,
    /// ListWorkflows' QueryStartDate, as last sent.
    since: Mutex<Option<f64>>,
}

impl CustomerProfilesApi for Arc<Fake> {
    async fn list_domains(&self) -> Result<Vec<DomainSummary>, ApiError> {
        self.calls.lock().unwrap().push("ListDomains".into());
        Ok(self.domains.lock().unwrap().clone())
    }
    async fn list_workflows(
        &self,
        domain: &str,
        since: f64,
    ) -> Result<Option<Vec<WorkflowSummary>>, ApiError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("ListWorkflows {domain}"));
        *self.since.lock().unwrap() = Some(since);
        let workflows = self.workflows.lock().unwrap();
        Ok(workflows
            .get(domain)
            .map(|ws| ws.iter().map(|(s, _)| s.clone()).collect()))
    }
    async fn get_workflow(
        &self,
        domain: &str,
        id: &str,
    ) -> Result<Option<WorkflowDetails>, ApiError> {
        self.calls.lock().unwrap().push(format!("GetWorkflow {id}"));
        if *self.fail_get.lock().unwrap() {
            return Err(fake_error(
                "GetWorkflow",
                Outcome::Throttled,
                "ThrottlingException",
            ));
        }
        let workflows = self.workflows.lock().unwrap();
        Ok(workflows
            .get(domain)
            .and_then(|ws| ws.iter().find(|(s, _)| s.id == id))
            .map(|(_, d)| d.clone()))
    }
}

impl Fake {
    fn shared() -> Arc<Fake> {
        Arc::new(Fake::default())
    }
    fn domain(&self, name: &str, created_at: f64) {
        let mut domains = self.domains.lock().unwrap();
        domains.retain(|d| d.name != name);
        domains.push(DomainSummary {
            name: name.into(),
            created_at: Some(created_at),
        });
        self.workflows
            .lock()
            .unwrap()
            .entry(name.into())
            .or_default();
    }
    /// Adds or replaces workflow `id` of `domain`: `status`, updated at `updated`.
    fn set(&self, domain: &str, id: &str, status: &str, updated: f64) {
        let summary = WorkflowSummary {
            id: id.into(),
            workflow_type: "APPFLOW_INTEGRATION".into(),
            status: status.into(),
            created_at: Some(NOW - 1000.0).into(),
            last_updated_at: Some(updated).into(),
        };
        let details = WorkflowDetails {
            start_date: Some(NOW - 1000.0).into(),
            last_updated_at: Some(updated).into(),
            source_connector: Some("Salesforce".into()),
            connector_profile: Some("crm".into()),
            progress: Some(Progress {
                records_processed: 100,
                steps_completed: 2,
                total_steps: 4,
            }),
            error: (status == "FAILED").then(|| "secret error text".into()),
        };
        let mut workflows = self.workflows.lock().unwrap();
        let list = workflows.entry(domain.into()).or_default();
        list.retain(|(s, _)| s.id != id);
        list.push((summary, details));
    }
    /// Changes what GetWorkflow says of `id`'s progress, not its listing.
    fn progress(&self, domain: &str, id: &str, records: i64, steps: i64) {
        let mut workflows = self.workflows.lock().unwrap();
        let list = workflows.get_mut(domain).unwrap();
        let (_, details) = list.iter_mut().find(|(s, _)| s.id == id).unwrap();
        let p = details.progress.as_mut().unwrap();
        (p.records_processed, p.steps_completed) = (records, steps);
    }
    /// Moves `id`'s LastUpdatedAt, in the listing and in GetWorkflow, to `at`.
    fn touch(&self, domain: &str, id: &str, at: f64) {
        let mut workflows = self.workflows.lock().unwrap();
        let list = workflows.get_mut(domain).unwrap();
        let (summary, details) = list.iter_mut().find(|(s, _)| s.id == id).unwrap();
        summary.last_updated_at = Some(at).into();
        details.last_updated_at = Some(at).into();
    }
    /// The calls made since the last take, sorted (GetWorkflow calls run concurrently).
    fn take_calls(&self) -> Vec<String> {
        let mut calls = std::mem::take(&mut *self.calls.lock().unwrap());
        calls.sort();
        calls
    }
}

fn collector(fake: &Arc<Fake>, filter: NameFilter) -> CustomerProfilesCollector<Arc<Fake>> {
    CustomerProfilesCollector::new(
        fake.clone(),
        Setup::new(
            filter,
            Duration::from_secs_f64(WEEK),
            4,
            vec![("region".into(), "us-east-1".into())],
        ),
    )
}

async fn collect(c: &mut CustomerProfilesCollector<Arc<Fake>>) -> (String, usize) {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
    let collected = c.collect(at).await.expect("collection");
    let mut out = String::new();
    crate::exposition::render([&collected.exposition], &mut out);
    (out, collected.tracked)
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.parse().unwrap())
}

fn finished(domain: &str, status: &str) -> String {
    format!("aws_customerprofiles_workflows_finished_total{{domain_name=\"{domain}\",status=\"{status}\",region=\"us-east-1\"}}")
}

fn series(metric: &str, id: &str, extra: &str) -> String {
    format!("aws_customerprofiles_{metric}{{domain_name=\"d\",workflow_id=\"{id}\",{extra}region=\"us-east-1\"}}")
}

#[tokio::test]
async fn baseline_fills_gauges_and_counts_nothing() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.set("d", "w1", "COMPLETE", NOW - 500.0);
    fake.set("d", "w2", "FAILED", NOW - 400.0);
    fake.domain("empty", 1.0);
    let mut c = collector(&fake, NameFilter::default());
    let (text, tracked) = collect(&mut c).await;
    assert_eq!(*fake.since.lock().unwrap(), Some(NOW - WEEK));
    for status in TERMINAL {
        assert_eq!(value(&text, &finished("d", status)), Some(0.0));
        assert_eq!(value(&text, &finished("empty", status)), Some(0.0));
    }
    assert_eq!(tracked, 2);
    assert!(text.contains(&format!(
        "{} 1",
        series(
            "workflow_info",
            "w1",
            "workflow_type=\"APPFLOW_INTEGRATION\",source_connector=\"Salesforce\",connector_profile=\"crm\","
        )
    )));
    assert_eq!(
        value(
            &text,
            &series("workflow_status", "w1", "status=\"COMPLETE\",")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &series("workflow_status", "w1", "status=\"FAILED\",")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&text, &series("workflow_processed_records", "w1", "")),
        Some(100.0)
    );
    assert_eq!(
        value(&text, &series("workflow_steps_completed", "w1", "")),
        Some(2.0)
    );
    assert_eq!(value(&text, &series("workflow_steps", "w1", "")), Some(4.0));
    assert_eq!(
        value(&text, &series("workflow_start_timestamp_seconds", "w1", "")),
        Some(NOW - 1000.0)
    );
    assert_eq!(
        value(
            &text,
            &series("workflow_last_updated_timestamp_seconds", "w2", "")
        ),
        Some(NOW - 400.0)
    );
    assert!(!text.contains("secret"));
}

#[tokio::test]
async fn each_workflow_status_pair_counts_once() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.set("d", "w1", "IN_PROGRESS", NOW - 500.0);
    let mut c = collector(&fake, NameFilter::default());
    collect(&mut c).await;
    // Fails, is retried, fails again: FAILED once.
    for (status, at) in [
        ("FAILED", 400.0),
        ("RETRY", 300.0),
        ("IN_PROGRESS", 200.0),
        ("FAILED", 100.0),
    ] {
        fake.set("d", "w1", status, NOW - at);
        let (text, _) = collect(&mut c).await;
        assert_eq!(
            value(&text, &finished("d", "FAILED")),
            Some(1.0),
            "{status}"
        );
    }
    // A new workflow, already complete when first seen, then seen again.
    fake.set("d", "w2", "COMPLETE", NOW - 50.0);
    for _ in 0..2 {
        let (text, tracked) = collect(&mut c).await;
        assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
        assert_eq!(value(&text, &finished("d", "CANCELLED")), Some(0.0));
        assert_eq!(tracked, 2);
    }
}

fn gets(calls: &[String]) -> Vec<&str> {
    calls
        .iter()
        .filter_map(|c| c.strip_prefix("GetWorkflow "))
        .collect()
}

#[tokio::test]
async fn get_workflow_only_for_new_or_changed_workflows() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.set("d", "done", "COMPLETE", NOW - 500.0);
    fake.set("d", "running", "IN_PROGRESS", NOW - 400.0);
    fake.set("d", "odd", "PAUSED", NOW - 300.0);
    let mut c = collector(&fake, NameFilter::default());
    collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        [
            "GetWorkflow done",
            "GetWorkflow odd",
            "GetWorkflow running",
            "ListDomains",
            "ListWorkflows d"
        ]
    );
    // Nothing listed changed: the listings only, running and unknown statuses included.
    for _ in 0..2 {
        collect(&mut c).await;
        assert_eq!(fake.take_calls(), ["ListDomains", "ListWorkflows d"]);
    }
    // A running workflow completes: read once, counted once.
    fake.set("d", "running", "COMPLETE", NOW - 10.0);
    let (text, _) = collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        ["GetWorkflow running", "ListDomains", "ListWorkflows d"]
    );
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), Vec::<&str>::new());
    // A terminal workflow whose LastUpdatedAt moves is read again.
    fake.set("d", "done", "COMPLETE", NOW - 5.0);
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["done"]);
    // An unknown status: read when it changes, or when LastUpdatedAt moves, only.
    fake.set("d", "odd", "SUSPENDED", NOW - 300.0);
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["odd"]);
    fake.set("d", "odd", "SUSPENDED", NOW - 4.0);
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["odd"]);
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), Vec::<&str>::new());
    // A status change alone (same LastUpdatedAt) is a change too.
    fake.set("d", "odd", "IN_PROGRESS", NOW - 4.0);
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["odd"]);
}

/// Issue 14's example: 50 running workflows, one completes between two collections.
#[tokio::test]
async fn fifty_running_one_completes_one_get_workflow() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    for i in 0..50 {
        fake.set(
            "d",
            &format!("w{i:02}"),
            "IN_PROGRESS",
            NOW - 600.0 + f64::from(i),
        );
    }
    let mut c = collector(&fake, NameFilter::default());
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()).len(), 50);
    collect(&mut c).await;
    assert_eq!(fake.take_calls(), ["ListDomains", "ListWorkflows d"]);
    fake.set("d", "w17", "COMPLETE", NOW - 1.0);
    let (text, tracked) = collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        ["GetWorkflow w17", "ListDomains", "ListWorkflows d"]
    );
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
    assert_eq!(tracked, 1);
    // Every workflow keeps its series.
    for i in 0..50 {
        let id = format!("w{i:02}");
        assert_eq!(
            value(&text, &series("workflow_processed_records", &id, "")),
            Some(100.0),
            "{id}"
        );
    }
}

#[tokio::test]
async fn an_unchanged_workflow_shows_the_details_last_read() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.set("d", "w", "IN_PROGRESS", NOW - 400.0);
    let mut c = collector(&fake, NameFilter::default());
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["w"]);
    // AWS's details move on but the listing does not: nothing new is read, the gauges
    // show what was last read.
    fake.progress("d", "w", 500, 3);
    for _ in 0..2 {
        let (text, _) = collect(&mut c).await;
        assert_eq!(gets(&fake.take_calls()), Vec::<&str>::new());
        assert_eq!(
            value(&text, &series("workflow_processed_records", "w", "")),
            Some(100.0)
        );
        assert_eq!(
            value(&text, &series("workflow_steps_completed", "w", "")),
            Some(2.0)
        );
        assert_eq!(value(&text, &series("workflow_steps", "w", "")), Some(4.0));
        assert_eq!(
            value(&text, &series("workflow_start_timestamp_seconds", "w", "")),
            Some(NOW - 1000.0)
        );
        assert!(text.contains("source_connector=\"Salesforce\""));
    }
    // LastUpdatedAt moves: read, the new values shown, and kept while nothing changes.
    fake.touch("d", "w", NOW - 100.0);
    for expected in [["w"].as_slice(), &[]] {
        let (text, _) = collect(&mut c).await;
        assert_eq!(gets(&fake.take_calls()), expected);
        assert_eq!(
            value(&text, &series("workflow_processed_records", "w", "")),
            Some(500.0)
        );
        assert_eq!(
            value(&text, &series("workflow_steps_completed", "w", "")),
            Some(3.0)
        );
        assert_eq!(
            value(
                &text,
                &series("workflow_last_updated_timestamp_seconds", "w", "")
            ),
            Some(NOW - 100.0)
        );
    }
    // A collection that fails after the listing changed applies nothing: the change is
    // read by the next one.
    fake.progress("d", "w", 900, 4);
    fake.touch("d", "w", NOW - 50.0);
    *fake.fail_get.lock().unwrap() = true;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
    assert!(c.collect(at).await.is_err());
    *fake.fail_get.lock().unwrap() = false;
    fake.take_calls();
    let (text, _) = collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["w"]);
    assert_eq!(
        value(&text, &series("workflow_processed_records", "w", "")),
        Some(900.0)
    );
}

#[tokio::test]
async fn without_a_listed_last_updated_at_only_terminal_workflows_are_skipped() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.set("d", "running", "IN_PROGRESS", NOW - 400.0);
    fake.set("d", "odd", "PAUSED", NOW - 400.0);
    fake.set("d", "done", "COMPLETE", NOW - 400.0);
    for (summary, _) in fake.workflows.lock().unwrap().get_mut("d").unwrap() {
        summary.last_updated_at = None.into();
    }
    let mut c = collector(&fake, NameFilter::default());
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["done", "odd", "running"]);
    // No change can be seen: what may still move is read again.
    collect(&mut c).await;
    assert_eq!(gets(&fake.take_calls()), ["odd", "running"]);
}

#[tokio::test]
async fn unknown_and_missing_values() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.set("d", "w", "PAUSED", NOW - 100.0);
    {
        let mut workflows = fake.workflows.lock().unwrap();
        let (summary, details) = &mut workflows.get_mut("d").unwrap()[0];
        summary.workflow_type = "NEW_TYPE".into();
        summary.last_updated_at = None.into();
        *details = WorkflowDetails::default();
    }
    let mut c = collector(&fake, NameFilter::default());
    let (text, tracked) = collect(&mut c).await;
    assert_eq!(
        value(&text, &series("workflow_status", "w", "status=\"PAUSED\",")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &series("workflow_status", "w", "status=\"IN_PROGRESS\",")
        ),
        Some(0.0)
    );
    assert!(text.contains(&series(
        "workflow_info",
        "w",
        "workflow_type=\"NEW_TYPE\",source_connector=\"\",connector_profile=\"\","
    )));
    for absent in [
        "workflow_processed_records",
        "workflow_steps",
        "workflow_start_timestamp_seconds",
        "workflow_last_updated_timestamp_seconds",
    ] {
        assert!(
            !text.contains(&format!("aws_customerprofiles_{absent}{{")),
            "{absent}"
        );
    }
    assert_eq!(tracked, 0);
    // Back to a known value: the unknown series goes.
    fake.set("d", "w", "IN_PROGRESS", NOW - 50.0);
    let (text, _) = collect(&mut c).await;
    assert!(!text.contains("PAUSED"));
}

#[tokio::test]
async fn vanished_and_recreated_domains_and_workflows() {
    let fake = Fake::shared();
    fake.domain("d", 1.0);
    fake.domain("gone", 1.0);
    fake.set("d", "w", "COMPLETE", NOW - 100.0);
    fake.set("gone", "x", "COMPLETE", NOW - 100.0);
    let mut c = collector(&fake, NameFilter::default());
    collect(&mut c).await;
    fake.domains.lock().unwrap().retain(|d| d.name != "gone");
    let (text, _) = collect(&mut c).await;
    assert!(!text.contains("domain_name=\"gone\""));
    // Re-created: a new domain, its workflows count.
    fake.domain("d", 2.0);
    let (text, _) = collect(&mut c).await;
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
    // A new domain after the baseline counts too.
    fake.domain("fresh", 1.0);
    fake.set("fresh", "y", "CANCELLED", NOW - 10.0);
    let (text, _) = collect(&mut c).await;
    assert_eq!(value(&text, &finished("fresh", "CANCELLED")), Some(1.0));
    // A workflow no longer listed (left the lookback) is forgotten.
    fake.workflows.lock().unwrap().get_mut("d").unwrap().clear();
    let (text, tracked) = collect(&mut c).await;
    assert!(!text.contains("workflow_id=\"w\""));
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
    assert_eq!(tracked, 1);
}

#[tokio::test]
async fn a_failed_collection_applies_nothing_and_the_filter_selects_domains() {
    let fake = Fake::shared();
    for name in ["a", "b", "ab"] {
        fake.domain(name, 1.0);
        fake.set(name, "w", "IN_PROGRESS", NOW - 100.0);
    }
    let filter = domain_filter(&["a".into(), "b".into()]).unwrap();
    let mut c = collector(&fake, filter);
    let (text, _) = collect(&mut c).await;
    assert!(!text.contains("domain_name=\"ab\""));
    assert!(text.contains("domain_name=\"b\""));
    fake.set("a", "w", "COMPLETE", NOW - 10.0);
    *fake.fail_get.lock().unwrap() = true;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
    assert!(c.collect(at).await.is_err());
    *fake.fail_get.lock().unwrap() = false;
    let (text, _) = collect(&mut c).await;
    assert_eq!(value(&text, &finished("a", "COMPLETE")), Some(1.0));
}

#[test]
fn the_domain_filter_matches_whole_names_literally() {
    let filter = domain_filter(&["a.b".into()]).unwrap();
    assert!(filter.matches("a.b"));
    assert!(!filter.matches("axb"));
    assert!(!filter.matches("a.b2"));
    assert!(domain_filter(&[]).unwrap().matches("anything"));
}

#[tokio::test]
async fn a_restored_state_counts_what_finished_meanwhile_and_baselines_old_domains() {
    let fake = Fake::shared();
    fake.domain("d", NOW - 5000.0);
    fake.set("d", "w1", "COMPLETE", NOW - 900.0);
    fake.set("d", "w2", "IN_PROGRESS", NOW - 800.0);
    let mut before = collector(&fake, NameFilter::default());
    collect(&mut before).await;
    let saved = before.state.saved().unwrap();

    // While down: w2 fails, w3 starts and completes; domain "new" is created
    // after the save, domain "old" (created before it) becomes visible.
    fake.set("d", "w2", "FAILED", NOW - 100.0);
    fake.set("d", "w3", "COMPLETE", NOW - 50.0);
    fake.domain("new", NOW + 10.0);
    fake.set("new", "n1", "COMPLETE", NOW - 40.0);
    fake.domain("old", NOW - 9000.0);
    fake.set("old", "o1", "COMPLETE", NOW - 40.0);
    let mut after = collector(&fake, NameFilter::default());
    after
        .state
        .restore(&saved, FORMAT_VERSION, NOW - 500.0)
        .expect("restores");
    for _ in 0..2 {
        let (text, _) = collect(&mut after).await;
        assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0), "w3");
        assert_eq!(value(&text, &finished("d", "FAILED")), Some(1.0), "w2");
        assert_eq!(value(&text, &finished("new", "COMPLETE")), Some(1.0));
        assert_eq!(value(&text, &finished("old", "COMPLETE")), Some(0.0));
    }
}
