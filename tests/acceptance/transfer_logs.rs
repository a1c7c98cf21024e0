//! Transfer with `log_groups`: exact outcomes and step errors from the workflow
//! events in CloudWatch Logs, read through the SDK from the simulator, and
//! compared with the simulator's own count of them (`workflow_truth`).

use std::time::Duration;

use aws_flow_simulator::logs::WorkflowTruth;
use aws_flow_simulator::transfer::{log_group, Execution, RunStep, Server, Workflow, WorkflowRun};
use aws_flow_simulator::{Fault, Simulator};

use crate::harness::*;

/// A server with a logging role, and one without (no log group).
const LOGGED: &str = "s-0123456789abcdef0";
const QUIET: &str = "s-0fedcba9876543210";
/// A workflow that runs on the logged server, and one on the quiet server.
const WF: &str = "w-1111111111111111a";
const QUIET_WF: &str = "w-2222222222222222b";
const TRACKED: &str =
    "aws_flow_exporter_executions_tracked{aws_service=\"transfer\",region=\"us-east-1\"}";

fn config(log_groups: &str) -> String {
    FAST.to_string()
        + "targets:\n  - region: us-east-1\n    services:\n      appflow: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n"
        + &format!("      transfer: {{ log_groups: {log_groups} }}\n")
}

fn series(metric: &str, wf: &str, extra: &str) -> String {
    format!("aws_transfer_{metric}{{workflow_id=\"{wf}\",{extra}region=\"us-east-1\"}}")
}

fn finished(text: &str, wf: &str, outcome: &str) -> Option<f64> {
    let extra = format!("outcome=\"{outcome}\",");
    value(
        text,
        &series("workflow_executions_finished_total", wf, &extra),
    )
}

fn last_end(text: &str, wf: &str, outcome: &str) -> Option<f64> {
    let extra = format!("outcome=\"{outcome}\",");
    value(
        text,
        &series("workflow_last_execution_end_timestamp_seconds", wf, &extra),
    )
}

fn group_up(text: &str, group: &str) -> Option<f64> {
    value(
        text,
        &format!("aws_transfer_log_group_up{{log_group=\"{group}\",region=\"us-east-1\"}}"),
    )
}

fn requests(text: &str, operation: &str, outcome: &str) -> f64 {
    value(text, &format!("aws_flow_exporter_api_requests_total{{aws_service=\"transfer\",operation=\"{operation}\",outcome=\"{outcome}\",region=\"us-east-1\"}}")).unwrap_or(0.0)
}

fn now_ms() -> i64 {
    (now() * 1000.0) as i64
}

/// Both servers, the logged workflow and the quiet one.
fn setup(sim: &Simulator) {
    sim.with(|w| {
        w.add_transfer_server(Server::new(LOGGED).with_logging());
        w.add_transfer_server(Server::new(QUIET));
        w.transfer.add_workflow(
            Workflow::new(WF)
                .step("TAG", "tag-received")
                .step("COPY", "copy-to-processing")
                .on_exception("TAG", "tag-rejected")
                .on_exception("DELETE", "delete-rejected"),
        );
        w.transfer
            .add_workflow(Workflow::new(QUIET_WF).step("COPY", "archive"));
    });
}

fn run(id: &str, start_ms: i64) -> WorkflowRun {
    WorkflowRun::new(LOGGED, WF, id, start_ms)
}

/// A run whose nominal step `failing` (0: TAG, 1: COPY) fails, and whose
/// handler fails too when `handler_fails`.
fn failing_run(id: &str, start_ms: i64, failing: usize, handler_fails: bool) -> WorkflowRun {
    let steps = [("TAG", "tag-received"), ("COPY", "copy-to-processing")];
    let mut r = run(id, start_ms);
    for (i, (step_type, name)) in steps.into_iter().enumerate() {
        r = r.step(if i == failing {
            RunStep::failed(step_type, name, 200, "PERMISSION_DENIED", "Access Denied")
        } else {
            RunStep::ok(step_type, name, 200)
        });
    }
    r.on_exception(if handler_fails {
        RunStep::failed("TAG", "tag-rejected", 100, "BAD_REQUEST", "Cannot tag")
    } else {
        RunStep::ok("TAG", "tag-rejected", 100)
    })
    .on_exception(RunStep::ok("DELETE", "delete-rejected", 100))
}

