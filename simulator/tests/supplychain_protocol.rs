//! Talks raw HTTP/1.1 to a running simulator to pin down the Supply Chain wire format (GET with
//! path and query parameters), paging, modelled errors and faults, independently of any SDK.

use std::net::SocketAddr;

use aws_flow_simulator::faults::Fault;
use aws_flow_simulator::supplychain::{Execution, Flow, Instance, Source};
use aws_flow_simulator::Simulator;
use serde_json::{json, Value};

use common::{start, Reply};

mod common;

const I: &str = "11111111-2222-4333-8444-555555555555";
const T: f64 = 1_700_000_000.0;

async fn request(addr: SocketAddr, method: &str, target: &str) -> Reply {
    let auth = "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/scn/aws4_request";
    common::request(addr, method, target, &[("Authorization", auth)], "").await
}

async fn get(sim: &Simulator, target: &str) -> Reply {
    request(sim.addr(), "GET", target).await
}

fn flows_path(instance: &str) -> String {
    format!("/api/data-integration/instance/{instance}/data-integration-flows")
}

fn executions_path(instance: &str, flow: &str) -> String {
    format!(
        "/api-data/data-integration/instance/{instance}/data-integration-flows/{flow}/executions"
    )
}

/// Follows `nextToken` from `path` (which carries its own query) and collects `key` items.
async fn walk(sim: &Simulator, path: &str, key: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let target = match &token {
            Some(t) => format!("{path}{sep}nextToken={t}"),
            None => path.to_owned(),
        };
        let reply = get(sim, &target).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        pages += 1;
        let body = reply.json();
        items.extend(body[key].as_array().unwrap().iter().cloned());
        match body["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return (items, pages),
        }
    }
}

