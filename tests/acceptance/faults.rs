//! The fault matrix: whatever AWS does, the exporter keeps serving, keeps the
//! last good values, says which collector is down, logs once per streak,
//! recovers on the first good collection and counts exactly.

use std::time::Duration;

use aws_flow_simulator::appflow::Execution;
use aws_flow_simulator::Fault;

use crate::harness::*;

/// Short attempt timeout so that hangs fail fast; AppFlow only.
const CONFIG: &str = "collection:\n  interval: 200ms\n  timeout: 500ms\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";

const FAILED: &str = "collection failed";

/// Waits for collections until `up` says `expected`.
async fn until_up(exporter: &Exporter, expected: f64) -> String {
    for _ in 0..100 {
        let text = exporter.collections("appflow", 1).await;
        if up(&text, "appflow") == Some(expected) {
            return text;
        }
    }
    panic!("collector_up never became {expected}: {}", exporter.logs());
}

/// One row of the matrix: `fault` on `operation` from after the baseline until
/// cleared; `outcome` is how `api_requests_total` must classify the attempts.
async fn survives(operation: &str, fault: Fault, outcome: &str) {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    let exporter = Exporter::start(&sim, CONFIG).await;
    let text = exporter.settle("appflow").await;
    let successes = flow_series("executions_total", "orders", "status=\"Successful\",");
    let last_success = flow_series("flow_last_success_timestamp_seconds", "orders", "");
    assert_eq!(up(&text, "appflow"), Some(1.0));
    assert_eq!(value(&text, &successes), Some(0.0));

    sim.with(|w| {
        w.faults.always(operation, fault.clone());
        w.appflow.upsert_execution(
            "orders",
            Execution::finished("b", "Successful", t - 300.0, t - 200.0),
        );
    });
    until_up(&exporter, 0.0).await;
    let text = exporter.collections("appflow", 3).await;
    assert_eq!(up(&text, "appflow"), Some(0.0), "{fault:?}");
    // The last good values stay; nothing of the failed collections is applied.
    assert_eq!(value(&text, &successes), Some(0.0), "{fault:?}");
    assert_eq!(value(&text, &last_success), Some(t - 400.0), "{fault:?}");
    assert_eq!(get(exporter.addr, "/healthz").await.unwrap().status, 200);
    let attempted = if operation.contains(':') {
        "ListFlows"
    } else {
        operation
    };
    let requests = format!("aws_flow_exporter_api_requests_total{{aws_service=\"appflow\",operation=\"{attempted}\",outcome=\"{outcome}\",region=\"us-east-1\"}}");
    assert!(
        value(&text, &requests).is_some_and(|n| n >= 1.0),
        "{fault:?}: no {requests}"
    );
    assert_eq!(
        exporter.logs().matches(FAILED).count(),
        1,
        "{fault:?}: one message per streak\n{}",
        exporter.logs()
    );

    sim.with(|w| w.faults.clear());
    until_up(&exporter, 1.0).await;
    let text = exporter.settle("appflow").await;
    assert_eq!(
        value(&text, &successes),
        Some(1.0),
        "{fault:?}: counted once"
    );
    assert_eq!(value(&text, &last_success), Some(t - 200.0), "{fault:?}");
    assert!(exporter.logs().contains("collection recovered"));
    let text = exporter.settle("appflow").await;
    assert_eq!(value(&text, &successes), Some(1.0), "{fault:?}: not twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling() {
    survives("ListFlows", Fault::Throttle, "throttled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_with_retry_after() {
    survives(
        "DescribeFlowExecutionRecords",
        Fault::ThrottleRetryAfter(1),
        "throttled",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors() {
    survives(
        "DescribeFlowExecutionRecords",
        Fault::ServerError,
        "server_error",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_hangs_past_the_timeout() {
    survives("ListFlows", Fault::Hang(Duration::from_secs(3)), "timeout").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection() {
    survives("ListFlows", Fault::Drop, "transport_error").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_body() {
    survives(
        "DescribeFlowExecutionRecords",
        Fault::Malformed,
        "transport_error",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_body() {
    survives("ListFlows", Fault::Truncated, "transport_error").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_the_whole_service() {
    survives("appflow:*", Fault::AccessDenied, "client_error").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_deleted_between_list_and_describe_is_gone_not_a_failure() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    add_flow_with_one_success(&sim, "doomed", t);
    let exporter = Exporter::start(&sim, CONFIG).await;
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
