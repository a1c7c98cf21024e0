//! The fault matrix: whatever AWS does, the exporter keeps serving, keeps the
//! last good values, says which collector is down, logs once per streak,
//! recovers on the first good collection and counts exactly.

use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::Execution;
use aws_flow_simulator::transfer::{log_group, RunStep, Server, WorkflowRun};
use aws_flow_simulator::{customerprofiles as cp, supplychain as scn, transfer};
use aws_flow_simulator::{Fault, Simulator};

use crate::harness::*;

/// All four services, a short attempt timeout so that hangs fail fast.
const CONFIG: &str =
    "collection:\n  interval: 200ms\n  timeout: 500ms\n  requests_per_second: 1000\n";
/// AppFlow only.
const APPFLOW_CONFIG: &str = "collection:\n  interval: 200ms\n  timeout: 500ms\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";

/// All four services, Transfer reading its workflow logs (`log_groups: auto`).
const LOGS_CONFIG: &str = "collection:\n  interval: 200ms\n  timeout: 500ms\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { log_groups: auto }\n";
/// With LOGS_CONFIG: a server that logs w-1's executions, and one without a
/// logging role (no log group: not a failure, `log_group_up` 0).
const LOGGED_SERVER: &str = "s-0123456789abcdef0";
const QUIET_SERVER: &str = "s-0fedcba9876543210";

const FAILED: &str = "collection failed";
const SERVICES: [&str; 4] = ["appflow", "transfer", "supplychain", "customerprofiles"];
const INSTANCE: &str = "a1b2c3d4-0000-4000-8000-000000000001";
const EXECUTION: &str = "11111111-1111-4111-8111-111111111111";

fn counter_series(service: &str) -> String {
    match service {
        "appflow" => flow_series("executions_total", "orders", "status=\"Successful\","),
        "transfer" => "aws_transfer_workflow_executions_finished_total{workflow_id=\"w-1\",outcome=\"completed\",region=\"us-east-1\"}".into(),
        "supplychain" => format!("aws_supplychain_flow_executions_total{{instance_id=\"{INSTANCE}\",flow_name=\"orders\",status=\"SUCCEEDED\",region=\"us-east-1\"}}"),
        _ => "aws_customerprofiles_workflows_finished_total{domain_name=\"retail\",status=\"COMPLETE\",region=\"us-east-1\"}".into(),
    }
}

/// Whether Transfer reads its workflow logs (LOGS_CONFIG) or not (CONFIG).
#[derive(Clone, Copy, PartialEq)]
enum Logs {
    Off,
    On,
}

impl Logs {
    fn config(self) -> &'static str {
        match self {
            Logs::Off => CONFIG,
            Logs::On => LOGS_CONFIG,
        }
    }
}

fn log_group_up(text: &str, server: &str) -> Option<f64> {
    let group = log_group(server);
    value(
        text,
        &format!("aws_transfer_log_group_up{{log_group=\"{group}\",region=\"us-east-1\"}}"),
    )
}

fn populate(sim: &Simulator, t: f64, logs: Logs) {
    add_flow_with_one_success(sim, "orders", t);
    if logs == Logs::On {
        sim.with(|w| {
            w.add_transfer_server(Server::new(LOGGED_SERVER).with_logging());
            w.add_transfer_server(Server::new(QUIET_SERVER));
        });
    }
    sim.with(|w| {
        w.transfer
            .add_workflow(transfer::Workflow::new("w-1").step("COPY", "archive"));
        w.transfer
            .upsert_execution("w-1", transfer::Execution::new(EXECUTION, "IN_PROGRESS"));
        w.supplychain
            .add_instance(scn::Instance::new(INSTANCE, t - 86400.0));
        let mut flow = scn::Flow::new("orders", t - 1000.0);
        flow.executions.push(scn::Execution::finished(
            "a",
            "SUCCEEDED",
            t - 500.0,
            t - 400.0,
        ));
        w.supplychain.add_flow(INSTANCE, flow);
        w.customerprofiles
            .add_domain(cp::Domain::new("retail", t - 86400.0));
        w.customerprofiles.upsert_workflow(
            "retail",
            cp::Workflow::new(&cp::workflow_id("w1"), "IN_PROGRESS", t - 600.0),
        );
    });
}