fn instance_id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[tokio::test]
async fn list_instances_pages_by_twenty_and_filters_by_state() {
    let sim = start().await;
    sim.with(|w| {
        for n in (0..45).rev() {
            let state = if n % 10 == 0 { "Deleted" } else { "Active" };
            w.supplychain
                .add_instance(Instance::new(&instance_id(n), T).with_state(state));
        }
    });
    let (instances, pages) = walk(&sim, "/api/instance?maxResults=20", "instances").await;
    assert_eq!(pages, 3);
    let ids: Vec<&str> = instances
        .iter()
        .map(|i| i["instanceId"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..45).map(instance_id).collect();
    assert_eq!(ids, expected);
    let first = &instances[1];
    assert_eq!(first["awsAccountId"], "123456789012");
    assert_eq!(first["state"], "Active");
    assert_eq!(first["createdTime"], json!(T));
    assert_eq!(sim.with(|w| w.calls("supplychain:ListInstances")), 3);

    // Default page size (absent or 0), and repeated list parameters.
    let reply = get(&sim, "/api/instance").await;
    assert_eq!(reply.json()["instances"].as_array().unwrap().len(), 10);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-amzn-RequestId").is_some());
    let reply = get(&sim, "/api/instance?maxResults=0").await;
    assert_eq!(reply.json()["instances"].as_array().unwrap().len(), 10);
    let (deleted, _) = walk(
        &sim,
        "/api/instance?instanceStateFilter=Deleted&instanceStateFilter=Deleting",
        "instances",
    )
    .await;
    assert_eq!(deleted.len(), 5);
    assert!(deleted.iter().all(|i| i["state"] == "Deleted"));
}

#[tokio::test]
async fn flows_carry_sources_target_and_transformation() {
    let sim = start().await;
    sim.with(|w| {
        w.supplychain.add_instance(Instance::new(I, T));
        for n in 0..25 {
            w.supplychain
                .add_flow(I, Flow::new(&format!("flow-{n:02}"), T + n as f64));
        }
        let mut joined = Flow::new("joined", T);
        joined.sources.push(Source {
            source_type: "DATASET".into(),
            source_name: "product".into(),
        });
        joined.transformation_type = "SQL".into();
        joined.target_type = "S3".into();
        w.supplychain.add_flow(I, joined);
    });
    let (flows, pages) = walk(&sim, &format!("{}?maxResults=20", flows_path(I)), "flows").await;
    assert_eq!((flows.len(), pages), (26, 2));
    let joined = flows.iter().find(|f| f["name"] == "joined").unwrap();
    assert_eq!(joined["instanceId"], I);
    assert_eq!(joined["sources"][0]["sourceType"], "S3");
    assert_eq!(
        joined["sources"][0]["s3Source"]["bucketName"],
        "scn-landing"
    );
    assert_eq!(joined["sources"][1]["sourceType"], "DATASET");
    assert!(joined["sources"][1]["datasetSource"]["datasetIdentifier"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:scn:"));
    assert_eq!(joined["transformation"]["transformationType"], "SQL");
    assert!(joined["transformation"]["sqlTransformation"]["query"].is_string());
    assert_eq!(joined["target"]["targetType"], "S3");
    assert_eq!(joined["createdTime"], json!(T));
    assert!(joined["lastModifiedTime"].is_number());
}

#[tokio::test]
async fn executions_are_newest_first_and_tokens_survive_new_runs() {
    let sim = start().await;
    sim.with(|w| {
        w.supplychain.add_instance(Instance::new(I, T));
        w.supplychain.add_flow(I, Flow::new("orders", T));
        for n in 0..45 {
            let start = T + n as f64 * 60.0;
            w.supplychain.upsert_execution(
                I,
                "orders",
                Execution::finished(&format!("run-{n:02}"), "SUCCEEDED", start, start + 30.0),
            );
        }
    });
    let path = executions_path(I, "orders");
    let first = get(&sim, &format!("{path}?maxResults=20")).await;
    let body = first.json();
    let ids: Vec<&str> = body["flowExecutions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["executionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
    assert_eq!((ids[0], ids[19]), ("run-44", "run-25"));
    let e = &body["flowExecutions"][0];
    assert_eq!(e["instanceId"], I);
    assert_eq!(e["flowName"], "orders");
    assert_eq!(e["status"], "SUCCEEDED");
    assert_eq!(e["startTime"], json!(T + 44.0 * 60.0));
    assert_eq!(e["endTime"], json!(T + 44.0 * 60.0 + 30.0));
    assert_eq!(e["sourceInfo"]["sourceType"], "S3");

    // New runs arriving between pages do not shift the next page.
    sim.with(|w| {
        w.supplychain
            .upsert_execution(I, "orders", Execution::running("run-99", T + 10_000.0))
    });
    let token = body["nextToken"].as_str().unwrap();
    let second = get(&sim, &format!("{path}?maxResults=20&nextToken={token}")).await;
    let second = second.json();
    assert_eq!(second["flowExecutions"][0]["executionId"], "run-24");
    let (all, pages) = walk(&sim, &format!("{path}?maxResults=20"), "flowExecutions").await;
    assert_eq!((all.len(), pages), (46, 3));
    assert_eq!(all[0]["status"], "IN_PROGRESS");
    assert!(all[0].get("endTime").is_none());

    // Get, with a percent-encoded execution id.
    sim.with(|w| {
        let mut odd = Execution::finished("run 7/b", "PAUSED", T, T + 1.0);
        odd.message = Some("why".into());
        w.supplychain.upsert_execution(I, "orders", odd);
    });
    let reply = get(&sim, &format!("{path}/run%207%2Fb")).await;
    assert_eq!(reply.status, 200);
    let got = reply.json();
    assert_eq!(got["flowExecution"]["executionId"], "run 7/b");
    assert_eq!(got["flowExecution"]["status"], "PAUSED");
    assert_eq!(got["flowExecution"]["message"], "why");
    let reply = get(&sim, &format!("{path}/run-03")).await;
    assert_eq!(reply.json()["flowExecution"]["startTime"], json!(T + 180.0));
}

#[tokio::test]
async fn invalid_input_and_missing_resources_get_modelled_errors() {
    let sim = start().await;
    sim.with(|w| {
        w.supplychain.add_instance(Instance::new(I, T));
        w.supplychain.add_flow(I, Flow::new("orders", T));
    });
    let executions = executions_path(I, "orders");
    for (target, status, code) in [
        (
            "/api/instance?maxResults=21".to_owned(),
            400,
            "ValidationException",
        ),
        (
            "/api/instance?maxResults=-1".to_owned(),
            400,
            "ValidationException",
        ),
        (
            "/api/instance?maxResults=ten".to_owned(),
            400,
            "SerializationException",
        ),
        (
            "/api/instance?nextToken=garbage".to_owned(),
            400,
            "ValidationException",
        ),
        (
            format!("{}?maxResults=21", flows_path(I)),
            400,
            "ValidationException",
        ),
        (
            format!("{executions}?maxResults=0"),
            400,
            "ValidationException",
        ),
        (
            format!("{executions}?maxResults=21"),
            400,
            "ValidationException",
        ),
        (
            format!("{executions}?nextToken=v1.00.0"),
            400,
            "ValidationException",
        ),
        (flows_path("nope"), 404, "ResourceNotFoundException"),
        (executions_path(I, "nope"), 404, "ResourceNotFoundException"),
        (
            executions_path("nope", "orders"),
            404,
            "ResourceNotFoundException",
        ),
        (
            format!("{executions}/nope"),
            404,
            "ResourceNotFoundException",
        ),
    ] {
        let reply = get(&sim, &target).await;
        assert_eq!(reply.status, status, "{target}");
        assert_eq!(reply.error_type(), Some(code), "{target}");
        assert!(reply.json()["message"].is_string());
    }
    // A token from one flow is not accepted for another.
    sim.with(|w| {
        w.supplychain.add_flow(I, Flow::new("other", T));
        for n in 0..3 {
            w.supplychain.upsert_execution(
                I,
                "orders",
                Execution::running(&format!("r{n}"), T + n as f64),
            );
        }
    });
    let page = get(&sim, &format!("{executions}?maxResults=1"))
        .await
        .json();
    let token = page["nextToken"].as_str().unwrap();
    let reply = get(
        &sim,
        &format!("{}?nextToken={token}", executions_path(I, "other")),
    )
    .await;
    assert_eq!(reply.error_type(), Some("ValidationException"));
    // POST is not a Supply Chain route.
    let reply = request(sim.addr(), "POST", "/api/instance").await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn faults_use_supply_chain_codes_and_stay_in_their_service() {
    let sim = start().await;
    sim.with(|w| {
        w.supplychain.add_instance(Instance::new(I, T));
        w.faults.inject("supplychain:*", Fault::Throttle, 1);
        w.faults.inject(
            "supplychain:ListDataIntegrationFlows",
            Fault::AccessDenied,
            1,
        );
        w.faults.inject("ListInstances", Fault::ServerError, 1);
    });
    let reply = get(&sim, "/api/instance").await;
    assert_eq!(
        (reply.status, reply.error_type()),
        (429, Some("ThrottlingException"))
    );
    let reply = get(&sim, "/api/instance").await;
    assert_eq!(
        (reply.status, reply.error_type()),
        (500, Some("InternalServerException"))
    );
    let reply = get(&sim, &flows_path(I)).await;
    assert_eq!(
        (reply.status, reply.error_type()),
        (403, Some("AccessDeniedException"))
    );
    assert_eq!(get(&sim, &flows_path(I)).await.status, 200);

    // A standing fault on Supply Chain leaves AppFlow alone.
    sim.with(|w| w.faults.always("supplychain:*", Fault::NotFound));
    let reply = get(&sim, "/api/instance").await;
    assert_eq!(
        (reply.status, reply.error_type()),
        (404, Some("ResourceNotFoundException"))
    );
    let raw = common::exchange(sim.addr(), "POST", "/list-flows", &[], "{}").await;
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    sim.with(|w| {
        assert_eq!(w.calls("supplychain:ListInstances"), 3);
        assert_eq!(w.calls("appflow:ListFlows"), 1);
    });
}
