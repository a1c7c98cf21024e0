use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::aws::Outcome;
use crate::collector::fake_error;
use crate::filter::NameFilter;
use crate::services::appflow::api::RecordsPage;
use crate::services::appflow::schedule::ScheduleConfig;
use crate::state::{Codec, FORMAT_VERSION};
use std::time::Duration;

const NOW: f64 = 1_700_000_000.0;

/// AppFlow in memory: flows, their records (any order), pages of `page` records.
#[derive(Default)]
struct Fake {
    flows: Mutex<Vec<FlowSummary>>,
    records: Mutex<HashMap<String, Vec<Record>>>,
    page: usize,
    calls: Mutex<Vec<String>>,
    fail_records: Mutex<bool>,
    /// DescribeFlow's `triggerProperties.Scheduled`, by flow.
    schedules: Mutex<HashMap<String, ScheduleConfig>>,
}

impl AppFlowApi for Arc<Fake> {
    async fn list_flows(&self) -> Result<Vec<FlowSummary>, ApiError> {
        self.calls.lock().unwrap().push("ListFlows".into());
        Ok(self.flows.lock().unwrap().clone())
    }
    async fn describe_flow(&self, name: &str) -> Result<Option<Described>, ApiError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("DescribeFlow {name}"));
        Ok(Some(Described {
            sap: SapODataLimits {
                max_parallelism: Some(4),
                max_page_size: None,
            },
            schedule: self.schedules.lock().unwrap().get(name).cloned(),
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
        trigger_type: Some("OnDemand".into()),
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
            .map(|r| (Some(r.status.as_str().into()), r.last_updated_at));
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
        Setup::new(
            NameFilter::default(),
            Duration::from_secs(7 * 86400),
            4,
            vec![("region".into(), "us-east-1".into())],
        ),
    )
}

async fn collect(c: &mut AppFlowCollector<Arc<Fake>>) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
    let collected = c.collect(at).await.expect("collection");
    let mut out = String::new();
    crate::exposition::render([&collected.exposition], &mut out);
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
    assert_eq!(
        value(
            &text,
            "aws_appflow_flow_last_success_timestamp_seconds{flow_name=\"f\",region=\"us-east-1\"}"
        ),
        Some(NOW - 40.0)
    );
    assert_eq!(
        value(
            &text,
            "aws_appflow_flow_last_failure_timestamp_seconds{flow_name=\"f\",region=\"us-east-1\"}"
        ),
        Some(NOW - 140.0)
    );

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
    assert!(text.contains(
        "aws_appflow_flow_status{flow_name=\"f\",status=\"Hibernating\",region=\"us-east-1\"} 1"
    ));
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

async fn collect_at(c: &mut AppFlowCollector<Arc<Fake>>, t: f64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t);
    let collected = c.collect(at).await.expect("collection");
    let mut out = String::new();
    crate::exposition::render([&collected.exposition], &mut out);
    out
}

fn executions(text: &str, flow: &str, status: &str) -> Option<f64> {
    value(
        text,
        &format!(
            "aws_appflow_executions_total{{flow_name=\"{flow}\",status=\"{status}\",region=\"us-east-1\"}}"
        ),
    )
}

#[tokio::test]
async fn a_restored_state_resumes_counting_without_a_baseline() {
    let fake = Fake::shared(2);
    fake.set(
        "f",
        vec![
            run("b", "Successful", NOW - 100.0),
            run("a", "Error", NOW - 200.0),
        ],
    );
    let mut before = collector(&fake);
    collect(&mut before).await;
    let mut c = run("c", "Successful", NOW - 50.0);
    c.registrations = vec![("table", "SUCCEEDED".into())];
    fake.set(
        "f",
        vec![
            run("d", "InProgress", NOW - 10.0),
            c.clone(),
            run("b", "Successful", NOW - 100.0),
            run("a", "Error", NOW - 200.0),
        ],
    );
    let text = collect(&mut before).await;
    assert_eq!(executions(&text, "f", "Successful"), Some(1.0));
    let saved = before.state.saved().unwrap();

    // Down for a while: d ends, e starts and ends, g is created, h moves in
    // (created long before the save: a filter changed, or another shard's).
    let later = NOW + 300.0;
    fake.set(
        "f",
        vec![
            run("e", "Successful", NOW + 100.0),
            run("d", "Error", NOW - 10.0),
            c,
            run("b", "Successful", NOW - 100.0),
            run("a", "Error", NOW - 200.0),
        ],
    );
    fake.set("g", vec![run("g1", "Successful", NOW + 50.0)]);
    fake.flows.lock().unwrap().last_mut().unwrap().created_at = Some(NOW + 40.0);
    fake.set("h", vec![run("h1", "Successful", NOW + 60.0)]);
    let mut after = collector(&fake);
    after
        .state
        .restore(&saved, FORMAT_VERSION, NOW)
        .expect("restores");
    assert_eq!(
        after.state.saved().unwrap(),
        saved,
        "a restored state saves back the same"
    );
    for _ in 0..2 {
        let text = collect_at(&mut after, later).await;
        assert_eq!(executions(&text, "f", "Successful"), Some(2.0), "c and e");
        assert_eq!(executions(&text, "f", "Error"), Some(1.0), "d");
        assert_eq!(executions(&text, "g", "Successful"), Some(1.0), "new flow");
        assert_eq!(
            executions(&text, "h", "Successful"),
            Some(0.0),
            "own baseline"
        );
        assert!(text.contains("aws_appflow_catalog_registrations_total{flow_name=\"f\",kind=\"table\",status=\"SUCCEEDED\",region=\"us-east-1\"} 1"), "{text}");
        assert!(text.contains(
            "aws_appflow_execution_duration_seconds_count{flow_name=\"f\",region=\"us-east-1\"} 3"
        ));
    }
    // After the first collection, a flow that appears is new, whatever its creation time.
    fake.set("i", vec![run("i1", "Successful", NOW + 200.0)]);
    let text = collect_at(&mut after, later).await;
    assert_eq!(executions(&text, "i", "Successful"), Some(1.0));
}

