//! Talks raw HTTP/1.1 to a running simulator to pin down CloudWatch Logs' FilterLogEvents
//! (awsJson1_1, `Logs_20140328`) and Transfer's ListServers: paging, time range, filter
//! patterns, late delivery, errors and faults, independently of any SDK.

use aws_flow_simulator::transfer::{log_group, RunStep, Server, WorkflowRun};
use aws_flow_simulator::{Fault, Simulator};
use serde_json::{json, Value};

use common::{start, Reply};

mod common;

const GROUP: &str = "/aws/transfer/s-00000000000000001";
const T0: i64 = 1_750_000_000_000;
const TYPES: &str = r#"{ ($.type = "ExecutionCompleted") || ($.type = "ExecutionErrored") || ($.type = "StepErrored") }"#;

async fn send(sim: &Simulator, target: &str, body: &str) -> Reply {
    let auth = "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/logs/aws4_request";
    let headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Authorization", auth),
        ("X-Amz-Target", target),
    ];
    common::request(sim.addr(), "POST", "/", &headers, body).await
}

async fn filter(sim: &Simulator, input: Value) -> Reply {
    send(sim, "Logs_20140328.FilterLogEvents", &input.to_string()).await
}

fn code(reply: &Reply) -> String {
    reply.json()["__type"].as_str().unwrap_or("").to_owned()
}

fn messages(reply: &Reply) -> Vec<String> {
    reply.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of a query, following nextToken.
async fn all_pages(sim: &Simulator, input: Value) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for pages in 1.. {
        let mut input = input.clone();
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let reply = filter(sim, input).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        token = body["nextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            return (events, pages);
        }
    }
    unreachable!()
}

fn group_with(sim: &Simulator, n: i64) {
    sim.with(|w| {
        w.logs.set_clock(Some(T0 + 1_000_000));
        w.logs.create_group(GROUP);
        // Written out of order: served by timestamp, ties in write order (eventId).
        for i in (0..n).rev() {
            let stream = if i % 2 == 0 { "a.stream" } else { "b.stream" };
            w.logs
                .put_event(GROUP, stream, T0 + i / 2 * 10, &format!("m{i:03}"));
        }
    });
}

