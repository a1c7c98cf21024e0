use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::*;
use crate::aws::Outcome;
use crate::collector::fake_error;
use crate::filter::NameFilter;
use crate::services::supplychain::api::ExecutionsPage;
use crate::state::FORMAT_VERSION;
use std::time::Duration;

const NOW: f64 = 1_700_000_000.0;
const DAY: f64 = 86_400.0;

/// Supply Chain in memory: instances, their flows, executions (newest first), pages of `page`.
#[derive(Default)]
struct Fake {
    instances: Mutex<Vec<InstanceSummary>>,
    flows: Mutex<BTreeMap<String, Vec<FlowSummary>>>,
    executions: Mutex<HashMap<(String, String), Vec<Execution>>>,
    page: usize,
    calls: Mutex<Vec<String>>,
    /// Operations that fail with a 500.
    failing: Mutex<Vec<&'static str>>,
}

impl Fake {
    fn shared(page: usize) -> Arc<Fake> {
        Arc::new(Fake {
            page,
            ..Fake::default()
        })
    }

    fn call(&self, operation: &'static str, what: String) -> Result<(), ApiError> {
        self.calls.lock().unwrap().push(what);
        if self.failing.lock().unwrap().contains(&operation) {
            return Err(fake_error(
                operation,
                Outcome::ServerError,
                "InternalServerException",
            ));
        }
        Ok(())
    }

    fn instance(&self, id: &str, state: &str) {
        let mut instances = self.instances.lock().unwrap();
        instances.retain(|i| i.id != id);
        instances.push(InstanceSummary {
            id: id.into(),
            state: Some(state.into()),
        });
        self.flows.lock().unwrap().entry(id.into()).or_default();
    }

    /// Adds instance `i` (Active) and flow `name` created at 1, if missing, with these runs.
    fn set(&self, instance: &str, name: &str, runs: Vec<Execution>) {
        if !self
            .instances
            .lock()
            .unwrap()
            .iter()
            .any(|i| i.id == instance)
        {
            self.instance(instance, "Active");
        }
        let mut flows = self.flows.lock().unwrap();
        let list = flows.entry(instance.into()).or_default();
        if !list.iter().any(|f| f.name == name) {
            list.push(flow(name));
        }
        self.executions
            .lock()
            .unwrap()
            .insert((instance.into(), name.into()), runs);
    }

    /// Sets the runs of flow i/f, the one most tests use.
    fn runs(&self, runs: Vec<Execution>) {
        self.set("i", "f", runs);
    }

    fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl SupplyChainApi for Arc<Fake> {
    async fn list_instances(&self) -> Result<Vec<InstanceSummary>, ApiError> {
        self.call("ListInstances", "ListInstances".into())?;
        Ok(self.instances.lock().unwrap().clone())
    }

    async fn list_flows(&self, instance_id: &str) -> Result<Option<Vec<FlowSummary>>, ApiError> {
        self.call(
            "ListDataIntegrationFlows",
            format!("ListFlows {instance_id}"),
        )?;
        Ok(self.flows.lock().unwrap().get(instance_id).cloned())
    }

    async fn executions(
        &self,
        instance_id: &str,
        flow_name: &str,
        token: Option<String>,
    ) -> Result<Option<ExecutionsPage>, ApiError> {
        self.call(
            "ListDataIntegrationFlowExecutions",
            format!("List {instance_id}/{flow_name}"),
        )?;
        let executions = self.executions.lock().unwrap();
        let Some(all) = executions.get(&(instance_id.to_string(), flow_name.to_string())) else {
            return Ok(None);
        };
        let start: usize = token.map(|t| t.parse().unwrap()).unwrap_or(0);
        let end = (start + self.page).min(all.len());
        Ok(Some(ExecutionsPage {
            executions: all[start..end].to_vec(),
            next_token: (end < all.len()).then(|| end.to_string()),
        }))
    }

    async fn execution(
        &self,
        instance_id: &str,
        flow_name: &str,
        execution_id: &str,
    ) -> Result<Option<Execution>, ApiError> {
        self.call(
            "GetDataIntegrationFlowExecution",
            format!("Get {instance_id}/{flow_name}/{execution_id}"),
        )?;
        let executions = self.executions.lock().unwrap();
        Ok(executions
            .get(&(instance_id.to_string(), flow_name.to_string()))
            .and_then(|all| all.iter().find(|e| e.id == execution_id).cloned()))
    }
}

fn flow(name: &str) -> FlowSummary {
    FlowSummary {
        name: name.into(),
        source_types: vec!["S3".into(), "DATASET".into(), "S3".into()],
        target_type: Some("DATASET".into()),
        transformation_type: Some("SQL".into()),
        created_time: Some(1.0),
    }
}

fn run(id: &str, status: &str, start: f64) -> Execution {
    Execution {
        id: id.into(),
        status: Some(status.into()),
        start_time: Some(start),
        end_time: (status != "IN_PROGRESS").then_some(start + 60.0),
        message: (status == "FAILED").then(|| "secret details".into()),
    }
}

fn collector(fake: &Arc<Fake>) -> SupplyChainCollector<Arc<Fake>> {
    SupplyChainCollector::new(
        fake.clone(),
        Setup::new(
            NameFilter::default(),
            Duration::from_secs(7 * 86400),
            4,
            vec![("region".into(), "us-east-1".into())],
        ),
    )
}

/// A fake of `page` executions a page with flow i/f holding `runs`, and a collector over it
/// that has taken its baseline.
async fn baselined(
    page: usize,
    runs: Vec<Execution>,
) -> (Arc<Fake>, SupplyChainCollector<Arc<Fake>>) {
    let fake = Fake::shared(page);
    fake.runs(runs);
    let mut c = collector(&fake);
    collect(&mut c).await;
    (fake, c)
}

async fn collect_at(c: &mut SupplyChainCollector<Arc<Fake>>, at: f64) -> (String, usize) {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(at);
    let collected = c.collect(at).await.expect("collection");
    let mut out = String::new();
    crate::exposition::render([&collected.exposition], &mut out);
    (out, collected.tracked)
}

async fn collect(c: &mut SupplyChainCollector<Arc<Fake>>) -> String {
    collect_at(c, NOW).await.0
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.parse().unwrap())
}

