//! A state saved and restored: counting resumes, old formats are read.

use super::*;

fn executions_of(text: &str, flow: &str, status: &str) -> Option<f64> {
    value(
        text,
        &format!("aws_supplychain_flow_executions_total{{instance_id=\"i\",flow_name=\"{flow}\",status=\"{status}\",region=\"us-east-1\"}}"),
    )
}

#[tokio::test]
async fn a_restored_state_resumes_counting_and_baselines_old_unknown_flows() {
    let (fake, mut before) = baselined(
        2,
        vec![
            run("r", "IN_PROGRESS", NOW - 100.0),
            run("a", "SUCCEEDED", NOW - 200.0),
        ],
    )
    .await;
    fake.runs(vec![
        run("r", "IN_PROGRESS", NOW - 100.0),
        run("b", "SUCCEEDED", NOW - 150.0),
        run("a", "SUCCEEDED", NOW - 200.0),
    ]);
    let text = collect(&mut before).await;
    assert_eq!(value(&text, &ok()), Some(1.0));
    let saved = before.state.saved().unwrap();

    // While down: r fails, c succeeds; flow "new" is created after the save, "old" before it.
    fake.runs(vec![
        run("c", "SUCCEEDED", NOW + 50.0),
        run("r", "FAILED", NOW - 100.0),
        run("b", "SUCCEEDED", NOW - 150.0),
        run("a", "SUCCEEDED", NOW - 200.0),
    ]);
    fake.set("i", "new", vec![run("n", "SUCCEEDED", NOW + 20.0)]);
    fake.set("i", "old", vec![run("o", "SUCCEEDED", NOW + 20.0)]);
    for f in fake.flows.lock().unwrap().get_mut("i").unwrap() {
        if f.name == "new" {
            f.created_time = Some(NOW + 10.0);
        }
    }
    let mut after = collector(&fake);
    after
        .state
        .restore(&saved, FORMAT_VERSION, NOW)
        .expect("restores");
    for _ in 0..2 {
        let (text, _) = collect_at(&mut after, NOW + 100.0).await;
        assert_eq!(value(&text, &ok()), Some(2.0), "b and c");
        assert_eq!(value(&text, &failed()), Some(1.0), "r");
        assert_eq!(executions_of(&text, "new", "SUCCEEDED"), Some(1.0));
        assert_eq!(executions_of(&text, "old", "SUCCEEDED"), Some(0.0));
        assert!(text.contains(
            "aws_supplychain_flow_execution_duration_seconds_count{instance_id=\"i\",flow_name=\"f\",region=\"us-east-1\"} 3"
        ), "{text}");
    }
}

#[tokio::test]
async fn a_state_saved_with_ids_as_map_keys_is_read_and_running_ones_followed() {
    // Two on a page: the running one sinks below the pages read.
    let (fake, mut c) = baselined(
        2,
        vec![
            run("r", "IN_PROGRESS", NOW - 100.0),
            run("a", "SUCCEEDED", NOW - 200.0),
        ],
    )
    .await;
    // The first releases saved `seen` as a map of ids, without `running` and `newest`.
    let mut saved: serde_json::Value = serde_json::from_slice(&c.state.saved().unwrap()).unwrap();
    let flow = &mut saved["instances"]["i"]["flows"]["f"];
    flow["seen"] = serde_json::json!({
        "s": [NOW - 50.0, "SUCCEEDED"],
        "t": [NOW - 60.0, "SUCCEEDED"],
        "r": [NOW - 100.0, "IN_PROGRESS"],
        "a": [NOW - 200.0, "SUCCEEDED"],
    });
    let flow = flow.as_object_mut().unwrap();
    flow.remove("running");
    flow.remove("newest");
    let old = serde_json::to_vec(&saved).unwrap();
    c.state
        .restore(&old, FORMAT_VERSION, NOW)
        .expect("restores");

    fake.runs(vec![
        run("c", "SUCCEEDED", NOW + 20.0),
        run("b", "SUCCEEDED", NOW + 10.0),
        run("s", "SUCCEEDED", NOW - 50.0),
        run("t", "SUCCEEDED", NOW - 60.0),
        run("r", "FAILED", NOW - 100.0),
        run("a", "SUCCEEDED", NOW - 200.0),
    ]);
    fake.calls.lock().unwrap().clear();
    let (text, tracked) = collect_at(&mut c, NOW + 30.0).await;
    assert_eq!(
        value(&text, &ok()),
        Some(2.0),
        "b and c, s, t and a not again"
    );
    assert_eq!(
        value(&text, &failed()),
        Some(1.0),
        "r, below the pages read, followed by id"
    );
    assert_eq!(tracked, 6);
    let calls = fake.calls.lock().unwrap().join(" ");
    assert!(calls.ends_with("Get i/f/r"), "{calls}");
    assert!(text.contains("aws_supplychain_flow_last_execution_status{instance_id=\"i\",flow_name=\"f\",status=\"SUCCEEDED\",region=\"us-east-1\"} 1"), "{text}");
}
