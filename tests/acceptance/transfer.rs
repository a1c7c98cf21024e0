use aws_flow_simulator::transfer::{Execution, StepResult, Workflow};
use aws_flow_simulator::{Fault, Simulator};

use crate::harness::*;

const WF: &str = "w-4f7b2c9d1e3a5b6c7";
const E1: &str = "11111111-1111-4111-8111-111111111111";
const E2: &str = "22222222-2222-4222-8222-222222222222";
const E3: &str = "33333333-3333-4333-8333-333333333333";
const TRACKED: &str =
    "aws_flow_exporter_executions_tracked{aws_service=\"transfer\",region=\"us-east-1\"}";

fn transfer_config() -> String {
    FAST.to_string() + "targets:\n  - region: us-east-1\n    services:\n      appflow: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n"
}

/// `aws_transfer_<metric>{workflow_id="<wf>",<extra>region="us-east-1"}`.
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

fn executions(text: &str, wf: &str, status: &str) -> Option<f64> {
    let extra = format!("status=\"{status}\",");
    value(text, &series("workflow_executions", wf, &extra))
}

fn step_errors(text: &str, wf: &str, phase: &str, step: &str, error: &str) -> Option<f64> {
    let extra = format!("phase=\"{phase}\",step_type=\"{step}\",error_type=\"{error}\",");
    value(text, &series("workflow_step_errors_total", wf, &extra))
}

fn add_workflow(sim: &Simulator, id: &str) {
    sim.with(|w| {
        let workflow = Workflow::new(id)
            .step("COPY", "archive")
            .step("CUSTOM", "scan")
            .on_exception("DELETE", "cleanup");
        w.transfer.add_workflow(workflow);
    });
}

fn upsert(sim: &Simulator, wf: &str, execution: Execution) {
    sim.with(|w| w.transfer.upsert_execution(wf, execution));
}