fn series(metric: &str, extra: &str) -> String {
    format!(
        "aws_supplychain_{metric}{{instance_id=\"i\",flow_name=\"f\",{extra}region=\"us-east-1\"}}"
    )
}

fn ok() -> String {
    series("flow_executions_total", "status=\"SUCCEEDED\",")
}

fn failed() -> String {
    series("flow_executions_total", "status=\"FAILED\",")
}

#[tokio::test]
async fn baseline_counts_nothing_then_each_execution_once() {
    let fake = Fake::shared(20);
    fake.runs(vec![
        run("b", "SUCCEEDED", NOW - 100.0),
        run("a", "FAILED", NOW - 200.0),
    ]);
    let mut c = collector(&fake);
    let text = collect(&mut c).await;
    assert!(text.contains("aws_supplychain_flow_info{instance_id=\"i\",flow_name=\"f\",source_type=\"DATASET,S3\",target_type=\"DATASET\",transformation_type=\"SQL\",region=\"us-east-1\"} 1"), "{text}");
    assert!(text.contains(
        "aws_supplychain_instance_state{instance_id=\"i\",status=\"Active\",region=\"us-east-1\"} 1"
    ));
    assert_eq!(value(&text, &ok()), Some(0.0));
    assert_eq!(value(&text, &failed()), Some(0.0));
    assert_eq!(
        value(&text, &series("flow_execution_duration_seconds_count", "")),
        Some(0.0)
    );
    assert_eq!(
        value(&text, &series("flow_last_success_timestamp_seconds", "")),
        Some(NOW - 40.0)
    );
    assert_eq!(
        value(&text, &series("flow_last_failure_timestamp_seconds", "")),
        Some(NOW - 140.0)
    );
    assert_eq!(
        value(&text, &series("last_execution_duration_seconds", "")),
        Some(60.0)
    );
    assert_eq!(
        value(
            &text,
            &series("flow_last_execution_status", "status=\"SUCCEEDED\",")
        ),
        Some(1.0)
    );

    fake.runs(vec![
        run("c", "FAILED", NOW - 50.0),
        run("b", "SUCCEEDED", NOW - 100.0),
        run("a", "FAILED", NOW - 200.0),
    ]);
    for _ in 0..3 {
        let text = collect(&mut c).await;
        assert_eq!(value(&text, &ok()), Some(0.0));
        assert_eq!(value(&text, &failed()), Some(1.0));
        assert_eq!(
            value(&text, &series("flow_execution_duration_seconds_count", "")),
            Some(1.0)
        );
        assert!(!text.contains("secret"));
    }
}

