//! Talks raw HTTP/1.1 to a running simulator to pin down the AppFlow wire format, paging and
//! fault behaviour independently of any SDK.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::{Execution, Flow, Schedule};
use aws_flow_simulator::faults::Fault;
use aws_flow_simulator::Simulator;
use serde_json::{json, Value};

use common::{parse, start, Reply};
use tokio::net::TcpStream;

mod common;

/// Headers as the SDK sends them (restJson1).
const HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/appflow/aws4_request",
    ),
];

async fn exchange(addr: SocketAddr, method: &str, path: &str, body: &str) -> Vec<u8> {
    common::exchange(addr, method, path, HEADERS, body).await
}

async fn call(sim: &Simulator, method: &str, path: &str, body: Value) -> Reply {
    let reply = parse(&exchange(sim.addr(), method, path, &body.to_string()).await);
    let length: usize = reply.header("content-length").unwrap().parse().unwrap();
    assert_eq!(length, reply.body.len(), "complete body");
    reply
}

async fn post(sim: &Simulator, path: &str, body: Value) -> Reply {
    call(sim, "POST", path, body).await
}

fn names(reply: &Reply) -> Vec<String> {
    reply.json()["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flowName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_flows_pages_through_45_flows() {
    let sim = start().await;
    sim.with(|w| {
        for i in (0..45).rev() {
            w.appflow
                .add_flow(Flow::new(&format!("flow-{i:02}"), 1_700_000_000.0));
        }
    });
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({ "maxResults": 20 });
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let reply = post(&sim, "/list-flows", body).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("x-amzn-RequestId").is_some());
        pages += 1;
        all.extend(names(&reply));
        match reply.json()["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..45).map(|i| format!("flow-{i:02}")).collect();
    assert_eq!(all, expected);
    assert_eq!(sim.with(|w| w.calls("ListFlows")), 3);

    // Default page size and an empty body.
    let reply = parse(&exchange(sim.addr(), "POST", "/list-flows", "").await);
    assert_eq!(names(&reply).len(), 20);
}

#[tokio::test]
async fn list_tokens_survive_changes_between_pages() {
    let sim = start().await;
    sim.with(|w| {
        for name in ["a", "b", "c", "d"] {
            w.appflow.add_flow(Flow::new(name, 1.0));
        }
    });
    let first = post(&sim, "/list-flows", json!({ "maxResults": 2 })).await;
    assert_eq!(names(&first), ["a", "b"]);
    let token = first.json()["nextToken"].as_str().unwrap().to_owned();
    sim.with(|w| {
        w.appflow.remove_flow("b");
        w.appflow.remove_flow("c");
        w.appflow.add_flow(Flow::new("aa", 1.0));
        w.appflow.add_flow(Flow::new("e", 1.0));
    });
    let second = post(
        &sim,
        "/list-flows",
        json!({ "maxResults": 2, "nextToken": token }),
    )
    .await;
    assert_eq!(names(&second), ["d", "e"]);
    assert!(second.json().get("nextToken").is_none());
}

#[tokio::test]
async fn invalid_input_is_rejected_with_modelled_errors() {
    let sim = start().await;
    sim.with(|w| w.appflow.add_flow(Flow::new("f", 1.0)));
    for (path, body) in [
        ("/list-flows", json!({ "maxResults": 0 })),
        ("/list-flows", json!({ "maxResults": 101 })),
        ("/list-flows", json!({ "nextToken": "garbage" })),
        (
            "/describe-flow-execution-records",
            json!({ "flowName": "f", "maxResults": 101 }),
        ),
        (
            "/describe-flow-execution-records",
            json!({ "flowName": "f", "nextToken": "x" }),
        ),
        ("/describe-flow", json!({})),
    ] {
        let reply = post(&sim, path, body.clone()).await;
        assert_eq!(reply.status, 400, "{path} {body}");
        assert_eq!(reply.error_type(), Some("ValidationException"));
        assert!(reply.json()["message"].is_string());
    }
    // A ListFlows token is not a records token.
    sim.with(|w| w.appflow.add_flow(Flow::new("g", 1.0)));
    let page = post(&sim, "/list-flows", json!({ "maxResults": 1 })).await;
    let token = page.json()["nextToken"].clone();
    let reply = post(
        &sim,
        "/describe-flow-execution-records",
        json!({ "flowName": "f", "nextToken": token }),
    )
    .await;
    assert_eq!(reply.error_type(), Some("ValidationException"));

    let reply = parse(&exchange(sim.addr(), "POST", "/list-flows", "{not json").await);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_type(), Some("SerializationException"));
    let reply = post(&sim, "/list-flows", json!({ "maxResults": "ten" })).await;
    assert_eq!(reply.error_type(), Some("SerializationException"));
}

