use aws_flow_simulator::appflow::{CatalogDetail, Execution, Flow, Schedule};
use aws_flow_simulator::Fault;

use crate::harness::*;

fn flows_config() -> String {
    FAST.to_string() + "targets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_then_each_execution_counted_once() {
    let sim = simulator().await;
    let t = now();
    let done = Execution::finished("run-1", "Successful", t - 3600.0, t - 3000.0);
    let (bytes, records) = (
        done.bytes_processed.unwrap(),
        done.records_processed.unwrap(),
    );
    sim.with(|w| {
        let mut flow = Flow::new("orders", t - 86400.0);
        flow.source_connector_type = "CustomConnector".into();
        flow.source_connector_label = Some("MyCRM".into());
        flow.trigger_type = "Scheduled".into();
        flow.executions.push(done.clone());
        flow.executions.push(Execution::finished(
            "run-0",
            "Error",
            t - 7200.0,
            t - 7100.0,
        ));
        w.appflow.add_flow(flow);
    });
    let exporter = Exporter::start(&sim, &flows_config()).await;
    let text = exporter.settle("appflow").await;
    assert!(text.contains("aws_appflow_flow_info{flow_name=\"orders\",source_connector=\"CustomConnector\",source_connector_label=\"MyCRM\",destination_connector=\"S3\",destination_connector_label=\"\",trigger_type=\"Scheduled\",region=\"us-east-1\"} 1"), "{text}");
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "orders", "status=\"Successful\",")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "orders", "status=\"Error\",")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "orders", "status=\"Canceled\",")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&text, &flow_series("processed_bytes_total", "orders", "")),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_last_success_timestamp_seconds", "orders", "")
        ),
        Some(t - 3000.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_last_failure_timestamp_seconds", "orders", "")
        ),
        Some(t - 7100.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("last_execution_processed_bytes", "orders", "")
        ),
        Some(bytes as f64)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("last_execution_processed_records", "orders", "")
        ),
        Some(records as f64)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("last_execution_duration_seconds", "orders", "")
        ),
        Some(600.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_status", "orders", "status=\"Active\",")
        ),
        Some(1.0)
    );
    assert_eq!(up(&text, "appflow"), Some(1.0));

    // A new run starts, then fails.
    sim.with(|w| {
        w.appflow
            .upsert_execution("orders", Execution::new("run-2", "InProgress", t - 60.0))
    });
    let text = exporter.settle("appflow").await;
    assert_eq!(
        value(
            &text,
            &flow_series("flow_executions_in_progress", "orders", "")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series(
                "flow_last_execution_status",
                "orders",
                "status=\"InProgress\","
            )
        ),
        Some(1.0)
    );
    let mut failed = Execution::finished("run-2", "Error", t - 60.0, t - 10.0);
    failed.put_failures = Some(42);
    failed.message = Some("Salesforce says: invalid session token abc123".into());
    failed.catalog = vec![CatalogDetail {
        table_name: "orders".into(),
        table_status: Some("Successful".into()),
        partition_status: Some("Error".into()),
    }];
    sim.with(|w| w.appflow.upsert_execution("orders", failed.clone()));
    for _ in 0..3 {
        let text = exporter.settle("appflow").await;
        assert_eq!(
            value(
                &text,
                &flow_series("executions_total", "orders", "status=\"Error\",")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &flow_series("executions_total", "orders", "status=\"Successful\",")
            ),
            Some(0.0)
        );
        assert_eq!(
            value(&text, &flow_series("put_failures_total", "orders", "")),
            Some(42.0)
        );
        assert_eq!(
            value(
                &text,
                &flow_series("last_execution_put_failures", "orders", "")
            ),
            Some(42.0)
        );
        assert_eq!(
            value(&text, &flow_series("processed_bytes_total", "orders", "")),
            Some(failed.bytes_processed.unwrap() as f64)
        );
        assert_eq!(
            value(
                &text,
                &flow_series("execution_duration_seconds_count", "orders", "")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &flow_series(
                    "catalog_registrations_total",
                    "orders",
                    "kind=\"partition\",status=\"Error\","
                )
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &flow_series("flow_executions_in_progress", "orders", "")
            ),
            Some(0.0)
        );
        assert!(
            !text.contains("abc123"),
            "an execution message leaked into the metrics"
        );
    }
    let logs = exporter.logs();
    assert_eq!(
        logs.matches("AppFlow execution failed").count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains("test-secret-key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_page_history_and_steady_state_calls() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        let mut flow = Flow::new("big", t - 86400.0 * 30.0);
        for i in 0..250 {
            let start = t - 100_000.0 + i as f64 * 300.0;
            flow.executions.push(Execution::finished(
                &format!("r{i:03}"),
                "Successful",
                start,
                start + 30.0,
            ));
        }
        w.appflow.add_flow(flow);
        w.appflow.add_flow(Flow::new("idle", t - 100.0));
        w.appflow.reverse_order = false;
    });
    let exporter = Exporter::start(&sim, &flows_config()).await;
    let text = exporter.settle("appflow").await;
    let tracked =
        "aws_flow_exporter_executions_tracked{aws_service=\"appflow\",region=\"us-east-1\"}";
    assert_eq!(value(&text, tracked), Some(250.0));
    assert_eq!(
        value(
            &text,
            &flow_series("flow_last_execution_start_timestamp_seconds", "big", "")
        ),
        Some(t - 100_000.0 + 249.0 * 300.0)
    );
    assert!(!text.contains(&flow_series(
        "flow_last_execution_start_timestamp_seconds",
        "idle",
        ""
    )));
    assert_eq!(
        value(
            &text,
            &flow_series("flow_executions_in_progress", "idle", "")
        ),
        Some(0.0)
    );

    // Steady state: ListFlows only.
    sim.with(|w| w.reset_calls());
    exporter.settle("appflow").await;
    sim.with(|w| {
        assert_eq!(w.calls("DescribeFlowExecutionRecords"), 0);
        assert!(w.calls("ListFlows") >= 2);
    });
    sim.with(|w| {
        w.appflow.upsert_execution(
            "big",
            Execution::finished("r250", "Canceled", t - 5.0, t - 1.0),
        )
    });
    for _ in 0..2 {
        let text = exporter.settle("appflow").await;
        assert_eq!(
            value(
                &text,
                &flow_series("executions_total", "big", "status=\"Canceled\",")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &flow_series("executions_total", "big", "status=\"Successful\",")
            ),
            Some(0.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_flows_disappear_and_new_flows_count_everything() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        for name in ["keep", "gone"] {
            let mut flow = Flow::new(name, t - 1000.0);
            flow.executions
                .push(Execution::finished("a", "Successful", t - 500.0, t - 400.0));
            w.appflow.add_flow(flow);
        }
    });
    let exporter = Exporter::start(&sim, &flows_config()).await;
    let text = exporter.settle("appflow").await;
    assert!(text.contains("flow_name=\"gone\""));
    sim.with(|w| {
        w.appflow.remove_flow("gone");
        let mut flow = Flow::new("fresh", t - 10.0);
        flow.executions
            .push(Execution::finished("b", "Successful", t - 9.0, t - 5.0));
        w.appflow.add_flow(flow);
    });
    let text = exporter.settle("appflow").await;
    assert!(!text.contains("flow_name=\"gone\""), "{text}");
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "fresh", "status=\"Successful\",")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "keep", "status=\"Successful\",")
        ),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_statuses_and_missing_fields() {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        let mut flow = Flow::new("odd", t - 1000.0).with_sapodata(Some(8), None);
        flow.status = "Hibernating".into();
        let mut bare = Execution::new("a", "Successful", t - 500.0);
        bare.has_result = false;
        bare.last_updated_at = None;
        flow.executions.push(bare);
        flow.executions
            .push(Execution::new("b", "Paused", t - 100.0));
        w.appflow.add_flow(flow);
    });
    let exporter = Exporter::start(&sim, &flows_config()).await;
    let text = exporter.settle("appflow").await;
    assert_eq!(
        value(
            &text,
            &flow_series("flow_status", "odd", "status=\"Hibernating\",")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_status", "odd", "status=\"Active\",")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_last_execution_status", "odd", "status=\"Paused\",")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series(
                "flow_last_execution_status",
                "odd",
                "status=\"InProgress\","
            )
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("last_execution_put_failures", "odd", "")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_configured_max_parallelism", "odd", "")
        ),
        Some(8.0)
    );
    for absent in [
        "last_execution_processed_bytes",
        "last_execution_duration_seconds",
        "flow_configured_max_page_size",
        "flow_last_success_timestamp_seconds",
    ] {
        assert!(
            !text.contains(&flow_series(absent, "odd", "")),
            "{absent} should be absent"
        );
    }
    // The state returns to a known value: the unknown series goes.
    sim.with(|w| w.appflow.flow_mut("odd").unwrap().status = "Suspended".into());
    let text = exporter.settle("appflow").await;
    assert!(!text.contains("Hibernating"));
    assert_eq!(
        value(
            &text,
            &flow_series("flow_status", "odd", "status=\"Suspended\",")
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_keep_the_last_values() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "f", t);
    let exporter = Exporter::start(&sim, &flows_config()).await;
    let before = exporter.settle("appflow").await;
    let success = flow_series("flow_last_success_timestamp_seconds", "f", "");
    assert_eq!(up(&before, "appflow"), Some(1.0));

    // Throttled on every attempt: down, values kept, new runs not applied.
    sim.with(|w| {
        w.faults.always("ListFlows", Fault::Throttle);
        w.appflow.upsert_execution(
            "f",
            Execution::finished("b", "Successful", t - 50.0, t - 40.0),
        );
    });
    let text = exporter.settle("appflow").await;
    assert_eq!(up(&text, "appflow"), Some(0.0));
    assert_eq!(value(&text, &success), Some(t - 400.0));
    let throttled = "aws_flow_exporter_api_requests_total{aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"throttled\",region=\"us-east-1\"}";
    assert!(value(&text, throttled).unwrap() >= 3.0, "{text}");

    // A 500 on the records call: still all or nothing.
    sim.with(|w| {
        w.faults.clear();
        w.faults
            .always("DescribeFlowExecutionRecords", Fault::ServerError);
    });
    let text = exporter.settle("appflow").await;
    assert_eq!(up(&text, "appflow"), Some(0.0));
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "f", "status=\"Successful\",")
        ),
        Some(0.0)
    );
    assert!(text.contains("outcome=\"server_error\""));

    // Recovery: counted exactly once.
    sim.with(|w| w.faults.clear());
    for _ in 0..2 {
        let text = exporter.settle("appflow").await;
        assert_eq!(up(&text, "appflow"), Some(1.0));
        assert_eq!(value(&text, &success), Some(t - 40.0));
        assert_eq!(
            value(
                &text,
                &flow_series("executions_total", "f", "status=\"Successful\",")
            ),
            Some(1.0)
        );
    }
    // Throttling then 500s is one streak of failures: logged once at warn.
    let logs = exporter.logs();
    assert_eq!(logs.matches("collection failed").count(), 1, "{logs}");
    assert_eq!(logs.matches("collection recovered").count(), 1, "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_waits_for_the_first_collection() {
    let sim = simulator().await;
    sim.with(|w| {
        w.appflow.add_flow(Flow::new("f", now() - 10.0));
        w.faults.inject(
            "ListFlows",
            Fault::Hang(std::time::Duration::from_millis(1500)),
            1,
        );
    });
    let exporter = Exporter::start(&sim, &flows_config()).await;
    assert_eq!(get(exporter.addr, "/readyz").await.unwrap().status, 503);
    // /metrics answers from the start.
    assert_eq!(get(exporter.addr, "/metrics").await.unwrap().status, 200);
    exporter.settle("appflow").await;
    assert_eq!(get(exporter.addr, "/readyz").await.unwrap().status, 200);
}

