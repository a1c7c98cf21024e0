use aws_flow_simulator::customerprofiles::{workflow_id, Domain, Workflow};
use aws_flow_simulator::Fault;

use crate::harness::*;

const SERVICE: &str = "customerprofiles";

/// Customer Profiles only; `extra` goes under the service's key (e.g. `domains: [a]`).
fn profiles_config(extra: &str) -> String {
    FAST.to_string()
        + "targets:\n  - region: us-east-1\n    services:\n      appflow: { enabled: false }\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles:\n        enabled: true\n"
        + extra
}

/// `aws_customerprofiles_<metric>{domain_name=..,workflow_id=..,<extra>region="us-east-1"}`.
fn workflow_series(metric: &str, domain: &str, seed: &str, extra: &str) -> String {
    format!(
        "aws_customerprofiles_{metric}{{domain_name=\"{domain}\",workflow_id=\"{}\",{extra}region=\"us-east-1\"}}",
        workflow_id(seed)
    )
}

fn finished(domain: &str, status: &str) -> String {
    format!("aws_customerprofiles_workflows_finished_total{{domain_name=\"{domain}\",status=\"{status}\",region=\"us-east-1\"}}")
}

fn tracked(text: &str) -> Option<f64> {
    value(
        text,
        "aws_flow_exporter_executions_tracked{aws_service=\"customerprofiles\",region=\"us-east-1\"}",
    )
}

/// A workflow with an id derived from `seed`, started at `started`.
fn workflow(seed: &str, status: &str, started: f64) -> Workflow {
    Workflow::new(&workflow_id(seed), status, started)
}

