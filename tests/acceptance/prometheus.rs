//! End to end with a real Prometheus (Debian package `prometheus`): it scrapes the exporter,
//! which collects from the simulator, and loads the shipped alert rules. Every query of every
//! dashboard panel must parse and return data, and exactly the alerts the world was built to
//! trigger must fire.
//!
//! Every service of the registry has a collector: its panels must return data and its alerts
//! are expected. A part of the exporter that is no service (`exporter`) only needs its
//! panels' queries to parse.

#[path = "../support/dashboards.rs"]
mod dashboards;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::{CatalogDetail, Execution, Flow, Schedule};
use aws_flow_simulator::{customerprofiles as cp, supplychain as scn, transfer};
use aws_flow_simulator::{Fault, Simulator};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const JOB: &str = "aws-flow-exporter";

/// An alert by name and the label that tells its instances apart (flow, workflow, service).
type Alert = (String, String);

fn alert(name: &str, key: &str) -> Alert {
    (name.to_string(), key.to_string())
}

/// Every service enabled: a service without a collector yet exports nothing; with
/// one, its collector runs here unchanged. `env` stands for the user's target labels.
fn config() -> String {
    "collection:\n  interval: 500ms\n  timeout: 2s\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    labels: { env: e2e }\n    services:\n      transfer: { log_groups: auto }\n".to_string()
}

// ---------------------------------------------------------------------------------------
// The world. `populate_*` runs before the exporter's baseline, `evolve_*` after Prometheus
// has scraped the baseline; each returns the alerts its service should then fire.

/// healthy "orders": nothing fires (hourly, its last run 15 minutes ago: on time). "invoices": a
/// run fails after the baseline with put failures (RunFailed, PutFailures). "legacy": scheduled
/// every three days, last success two days ago (NoRecentSuccess with the shipped 24 h threshold,
/// not missed). "sap-orders": Suspended (its alert; its hourly run is overdue, but a flow that
/// is not Active misses nothing) and SAP OData maximums for the utilisation panels. "stalled":
/// Active, hourly, no run for three hours (ScheduledRunMissed). "flaky": two failures in a row,
/// AppFlow deactivates it at three (NearDeactivation).
fn populate_appflow(sim: &Simulator, t: f64) -> Vec<Alert> {
    sim.with(|w| {
        let mut orders = Flow::new("orders", t - 86400.0);
        orders.trigger_type = "Scheduled".into();
        orders.executions.push(Execution::finished(
            "o-1",
            "Successful",
            t - 900.0,
            t - 600.0,
        ));
        w.appflow.add_flow(orders);

        let mut invoices = Flow::new("invoices", t - 86400.0);
        invoices.trigger_type = "Scheduled".into();
        invoices.executions.push(Execution::finished(
            "i-1",
            "Successful",
            t - 3600.0,
            t - 3500.0,
        ));
        w.appflow.add_flow(invoices);

        let mut legacy =
            Flow::new("legacy", t - 10.0 * 86400.0).with_schedule(Schedule::new("rate(3 days)"));
        legacy.executions.push(Execution::finished(
            "l-1",
            "Successful",
            t - 2.0 * 86400.0 - 300.0,
            t - 2.0 * 86400.0,
        ));
        w.appflow.add_flow(legacy);

        let mut sap = Flow::new("sap-orders", t - 86400.0).with_sapodata(Some(8), Some(5000));
        sap.status = "Suspended".into();
        sap.trigger_type = "Scheduled".into();
        let mut run = Execution::finished("s-1", "Successful", t - 7200.0, t - 6000.0);
        run.num_parallel_processes = Some(6);
        run.max_page_size = Some(2500);
        sap.executions.push(run);
        w.appflow.add_flow(sap);

        let mut stalled =
            Flow::new("stalled", t - 86400.0).with_schedule(Schedule::new("cron(0 * * * ? *)"));
        stalled.executions.push(Execution::finished(
            "st-1",
            "Successful",
            t - 3.0 * 3600.0,
            t - 3.0 * 3600.0 + 60.0,
        ));
        w.appflow.add_flow(stalled);

        let mut hourly = Schedule::new("rate(1 hour)");
        hourly.error_deactivation_threshold = Some(3);
        let mut flaky = Flow::new("flaky", t - 86400.0).with_schedule(hourly);
        flaky.executions = vec![
            Execution::finished("f-3", "Error", t - 1800.0, t - 1700.0),
            Execution::finished("f-2", "Error", t - 5400.0, t - 5300.0),
            Execution::finished("f-1", "Successful", t - 9000.0, t - 8900.0),
        ];
        w.appflow.add_flow(flaky);

        // One server error, retried, so that the error panels have a series.
        w.faults.inject(
            "appflow:DescribeFlowExecutionRecords",
            Fault::ServerError,
            1,
        );
    });
    vec![
        alert("AppFlowFlowNoRecentSuccess", "legacy"),
        alert("AppFlowFlowErroredOrSuspended", "sap-orders"),
        alert("AppFlowScheduledRunMissed", "stalled"),
        alert("AppFlowFlowNearDeactivation", "flaky"),
    ]
}