#[tokio::test]
async fn a_buried_running_execution_is_followed_with_one_get() {
    let (fake, mut c) = baselined(2, vec![run("a", "SUCCEEDED", NOW - 500.0)]).await;
    fake.runs(vec![
        run("b", "IN_PROGRESS", NOW - 100.0),
        run("a", "SUCCEEDED", NOW - 500.0),
    ]);
    let text = collect(&mut c).await;
    assert_eq!(
        value(&text, &series("flow_executions_in_progress", "")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &series("flow_last_execution_status", "status=\"IN_PROGRESS\",")
        ),
        Some(1.0)
    );
    // Newer runs bury b; the frontier moves to e.
    let mut runs = vec![
        run("e", "SUCCEEDED", NOW - 10.0),
        run("d", "SUCCEEDED", NOW - 20.0),
        run("b", "IN_PROGRESS", NOW - 100.0),
        run("a", "SUCCEEDED", NOW - 500.0),
    ];
    fake.runs(runs.clone());
    collect(&mut c).await;
    // Two more: the pages stop at e (page 2); b, on page 3, is fetched on its own.
    runs[2] = run("b", "FAILED", NOW - 100.0);
    runs.splice(
        0..0,
        [
            run("g", "SUCCEEDED", NOW - 5.0),
            run("f2", "SUCCEEDED", NOW - 6.0),
        ],
    );
    fake.runs(runs);
    fake.take_calls();
    let text = collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        [
            "ListInstances",
            "ListFlows i",
            "List i/f",
            "List i/f",
            "Get i/f/b"
        ]
    );
    assert_eq!(value(&text, &failed()), Some(1.0));
    assert_eq!(value(&text, &ok()), Some(4.0));
    assert_eq!(
        value(&text, &series("flow_executions_in_progress", "")),
        Some(0.0)
    );
    // Now settled: no more Get.
    let text = collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        ["ListInstances", "ListFlows i", "List i/f"]
    );
    assert_eq!(value(&text, &failed()), Some(1.0));
}

#[tokio::test]
async fn a_running_execution_aws_forgets_is_dropped_uncounted() {
    let (fake, mut c) = baselined(1, vec![run("a", "SUCCEEDED", NOW - 500.0)]).await;
    fake.runs(vec![
        run("b", "IN_PROGRESS", NOW - 100.0),
        run("a", "SUCCEEDED", NOW - 500.0),
    ]);
    collect(&mut c).await;
    fake.runs(vec![
        run("c", "SUCCEEDED", NOW - 10.0),
        run("a", "SUCCEEDED", NOW - 500.0),
    ]);
    let text = collect(&mut c).await;
    assert!(fake.take_calls().contains(&"Get i/f/b".to_string()));
    assert_eq!(
        value(&text, &series("flow_executions_in_progress", "")),
        Some(0.0)
    );
    assert_eq!(value(&text, &ok()), Some(1.0));
}

#[tokio::test]
async fn steady_state_reads_one_page_per_flow_and_pages_only_when_needed() {
    let fake = Fake::shared(2);
    let old = NOW - 8.0 * DAY;
    fake.runs(vec![
        run("e", "SUCCEEDED", NOW - 10.0),
        run("d", "SUCCEEDED", NOW - 20.0),
        run("c", "SUCCEEDED", NOW - 30.0),
        run("b", "SUCCEEDED", old),
        run("a", "SUCCEEDED", old - 1.0),
        run("z", "SUCCEEDED", old - 2.0),
    ]);
    fake.set("i", "g", vec![]);
    let mut c = collector(&fake);
    let (_, tracked) = collect_at(&mut c, NOW).await;
    // Page 2 reaches past the lookback: stop there.
    assert_eq!(
        fake.take_calls(),
        [
            "ListInstances",
            "ListFlows i",
            "List i/f",
            "List i/f",
            "List i/g"
        ]
    );
    assert_eq!(tracked, 3);
    collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        ["ListInstances", "ListFlows i", "List i/f", "List i/g"]
    );
    // Ids leave memory with the lookback.
    let (text, tracked) = collect_at(&mut c, NOW + 7.0 * DAY - 15.0).await;
    assert_eq!(tracked, 1);
    assert_eq!(
        value(
            &text,
            &series("flow_last_execution_start_timestamp_seconds", "")
        ),
        Some(NOW - 10.0)
    );
    // Success timestamps stay while the flow exists.
    let (text, tracked) = collect_at(&mut c, NOW + 8.0 * DAY).await;
    assert_eq!(tracked, 0);
    assert!(!text.contains("flow_last_execution_status{instance_id=\"i\",flow_name=\"f\""));
    assert!(!text.contains(&series("last_execution_duration_seconds", "")));
    assert_eq!(
        value(&text, &series("flow_last_success_timestamp_seconds", "")),
        Some(NOW + 50.0)
    );
}

