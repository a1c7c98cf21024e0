use aws_flow_simulator::supplychain::{Execution, Flow, Instance, Source};
use aws_flow_simulator::{Fault, Simulator};

use crate::harness::*;

const I: &str = "a1b2c3d4-0000-4000-8000-000000000001";
const J: &str = "a1b2c3d4-0000-4000-8000-000000000002";

fn config() -> String {
    FAST.to_string() + "targets:\n  - region: us-east-1\n    services:\n      appflow: { enabled: false }\n      transfer: { enabled: false }\n      customerprofiles: { enabled: false }\n"
}

/// `aws_supplychain_<metric>{instance_id=..,flow_name=..,<extra>region="us-east-1"}`.
fn series(metric: &str, instance: &str, flow: &str, extra: &str) -> String {
    format!("aws_supplychain_{metric}{{instance_id=\"{instance}\",flow_name=\"{flow}\",{extra}region=\"us-east-1\"}}")
}

fn total(instance: &str, flow: &str, status: &str) -> String {
    series(
        "flow_executions_total",
        instance,
        flow,
        &format!("status=\"{status}\","),
    )
}

fn state(instance: &str, status: &str) -> String {
    format!("aws_supplychain_instance_state{{instance_id=\"{instance}\",status=\"{status}\",region=\"us-east-1\"}}")
}

fn tracked(text: &str) -> Option<f64> {
    value(
        text,
        "aws_flow_exporter_executions_tracked{aws_service=\"supplychain\",region=\"us-east-1\"}",
    )
}