/// Schedules (metrics.md, "Schedules (v4)"): exact due times and intervals, failures in a row,
/// thresholds; one DescribeFlow per scheduled flow at the first collection and none after while
/// nothing changes; an unreadable expression logged once and failing nothing.
#[tokio::test(flavor = "multi_thread")]
async fn schedules_next_due_times_and_describe_calls() {
    let sim = simulator().await;
    let t = now();
    let midnight = (t / 86_400.0).floor() * 86_400.0;
    sim.with(|w| {
        let mut hourly = Schedule::new("rate(1hours)");
        hourly.error_deactivation_threshold = Some(3);
        let mut flow = Flow::new("hourly", t - 86_400.0).with_schedule(hourly);
        flow.executions = vec![
            Execution::finished("h-3", "Error", t - 600.0, t - 500.0),
            Execution::finished("h-2", "Error", t - 4200.0, t - 4100.0),
            Execution::finished("h-1", "Successful", t - 7800.0, t - 7700.0),
        ];
        w.appflow.add_flow(flow);

        // 06:00 UTC plus two minutes, every day; its last run yesterday's.
        let mut daily = Schedule::new("cron(0 6 * * ? *)");
        daily.offset = Some(120);
        daily.start_time = Some(t - 30.0 * 86_400.0);
        let mut flow = Flow::new("daily", t - 40.0 * 86_400.0).with_schedule(daily);
        let yesterday = midnight - 86_400.0 + 6.0 * 3600.0 + 120.0;
        flow.executions = vec![Execution::finished(
            "d-1",
            "Successful",
            yesterday,
            yesterday + 60.0,
        )];
        w.appflow.add_flow(flow);

        let mut ended = Schedule::new("rate(1 day)");
        ended.end_time = Some(t - 3600.0);
        let mut flow = Flow::new("ended", t - 86_400.0).with_schedule(ended);
        flow.executions = vec![Execution::finished(
            "e-1",
            "Successful",
            t - 7200.0,
            t - 7000.0,
        )];
        w.appflow.add_flow(flow);

        let mut flow =
            Flow::new("odd", t - 86_400.0).with_schedule(Schedule::new("every(5 minutes)"));
        flow.executions = vec![Execution::finished("o-1", "Error", t - 300.0, t - 200.0)];
        w.appflow.add_flow(flow);

        let mut flow = Flow::new("manual", t - 86_400.0);
        flow.executions = vec![
            Execution::finished("m-2", "Error", t - 100.0, t - 50.0),
            Execution::finished("m-1", "Canceled", t - 200.0, t - 150.0),
        ];
        w.appflow.add_flow(flow);
    });
    let exporter = Exporter::start(&sim, &flows_config()).await;
    let text = exporter.settle("appflow").await;
    let next = |text: &str, flow: &str| {
        value(
            text,
            &flow_series("flow_next_scheduled_run_timestamp_seconds", flow, ""),
        )
    };
    let interval = |text: &str, flow: &str| {
        value(
            text,
            &flow_series("flow_schedule_interval_seconds", flow, ""),
        )
    };
    let failures =
        |text: &str, flow: &str| value(text, &flow_series("flow_consecutive_failures", flow, ""));
    let threshold = |text: &str, flow: &str| {
        value(
            text,
            &flow_series("flow_error_deactivation_threshold", flow, ""),
        )
    };
    assert_eq!(next(&text, "hourly"), Some(t - 600.0 + 3600.0), "{text}");
    assert_eq!(interval(&text, "hourly"), Some(3600.0));
    assert_eq!(failures(&text, "hourly"), Some(2.0));
    assert_eq!(threshold(&text, "hourly"), Some(3.0));
    assert_eq!(next(&text, "daily"), Some(midnight + 6.0 * 3600.0 + 120.0));
    assert_eq!(interval(&text, "daily"), Some(86_400.0));
    assert_eq!(threshold(&text, "daily"), None);
    assert_eq!(next(&text, "ended"), None, "past its end time");
    assert_eq!(interval(&text, "ended"), None);
    assert_eq!(next(&text, "odd"), None);
    assert_eq!(failures(&text, "odd"), Some(1.0));
    assert_eq!(next(&text, "manual"), None);
    assert_eq!(failures(&text, "manual"), Some(1.0));
    assert_eq!(up(&text, "appflow"), Some(1.0));
    sim.with(|w| assert_eq!(w.calls("DescribeFlow"), 4, "one per scheduled flow"));

    // Steady state: no DescribeFlow while no flow changes, even as runs come.
    sim.with(|w| {
        w.reset_calls();
        w.appflow.upsert_execution(
            "hourly",
            Execution::finished("h-4", "Successful", t - 30.0, t - 10.0),
        );
    });
    exporter.settle("appflow").await;
    let text = exporter.settle("appflow").await;
    assert_eq!(next(&text, "hourly"), Some(t - 30.0 + 3600.0));
    assert_eq!(failures(&text, "hourly"), Some(0.0));
    sim.with(|w| assert_eq!(w.calls("DescribeFlow"), 0));

    // An updated flow is described again, once.
    sim.with(|w| {
        let flow = w.appflow.flow_mut("hourly").unwrap();
        flow.last_updated_at = t;
        flow.schedule = Some(Schedule::new("rate(30 minutes)"));
    });
    let text = exporter.settle("appflow").await;
    assert_eq!(next(&text, "hourly"), Some(t - 30.0 + 1800.0));
    assert_eq!(threshold(&text, "hourly"), None);
    exporter.settle("appflow").await;
    sim.with(|w| assert_eq!(w.calls("DescribeFlow"), 1));

    let logs = exporter.logs();
    let warned = logs
        .lines()
        .filter(|l| l.contains("schedule expression not understood"))
        .collect::<Vec<_>>();
    assert_eq!(warned.len(), 1, "{logs}");
    assert!(warned[0].contains("odd") && warned[0].contains("every(5 minutes)"));
}