fn evolve_appflow(sim: &Simulator, t: f64) -> Vec<Alert> {
    let mut failed = Execution::finished("i-2", "Error", t - 120.0, t - 5.0);
    failed.put_failures = Some(17);
    failed.catalog = vec![CatalogDetail {
        table_name: "invoices".into(),
        table_status: Some("Successful".into()),
        partition_status: Some("Error".into()),
    }];
    sim.with(|w| {
        w.appflow.upsert_execution("invoices", failed);
        w.appflow.upsert_execution(
            "orders",
            Execution::finished("o-2", "Successful", t - 60.0, t - 2.0),
        );
    });
    vec![
        alert("AppFlowFlowRunFailed", "invoices"),
        alert("AppFlowFlowPutFailures", "invoices"),
    ]
}

/// The Transfer server whose workflow logs are read (`log_groups: auto`).
const QUICK_SERVER: &str = "s-0e2e0e2e0e2e0e2e0";

const SC_INSTANCE: &str = "a1b2c3d4-0000-4000-8000-0000000000e2";

/// "w-stuck": an execution in progress since before the baseline (Stuck, with the test's 2 s
/// threshold). "w-scan": empty until `evolve_transfer`.
fn populate_transfer(sim: &Simulator, _t: f64) -> Vec<Alert> {
    sim.with(|w| {
        w.transfer.add_workflow(
            transfer::Workflow::new("w-stuck")
                .step("COPY", "archive")
                .step("TAG", "tag"),
        );
        let mut running =
            transfer::Execution::new("11111111-1111-4111-8111-111111111111", "IN_PROGRESS");
        running.steps.push(transfer::StepResult::ok("COPY"));
        w.transfer.upsert_execution("w-stuck", running);
        w.transfer.add_workflow(
            transfer::Workflow::new("w-scan")
                .step("CUSTOM", "scan")
                .on_exception("DELETE", "cleanup"),
        );
        // Its executions last less than a collection interval: only the logs see them.
        w.transfer
            .add_workflow(transfer::Workflow::new("w-quick").step("TAG", "tag"));
        w.add_transfer_server(transfer::Server::new(QUICK_SERVER).with_logging());
    });
    vec![alert("TransferWorkflowExecutionStuck", "w-stuck")]
}

/// An execution on "w-scan" whose custom step failed and whose exception handling runs: a
/// step error (StepErrors) in an execution that stays listed (Stuck, too).
fn evolve_transfer(sim: &Simulator, _t: f64) -> Vec<Alert> {
    sim.with(|w| {
        let mut failing =
            transfer::Execution::new("22222222-2222-4222-8222-222222222222", "HANDLING_EXCEPTION");
        failing.steps.push(transfer::StepResult::failed(
            "CUSTOM",
            "CUSTOM_STEP_FAILED",
            "scanner said no",
        ));
        w.transfer.upsert_execution("w-scan", failing);
        // Starts and fails within 300 ms, between two collections.
        let start_ms = (now() * 1000.0) as i64;
        let run = transfer::WorkflowRun::new(
            QUICK_SERVER,
            "w-quick",
            "33333333-3333-4333-8333-333333333333",
            start_ms,
        )
        .step(transfer::RunStep::failed(
            "TAG",
            "tag",
            300,
            "BAD_REQUEST",
            "no such object",
        ));
        assert!(w.log_workflow_run(&run));
    });
    vec![
        alert("TransferWorkflowStepErrors", "w-scan"),
        alert("TransferWorkflowExecutionStuck", "w-scan"),
        alert("TransferWorkflowExecutionFailed", "w-quick"),
        alert("TransferWorkflowStepErrors", "w-quick"),
    ]
}