/// Instance `id` (Active) with flow `name` created at t-1000 and one SUCCEEDED run "a".
fn add_flow(sim: &Simulator, id: &str, name: &str, t: f64) {
    sim.with(|w| {
        if !w.supplychain.instances.contains_key(id) {
            w.supplychain.add_instance(Instance::new(id, t - 86400.0));
        }
        let mut flow = Flow::new(name, t - 1000.0);
        flow.executions
            .push(Execution::finished("a", "SUCCEEDED", t - 500.0, t - 400.0));
        w.supplychain.add_flow(id, flow);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_then_transitions_counted_once() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        w.supplychain.add_instance(Instance::new(I, t - 86400.0));
        let mut flow = Flow::new("orders", t - 3600.0 * 24.0);
        flow.sources.push(Source {
            source_type: "DATASET".into(),
            source_name: "product".into(),
        });
        flow.sources.push(Source {
            source_type: "S3".into(),
            source_name: "more".into(),
        });
        flow.transformation_type = "SQL".into();
        flow.executions.push(Execution::finished(
            "run-1",
            "SUCCEEDED",
            t - 3600.0,
            t - 3000.0,
        ));
        flow.executions.push(Execution::finished(
            "run-0",
            "FAILED",
            t - 7200.0,
            t - 7100.0,
        ));
        w.supplychain.add_flow(I, flow);
    });
    let exporter = Exporter::start(&sim, &config()).await;
    let text = exporter.settle("supplychain").await;
    assert!(text.contains(&format!("aws_supplychain_flow_info{{instance_id=\"{I}\",flow_name=\"orders\",source_type=\"DATASET,S3\",target_type=\"DATASET\",transformation_type=\"SQL\",region=\"us-east-1\"}} 1")), "{text}");
    assert_eq!(value(&text, &state(I, "Active")), Some(1.0));
    assert_eq!(value(&text, &state(I, "Deleted")), Some(0.0));
    assert_eq!(value(&text, &total(I, "orders", "SUCCEEDED")), Some(0.0));
    assert_eq!(value(&text, &total(I, "orders", "FAILED")), Some(0.0));
    let count = series("flow_execution_duration_seconds_count", I, "orders", "");
    assert_eq!(value(&text, &count), Some(0.0));
    let success = series("flow_last_success_timestamp_seconds", I, "orders", "");
    let failure = series("flow_last_failure_timestamp_seconds", I, "orders", "");
    assert_eq!(value(&text, &success), Some(t - 3000.0));
    assert_eq!(value(&text, &failure), Some(t - 7100.0));
    let duration = series("last_execution_duration_seconds", I, "orders", "");
    assert_eq!(value(&text, &duration), Some(600.0));
    let start = series(
        "flow_last_execution_start_timestamp_seconds",
        I,
        "orders",
        "",
    );
    assert_eq!(value(&text, &start), Some(t - 3600.0));
    assert_eq!(up(&text, "supplychain"), Some(1.0));
    assert_eq!(tracked(&text), Some(2.0));

    // A run starts, then succeeds; another starts, then fails: each counted once.
    let running = series("flow_executions_in_progress", I, "orders", "");
    let last = |s: &str| {
        series(
            "flow_last_execution_status",
            I,
            "orders",
            &format!("status=\"{s}\","),
        )
    };
    sim.with(|w| {
        w.supplychain
            .upsert_execution(I, "orders", Execution::running("run-2", t - 120.0))
    });
    let text = exporter.settle("supplychain").await;
    assert_eq!(value(&text, &running), Some(1.0));
    assert_eq!(value(&text, &last("IN_PROGRESS")), Some(1.0));
    assert_eq!(value(&text, &last("SUCCEEDED")), Some(0.0));
    sim.with(|w| {
        w.supplychain.upsert_execution(
            I,
            "orders",
            Execution::finished("run-2", "SUCCEEDED", t - 120.0, t - 60.0),
        );
        w.supplychain
            .upsert_execution(I, "orders", Execution::running("run-3", t - 50.0));
    });
    exporter.settle("supplychain").await;
    let mut failed = Execution::finished("run-3", "FAILED", t - 50.0, t - 20.0);
    failed.message = Some("row 17: bad value 4111-1111-1111-1111".into());
    sim.with(|w| w.supplychain.upsert_execution(I, "orders", failed));
    for _ in 0..3 {
        let text = exporter.settle("supplychain").await;
        assert_eq!(value(&text, &total(I, "orders", "SUCCEEDED")), Some(1.0));
        assert_eq!(value(&text, &total(I, "orders", "FAILED")), Some(1.0));
        assert_eq!(value(&text, &count), Some(2.0));
        assert_eq!(value(&text, &running), Some(0.0));
        assert_eq!(value(&text, &last("FAILED")), Some(1.0));
        assert_eq!(value(&text, &success), Some(t - 60.0));
        assert_eq!(value(&text, &failure), Some(t - 20.0));
        assert_eq!(value(&text, &duration), Some(30.0));
        assert!(!text.contains("4111"), "a message leaked into the metrics");
    }
    let logs = exporter.logs();
    assert_eq!(
        logs.matches("Supply Chain flow execution failed").count(),
        1,
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_page_listings_and_minimal_steady_state_calls() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        // 45 instances (3 pages): 40 Active and empty, 4 being deleted, and I with 25 flows.
        for n in 0..44 {
            let id = format!("a1b2c3d4-0000-4000-8000-1000000000{n:02}");
            let state = if n < 40 { "Active" } else { "Deleting" };
            w.supplychain
                .add_instance(Instance::new(&id, t - 86400.0).with_state(state));
        }
        w.supplychain.add_instance(Instance::new(I, t - 86400.0));
        for n in 0..25 {
            w.supplychain
                .add_flow(I, Flow::new(&format!("flow-{n:02}"), t - 5000.0));
        }
        // 50 runs on flow-00: three pages of history.
        for n in 0..50 {
            let start = t - 100_000.0 + n as f64 * 600.0;
            w.supplychain.upsert_execution(
                I,
                "flow-00",
                Execution::finished(&format!("r{n:02}"), "SUCCEEDED", start, start + 30.0),
            );
        }
    });
    let yaml = config().replace("interval: 200ms", "interval: 1s");
    let exporter = Exporter::start(&sim, &yaml).await;
    let text = exporter.settle("supplychain").await;
    assert_eq!(tracked(&text), Some(50.0));
    assert_eq!(
        value(
            &text,
            &series(
                "flow_last_execution_start_timestamp_seconds",
                I,
                "flow-00",
                ""
            )
        ),
        Some(t - 100_000.0 + 49.0 * 600.0)
    );
    assert!(text.contains(&series("flow_executions_in_progress", I, "flow-24", "")));
    assert_eq!(
        text.matches("status=\"Deleting\",region=\"us-east-1\"} 1")
            .count(),
        4
    );

    // One collection in steady state: 3 ListInstances pages, one ListDataIntegrationFlows per
    // Active instance (2 pages for I), one executions page per flow, no Get.
    sim.with(|w| w.reset_calls());
    exporter.collections("supplychain", 1).await;
    sim.with(|w| {
        assert_eq!(w.calls("ListInstances"), 3, "{:?}", w.all_calls());
        assert_eq!(w.calls("ListDataIntegrationFlows"), 42);
        assert_eq!(w.calls("ListDataIntegrationFlowExecutions"), 25);
        assert_eq!(w.calls("GetDataIntegrationFlowExecution"), 0);
    });

    // 30 new runs at once: more than a page; each counted once.
    sim.with(|w| {
        for n in 0..30 {
            let start = t - 3000.0 + n as f64 * 60.0;
            w.supplychain.upsert_execution(
                I,
                "flow-00",
                Execution::finished(&format!("new{n:02}"), "SUCCEEDED", start, start + 10.0),
            );
        }
    });
    for _ in 0..2 {
        let text = exporter.settle("supplychain").await;
        assert_eq!(value(&text, &total(I, "flow-00", "SUCCEEDED")), Some(30.0));
        assert_eq!(tracked(&text), Some(80.0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_execution_buried_under_newer_runs_is_followed() {
    let sim = simulator().await;
    let t = now();
    add_flow(&sim, I, "slow", t);
    sim.with(|w| {
        w.supplychain
            .upsert_execution(I, "slow", Execution::running("long-run", t - 300.0))
    });
    let exporter = Exporter::start(&sim, &config()).await;
    let text = exporter.settle("supplychain").await;
    assert_eq!(
        value(&text, &series("flow_executions_in_progress", I, "slow", "")),
        Some(1.0)
    );
    sim.with(|w| {
        for n in 0..25 {
            let start = t - 250.0 + n as f64;
            w.supplychain.upsert_execution(
                I,
                "slow",
                Execution::finished(&format!("quick-{n:02}"), "SUCCEEDED", start, start + 1.0),
            );
        }
    });
    exporter.settle("supplychain").await;
    sim.with(|w| {
        w.reset_calls();
        w.supplychain.upsert_execution(
            I,
            "slow",
            Execution::finished("long-run", "FAILED", t - 300.0, t - 5.0),
        );
    });
    for _ in 0..2 {
        let text = exporter.settle("supplychain").await;
        assert_eq!(value(&text, &total(I, "slow", "FAILED")), Some(1.0));
        assert_eq!(value(&text, &total(I, "slow", "SUCCEEDED")), Some(25.0));
        assert_eq!(
            value(&text, &series("flow_executions_in_progress", I, "slow", "")),
            Some(0.0)
        );
    }
    assert!(sim.with(|w| w.calls("GetDataIntegrationFlowExecution")) >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_states_non_active_and_vanishing_instances_and_recreated_flows() {
    let sim = simulator().await;
    let t = now();
    add_flow(&sim, I, "f", t);
    add_flow(&sim, I, "doomed", t);
    sim.with(|w| {
        w.supplychain.upsert_execution(
            I,
            "f",
            Execution::finished("b", "CANCELLED", t - 100.0, t - 90.0),
        );
        let mut other = Instance::new(J, t - 10.0).with_state("Initializing");
        other.flows.insert("hidden".into(), Flow::new("hidden", t));
        w.supplychain.add_instance(other);
    });
    let exporter = Exporter::start(&sim, &config()).await;
    let text = exporter.settle("supplychain").await;
    let status = |s: &str| {
        series(
            "flow_last_execution_status",
            I,
            "f",
            &format!("status=\"{s}\","),
        )
    };
    assert_eq!(value(&text, &status("CANCELLED")), Some(1.0), "{text}");
    assert_eq!(value(&text, &status("SUCCEEDED")), Some(0.0));
    assert_eq!(value(&text, &state(J, "Initializing")), Some(1.0));
    assert_eq!(value(&text, &state(J, "Active")), Some(0.0));
    assert!(!text.contains("flow_name=\"hidden\""));

    // The unknown status goes when a known one is current; an unknown instance state shows.
    sim.with(|w| {
        w.supplychain
            .upsert_execution(I, "f", Execution::running("c", t - 10.0));
        w.supplychain.instance_mut(J).unwrap().state = "Quarantined".into();
    });
    let text = exporter.settle("supplychain").await;
    assert!(!text.contains("CANCELLED"));
    assert_eq!(value(&text, &status("IN_PROGRESS")), Some(1.0));
    assert_eq!(value(&text, &state(J, "Quarantined")), Some(1.0));

    // J disappears; "doomed" is deleted; "f" is deleted and re-created with one new run.
    sim.with(|w| {
        w.supplychain.remove_instance(J);
        w.supplychain.remove_flow(I, "doomed");
        let mut again = Flow::new("f", t - 5.0);
        again
            .executions
            .push(Execution::finished("a", "SUCCEEDED", t - 4.0, t - 2.0));
        w.supplychain.add_flow(I, again);
    });
    let text = exporter.settle("supplychain").await;
    assert!(!text.contains(J), "{text}");
    assert!(!text.contains("flow_name=\"doomed\""));
    assert_eq!(value(&text, &total(I, "f", "SUCCEEDED")), Some(1.0));
    assert_eq!(
        value(&text, &series("flow_executions_in_progress", I, "f", "")),
        Some(0.0)
    );

    // The whole instance goes: every series of it goes.
    sim.with(|w| w.supplychain.remove_instance(I));
    let text = exporter.settle("supplychain").await;
    assert!(!text.contains("aws_supplychain_"), "{text}");
    assert_eq!(up(&text, "supplychain"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_supply_chain_leave_appflow_up_and_keep_the_last_values() {
    let sim = simulator().await;
    let t = now();
    add_flow(&sim, I, "f", t);
    add_flow_with_one_success(&sim, "appflow-flow", t);
    let yaml = FAST.to_string()
        + "targets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      customerprofiles: { enabled: false }\n";
    let exporter = Exporter::start(&sim, &yaml).await;
    exporter.settle("supplychain").await;
    let success = series("flow_last_success_timestamp_seconds", I, "f", "");

    sim.with(|w| {
        w.faults.always("supplychain:*", Fault::ServerError);
        w.supplychain.upsert_execution(
            I,
            "f",
            Execution::finished("b", "SUCCEEDED", t - 50.0, t - 40.0),
        );
    });
    let text = exporter.settle("supplychain").await;
    assert_eq!(up(&text, "supplychain"), Some(0.0));
    assert_eq!(up(&text, "appflow"), Some(1.0));
    assert_eq!(value(&text, &success), Some(t - 400.0));
    assert!(text.contains("aws_flow_exporter_api_requests_total{aws_service=\"supplychain\",operation=\"ListInstances\",outcome=\"server_error\""));

    // Throttled on the executions only: still all or nothing.
    sim.with(|w| {
        w.faults.clear();
        w.faults.always(
            "supplychain:ListDataIntegrationFlowExecutions",
            Fault::Throttle,
        );
    });
    let text = exporter.settle("supplychain").await;
    assert_eq!(up(&text, "supplychain"), Some(0.0));
    assert_eq!(value(&text, &total(I, "f", "SUCCEEDED")), Some(0.0));
    assert!(text.contains("operation=\"ListDataIntegrationFlowExecutions\",outcome=\"throttled\""));

    // Recovery: counted exactly once.
    sim.with(|w| w.faults.clear());
    for _ in 0..2 {
        let text = exporter.settle("supplychain").await;
        assert_eq!(up(&text, "supplychain"), Some(1.0));
        assert_eq!(value(&text, &success), Some(t - 40.0));
        assert_eq!(value(&text, &total(I, "f", "SUCCEEDED")), Some(1.0));
        assert_eq!(up(&text, "appflow"), Some(1.0));
    }
}