fn log(sim: &Simulator, run: &WorkflowRun) {
    assert!(sim.with(|w| w.log_workflow_run(run)), "the group exists");
}

fn truth(sim: &Simulator) -> WorkflowTruth {
    sim.with(|w| w.logs.workflow_truth(..))
}

/// The counters of `WF` are exactly what the logs hold since `before` (the
/// truth when the baseline was taken): nothing more, nothing less.
fn assert_exact(text: &str, before: &WorkflowTruth, after: &WorkflowTruth) {
    for outcome in ["completed", "exception"] {
        let expected = after.finished(WF, outcome) - before.finished(WF, outcome);
        assert_eq!(
            finished(text, WF, outcome),
            Some(expected as f64),
            "{outcome}"
        );
    }
    let mut shown = 0;
    for (wf, phase, step_type, error_type) in after.step_errors.keys() {
        if wf != WF {
            continue;
        }
        let expected = after.step_errors(WF, phase, step_type, error_type)
            - before.step_errors(WF, phase, step_type, error_type);
        let extra =
            format!("phase=\"{phase}\",step_type=\"{step_type}\",error_type=\"{error_type}\",");
        let got = value(text, &series("workflow_step_errors_total", WF, &extra));
        assert_eq!(got.unwrap_or(0.0), expected as f64, "{extra}");
        shown += usize::from(got.is_some());
    }
    let prefix = format!("aws_transfer_workflow_step_errors_total{{workflow_id=\"{WF}\"");
    assert_eq!(text.matches(&prefix).count(), shown, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_shorter_than_the_interval_are_counted_exactly_from_the_logs() {
    let sim = simulator().await;
    setup(&sim);
    let t = now_ms();
    // History: counted by nobody, but it fills the gauges.
    log(
        &sim,
        &run("0000000a-0000-4000-8000-000000000001", t - 600_000),
    );
    let history_failure = failing_run(
        "0000000a-0000-4000-8000-000000000002",
        t - 300_000,
        0,
        false,
    );
    log(&sim, &history_failure);
    // One execution of each workflow listed in progress.
    sim.with(|w| {
        w.transfer
            .upsert_execution(WF, Execution::new("listed-1", "IN_PROGRESS"));
        w.transfer
            .upsert_execution(QUIET_WF, Execution::new("quiet-1", "IN_PROGRESS"));
    });
    let before = truth(&sim);
    let exporter = Exporter::start(&sim, &config("auto")).await;
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(1.0), "{}", exporter.logs());
    assert_eq!(group_up(&text, &log_group(LOGGED)), Some(1.0));
    assert_eq!(group_up(&text, &log_group(QUIET)), Some(0.0));
    assert_exact(&text, &before, &before);
    assert_eq!(finished(&text, QUIET_WF, "completed"), Some(0.0));
    assert_eq!(
        last_end(&text, WF, "exception"),
        Some(history_failure.end_ms() as f64 / 1000.0)
    );
    assert_eq!(last_end(&text, QUIET_WF, "completed"), None);
    let executions = series("workflow_executions", WF, "status=\"IN_PROGRESS\",");
    assert_eq!(value(&text, &executions), Some(1.0));

    // Runs of a second or so, between two collections, ended a few seconds ago (the logs
    // only show what has happened): one clean, one failing a step, one failing in the handler
    // too, one throttled first; the listed ones end (the logged one with its events, the
    // quiet one without any).
    let t = now_ms() - 5_000;
    log(
        &sim,
        &run("0000000b-0000-4000-8000-000000000001", t).step(RunStep::ok(
            "TAG",
            "tag-received",
            300,
        )),
    );
    log(
        &sim,
        &failing_run("0000000b-0000-4000-8000-000000000002", t, 0, false),
    );
    log(
        &sim,
        &failing_run("0000000b-0000-4000-8000-000000000003", t, 1, true),
    );
    log(
        &sim,
        &run("0000000b-0000-4000-8000-000000000004", t).throttled(),
    );
    log(&sim, &failing_run("listed-1", t - 1_000, 1, false));
    sim.with(|w| {
        w.transfer.finish_execution(WF, "listed-1");
        w.transfer.finish_execution(QUIET_WF, "quiet-1");
    });
    let after = truth(&sim);
    assert!(after.finished(WF, "exception") > before.finished(WF, "exception") + 2);
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_exact(&text, &before, &after);
        assert_eq!(value(&text, &executions), Some(0.0));
        // The quiet workflow has no readable group: the listing counts it.
        assert_eq!(finished(&text, QUIET_WF, "completed"), Some(1.0));
        assert_eq!(group_up(&text, &log_group(QUIET)), Some(0.0));
        assert!(value(&text, TRACKED).unwrap() >= 4.0, "{text}");
    }

    // Late delivery: a run two minutes old written only now, and one whose events reach
    // CloudWatch 2.5 s after they happen, after those of a run that ended later (so they are
    // older than the newest event already read). Each counts once.
    let t = now_ms();
    log(
        &sim,
        &failing_run("0000000c-0000-4000-8000-000000000001", t - 120_000, 0, true),
    );
    let delayed = failing_run("0000000c-0000-4000-8000-000000000002", t - 1_000, 1, false);
    log(&sim, &delayed.delayed(2_500));
    log(&sim, &run("0000000c-0000-4000-8000-000000000003", t - 800));
    let on_time = truth(&sim);
    let text = exporter.settle("transfer").await;
    assert_exact(&text, &before, &on_time);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let after = truth(&sim);
    assert_eq!(
        after.finished(WF, "exception"),
        on_time.finished(WF, "exception") + 1,
        "delivered"
    );
    for _ in 0..3 {
        let text = exporter.settle("transfer").await;
        assert_exact(&text, &before, &after);
    }
    let text = exporter.metrics().await;
    assert!(!text.contains("Access Denied"), "a message leaked");
    assert!(
        requests(&text, "FilterLogEvents", "client_error") > 0.0,
        "the quiet group"
    );
    assert!(requests(&text, "FilterLogEvents", "success") > 0.0);
    assert!(requests(&text, "ListServers", "success") > 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_of_filter_log_events_fail_the_collection_and_apply_nothing() {
    let sim = simulator().await;
    setup(&sim);
    let before = truth(&sim);
    let groups = format!("[{}]", log_group(LOGGED));
    let exporter = Exporter::start(&sim, &config(&groups)).await;
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(1.0));
    assert_eq!(group_up(&text, &log_group(LOGGED)), Some(1.0));
    assert_eq!(group_up(&text, &log_group(QUIET)), None, "not in the list");
    assert_eq!(requests(&text, "ListServers", "success"), 0.0);

    log(
        &sim,
        &failing_run("0000000d-0000-4000-8000-000000000001", now_ms(), 0, true),
    );
    for (fault, outcome) in [
        (Fault::Throttle, "throttled"),
        (Fault::ServerError, "server_error"),
        (Fault::AccessDenied, "client_error"),
    ] {
        sim.with(|w| {
            w.faults.clear();
            w.faults.always("logs:FilterLogEvents", fault);
        });
        let text = exporter.settle("transfer").await;
        assert_eq!(up(&text, "transfer"), Some(0.0), "{outcome}");
        assert!(
            requests(&text, "FilterLogEvents", outcome) >= 1.0,
            "{outcome}"
        );
        // Nothing of the failed collections is applied.
        assert_exact(&text, &before, &before);
    }
    let text = exporter.metrics().await;
    assert!(
        requests(&text, "FilterLogEvents", "throttled") >= 3.0,
        "retried"
    );
    sim.with(|w| w.faults.clear());
    let after = truth(&sim);
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_eq!(up(&text, "transfer"), Some(1.0));
        assert_exact(&text, &before, &after);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_collection_costs_one_read_per_group_and_page() {
    let sim = simulator().await;
    setup(&sim);
    let second = "s-00000000000000002";
    sim.with(|w| w.add_transfer_server(Server::new(second).with_logging()));
    // Enough failing runs for more than one page (1 MB) of matching events, fewer than 10,000.
    let t = now_ms() - 3_600_000;
    for i in 0..2_500 {
        let id = format!("0000000e-0000-4000-8000-{i:012}");
        log(&sim, &failing_run(&id, t + i * 1_000, 0, false));
    }
    let matching: Vec<usize> = sim.with(|w| {
        w.logs
            .events(&log_group(LOGGED))
            .filter(|e| {
                ["ExecutionCompleted", "ExecutionErrored", "StepErrored"]
                    .iter()
                    .any(|k| e.message.contains(&format!("\"type\":\"{k}\"")))
            })
            .map(|e| e.message.len() + 26)
            .collect()
    });
    let bytes: usize = matching.iter().sum();
    assert!(
        matching.len() < 10_000 && (1 << 20..2 << 20).contains(&bytes),
        "{bytes}"
    );
    sim.with(|w| {
        w.transfer
            .upsert_execution(WF, Execution::new("listed-1", "IN_PROGRESS"));
        w.transfer
            .upsert_execution(QUIET_WF, Execution::new("quiet-1", "IN_PROGRESS"));
        w.reset_calls();
    });
    // Calls are counted: a megabyte page must not time out and be retried on a loaded machine.
    let file = config_file(&config("auto").replace("timeout: 2s", "timeout: 30s"));
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || run_exporter(&url, &path))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // The baseline: nothing counted, the gauges from history.
    assert_eq!(finished(&text, WF, "exception"), Some(0.0));
    assert!(last_end(&text, WF, "exception").is_some());
    assert_eq!(group_up(&text, &log_group(second)), Some(1.0));
    assert_eq!(group_up(&text, &log_group(QUIET)), Some(0.0));
    sim.with(|w| {
        assert_eq!(w.calls("transfer:ListServers"), 1);
        // Two pages of the logged group, one of the other, one miss.
        assert_eq!(w.calls("logs:FilterLogEvents"), 4);
        assert_eq!(w.calls("transfer:ListWorkflows"), 1);
        assert_eq!(w.calls("transfer:ListExecutions"), 2);
        // Only the workflow without logs is described.
        assert_eq!(w.calls("transfer:DescribeExecution"), 1);
    });
}

/// `--storage.path`: killed (SIGKILL) and started again on the same
/// directory, the exporter reads on from the saved read marks: what ended
/// while it was down counts once, what it had counted is not counted again.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_storage_path_reads_on_from_the_marks_and_counts_each_execution_once() {
    let sim = simulator().await;
    setup(&sim);
    log(
        &sim,
        &failing_run(
            "0000000f-0000-4000-8000-000000000001",
            now_ms() - 60_000,
            0,
            false,
        ),
    );
    let before = truth(&sim);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let args = ["--storage.path", path.as_str()];
    let exporter = Exporter::start_with(&sim, &config("auto"), &args).await;
    let text = exporter.settle("transfer").await;
    assert_exact(&text, &before, &before);
    log(
        &sim,
        &failing_run(
            "0000000f-0000-4000-8000-000000000002",
            now_ms() - 3_000,
            1,
            true,
        ),
    );
    let counted = truth(&sim);
    let text = exporter.settle("transfer").await;
    assert_exact(&text, &before, &counted);
    drop(exporter);
    // While it is down: a run ends, another one is delivered late.
    let t = now_ms();
    log(
        &sim,
        &run("0000000f-0000-4000-8000-000000000003", t - 2_000).step(RunStep::ok(
            "TAG",
            "tag-received",
            300,
        )),
    );
    log(
        &sim,
        &failing_run("0000000f-0000-4000-8000-000000000004", t - 90_000, 0, true),
    );
    let after = truth(&sim);
    assert!(after.finished(WF, "completed") > counted.finished(WF, "completed"));
    let exporter = Exporter::start_with(&sim, &config("auto"), &args).await;
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_eq!(up(&text, "transfer"), Some(1.0), "{}", exporter.logs());
        let restored =
            "aws_flow_exporter_state_restored{aws_service=\"transfer\",region=\"us-east-1\"}";
        assert_eq!(value(&text, restored), Some(1.0), "{text}");
        assert_exact(&text, &before, &after);
    }
}

fn run_exporter(url: &str, config: &str) -> std::process::Output {
    crate::harness::run(url, &["--once", "--config.file", config])
}