fn finish(sim: &Simulator, wf: &str, id: &str) {
    sim.with(|w| w.transfer.finish_execution(wf, id))
        .expect("the execution exists");
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_appear_fail_and_are_counted_once_when_they_vanish() {
    let sim = simulator().await;
    add_workflow(&sim, WF);
    // Listed at the baseline, with a step error already: tracked, never counted as an error.
    let mut early = Execution::new(E1, "IN_PROGRESS");
    early
        .steps
        .push(StepResult::failed("COPY", "THROTTLED", "Slow Down"));
    upsert(&sim, WF, early);
    let exporter = Exporter::start(&sim, &transfer_config()).await;
    let text = exporter.settle("transfer").await;
    assert!(
        text.contains(&format!("{} 1", series("workflow_info", WF, ""))),
        "{text}"
    );
    assert_eq!(up(&text, "transfer"), Some(1.0));
    assert_eq!(finished(&text, WF, "completed"), Some(0.0));
    assert_eq!(finished(&text, WF, "exception"), Some(0.0));
    assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(1.0));
    assert_eq!(executions(&text, WF, "HANDLING_EXCEPTION"), Some(0.0));
    assert!(!text.contains("aws_transfer_workflow_step_errors_total"));
    assert_eq!(value(&text, TRACKED), Some(1.0));
    let age = series("workflow_oldest_execution_age_seconds", WF, "");
    assert!(value(&text, &age).unwrap() > 0.0);

    // A new execution appears, then its custom step fails and the handler fails too.
    upsert(&sim, WF, Execution::new(E2, "IN_PROGRESS"));
    let text = exporter.settle("transfer").await;
    assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(2.0));
    assert_eq!(value(&text, TRACKED), Some(2.0));
    let mut failing = Execution::new(E2, "HANDLING_EXCEPTION");
    failing.steps.push(StepResult::ok("COPY"));
    failing.steps.push(StepResult::failed(
        "CUSTOM",
        "CUSTOM_STEP_FAILED",
        "scanner rejected /home/alice/payroll.csv",
    ));
    failing.on_exception_steps.push(StepResult::failed(
        "DELETE",
        "PERMISSION_DENIED",
        "Access Denied",
    ));
    upsert(&sim, WF, failing);
    for _ in 0..3 {
        let text = exporter.settle("transfer").await;
        assert_eq!(
            step_errors(&text, WF, "steps", "CUSTOM", "CUSTOM_STEP_FAILED"),
            Some(1.0)
        );
        assert_eq!(
            step_errors(
                &text,
                WF,
                "on_exception_steps",
                "DELETE",
                "PERMISSION_DENIED"
            ),
            Some(1.0)
        );
        assert!(!text.contains("THROTTLED"), "a baseline error was counted");
        assert!(
            !text.contains("payroll"),
            "a message leaked into the metrics"
        );
        assert_eq!(executions(&text, WF, "HANDLING_EXCEPTION"), Some(1.0));
        assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(1.0));
    }

    // A third one runs cleanly; then all three end and vanish.
    upsert(&sim, WF, Execution::new(E3, "IN_PROGRESS"));
    exporter.settle("transfer").await;
    for id in [E1, E2, E3] {
        finish(&sim, WF, id);
    }
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_eq!(finished(&text, WF, "completed"), Some(1.0));
        // E1 had a step error at the baseline, E2 went HANDLING_EXCEPTION.
        assert_eq!(finished(&text, WF, "exception"), Some(2.0));
        assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(0.0));
        assert_eq!(executions(&text, WF, "HANDLING_EXCEPTION"), Some(0.0));
        assert_eq!(value(&text, &age), Some(0.0));
        assert_eq!(value(&text, TRACKED), Some(0.0));
        assert_eq!(
            step_errors(&text, WF, "steps", "CUSTOM", "CUSTOM_STEP_FAILED"),
            Some(1.0)
        );
    }
    let logs = exporter.logs();
    assert_eq!(
        logs.matches("Transfer workflow step failed").count(),
        2,
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_workflows_take_their_executions_and_new_ones_count_everything() {
    let sim = simulator().await;
    let (keep, gone, fresh) = (
        "w-aaaaaaaaaaaaaaaaa",
        "w-bbbbbbbbbbbbbbbbb",
        "w-ccccccccccccccccc",
    );
    for id in [keep, gone] {
        add_workflow(&sim, id);
    }
    upsert(&sim, gone, Execution::new(E1, "HANDLING_EXCEPTION"));
    upsert(&sim, keep, Execution::new(E2, "IN_PROGRESS"));
    let exporter = Exporter::start(&sim, &transfer_config()).await;
    let text = exporter.settle("transfer").await;
    assert_eq!(value(&text, TRACKED), Some(2.0));
    assert!(text.contains(&format!("workflow_id=\"{gone}\"")));

    sim.with(|w| w.transfer.remove_workflow(gone));
    add_workflow(&sim, fresh);
    let mut erred = Execution::new(E3, "IN_PROGRESS");
    erred
        .steps
        .push(StepResult::failed("COPY", "ALREADY_EXISTS", "exists"));
    upsert(&sim, fresh, erred);
    let text = exporter.settle("transfer").await;
    assert!(!text.contains(&format!("workflow_id=\"{gone}\"")), "{text}");
    assert_eq!(value(&text, TRACKED), Some(2.0));
    assert_eq!(finished(&text, keep, "exception"), Some(0.0));
    assert_eq!(finished(&text, keep, "completed"), Some(0.0));
    // First seen after the baseline: its errors count at once.
    assert_eq!(
        step_errors(&text, fresh, "steps", "COPY", "ALREADY_EXISTS"),
        Some(1.0)
    );
    finish(&sim, fresh, E3);
    let text = exporter.settle("transfer").await;
    assert_eq!(finished(&text, fresh, "exception"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_gone_before_its_describe_is_not_a_failure() {
    let sim = simulator().await;
    add_workflow(&sim, WF);
    let exporter = Exporter::start(&sim, &transfer_config()).await;
    exporter.settle("transfer").await;
    // Listed, but DescribeExecution answers ResourceNotFoundException.
    upsert(&sim, WF, Execution::new(E1, "IN_PROGRESS"));
    sim.with(|w| w.transfer.vanishing.insert(E1.to_string()));
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(1.0));
    assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(1.0));
    assert_eq!(value(&text, TRACKED), Some(1.0));
    let not_found = "aws_flow_exporter_api_requests_total{aws_service=\"transfer\",operation=\"DescribeExecution\",outcome=\"client_error\",region=\"us-east-1\"}";
    assert!(value(&text, not_found).unwrap() >= 1.0, "{text}");
    // It stops being listed: counted once.
    finish(&sim, WF, E1);
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_eq!(up(&text, "transfer"), Some(1.0));
        assert_eq!(finished(&text, WF, "completed"), Some(1.0));
        assert_eq!(value(&text, TRACKED), Some(0.0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transfer_faults_leave_appflow_up_and_apply_nothing() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "orders", now());
    add_workflow(&sim, WF);
    upsert(&sim, WF, Execution::new(E1, "IN_PROGRESS"));
    let config = FAST.to_string() + "targets:\n  - region: us-east-1\n    services:\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";
    let exporter = Exporter::start(&sim, &config).await;
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(1.0));

    // Throttled (HTTP 400 with __type ThrottlingException) on every attempt.
    sim.with(|w| w.faults.always("transfer:*", Fault::Throttle));
    finish(&sim, WF, E1);
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(0.0));
    assert_eq!(up(&text, "appflow"), Some(1.0));
    let throttled = "aws_flow_exporter_api_requests_total{aws_service=\"transfer\",operation=\"ListWorkflows\",outcome=\"throttled\",region=\"us-east-1\"}";
    assert!(value(&text, throttled).unwrap() >= 3.0, "{text}");
    // The last good values stay.
    assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(1.0));
    assert_eq!(finished(&text, WF, "completed"), Some(0.0));

    // A 500 on DescribeExecution only: still all or nothing.
    upsert(&sim, WF, Execution::new(E2, "IN_PROGRESS"));
    sim.with(|w| {
        w.faults.clear();
        w.faults
            .always("transfer:DescribeExecution", Fault::ServerError);
    });
    let text = exporter.settle("transfer").await;
    assert_eq!(up(&text, "transfer"), Some(0.0));
    assert_eq!(up(&text, "appflow"), Some(1.0));
    assert_eq!(finished(&text, WF, "completed"), Some(0.0));
    assert!(text.contains("operation=\"DescribeExecution\",outcome=\"server_error\""));

    // Recovery: E1 counted exactly once, E2 followed.
    sim.with(|w| w.faults.clear());
    for _ in 0..2 {
        let text = exporter.settle("transfer").await;
        assert_eq!(up(&text, "transfer"), Some(1.0));
        assert_eq!(finished(&text, WF, "completed"), Some(1.0));
        assert_eq!(executions(&text, WF, "IN_PROGRESS"), Some(1.0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_are_paged_filtered_and_cost_minimal_calls() {
    let sim = simulator().await;
    sim.with(|w| {
        for i in 0..1001 {
            w.transfer
                .add_workflow(Workflow::new(&format!("w-{i:017}")));
        }
    });
    let wanted = format!("w-{:017}", 1000);
    for i in 0..3 {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        upsert(&sim, &wanted, Execution::new(&id, "IN_PROGRESS"));
    }
    let config = transfer_config().replace(
        "      appflow: { enabled: false }\n",
        "      appflow: { enabled: false }\n      transfer: { include: [\"1000$\", \"^w-0{17}$\"] }\n",
    );
    // One collection (`--once`), so the call counts are exact.
    let file = config_file(&config);
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || run(&url, &["--once", "--config.file", &path]))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(executions(&text, &wanted, "IN_PROGRESS"), Some(3.0));
    assert_eq!(
        text.matches("aws_transfer_workflow_info{").count(),
        2,
        "only the included workflows"
    );
    assert_eq!(value(&text, TRACKED), Some(3.0));
    sim.with(|w| {
        // Two pages of ListWorkflows (1000 a page), one ListExecutions per included
        // workflow, one DescribeExecution per listed execution, nothing else.
        assert_eq!(w.calls("transfer:ListWorkflows"), 2);
        assert_eq!(w.calls("transfer:ListExecutions"), 2);
        assert_eq!(w.calls("transfer:DescribeExecution"), 3);
        assert_eq!(w.calls("transfer:DescribeWorkflow"), 0);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_honours_retry_after_seconds_in_the_body() {
    let sim = simulator().await;
    add_workflow(&sim, WF);
    sim.with(|w| {
        w.faults
            .inject("transfer:ListWorkflows", Fault::ThrottleRetryAfter(2), 1)
    });
    let file = config_file(&transfer_config());
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || run(&url, &["--once", "--config.file", &path]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The retry waited as long as Transfer asked (its backoff alone is far shorter).
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(sim.with(|w| w.calls("transfer:ListWorkflows")), 2);
}