#[tokio::test]
async fn non_active_instances_show_their_state_only() {
    let fake = Fake::shared(20);
    fake.runs(vec![run("a", "SUCCEEDED", NOW - 100.0)]);
    fake.instance("j", "CreateFailed");
    fake.instance("k", "Hibernating");
    let mut c = collector(&fake);
    let text = collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        ["ListInstances", "ListFlows i", "List i/f"]
    );
    let state = |id: &str, s: &str| {
        format!("aws_supplychain_instance_state{{instance_id=\"{id}\",status=\"{s}\",region=\"us-east-1\"}}")
    };
    assert_eq!(value(&text, &state("j", "CreateFailed")), Some(1.0));
    assert_eq!(value(&text, &state("j", "Active")), Some(0.0));
    assert_eq!(value(&text, &state("k", "Hibernating")), Some(1.0));
    assert!(!text.contains("flow_name=\"f\",status=\"Hibernating\""));

    // i stops being Active: its flows are hidden, not forgotten; back to Active, no replay.
    fake.instance("i", "DeleteFailed");
    let text = collect(&mut c).await;
    assert!(!text.contains("flow_name"), "{text}");
    assert_eq!(value(&text, &state("i", "DeleteFailed")), Some(1.0));
    fake.instance("i", "Active");
    fake.runs(vec![
        run("b", "SUCCEEDED", NOW - 10.0),
        run("a", "SUCCEEDED", NOW - 100.0),
    ]);
    let text = collect(&mut c).await;
    assert_eq!(value(&text, &ok()), Some(1.0));
}

#[tokio::test]
async fn vanished_instances_and_flows_disappear_and_recreated_flows_start_again() {
    let fake = Fake::shared(20);
    fake.runs(vec![run("a", "SUCCEEDED", NOW - 100.0)]);
    fake.set("j", "f", vec![run("a", "SUCCEEDED", NOW - 100.0)]);
    fake.set("i", "gone", vec![run("a", "SUCCEEDED", NOW - 100.0)]);
    let mut c = collector(&fake);
    collect(&mut c).await;
    // j vanishes between ListInstances and ListDataIntegrationFlows; "gone" between the flow
    // listing and its executions.
    fake.flows.lock().unwrap().remove("j");
    fake.executions
        .lock()
        .unwrap()
        .remove(&("i".into(), "gone".into()));
    let text = collect(&mut c).await;
    assert!(!text.contains("instance_id=\"j\""), "{text}");
    assert!(!text.contains("flow_name=\"gone\""));
    assert_eq!(value(&text, &ok()), Some(0.0));
    // Re-created under the same name: a new flow, its executions counted.
    fake.flows.lock().unwrap().get_mut("i").unwrap()[0].created_time = Some(2.0);
    let text = collect(&mut c).await;
    assert_eq!(value(&text, &ok()), Some(1.0));
    // An instance first seen after the baseline is new too.
    fake.set("n", "f", vec![run("x", "FAILED", NOW - 100.0)]);
    let text = collect(&mut c).await;
    assert!(text.contains("aws_supplychain_flow_executions_total{instance_id=\"n\",flow_name=\"f\",status=\"FAILED\",region=\"us-east-1\"} 1"));
}