/// An Active instance with "sc-orders", which succeeded recently, and "sc-stale", whose last
/// success is two days old (NoRecentSuccess with the shipped 24 h threshold).
fn populate_supplychain(sim: &Simulator, t: f64) -> Vec<Alert> {
    sim.with(|w| {
        w.supplychain
            .add_instance(scn::Instance::new(SC_INSTANCE, t - 30.0 * 86400.0));
        let mut orders = scn::Flow::new("sc-orders", t - 86400.0);
        orders.executions.push(scn::Execution::finished(
            "r-1",
            "SUCCEEDED",
            t - 900.0,
            t - 600.0,
        ));
        w.supplychain.add_flow(SC_INSTANCE, orders);
        let mut stale = scn::Flow::new("sc-stale", t - 5.0 * 86400.0);
        stale.executions.push(scn::Execution::finished(
            "s-1",
            "SUCCEEDED",
            t - 2.0 * 86400.0 - 600.0,
            t - 2.0 * 86400.0,
        ));
        w.supplychain.add_flow(SC_INSTANCE, stale);
    });
    vec![alert("SupplyChainFlowNoRecentSuccess", "sc-stale")]
}

/// A FAILED execution of "sc-orders" (RunFailed) and a SUCCEEDED one after it.
fn evolve_supplychain(sim: &Simulator, t: f64) -> Vec<Alert> {
    sim.with(|w| {
        w.supplychain.upsert_execution(
            SC_INSTANCE,
            "sc-orders",
            scn::Execution::finished("r-2", "FAILED", t - 300.0, t - 200.0),
        );
        w.supplychain.upsert_execution(
            SC_INSTANCE,
            "sc-orders",
            scn::Execution::finished("r-3", "SUCCEEDED", t - 150.0, t - 5.0),
        );
    });
    vec![alert("SupplyChainFlowRunFailed", "sc-orders")]
}

/// A domain with a COMPLETE workflow, two IN_PROGRESS and one FAILED (its alert).
fn populate_customerprofiles(sim: &Simulator, t: f64) -> Vec<Alert> {
    sim.with(|w| {
        w.customerprofiles
            .add_domain(cp::Domain::new("retail", t - 30.0 * 86400.0));
        let workflows = [
            cp::Workflow::new(&cp::workflow_id("done"), "COMPLETE", t - 3600.0)
                .with_progress(1200, 4, 4),
            cp::Workflow::new(&cp::workflow_id("running"), "IN_PROGRESS", t - 600.0)
                .with_progress(300, 2, 4),
            cp::Workflow::new(&cp::workflow_id("long"), "IN_PROGRESS", t - 900.0)
                .with_progress(50, 1, 4),
            cp::Workflow::new(&cp::workflow_id("broken"), "FAILED", t - 1800.0)
                .with_progress(10, 1, 4),
        ];
        for workflow in workflows {
            w.customerprofiles.upsert_workflow("retail", workflow);
        }
    });
    vec![alert(
        "CustomerProfilesWorkflowFailed",
        &cp::workflow_id("broken"),
    )]
}

/// The running workflow completes: workflows_finished_total grows.
fn evolve_customerprofiles(sim: &Simulator, t: f64) -> Vec<Alert> {
    sim.with(|w| {
        if let Some(workflow) = w
            .customerprofiles
            .workflow_mut("retail", &cp::workflow_id("running"))
        {
            workflow.set_status("COMPLETE", t);
            if let Some(m) = workflow.metrics.as_mut() {
                m.steps_completed = m.total_steps;
            }
        }
    });
    Vec::new()
}