/// One new terminal execution in `service` (for Transfer with `logs`, also
/// its events in the workflow log).
fn change(sim: &Simulator, service: &str, t: f64, logs: Logs) {
    if service == "transfer" && logs == Logs::On {
        let start_ms = (t * 1000.0) as i64 - 2_000;
        let run = WorkflowRun::new(LOGGED_SERVER, "w-1", EXECUTION, start_ms)
            .step(RunStep::ok("COPY", "archive", 500));
        assert!(sim.with(|w| w.log_workflow_run(&run)));
    }
    sim.with(|w| match service {
        "appflow" => w.appflow.upsert_execution(
            "orders",
            Execution::finished("b", "Successful", t - 300.0, t - 200.0),
        ),
        "transfer" => {
            w.transfer.finish_execution("w-1", EXECUTION);
        }
        "supplychain" => w.supplychain.upsert_execution(
            INSTANCE,
            "orders",
            scn::Execution::finished("b", "SUCCEEDED", t - 300.0, t - 200.0),
        ),
        _ => {
            if let Some(wf) = w
                .customerprofiles
                .workflow_mut("retail", &cp::workflow_id("w1"))
            {
                wf.set_status("COMPLETE", t - 100.0);
            }
        }
    });
}

/// Waits for collections of `service` until its `up` says `expected`.
async fn until_up(exporter: &Exporter, service: &str, expected: f64) -> String {
    for _ in 0..100 {
        let text = exporter.collections(service, 1).await;
        if up(&text, service) == Some(expected) {
            return text;
        }
    }
    panic!(
        "{service}: collector_up never became {expected}: {}",
        exporter.logs()
    );
}

/// One row of the matrix: `fault` on `operation` of `service` from after the
/// baseline until cleared; `outcome` is how `api_requests_total` must
/// classify the attempts. The other services must stay up throughout.
/// `operation` may name the simulator's service (`logs:FilterLogEvents`, a
/// call of the Transfer collector to CloudWatch Logs).
async fn survives_with(
    logs: Logs,
    service: &'static str,
    operation: &str,
    fault: Fault,
    outcome: &str,
) {
    let sim = simulator().await;
    let t = now();
    populate(&sim, t, logs);
    let exporter = Exporter::start(&sim, logs.config()).await;
    for s in SERVICES {
        let text = exporter.settle(s).await;
        assert_eq!(up(&text, s), Some(1.0), "{s}: {}", exporter.logs());
    }
    let counter = counter_series(service);
    let text = exporter.metrics().await;
    assert_eq!(value(&text, &counter), Some(0.0), "{counter}\n{text}");
    if logs == Logs::On {
        // A server without a log group is no failure.
        assert_eq!(log_group_up(&text, LOGGED_SERVER), Some(1.0), "{text}");
        assert_eq!(log_group_up(&text, QUIET_SERVER), Some(0.0), "{text}");
    }

    let (scoped, operation) = match operation.split_once(':') {
        Some((_, op)) => (operation.to_string(), op),
        None => (format!("{service}:{operation}"), operation),
    };
    sim.with(|w| w.faults.always(&scoped, fault.clone()));
    // A collection already past `operation` when the fault came would see the
    // change and succeed: let it end first (on a loaded machine it is slow).
    exporter.collections(service, 1).await;
    change(&sim, service, t, logs);
    until_up(&exporter, service, 0.0).await;
    let text = exporter.collections(service, 3).await;
    let case = format!("{service} {scoped} {fault:?}");
    assert_eq!(up(&text, service), Some(0.0), "{case}");
    // The last good values stay; nothing of the failed collections is applied.
    assert_eq!(value(&text, &counter), Some(0.0), "{case}");
    for other in SERVICES.iter().filter(|s| **s != service) {
        assert_eq!(up(&text, other), Some(1.0), "{case}: {other} went down too");
    }
    assert_eq!(get(exporter.addr, "/healthz").await.unwrap().status, 200);
    let attempted = if operation == "*" { "" } else { operation };
    let requests = format!(
        "aws_flow_exporter_api_requests_total{{aws_service=\"{service}\",operation=\"{attempted}"
    );
    let outcome_label = format!("outcome=\"{outcome}\"");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&requests) && l.contains(&outcome_label) && !l.ends_with(" 0")),
        "{case}: no {requests}..{outcome_label}"
    );
    // Only this service fails, so every such line is its.
    let failures = exporter.logs().matches(FAILED).count();
    assert_eq!(
        failures,
        1,
        "{case}: one message per streak\n{}",
        exporter.logs()
    );

    sim.with(|w| w.faults.clear());
    until_up(&exporter, service, 1.0).await;
    let text = exporter.settle(service).await;
    assert_eq!(value(&text, &counter), Some(1.0), "{case}: counted once");
    assert!(exporter.logs().contains("collection recovered"));
    let text = exporter.settle(service).await;
    assert_eq!(value(&text, &counter), Some(1.0), "{case}: not twice");
    if logs == Logs::On {
        // Counted from its end event, the listing told nothing more.
        let last_end = "aws_transfer_workflow_last_execution_end_timestamp_seconds{workflow_id=\"w-1\",outcome=\"completed\",region=\"us-east-1\"}";
        assert!(value(&text, last_end).is_some(), "{case}: {text}");
        assert_eq!(log_group_up(&text, QUIET_SERVER), Some(0.0), "{case}");
    }
}