#[tokio::test]
async fn events_page_in_timestamp_order_with_next_token() {
    let sim = start().await;
    group_with(&sim, 25);
    let reply = filter(&sim, json!({ "logGroupName": GROUP, "limit": 10 })).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let body = reply.json();
    assert_eq!(body["searchedLogStreams"], json!([]));
    let first = &body["events"][0];
    assert_eq!(first["timestamp"], T0);
    assert_eq!(first["ingestionTime"], T0);
    assert!(first["logStreamName"].is_string() && first["eventId"].is_string());
    let (events, pages) = all_pages(&sim, json!({ "logGroupName": GROUP, "limit": 10 })).await;
    assert_eq!((events.len(), pages), (25, 3));
    let keys: Vec<(i64, String)> = events
        .iter()
        .map(|e| {
            (
                e["timestamp"].as_i64().unwrap(),
                e["eventId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "timestamp order, ties by eventId");
    // Ties keep the order they were written in (m001 before m000 here).
    assert_eq!(events[0]["message"], "m001");
    assert_eq!(events[1]["message"], "m000");
    // Default limit 10000: one page; identifier by name or ARN works the same.
    let (events, pages) = all_pages(&sim, json!({ "logGroupName": GROUP })).await;
    assert_eq!((events.len(), pages), (25, 1));
    let arn = format!("arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}:*");
    let (events, _) = all_pages(&sim, json!({ "logGroupIdentifier": arn })).await;
    assert_eq!(events.len(), 25);
    // Streams by name or prefix.
    let (events, _) = all_pages(
        &sim,
        json!({ "logGroupName": GROUP, "logStreamNames": ["a.stream"] }),
    )
    .await;
    assert_eq!(events.len(), 13);
    let (events, _) = all_pages(
        &sim,
        json!({ "logGroupName": GROUP, "logStreamNamePrefix": "b." }),
    )
    .await;
    assert_eq!(events.len(), 12);
}

#[tokio::test]
async fn time_range_is_inclusive_on_the_event_timestamp() {
    let sim = start().await;
    group_with(&sim, 20); // timestamps T0, T0+10, ..., T0+90, two each
    let input = json!({ "logGroupName": GROUP, "startTime": T0 + 10, "endTime": T0 + 30 });
    let (events, _) = all_pages(&sim, input).await;
    assert_eq!(events.len(), 6);
    assert!(events
        .iter()
        .all(|e| (T0 + 10..=T0 + 30).contains(&e["timestamp"].as_i64().unwrap())));
    let (events, _) = all_pages(&sim, json!({ "logGroupName": GROUP, "startTime": T0 + 85 })).await;
    assert_eq!(events.len(), 2);
    let (events, _) = all_pages(&sim, json!({ "logGroupName": GROUP, "endTime": T0 - 1 })).await;
    assert!(events.is_empty());
}

#[tokio::test]
async fn json_filter_patterns_select_workflow_events_and_skip_session_lines() {
    let sim = start().await;
    let server = "s-00000000000000001";
    sim.with(|w| {
        w.logs.set_clock(Some(T0 + 1_000_000));
        w.add_transfer_server(Server::new(server).with_logging());
        let ok = WorkflowRun::new(server, "w-1", "e-ok", T0).step(RunStep::ok("COPY", "copy", 500));
        let failing = WorkflowRun::new(server, "w-1", "e-bad", T0 + 10_000)
            .step(RunStep::failed(
                "TAG",
                "tag",
                200,
                "BAD_REQUEST",
                "Cannot tag",
            ))
            .step(RunStep::ok("COPY", "never-runs", 100))
            .on_exception(RunStep::failed(
                "DELETE",
                "cleanup",
                100,
                "NOT_FOUND",
                "gone",
            ));
        assert!(w.log_workflow_run(&ok));
        assert!(w.log_workflow_run(&failing));
    });
    let (all, _) = all_pages(&sim, json!({ "logGroupName": GROUP })).await;
    let (workflow, _) = all_pages(
        &sim,
        json!({ "logGroupName": GROUP, "filterPattern": "{ $.type = * }" }),
    )
    .await;
    assert!(
        all.len() > workflow.len(),
        "session lines are in the group too"
    );
    assert!(all
        .iter()
        .any(|e| serde_json::from_str::<Value>(e["message"].as_str().unwrap()).is_err()));
    let (counted, _) = all_pages(
        &sim,
        json!({ "logGroupName": GROUP, "filterPattern": TYPES }),
    )
    .await;
    let kinds: Vec<(String, String)> = counted
        .iter()
        .map(|e| {
            let m: Value = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
            (
                m["executionId"].as_str().unwrap().to_owned(),
                m["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("e-ok", "ExecutionCompleted"),
        ("e-bad", "StepErrored"),
        ("e-bad", "StepErrored"),
        ("e-bad", "ExecutionErrored"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(kinds, expected);
    let m: Value = serde_json::from_str(counted[1]["message"].as_str().unwrap()).unwrap();
    assert_eq!(
        m["details"],
        json!({ "errorType": "BAD_REQUEST", "errorMessage": "Cannot tag", "stepType": "TAG", "stepName": "tag" })
    );
    assert_eq!(m["workflowId"], "w-1");
    assert_eq!(m["transferDetails"]["serverId"], server);
    assert_eq!(m["transferDetails"]["username"], "partner-sftp");
    assert!(counted[1]["logStreamName"]
        .as_str()
        .unwrap()
        .starts_with("partner-sftp.w-1."));
    let one = filter(
        &sim,
        json!({ "logGroupName": GROUP, "filterPattern": r#"{ $.type = "ExecutionErrored" }"# }),
    )
    .await;
    assert_eq!(messages(&one).len(), 1);
    // The truth counts what the spec counts.
    let truth = sim.with(|w| w.logs.workflow_truth(..));
    assert_eq!(truth.finished("w-1", "completed"), 1);
    assert_eq!(truth.finished("w-1", "exception"), 1);
    assert_eq!(truth.step_errors("w-1", "steps", "TAG", "BAD_REQUEST"), 1);
    assert_eq!(
        truth.step_errors("w-1", "on_exception_steps", "DELETE", "NOT_FOUND"),
        1
    );
    assert_eq!(truth.step_errors.len(), 2);
}

#[tokio::test]
async fn servers_without_logging_have_no_group() {
    let sim = start().await;
    let quiet = "s-00000000000000002";
    sim.with(|w| {
        w.add_transfer_server(Server::new(quiet));
        let run = WorkflowRun::new(quiet, "w-1", "e1", T0).step(RunStep::ok("COPY", "c", 1));
        assert!(!w.log_workflow_run(&run));
        assert!(w.logs.workflow_truth(..).finished.is_empty());
    });
    let reply = filter(&sim, json!({ "logGroupName": log_group(quiet) })).await;
    assert_eq!(
        (reply.status, code(&reply).as_str()),
        (400, "ResourceNotFoundException")
    );
    assert!(reply.json()["Message"].is_string());
}

#[tokio::test]
async fn late_events_appear_once_the_clock_reaches_their_ingestion() {
    let sim = start().await;
    sim.with(|w| {
        w.logs.set_clock(Some(T0 + 1_000));
        w.logs.create_group(GROUP);
        w.logs.put_event(GROUP, "s", T0, "on time");
        w.logs
            .put_event_delayed(GROUP, "s", T0 + 500, 60_000, "late");
    });
    let input = json!({ "logGroupName": GROUP, "startTime": T0 });
    let reply = filter(&sim, input.clone()).await;
    assert_eq!(messages(&reply), ["on time"]);
    sim.with(|w| w.logs.set_clock(Some(T0 + 60_500)));
    let reply = filter(&sim, input.clone()).await;
    assert_eq!(messages(&reply), ["on time", "late"]);
    assert_eq!(reply.json()["events"][1]["timestamp"], T0 + 500);
    assert_eq!(reply.json()["events"][1]["ingestionTime"], T0 + 60_500);
    // Unpinned, the wall clock is far past both.
    sim.with(|w| w.logs.set_clock(None));
    assert_eq!(messages(&filter(&sim, input).await).len(), 2);
}

#[tokio::test]
async fn invalid_input_gets_modelled_errors() {
    let sim = start().await;
    group_with(&sim, 3);
    let invalid = [
        json!({}),
        json!({ "logGroupName": GROUP, "logGroupIdentifier": GROUP }),
        json!({ "logGroupName": GROUP, "limit": 0 }),
        json!({ "logGroupName": GROUP, "limit": 10_001 }),
        json!({ "logGroupName": GROUP, "nextToken": "garbage" }),
        json!({ "logGroupName": GROUP, "nextToken": "" }),
        json!({ "logGroupName": GROUP, "startTime": -1 }),
        json!({ "logGroupName": GROUP, "startTime": 10, "endTime": 5 }),
        json!({ "logGroupName": GROUP, "logStreamNames": ["a"], "logStreamNamePrefix": "a" }),
        json!({ "logGroupName": GROUP, "logStreamNames": [] }),
        json!({ "logGroupName": GROUP, "filterPattern": "ERROR" }),
        json!({ "logGroupName": GROUP, "filterPattern": "{ $.type = \"x\"" }),
        json!({ "logGroupName": GROUP, "filterPattern": "[a, b]" }),
        json!({ "logGroupName": "bad name!" }),
    ];
    for input in invalid {
        let reply = filter(&sim, input.clone()).await;
        assert_eq!(reply.status, 400, "{input}");
        assert_eq!(code(&reply), "InvalidParameterException", "{input}");
        assert!(reply.json()["Message"].is_string());
    }
    for limit in [1, 10_000] {
        let reply = filter(&sim, json!({ "logGroupName": GROUP, "limit": limit })).await;
        assert_eq!(reply.status, 200, "limit {limit}");
    }
    // A token is only good for the group it was issued for.
    let reply = filter(&sim, json!({ "logGroupName": GROUP, "limit": 1 })).await;
    let token = reply.json()["nextToken"].as_str().unwrap().to_owned();
    sim.with(|w| w.logs.create_group("/other"));
    let reply = filter(
        &sim,
        json!({ "logGroupName": "/other", "nextToken": token }),
    )
    .await;
    assert_eq!(code(&reply), "InvalidParameterException");
    let reply = filter(&sim, json!({ "logGroupName": "/aws/transfer/nope" })).await;
    assert_eq!(
        (reply.status, code(&reply).as_str()),
        (400, "ResourceNotFoundException")
    );
    let reply = send(&sim, "Logs_20140328.FilterLogEvents", "{nope").await;
    assert_eq!(
        (reply.status, code(&reply).as_str()),
        (400, "SerializationException")
    );
    // Other operations and prefixes are not claimed.
    for target in ["Logs_20140328.GetLogEvents", "Logs_2014.FilterLogEvents"] {
        assert_eq!(send(&sim, target, "{}").await.status, 404, "{target}");
    }
}

#[tokio::test]
async fn faults_use_logs_codes_and_calls_are_counted() {
    let sim = start().await;
    group_with(&sim, 3);
    sim.with(|w| {
        w.faults.inject("logs:*", Fault::Throttle, 1);
        w.faults
            .inject("logs:FilterLogEvents", Fault::ServerError, 1);
        w.faults.inject("logs:*", Fault::AccessDenied, 1);
        w.faults.inject("logs:*", Fault::NotFound, 1);
    });
    let input = json!({ "logGroupName": GROUP });
    for (status, expected) in [
        (400, "ThrottlingException"),
        (500, "ServiceUnavailableException"),
        (400, "AccessDeniedException"),
        (400, "ResourceNotFoundException"),
    ] {
        let reply = filter(&sim, input.clone()).await;
        assert_eq!((reply.status, code(&reply).as_str()), (status, expected));
    }
    assert_eq!(filter(&sim, input.clone()).await.status, 200);
    // Oversize ignores the limit.
    sim.with(|w| w.faults.inject("logs:*", Fault::Oversize, 1));
    let reply = filter(&sim, json!({ "logGroupName": GROUP, "limit": 1 })).await;
    assert_eq!(messages(&reply).len(), 3);
    sim.with(|w| {
        assert_eq!(w.calls("logs:FilterLogEvents"), 6);
        assert_eq!(w.calls("FilterLogEvents"), 6);
        assert_eq!(w.calls("transfer:FilterLogEvents"), 0);
    });
}

#[tokio::test]
async fn list_servers_pages_and_shows_logging_roles() {
    let sim = start().await;
    sim.with(|w| {
        for i in 0..15 {
            let server = Server::new(&format!("s-{i:017x}"));
            w.add_transfer_server(if i % 2 == 0 {
                server.with_logging()
            } else {
                server
            });
        }
    });
    let call = |input: Value| {
        let sim = &sim;
        async move { send(sim, "TransferService.ListServers", &input.to_string()).await }
    };
    let reply = call(json!({ "MaxResults": 10 })).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let servers = body["Servers"].as_array().unwrap();
    assert_eq!(servers.len(), 10);
    assert_eq!(servers[0]["ServerId"], "s-00000000000000000");
    assert!(servers[0]["Arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:transfer:"));
    assert!(servers[0]["LoggingRole"]
        .as_str()
        .unwrap()
        .contains("role/"));
    assert!(servers[1].get("LoggingRole").is_none());
    for member in [
        "Domain",
        "IdentityProviderType",
        "EndpointType",
        "State",
        "UserCount",
    ] {
        assert!(servers[0].get(member).is_some(), "{member}");
    }
    let token = body["NextToken"].as_str().unwrap();
    let reply = call(json!({ "MaxResults": 10, "NextToken": token })).await;
    assert_eq!(reply.json()["Servers"].as_array().unwrap().len(), 5);
    assert!(reply.json().get("NextToken").is_none());
    for bad in [0, 1001] {
        let reply = call(json!({ "MaxResults": bad })).await;
        assert_eq!(code(&reply), "InvalidRequestException");
    }
    let reply = call(json!({ "NextToken": "garbage" })).await;
    assert_eq!(code(&reply), "InvalidNextTokenException");
    // The servers with a logging role have their (empty) log group.
    let reply = filter(
        &sim,
        json!({ "logGroupName": log_group("s-00000000000000000") }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["events"], json!([]));
    sim.with(|w| assert_eq!(w.calls("transfer:ListServers"), 5));
}

#[tokio::test]
async fn pages_stop_at_one_megabyte() {
    let sim = start().await;
    sim.with(|w| {
        w.logs.create_group(GROUP);
        let big = "x".repeat(300_000);
        for i in 0..7 {
            w.logs.put_event(GROUP, "s", T0 + i, &big);
        }
    });
    let reply = filter(&sim, json!({ "logGroupName": GROUP })).await;
    assert_eq!(messages(&reply).len(), 3);
    assert!(reply.json()["nextToken"].is_string());
    let (events, pages) = all_pages(&sim, json!({ "logGroupName": GROUP })).await;
    assert_eq!((events.len(), pages), (7, 3));
}