fn set_status(
    sim: &aws_flow_simulator::Simulator,
    domain: &str,
    seed: &str,
    status: &str,
    at: f64,
) {
    sim.with(|w| {
        w.customerprofiles
            .workflow_mut(domain, &workflow_id(seed))
            .expect("workflow exists")
            .set_status(status, at)
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_then_transitions_counted_once() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        w.customerprofiles
            .add_domain(Domain::new("retail", t - 86400.0));
        let mut done = workflow("done", "COMPLETE", t - 3600.0)
            .with_progress(5000, 4, 4)
            .with_source("Zendesk", "zendesk-prod");
        done.last_updated_at = t - 3000.0;
        w.customerprofiles.upsert_workflow("retail", done);
        let running = workflow("run", "IN_PROGRESS", t - 600.0).with_progress(10, 1, 6);
        w.customerprofiles.upsert_workflow("retail", running);
    });
    let exporter = Exporter::start(&sim, &profiles_config("")).await;
    let text = exporter.settle(SERVICE).await;
    assert_eq!(up(&text, SERVICE), Some(1.0));
    for status in ["COMPLETE", "FAILED", "CANCELLED"] {
        assert_eq!(
            value(&text, &finished("retail", status)),
            Some(0.0),
            "{status}"
        );
    }
    let info = workflow_series(
        "workflow_info",
        "retail",
        "done",
        "workflow_type=\"APPFLOW_INTEGRATION\",source_connector=\"Zendesk\",connector_profile=\"zendesk-prod\",",
    );
    assert_eq!(value(&text, &info), Some(1.0), "{text}");
    let status = |seed: &str, s: &str| {
        workflow_series(
            "workflow_status",
            "retail",
            seed,
            &format!("status=\"{s}\","),
        )
    };
    assert_eq!(value(&text, &status("done", "COMPLETE")), Some(1.0));
    assert_eq!(value(&text, &status("done", "IN_PROGRESS")), Some(0.0));
    assert_eq!(value(&text, &status("run", "IN_PROGRESS")), Some(1.0));
    let gauge =
        |metric: &str, seed: &str| value(&text, &workflow_series(metric, "retail", seed, ""));
    assert_eq!(gauge("workflow_processed_records", "done"), Some(5000.0));
    assert_eq!(gauge("workflow_steps_completed", "run"), Some(1.0));
    assert_eq!(gauge("workflow_steps", "run"), Some(6.0));
    assert_eq!(
        gauge("workflow_start_timestamp_seconds", "done"),
        Some(t - 3600.0)
    );
    assert_eq!(
        gauge("workflow_last_updated_timestamp_seconds", "done"),
        Some(t - 3000.0)
    );
    assert_eq!(tracked(&text), Some(1.0));

    // Progress, then failure: counted once, however often it is seen.
    sim.with(|w| {
        let run = w
            .customerprofiles
            .workflow_mut("retail", &workflow_id("run"))
            .unwrap();
        run.metrics = Some(aws_flow_simulator::customerprofiles::WorkflowMetrics {
            records_processed: 900,
            steps_completed: 3,
            total_steps: 6,
        });
        run.last_updated_at = t - 100.0;
    });
    let text = exporter.settle(SERVICE).await;
    assert_eq!(
        value(
            &text,
            &workflow_series("workflow_steps_completed", "retail", "run", "")
        ),
        Some(3.0)
    );
    set_status(&sim, "retail", "run", "FAILED", t - 50.0);
    sim.with(|w| {
        w.customerprofiles
            .workflow_mut("retail", &workflow_id("run"))
            .unwrap()
            .error_description = Some("Token for tenant 1234 expired".into());
    });
    for _ in 0..2 {
        let text = exporter.settle(SERVICE).await;
        assert_eq!(value(&text, &finished("retail", "FAILED")), Some(1.0));
        assert_eq!(value(&text, &finished("retail", "COMPLETE")), Some(0.0));
        assert_eq!(tracked(&text), Some(2.0));
        assert!(!text.contains("tenant 1234"));
    }
    // Retried and failed again: still once. Then a new workflow completes.
    set_status(&sim, "retail", "run", "RETRY", t - 40.0);
    exporter.settle(SERVICE).await;
    set_status(&sim, "retail", "run", "IN_PROGRESS", t - 30.0);
    exporter.settle(SERVICE).await;
    set_status(&sim, "retail", "run", "FAILED", t - 20.0);
    sim.with(|w| {
        w.customerprofiles
            .upsert_workflow("retail", workflow("new", "CANCELLED", t - 10.0))
    });
    for _ in 0..2 {
        let text = exporter.settle(SERVICE).await;
        assert_eq!(value(&text, &finished("retail", "FAILED")), Some(1.0));
        assert_eq!(value(&text, &finished("retail", "CANCELLED")), Some(1.0));
        assert_eq!(tracked(&text), Some(3.0));
    }
    let logs = exporter.logs();
    assert_eq!(
        logs.matches("Customer Profiles workflow failed").count(),
        1,
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_page_listings_and_get_workflow_only_when_needed() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        for i in 0..105 {
            w.customerprofiles
                .add_domain(Domain::new(&format!("domain-{i:03}"), t - 1000.0));
        }
        for i in 0..230 {
            let mut wf = workflow(
                &format!("w{i}"),
                "COMPLETE",
                t - 50_000.0 + i as f64 * 100.0,
            );
            wf.last_updated_at = wf.created_at + 60.0;
            w.customerprofiles.upsert_workflow("domain-000", wf);
        }
        w.customerprofiles
            .upsert_workflow("domain-104", workflow("live", "IN_PROGRESS", t - 100.0));
        // Started before the lookback: not listed (QueryStartDate), so never seen.
        w.customerprofiles.upsert_workflow(
            "domain-104",
            workflow("ancient", "COMPLETE", t - 8.0 * 86400.0),
        );
    });
    // Collections a second apart, so that call counters read right after one ends are exact.
    let yaml = profiles_config("").replace("interval: 200ms", "interval: 1s");
    let exporter = Exporter::start(&sim, &yaml).await;
    let text = exporter.settle(SERVICE).await;
    assert_eq!(tracked(&text), Some(230.0));
    assert_eq!(value(&text, &finished("domain-104", "COMPLETE")), Some(0.0));
    assert_eq!(
        value(
            &text,
            &workflow_series(
                "workflow_status",
                "domain-000",
                "w229",
                "status=\"COMPLETE\","
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &workflow_series(
                "workflow_last_updated_timestamp_seconds",
                "domain-000",
                "w0",
                ""
            )
        ),
        Some(t - 50_000.0 + 60.0)
    );
    assert!(!text.contains(&workflow_id("ancient")));

    // Steady state: every listing each collection, no GetWorkflow (nothing listed changed,
    // the running workflow included).
    sim.with(|w| w.reset_calls());
    let text = exporter.settle(SERVICE).await;
    let calls = sim.with(|w| w.all_calls());
    let n = |op: &str| {
        calls
            .get(&format!("customerprofiles:{op}"))
            .copied()
            .unwrap_or(0)
    };
    let collections = n("ListDomains") / 2;
    assert!(collections >= 2, "{calls:?}");
    assert_eq!(
        n("ListDomains"),
        2 * collections,
        "two pages each: {calls:?}"
    );
    // 105 domains, one with three pages of workflows.
    assert_eq!(n("ListWorkflows"), 107 * collections, "{calls:?}");
    assert_eq!(n("GetWorkflow"), 0, "{calls:?}");
    assert_eq!(tracked(&text), Some(230.0));

    // A terminal workflow whose LastUpdatedAt changes is read again, once.
    sim.with(|w| {
        w.reset_calls();
        let wf = w
            .customerprofiles
            .workflow_mut("domain-000", &workflow_id("w5"))
            .unwrap();
        wf.last_updated_at = t - 1.0;
        wf.metrics = Some(aws_flow_simulator::customerprofiles::WorkflowMetrics {
            records_processed: 77,
            steps_completed: 4,
            total_steps: 4,
        });
    });
    let text = exporter.settle(SERVICE).await;
    assert_eq!(
        value(
            &text,
            &workflow_series("workflow_processed_records", "domain-000", "w5", "")
        ),
        Some(77.0)
    );
    let calls = sim.with(|w| w.all_calls());
    let gets = calls
        .get("customerprofiles:GetWorkflow")
        .copied()
        .unwrap_or(0);
    assert_eq!(gets, 1, "{calls:?}");
}