/// Every fault of the matrix on one service.
async fn matrix(service: &'static str, list: &'static str, detail: &'static str) {
    matrix_with(Logs::Off, service, list, detail, "*").await;
}

/// Every fault of the matrix on one service, `denied` being where access is
/// denied to every operation (`*`, or `logs:*`).
async fn matrix_with(
    logs: Logs,
    service: &'static str,
    list: &'static str,
    detail: &'static str,
    denied: &'static str,
) {
    let row = |operation: &'static str, fault: Fault, outcome: &'static str| {
        survives_with(logs, service, operation, fault, outcome)
    };
    row(list, Fault::Throttle, "throttled").await;
    row(detail, Fault::ThrottleRetryAfter(1), "throttled").await;
    row(detail, Fault::ServerError, "server_error").await;
    row(list, Fault::Hang(Duration::from_secs(3)), "timeout").await;
    row(list, Fault::Drop, "transport_error").await;
    row(detail, Fault::Malformed, "transport_error").await;
    row(list, Fault::Truncated, "transport_error").await;
    row(denied, Fault::AccessDenied, "client_error").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn appflow_survives_every_fault() {
    matrix("appflow", "ListFlows", "DescribeFlowExecutionRecords").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transfer_survives_every_fault() {
    matrix("transfer", "ListWorkflows", "ListExecutions").await;
}

/// Transfer with `log_groups: auto`: every fault of FilterLogEvents (the
/// first two columns both CloudWatch Logs) fails the whole Transfer
/// collection, applies nothing, and the run that ended meanwhile counts once
/// after recovery (metrics.md, "Exact counts from the workflow logs").
#[tokio::test(flavor = "multi_thread")]
async fn transfer_logs_survive_every_fault_of_filter_log_events() {
    let read = "logs:FilterLogEvents";
    matrix_with(Logs::On, "transfer", read, read, "logs:*").await;
}

/// The same with every fault of ListServers (the servers whose log groups `auto` reads).
#[tokio::test(flavor = "multi_thread")]
async fn transfer_logs_survive_every_fault_of_list_servers() {
    matrix_with(
        Logs::On,
        "transfer",
        "ListServers",
        "ListServers",
        "ListServers",
    )
    .await;
}

/// ResourceNotFoundException from FilterLogEvents is a missing group, not a
/// failure: the collection goes on, every group's `log_group_up` is 0, the
/// workflow is counted from the listing; when the group reads again, the run
/// the listing counted is not counted again from its events.
#[tokio::test(flavor = "multi_thread")]
async fn transfer_logs_missing_groups_are_not_a_failure_and_count_nothing_twice() {
    let sim = simulator().await;
    let t = now();
    populate(&sim, t, Logs::On);
    let exporter = Exporter::start(&sim, LOGS_CONFIG).await;
    exporter.settle("transfer").await;
    sim.with(|w| w.faults.always("logs:FilterLogEvents", Fault::NotFound));
    // Described while no group reads (the listing counts w-1 again).
    exporter.settle("transfer").await;
    change(&sim, "transfer", t, Logs::On);
    let counter = counter_series("transfer");
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(1.0), "{}", exporter.logs());
    assert_eq!(log_group_up(&text, LOGGED_SERVER), Some(0.0));
    assert_eq!(log_group_up(&text, QUIET_SERVER), Some(0.0));
    assert_eq!(value(&text, &counter), Some(1.0), "counted by the listing");
    sim.with(|w| w.faults.clear());
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_eq!(log_group_up(&text, LOGGED_SERVER), Some(1.0));
        assert_eq!(
            value(&text, &counter),
            Some(1.0),
            "not again from its events"
        );
    }
    assert!(!exporter.logs().contains(FAILED), "{}", exporter.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn supplychain_survives_every_fault() {
    matrix(
        "supplychain",
        "ListDataIntegrationFlows",
        "ListDataIntegrationFlowExecutions",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn customerprofiles_survives_every_fault() {
    matrix("customerprofiles", "ListDomains", "ListWorkflows").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_deleted_between_list_and_describe_is_gone_not_a_failure() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    add_flow_with_one_success(&sim, "doomed", t);
    let exporter = Exporter::start(&sim, APPFLOW_CONFIG).await;
    exporter.settle("appflow").await;
    sim.with(|w| {
        // A new run makes the exporter read the records, which AWS no longer has.
        w.appflow.upsert_execution(
            "doomed",
            Execution::finished("b", "Successful", t - 300.0, t - 200.0),
        );
        w.faults
            .always("DescribeFlowExecutionRecords", Fault::NotFound);
    });
    let text = exporter.settle("appflow").await;
    assert_eq!(up(&text, "appflow"), Some(1.0));
    assert!(!text.contains("flow_name=\"doomed\""), "{text}");
    assert!(text.contains("flow_name=\"orders\""));
    assert!(!exporter.logs().contains(FAILED));
}

/// Counts the series of `metric` (its info series: one per resource).
fn count(text: &str, metric: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_far_larger_than_asked_for_are_taken_whole() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        for i in 0..250 {
            let mut flow = aws_flow_simulator::appflow::Flow::new(&format!("f-{i:03}"), t - 1000.0);
            for r in 0..3 {
                let start = t - 900.0 + f64::from(r) * 100.0;
                flow.executions.push(Execution::finished(
                    &format!("r-{r}"),
                    "Successful",
                    start,
                    start + 50.0,
                ));
            }
            w.appflow.add_flow(flow);
        }
        for i in 0..1100 {
            w.transfer
                .add_workflow(transfer::Workflow::new(&format!("w-{i:04}")));
        }
        for i in 0..45 {
            w.supplychain.add_instance(scn::Instance::new(
                &format!("a1b2c3d4-0000-4000-8000-{i:012}"),
                t - 86400.0,
            ));
        }
        for i in 0..150 {
            w.customerprofiles
                .add_domain(cp::Domain::new(&format!("d-{i:03}"), t - 86400.0));
        }
        for op in [
            "appflow:ListFlows",
            "appflow:DescribeFlowExecutionRecords",
            "transfer:ListWorkflows",
            "supplychain:ListInstances",
            "customerprofiles:ListDomains",
        ] {
            w.faults.always(op, Fault::Oversize);
        }
    });
    let exporter = Exporter::start(&sim, CONFIG).await;
    let mut text = String::new();
    for s in SERVICES {
        text = exporter.settle(s).await;
        assert_eq!(up(&text, s), Some(1.0), "{s}: {}", exporter.logs());
    }
    assert_eq!(count(&text, "aws_appflow_flow_info"), 250);
    assert_eq!(count(&text, "aws_transfer_workflow_info"), 1100);
    assert_eq!(
        count(&text, "aws_supplychain_instance_state") / 6,
        45,
        "six states per instance"
    );
    assert_eq!(
        count(&text, "aws_customerprofiles_workflows_finished_total") / 3,
        150,
        "three statuses per domain"
    );
    // One page each, whatever was asked for.
    sim.with(|w| {
        w.reset_calls();
    });
    exporter.settle("appflow").await;
    let calls = sim.with(|w| w.calls("appflow:ListFlows"));
    assert!(calls <= 3, "{calls} ListFlows calls for two collections");
}

/// Nothing runs unsupervised: each kind of long-lived task panics once
/// (debug builds: `AWS_FLOW_EXPORTER_FAULTS`), the panic is logged once with
/// its message and location, and the task comes back.
#[tokio::test]
async fn every_kind_of_task_comes_back_after_a_panic() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "orders", now());
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    let headers =
        |value: &str| format!("http_server_config:\n  headers:\n    X-Frame-Options: {value}\n");
    std::fs::write(&web, headers("deny")).unwrap();
    let state = dir.path().join("state");
    let config = "collection:\n  interval: 2s\n  timeout: 1s\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";
    let exporter = Exporter::spawn_env(
        &sim,
        config,
        &[
            "--storage.path",
            state.to_str().unwrap(),
            "--web.config.file",
            web.to_str().unwrap(),
        ],
        &[(
            "AWS_FLOW_EXPORTER_FAULTS",
            "unit,save,sighup,web-config,renderer",
        )],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(exporter.addr, "/readyz").await.map(|r| r.status) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The unit panicked in its first collection: a failed collection.
    let text = exporter.metrics().await;
    assert_eq!(up(&text, "appflow"), Some(0.0), "{text}{}", exporter.logs());
    // Its next collection panics in the save, the one after succeeds.
    let text = exporter.collections("appflow", 2).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = text;
    while up(&text, "appflow") != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "never up again: {}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = exporter.metrics().await;
    }
    // SIGHUP: the first one kills the task, which comes back and reloads on the next.
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &exporter.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    hangup();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hangup();
    // The web configuration is watched again: a change is in force.
    std::fs::write(&web, headers("sameorigin")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = exporter.logs();
        let response = get(exporter.addr, "/healthz").await.unwrap();
        let reloaded = logs
            .lines()
            .any(|l| l.contains("configuration reloaded") && !l.contains("web configuration"));
        if reloaded
            && response
                .headers
                .to_lowercase()
                .contains("x-frame-options: sameorigin")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}: {logs}", response.headers);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = exporter.logs();
    for task in ["unit", "save", "sighup", "web-config", "renderer"] {
        let panic = format!("injected panic in the {task} task (at src/");
        assert_eq!(logs.matches(&panic).count(), 1, "{task}: {logs}");
    }
    assert!(
        !logs.contains("panicked at"),
        "no default panic report: {logs}"
    );
}