#[tokio::test]
async fn unknown_flows_and_paths_are_not_found() {
    let sim = start().await;
    for path in ["/describe-flow", "/describe-flow-execution-records"] {
        let reply = post(&sim, path, json!({ "flowName": "nope" })).await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.error_type(), Some("ResourceNotFoundException"));
        assert!(reply.json()["message"].as_str().unwrap().contains("nope"));
    }
    for (method, path) in [("POST", "/no-such-op"), ("GET", "/list-flows")] {
        let reply = call(&sim, method, path, json!({})).await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.error_type(), Some("UnknownOperationException"));
    }
    assert_eq!(sim.with(|w| w.calls("ListFlows")), 0);
}

#[tokio::test]
async fn records_are_served_newest_first_and_page_by_key() {
    let sim = start().await;
    sim.with(|w| {
        w.appflow.add_flow(Flow::new("f", 1.0));
        for (id, started) in [
            ("c", 300.5),
            ("a", 100.0),
            ("e", 500.0),
            ("b", 200.0),
            ("d", 400.0),
        ] {
            w.appflow.upsert_execution(
                "f",
                Execution::finished(id, "Successful", started, started + 9.0),
            );
        }
        w.appflow
            .upsert_execution("f", Execution::new("e", "Error", 500.0));
    });
    let ids = |reply: &Reply| -> Vec<String> {
        let json = reply.json();
        let records = json["flowExecutions"].as_array().unwrap();
        records
            .iter()
            .map(|r| r["executionId"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = post(
        &sim,
        "/describe-flow-execution-records",
        json!({ "flowName": "f" }),
    )
    .await;
    assert_eq!(ids(&all), ["e", "d", "c", "b", "a"]);
    let json = all.json();
    let records = json["flowExecutions"].as_array().unwrap();
    assert_eq!(
        records[0]["executionStatus"], "Error",
        "upsert replaced by id"
    );
    assert_eq!(
        records[2]["startedAt"],
        json!(300.5),
        "epoch seconds as numbers"
    );
    assert!(records[2]["executionResult"]["bytesProcessed"].is_i64());

    let mut seen = Vec::new();
    let mut body = json!({ "flowName": "f", "maxResults": 2 });
    loop {
        let page = post(&sim, "/describe-flow-execution-records", body.clone()).await;
        seen.extend(ids(&page));
        match page.json()["nextToken"].as_str() {
            Some(t) => body["nextToken"] = json!(t),
            None => break,
        }
    }
    assert_eq!(seen, ["e", "d", "c", "b", "a"]);

    sim.with(|w| w.appflow.reverse_order = true);
    let reversed = post(
        &sim,
        "/describe-flow-execution-records",
        json!({ "flowName": "f" }),
    )
    .await;
    assert_eq!(ids(&reversed), ["a", "b", "c", "d", "e"]);

    let listed = post(&sim, "/list-flows", json!({})).await;
    let last = &listed.json()["flows"][0]["lastRunExecutionDetails"];
    assert_eq!(last["mostRecentExecutionStatus"], "Error");
    assert_eq!(last["mostRecentExecutionTime"], json!(500.0));
}

#[tokio::test]
async fn describe_flow_reports_sapodata_settings() {
    let sim = start().await;
    sim.with(|w| {
        let mut flow = Flow::new("sap", 1_700_000_000.5).with_sapodata(Some(10), Some(3000));
        flow.trigger_type = "Scheduled".into();
        w.appflow.add_flow(flow);
    });
    let reply = post(&sim, "/describe-flow", json!({ "flowName": "sap" })).await;
    assert_eq!(reply.status, 200);
    let flow = reply.json();
    assert_eq!(flow["flowName"], "sap");
    assert_eq!(flow["createdAt"], json!(1_700_000_000.5));
    let source = &flow["sourceFlowConfig"];
    assert_eq!(source["connectorType"], "SAPOData");
    let sap = &source["sourceConnectorProperties"]["SAPOData"];
    assert_eq!(sap["parallelismConfig"]["maxParallelism"], 10);
    assert_eq!(sap["paginationConfig"]["maxPageSize"], 3000);
    assert_eq!(flow["triggerConfig"]["triggerType"], "Scheduled");
    assert!(flow.get("lastRunExecutionDetails").is_none());
    assert!(
        flow.get("description").is_none(),
        "None fields are omitted, not null"
    );
}

#[tokio::test]
async fn describe_flow_reports_the_schedule() {
    let sim = start().await;
    sim.with(|w| {
        let mut schedule = Schedule::new("cron(0/15 8-17 ? * MON-FRI *)");
        schedule.start_time = Some(1_700_000_000.0);
        schedule.end_time = Some(1_800_000_000.0);
        schedule.offset = Some(60);
        schedule.error_deactivation_threshold = Some(4);
        w.appflow
            .add_flow(Flow::new("office-hours", 1_600_000_000.0).with_schedule(schedule));
    });
    let reply = post(
        &sim,
        "/describe-flow",
        json!({ "flowName": "office-hours" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    let trigger = &reply.json()["triggerConfig"];
    assert_eq!(trigger["triggerType"], "Scheduled");
    let scheduled = &trigger["triggerProperties"]["Scheduled"];
    assert_eq!(
        scheduled["scheduleExpression"],
        "cron(0/15 8-17 ? * MON-FRI *)"
    );
    assert_eq!(scheduled["scheduleStartTime"], json!(1_700_000_000.0));
    assert_eq!(scheduled["scheduleEndTime"], json!(1_800_000_000.0));
    assert_eq!(scheduled["scheduleOffset"], 60);
    assert_eq!(scheduled["flowErrorDeactivationThreshold"], 4);
    assert!(
        scheduled.get("timezone").is_none(),
        "None fields are omitted"
    );
    let listed = post(&sim, "/list-flows", json!({})).await;
    assert_eq!(listed.json()["flows"][0]["triggerType"], "Scheduled");
}

#[tokio::test]
async fn error_faults_use_appflow_codes_and_are_counted() {
    let sim = start().await;
    sim.with(|w| {
        w.faults.inject("ListFlows", Fault::Throttle, 1);
        w.faults
            .inject("ListFlows", Fault::ThrottleRetryAfter(7), 1);
        w.faults.inject("*", Fault::ServerError, 1);
        w.faults.inject("*", Fault::AccessDenied, 1);
        w.faults.inject("*", Fault::NotFound, 1);
    });
    let expected = [
        (429, "ThrottlingException"),
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
    ];
    for (i, (status, code)) in expected.into_iter().enumerate() {
        let reply = post(&sim, "/list-flows", json!({})).await;
        assert_eq!((reply.status, reply.error_type()), (status, Some(code)));
        assert_eq!(reply.header("retry-after"), (i == 1).then_some("7"));
    }
    assert_eq!(post(&sim, "/list-flows", json!({})).await.status, 200);
    assert_eq!(sim.with(|w| w.calls("ListFlows")), 6);
    sim.with(|w| w.reset_calls());
    assert_eq!(sim.with(|w| w.calls("ListFlows")), 0);

    sim.with(|w| w.faults.always("DescribeFlow", Fault::Throttle));
    for _ in 0..3 {
        let reply = post(&sim, "/describe-flow", json!({ "flowName": "x" })).await;
        assert_eq!(reply.status, 429);
    }
    sim.with(|w| w.faults.clear());
    let reply = post(&sim, "/describe-flow", json!({ "flowName": "x" })).await;
    assert_eq!(reply.status, 404);
    assert_eq!(sim.with(|w| w.calls("DescribeFlow")), 4);
}

#[tokio::test]
async fn transport_faults_break_the_connection() {
    let sim = start().await;
    sim.with(|w| w.appflow.add_flow(Flow::new("f", 1.0)));

    sim.with(|w| w.faults.inject("ListFlows", Fault::Drop, 1));
    let raw = exchange(sim.addr(), "POST", "/list-flows", "{}").await;
    assert!(
        raw.is_empty(),
        "no response at all: {:?}",
        String::from_utf8_lossy(&raw)
    );

    sim.with(|w| w.faults.inject("ListFlows", Fault::Truncated, 1));
    let reply = parse(&exchange(sim.addr(), "POST", "/list-flows", "{}").await);
    assert_eq!(reply.status, 200);
    let promised: usize = reply.header("content-length").unwrap().parse().unwrap();
    assert!(
        !reply.body.is_empty() && reply.body.len() < promised,
        "{reply:?}"
    );

    sim.with(|w| w.faults.inject("ListFlows", Fault::Malformed, 1));
    let reply = post(&sim, "/list-flows", json!({})).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    sim.with(|w| {
        w.faults
            .inject("ListFlows", Fault::Hang(Duration::from_millis(300)), 1)
    });
    let started = Instant::now();
    let reply = post(&sim, "/list-flows", json!({})).await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.with(|w| w.faults.set_latency("*", Duration::from_millis(200)));
    let started = Instant::now();
    assert_eq!(post(&sim, "/list-flows", json!({})).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    assert_eq!(sim.with(|w| w.calls("ListFlows")), 5);
}

#[tokio::test]
async fn control_api_injects_faults_and_reports_calls() {
    let sim = start().await;
    let reply = post(
        &sim,
        "/_sim/faults",
        json!({ "operation": "ListFlows", "fault": "Throttle", "times": 1 }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(post(&sim, "/list-flows", json!({})).await.status, 429);
    assert_eq!(post(&sim, "/list-flows", json!({})).await.status, 200);
    let calls = call(&sim, "GET", "/_sim/calls", json!(null)).await.json();
    assert_eq!(calls, json!({ "ListFlows": 2, "appflow:ListFlows": 2 }));
    let bad = post(
        &sim,
        "/_sim/faults",
        json!({ "operation": "*", "fault": "Boom" }),
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start().await;
    let addr = sim.addr();
    sim.shutdown();
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