/// Issue 14's example: 50 running workflows, one completes between two collections. The
/// steady-state collection reads that one only; the others keep the values last read.
#[tokio::test(flavor = "multi_thread")]
async fn only_changed_workflows_are_read_and_unchanged_ones_keep_their_values() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        w.customerprofiles.add_domain(Domain::new("d", t - 1000.0));
        for i in 0..50 {
            let wf = workflow(&format!("w{i}"), "IN_PROGRESS", t - 900.0 + f64::from(i))
                .with_progress(100 + i64::from(i), 1, 4);
            w.customerprofiles.upsert_workflow("d", wf);
        }
    });
    // Collections a second apart, so that call counters read right after one ends are exact.
    let yaml = profiles_config("").replace("interval: 200ms", "interval: 1s");
    let exporter = Exporter::start(&sim, &yaml).await;
    exporter.settle(SERVICE).await;
    let n = |calls: &std::collections::BTreeMap<String, u64>, op: &str| {
        calls
            .get(&format!("customerprofiles:{op}"))
            .copied()
            .unwrap_or(0)
    };

    // Nothing changed: listings only. GetWorkflow would now say more records for w3, but
    // its listing did not move, so the value last read stays.
    sim.with(|w| {
        w.reset_calls();
        let wf = w
            .customerprofiles
            .workflow_mut("d", &workflow_id("w3"))
            .unwrap();
        wf.metrics.as_mut().unwrap().records_processed = 9_999;
    });
    let text = exporter.settle(SERVICE).await;
    let calls = sim.with(|w| w.all_calls());
    let collections = n(&calls, "ListDomains");
    assert!(collections >= 2, "{calls:?}");
    assert_eq!(n(&calls, "ListWorkflows"), collections, "{calls:?}");
    assert_eq!(n(&calls, "GetWorkflow"), 0, "{calls:?}");
    let records = |text: &str, seed: &str| {
        value(
            text,
            &workflow_series("workflow_processed_records", "d", seed, ""),
        )
    };
    assert_eq!(records(&text, "w3"), Some(103.0));

    // One completes: one GetWorkflow, whatever the number of collections.
    sim.with(|w| w.reset_calls());
    set_status(&sim, "d", "w7", "COMPLETE", t - 1.0);
    let text = exporter.settle(SERVICE).await;
    let calls = sim.with(|w| w.all_calls());
    assert_eq!(n(&calls, "GetWorkflow"), 1, "{calls:?}");
    assert_eq!(
        n(&calls, "ListWorkflows"),
        n(&calls, "ListDomains"),
        "{calls:?}"
    );
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
    for i in 0..50 {
        let seed = format!("w{i}");
        assert_eq!(records(&text, &seed), Some(100.0 + f64::from(i)), "{seed}");
    }
    assert_eq!(
        value(
            &text,
            &workflow_series("workflow_status", "d", "w7", "status=\"COMPLETE\",")
        ),
        Some(1.0)
    );

    // w3's LastUpdatedAt moves: read, and its new value shown.
    sim.with(|w| {
        w.reset_calls();
        w.customerprofiles
            .workflow_mut("d", &workflow_id("w3"))
            .unwrap()
            .last_updated_at = t - 0.5;
    });
    let text = exporter.settle(SERVICE).await;
    let calls = sim.with(|w| w.all_calls());
    assert_eq!(n(&calls, "GetWorkflow"), 1, "{calls:?}");
    assert_eq!(records(&text, "w3"), Some(9_999.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_statuses_and_missing_metrics() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        w.customerprofiles.add_domain(Domain::new("d", t - 1000.0));
        let mut odd = workflow("odd", "PAUSED", t - 500.0);
        odd.metrics = None;
        odd.attributes = None;
        odd.start_date = None;
        w.customerprofiles.upsert_workflow("d", odd);
    });
    let exporter = Exporter::start(&sim, &profiles_config("")).await;
    let text = exporter.settle(SERVICE).await;
    let status =
        |s: &str| workflow_series("workflow_status", "d", "odd", &format!("status=\"{s}\","));
    assert_eq!(value(&text, &status("PAUSED")), Some(1.0), "{text}");
    for known in [
        "NOT_STARTED",
        "IN_PROGRESS",
        "COMPLETE",
        "FAILED",
        "SPLIT",
        "RETRY",
        "CANCELLED",
    ] {
        assert_eq!(value(&text, &status(known)), Some(0.0), "{known}");
    }
    let info = workflow_series(
        "workflow_info",
        "d",
        "odd",
        "workflow_type=\"APPFLOW_INTEGRATION\",source_connector=\"\",connector_profile=\"\",",
    );
    assert_eq!(value(&text, &info), Some(1.0));
    for absent in [
        "workflow_processed_records",
        "workflow_steps_completed",
        "workflow_steps",
        "workflow_start_timestamp_seconds",
    ] {
        assert!(
            !text.contains(&format!("aws_customerprofiles_{absent}{{")),
            "{absent}"
        );
    }
    assert!(text.contains(&workflow_series(
        "workflow_last_updated_timestamp_seconds",
        "d",
        "odd",
        ""
    )));
    set_status(&sim, "d", "odd", "SPLIT", t - 10.0);
    let text = exporter.settle(SERVICE).await;
    assert!(!text.contains("PAUSED"));
    assert_eq!(value(&text, &status("SPLIT")), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn vanished_domains_disappear_and_new_domains_count_everything() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        for name in ["keep", "gone"] {
            w.customerprofiles.add_domain(Domain::new(name, t - 1000.0));
            w.customerprofiles
                .upsert_workflow(name, workflow(name, "COMPLETE", t - 500.0));
        }
    });
    let exporter = Exporter::start(&sim, &profiles_config("")).await;
    let text = exporter.settle(SERVICE).await;
    assert!(text.contains("domain_name=\"gone\""));
    sim.with(|w| {
        w.customerprofiles.remove_domain("gone");
        w.customerprofiles
            .add_domain(Domain::new("fresh", t - 10.0));
        w.customerprofiles
            .upsert_workflow("fresh", workflow("f", "COMPLETE", t - 9.0));
    });
    let text = exporter.settle(SERVICE).await;
    assert!(!text.contains("domain_name=\"gone\""), "{text}");
    assert_eq!(value(&text, &finished("fresh", "COMPLETE")), Some(1.0));
    assert_eq!(value(&text, &finished("keep", "COMPLETE")), Some(0.0));
    assert_eq!(up(&text, SERVICE), Some(1.0));
    // A workflow that vanishes between ListWorkflows and GetWorkflow is simply gone.
    sim.with(|w| {
        w.customerprofiles
            .upsert_workflow("keep", workflow("flaky", "IN_PROGRESS", t - 5.0));
        w.faults
            .inject("customerprofiles:GetWorkflow", Fault::NotFound, 1);
    });
    let text = exporter.settle(SERVICE).await;
    assert_eq!(up(&text, SERVICE), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_domains_setting_restricts_collection() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        for name in ["sales", "sales2", "support"] {
            w.customerprofiles.add_domain(Domain::new(name, t - 1000.0));
            w.customerprofiles
                .upsert_workflow(name, workflow(name, "IN_PROGRESS", t - 500.0));
        }
    });
    let exporter = Exporter::start(
        &sim,
        &profiles_config("        domains: [sales, support]\n"),
    )
    .await;
    let text = exporter.settle(SERVICE).await;
    assert!(text.contains("domain_name=\"sales\""));
    assert!(text.contains("domain_name=\"support\""));
    assert!(!text.contains("domain_name=\"sales2\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_customer_profiles_leave_appflow_up() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "flow", t);
    sim.with(|w| {
        w.customerprofiles.add_domain(Domain::new("d", t - 1000.0));
        w.customerprofiles
            .upsert_workflow("d", workflow("w", "IN_PROGRESS", t - 500.0));
    });
    let yaml = FAST.to_string()
        + "targets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n";
    let exporter = Exporter::start(&sim, &yaml).await;
    exporter.settle(SERVICE).await;
    let text = exporter.settle("appflow").await;
    assert_eq!(up(&text, SERVICE), Some(1.0));
    assert_eq!(up(&text, "appflow"), Some(1.0));

    // Every Customer Profiles call fails: its collector is down, values kept, nothing counted.
    set_status(&sim, "d", "w", "COMPLETE", t - 10.0);
    sim.with(|w| w.faults.always("customerprofiles:*", Fault::ServerError));
    let text = exporter.settle(SERVICE).await;
    assert_eq!(up(&text, SERVICE), Some(0.0));
    assert_eq!(up(&text, "appflow"), Some(1.0));
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(0.0));
    assert_eq!(
        value(
            &text,
            &workflow_series("workflow_status", "d", "w", "status=\"IN_PROGRESS\",")
        ),
        Some(1.0)
    );
    assert!(text.contains(
        "aws_service=\"customerprofiles\",operation=\"ListDomains\",outcome=\"server_error\""
    ));

    // Throttling only on GetWorkflow: still all or nothing.
    sim.with(|w| {
        w.faults.clear();
        w.faults
            .always("customerprofiles:GetWorkflow", Fault::Throttle);
    });
    let text = exporter.settle(SERVICE).await;
    assert_eq!(up(&text, SERVICE), Some(0.0));
    assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(0.0));

    // Recovery: counted exactly once.
    sim.with(|w| w.faults.clear());
    for _ in 0..2 {
        let text = exporter.settle(SERVICE).await;
        assert_eq!(up(&text, SERVICE), Some(1.0));
        assert_eq!(value(&text, &finished("d", "COMPLETE")), Some(1.0));
    }
}