#[tokio::test]
async fn unknown_statuses_and_missing_fields() {
    let fake = Fake::shared(20);
    let bare = Execution {
        id: "a".into(),
        status: Some("SUCCEEDED".into()),
        start_time: Some(NOW - 100.0),
        ..Execution::default()
    };
    let unknown = Execution {
        id: "b".into(),
        status: Some("CANCELLED".into()),
        start_time: Some(NOW - 10.0),
        ..Execution::default()
    };
    fake.runs(vec![unknown, bare]);
    {
        let mut flows = fake.flows.lock().unwrap();
        let f = &mut flows.get_mut("i").unwrap()[0];
        f.source_types.clear();
        f.target_type = None;
        f.transformation_type = Some("PYTHON".into());
    }
    let mut c = collector(&fake);
    let text = collect(&mut c).await;
    assert!(text.contains("source_type=\"\",target_type=\"\",transformation_type=\"PYTHON\""));
    assert_eq!(
        value(
            &text,
            &series("flow_last_execution_status", "status=\"CANCELLED\",")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &series("flow_last_execution_status", "status=\"SUCCEEDED\",")
        ),
        Some(0.0)
    );
    assert!(!text.contains(&series("flow_last_success_timestamp_seconds", "")));
    assert!(!text.contains(&series("last_execution_duration_seconds", "")));
    assert_eq!(
        value(&text, &series("flow_executions_in_progress", "")),
        Some(0.0)
    );
    // An unknown status is not followed with Get calls.
    fake.take_calls();
    collect(&mut c).await;
    assert_eq!(
        fake.take_calls(),
        ["ListInstances", "ListFlows i", "List i/f"]
    );
}

#[tokio::test]
async fn a_failed_collection_applies_nothing() {
    let (fake, mut c) = baselined(20, vec![run("a", "SUCCEEDED", NOW - 100.0)]).await;
    fake.runs(vec![
        run("b", "SUCCEEDED", NOW - 10.0),
        run("a", "SUCCEEDED", NOW - 100.0),
    ]);
    fake.failing
        .lock()
        .unwrap()
        .push("ListDataIntegrationFlowExecutions");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
    assert!(c.collect(at).await.is_err());
    fake.failing.lock().unwrap().clear();
    let text = collect(&mut c).await;
    assert_eq!(value(&text, &ok()), Some(1.0));
}

#[test]
fn digest_keeps_one_run_per_id_within_the_lookback_and_text_only_where_needed() {
    let timeless = Execution {
        id: "timeless".into(),
        status: Some("SUCCEEDED".into()),
        ..Execution::default()
    };
    let executions = vec![
        run("a", "SUCCEEDED", NOW - 10.0),
        // Equal starts: the greater id is the newer.
        run("b", "SUCCEEDED", NOW - 10.0),
        // A repeated id: the first listing wins.
        run("a", "FAILED", NOW - 5.0),
        run("failed", "FAILED", NOW - 50.0),
        run("running", "IN_PROGRESS", NOW - 60.0),
        run("plain", "SUCCEEDED", NOW - 70.0),
        run("old", "SUCCEEDED", NOW - 2.0 * DAY),
        timeless,
    ];
    let runs = digest(executions, NOW - DAY);
    let listed: Vec<(Option<&str>, Option<&str>)> =
        runs.iter().map(|r| (r.id(), r.status.as_str())).collect();
    assert_eq!(
        listed,
        [
            (None, Some("SUCCEEDED")),
            (Some("b"), Some("SUCCEEDED")),
            (Some("failed"), Some("FAILED")),
            (Some("running"), Some("IN_PROGRESS")),
            (None, Some("SUCCEEDED")),
        ]
    );
    assert_eq!(runs[0].print, fingerprint("a"));
    assert_eq!(runs[2].duration, Some(60.0));
    assert_eq!(
        runs[2].text.as_ref().and_then(|t| t.message.as_deref()),
        Some("secret details")
    );
}

#[test]
fn the_newest_finished_of_a_fetch_keeps_its_id_when_a_running_run_is_newer() {
    let runs = digest(
        vec![
            run("late", "IN_PROGRESS", NOW - 1.0),
            run("done", "SUCCEEDED", NOW - 100.0),
            run("earlier", "SUCCEEDED", NOW - 200.0),
        ],
        NOW - DAY,
    );
    let ids: Vec<Option<&str>> = runs.iter().map(Run::id).collect();
    assert_eq!(ids, [Some("late"), Some("done"), None]);
    let mut flow = Flow::default();
    flow.absorb(
        "i",
        "f",
        Fetched {
            runs,
            ..Fetched::default()
        },
        NOW - DAY,
        true,
    );
    assert_eq!(
        flow.newest
            .as_ref()
            .map(|(_, id)| id.to_string())
            .as_deref(),
        Some("late")
    );
    assert_eq!(
        flow.newest_finished
            .as_ref()
            .map(|n| n.id.to_string())
            .as_deref(),
        Some("done")
    );
    assert_eq!(flow.running.len(), 1);
    assert_eq!(flow.executions, [2, 0]);
}

mod saved;