/// Sustained throttling: every ListFlows sequence gets one 429, then its retry succeeds, so
/// the collector stays up while AWSFlowExporterThrottled fires.
fn throttle_every_collection(sim: &Simulator) -> Vec<Alert> {
    let handle = sim.handle();
    tokio::spawn(async move {
        let mut injected_at = 0;
        while !handle.is_stopped() {
            handle.with(|w| {
                let calls = w.calls("appflow:ListFlows");
                // Only once the previous 429 and its retry were both served.
                if w.faults.pending("appflow", "ListFlows") == 0 && calls >= injected_at + 2 {
                    w.faults.inject("appflow:ListFlows", Fault::Throttle, 1);
                    injected_at = calls;
                }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    vec![alert("AWSFlowExporterThrottled", "appflow")]
}

/// Whether `service` is a service of the registry (each has its collector and its simulator
/// module).
fn collected(service: &str) -> bool {
    aws_flow_exporter::services::find(service).is_some()
}

/// The alerts of the services that are collected.
fn gated(service: &str, alerts: Vec<Alert>) -> Vec<Alert> {
    if collected(service) {
        alerts
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Prometheus.

struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `exporter` every second and evaluates the rules every second.
    async fn start(exporter: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.yml");
        std::fs::write(&rules, test_rules()).unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{exporter}']\n",
                rules.display()
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(addr, "/-/ready").await.map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "prometheus never ready: {}",
                prometheus.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query: Err(message) when Prometheus rejects it.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let path = format!("/api/v1/query?query={}", percent_encode(expr));
        let (status, body) = http_get(self.addr, &path).await.ok_or("no answer")?;
        let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status != 200 || json["status"] != "success" {
            return Err(format!("{status}: {}", json["error"]));
        }
        Ok(json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The firing alerts, by name and instance key.
    async fn firing(&self) -> BTreeSet<Alert> {
        let (_, body) = http_get(self.addr, "/api/v1/alerts").await.expect("alerts");
        let json: Value = serde_json::from_str(&body).expect("alerts JSON");
        json["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .map(|a| {
                let labels = &a["labels"];
                let key = ["flow_name", "workflow_id", "aws_service"]
                    .iter()
                    .find_map(|k| labels[*k].as_str())
                    .unwrap_or("");
                alert(labels["alertname"].as_str().unwrap_or(""), key)
            })
            .collect()
    }

    /// Waits until Prometheus holds `n` scrapes of the exporter (from now on if `more`).
    async fn scrapes(&self, n: usize) {
        let query = format!("count_over_time(aws_flow_exporter_build_info{{job=\"{JOB}\"}}[10m])");
        let start = self.scrape_count(&query).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.scrape_count(&query).await < start + n as f64 {
            assert!(Instant::now() < deadline, "no scrapes: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn scrape_count(&self, query: &str) -> f64 {
        let result = self.query(query).await.unwrap_or_default();
        result
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// The shipped rules, made fast for a test that lasts seconds: every `for:` becomes 0s and
/// the stuck-execution threshold 2s. The no-success threshold stays the shipped 24 h (the
/// world's stale flow last succeeded two days ago).
fn test_rules() -> String {
    let mut shipped =
        std::fs::read_to_string(repo().join("alerts/aws-flow-exporter.rules.yml")).unwrap();
    if !shipped.contains("alert: AppFlowScheduledRunMissed") {
        shipped.push_str(SCHEDULE_RULES);
    }
    let stuck = "expr: vector(3600)";
    assert!(
        shipped.contains(stuck),
        "the stuck threshold moved: update this test"
    );
    let shipped = shipped.replace(stuck, "expr: vector(2)");
    let re = regex::Regex::new(r"(?m)^(\s+)for: \S+$").unwrap();
    re.replace_all(&shipped, "${1}for: 0s").into_owned()
}

/// The schedule alerts (issue 28) as the exporter's tests expect them, used only while the
/// shipped rules lack them: once shipped, the shipped rules are the ones tested.
const SCHEDULE_RULES: &str = r#"
  - name: aws-flow-exporter-schedules-test
    rules:
      - alert: AppFlowScheduledRunMissed
        expr: (time() - aws_appflow_flow_next_scheduled_run_timestamp_seconds) > 900 and ignoring (status) (aws_appflow_flow_status{status="Active"} == 1)
        for: 5m
        labels:
          severity: warning
      - alert: AppFlowFlowNearDeactivation
        expr: aws_appflow_flow_consecutive_failures > 0 and aws_appflow_flow_consecutive_failures >= aws_appflow_flow_error_deactivation_threshold - 1
        labels:
          severity: warning
"#;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// HTTP/1.0, so that Prometheus answers without chunked encoding and closes.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Values for the dashboards' variables, as Grafana would send them: one region, the job,
/// and "All" (`.*`) for the rest.
const VARIABLES: &[(&str, &str)] = &[
    ("job", JOB),
    ("region", "us-east-1"),
    ("instance", ".*"),
    ("aws_service", ".*"),
    ("name", ".*"),
    ("flow", ".*"),
    ("workflow", ".*"),
    ("instance_id", ".*"),
    ("domain", ".*"),
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__range", "5m"),
];

/// Whether a query of these series must return something: it reads a collected service (or
/// the exporter's own series).
fn must_have_data(expr: &str) -> bool {
    dashboards::services(expr)
        .iter()
        .any(|s| *s == "exporter" || collected(s))
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_have_data_and_the_expected_alerts_fire() {
    if !Path::new(PROMETHEUS).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "prometheus is required in CI (Debian package prometheus)"
        );
        eprintln!("{PROMETHEUS} not installed: skipped");
        return;
    }
    let sim = simulator().await;
    let t = now();
    let mut expected: BTreeSet<Alert> = BTreeSet::new();
    expected.extend(gated("appflow", populate_appflow(&sim, t)));
    expected.extend(gated("transfer", populate_transfer(&sim, t)));
    expected.extend(gated("supplychain", populate_supplychain(&sim, t)));
    expected.extend(gated(
        "customerprofiles",
        populate_customerprofiles(&sim, t),
    ));

    // With --storage.path, so that the state panels have data too.
    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().to_str().unwrap().to_string();
    let exporter = Exporter::start_with(&sim, &config(), &["--storage.path", &storage_path]).await;
    settle(&exporter).await;
    expected.extend(throttle_every_collection(&sim));
    let prometheus = Prometheus::start(exporter.addr).await;
    prometheus.scrapes(3).await;

    // After the baseline, as Prometheus watches.
    let t = now();
    expected.extend(gated("appflow", evolve_appflow(&sim, t)));
    expected.extend(gated("transfer", evolve_transfer(&sim, t)));
    expected.extend(gated("supplychain", evolve_supplychain(&sim, t)));
    expected.extend(gated("customerprofiles", evolve_customerprofiles(&sim, t)));
    settle(&exporter).await;
    prometheus.scrapes(3).await;

    check_dashboards(&prometheus).await;
    check_alerts(&prometheus, &expected, &exporter).await;
}

/// Waits for two more collections of every collected service (`Exporter::settle` knows only
/// series without target labels).
async fn settle(exporter: &Exporter) {
    let ended = |text: &str, service: &str| -> f64 {
        let label = format!("aws_service=\"{service}\"");
        text.lines()
            .filter(|l| l.starts_with("aws_flow_exporter_collection_duration_seconds_count{"))
            .filter(|l| l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let text = exporter.metrics().await;
    let services = aws_flow_exporter::services::SERVICES;
    let start: Vec<f64> = services.iter().map(|s| ended(&text, s.name)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = exporter.metrics().await;
        let done = services
            .iter()
            .zip(&start)
            .all(|(s, n)| ended(&text, s.name) >= n + 2.0);
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no collection ended: {}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn check_dashboards(prometheus: &Prometheus) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, board) in dashboards::dashboards() {
        let mut queries: Vec<(String, String)> = dashboards::panel_queries(&file, &board)
            .into_iter()
            .map(|q| (format!("{file}: {} ({})", q.panel, q.ref_id), q.expr))
            .collect();
        // label_values(<selector>, label): the selector must have series with that label.
        for var in dashboards::variables(&board) {
            if let Some((selector, label)) =
                dashboards::variable_query(var).and_then(dashboards::label_values)
            {
                queries.push((
                    format!("{file}: variable {}", var["name"]),
                    format!("count by ({label}) ({selector})"),
                ));
            }
        }
        for (what, expr) in queries {
            let expr = dashboards::substitute(&expr, VARIABLES);
            checked += 1;
            match prometheus.query(&expr).await {
                Err(e) => problems.push(format!("{what}: {e}\n    {expr}")),
                Ok(series) if series.is_empty() && must_have_data(&expr) => {
                    problems.push(format!("{what}: no series\n    {expr}"))
                }
                Ok(_) => {}
            }
        }
    }
    assert!(checked > 50);
    assert!(
        problems.is_empty(),
        "{} queries failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Waits for the expected set of firing alerts, then checks it holds for a few evaluations.
async fn check_alerts(prometheus: &Prometheus, expected: &BTreeSet<Alert>, exporter: &Exporter) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stable = 0;
    while stable < 3 {
        let firing = prometheus.firing().await;
        if firing == *expected {
            stable += 1;
        } else {
            stable = 0;
            assert!(
                Instant::now() < deadline,
                "firing {firing:#?}\nexpected {expected:#?}\nexporter: {}\nprometheus: {}",
                exporter.logs(),
                prometheus.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}