#[tokio::test]
async fn an_unreadable_state_changes_nothing() {
    let fake = Fake::shared(100);
    fake.set("f", vec![run("a", "Successful", NOW - 100.0)]);
    let mut c = collector(&fake);
    let v1 = crate::state::FORMAT_VERSION_1;
    assert!(c
        .state
        .restore(b"{\"baselined\":true,\"flows\":7}", v1, NOW)
        .is_err());
    assert!(c.state.restore(b"{\"baselined\":", v1, NOW).is_err());
    let mut other = collector(&fake);
    collect(&mut other).await;
    let good = other.state.saved().unwrap();
    for cut in 0..good.len() {
        let error = c
            .state
            .restore(&good[..cut], FORMAT_VERSION, NOW)
            .unwrap_err();
        assert!(error.starts_with("appflow state at byte"), "{error}");
    }
    let mut longer = good.clone();
    longer.push(0);
    let error = c.state.restore(&longer, FORMAT_VERSION, NOW).unwrap_err();
    assert!(error.contains("1 bytes after the end"), "{error}");
    let mut buckets = good.clone();
    buckets[0] ^= 1;
    let error = c.state.restore(&buckets, FORMAT_VERSION, NOW).unwrap_err();
    assert!(error.contains("duration buckets"), "{error}");
    let text = collect(&mut c).await;
    assert_eq!(
        executions(&text, "f", "Successful"),
        Some(0.0),
        "a baseline"
    );
}

/// A state saved by the first release (format version 1, JSON): the state
/// of `a_restored_state_resumes_counting_without_a_baseline` before the restart.
const VERSION_1: &str = r#"{"baselined":true,"flows":{"f":{"summary":{"name":"f","status":"Active","source_connector":"S3","source_connector_label":null,"destination_connector":"Redshift","destination_connector_label":null,"trigger_type":"Scheduled","created_at":1.0,"last_updated_at":null,"last_run":["InProgress",1700000050.0]},"sap":null,"described":null,"seen":[[12638190499090526629,1699999900.0,"Successful"],[12638187200555641996,1699999800.0,"Error"],[12638183902020757363,1699999990.0,"InProgress"],[12638189399578898418,1699999950.0,"Successful"]],"newest":[1699999990.0,"d"],"newest_finished":{"id":"c","started_at":1699999950.0,"duration":60.0,"bytes_processed":100,"bytes_written":90,"records_processed":10,"put_failures":null,"parallel_processes":2,"max_page_size":500},"last_success":1700000010.0,"last_failure":1699999860.0,"counters":{"executions":[1,0,0],"bytes_processed":100,"bytes_written":90,"records":10,"put_failures":0,"duration":{"bounds":[10.0,30.0,60.0,120.0,300.0,600.0,1200.0,1800.0,3600.0,7200.0,14400.0,28800.0,86400.0],"counts":[0,0,1,0,0,0,0,0,0,0,0,0,0],"sum":60.0,"count":1},"registrations":[[["table","SUCCEEDED"],1]]}}}}"#;

#[tokio::test]
async fn a_version_1_state_resumes_like_the_same_state_in_version_2() {
    let v1 = crate::state::FORMAT_VERSION_1;
    let mut old = collector(&Fake::shared(2));
    old.state
        .restore(VERSION_1.as_bytes(), v1, NOW)
        .expect("reads version 1");
    let saved = old.state.saved().unwrap();
    let mut again = collector(&Fake::shared(2));
    again.state.restore(&saved, FORMAT_VERSION, NOW).unwrap();
    assert_eq!(
        again.state.saved().unwrap(),
        saved,
        "nothing lost in version 2"
    );
    // Counting goes on: d ends while down, e starts and ends.
    let fake = Fake::shared(2);
    let mut c = run("c", "Successful", NOW - 50.0);
    c.registrations = vec![("table", "SUCCEEDED".into())];
    fake.set(
        "f",
        vec![
            run("e", "Successful", NOW + 100.0),
            run("d", "Error", NOW - 10.0),
            c,
            run("b", "Successful", NOW - 100.0),
            run("a", "Error", NOW - 200.0),
        ],
    );
    let mut after = collector(&fake);
    after.state.restore(VERSION_1.as_bytes(), v1, NOW).unwrap();
    let text = collect_at(&mut after, NOW + 300.0).await;
    assert_eq!(executions(&text, "f", "Successful"), Some(2.0), "c and e");
    assert_eq!(executions(&text, "f", "Error"), Some(1.0), "d");
    assert!(text.contains(
        "aws_appflow_execution_duration_seconds_count{flow_name=\"f\",region=\"us-east-1\"} 3"
    ));
}

mod schedules;
/// A day of runs every two hours, every one counted, as the scale benchmark's
/// 10,000 flows have them: the state stays within 4 MiB at 10,000 flows.
mod sizes;
