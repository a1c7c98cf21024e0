//! Talks raw HTTP/1.1 to a running simulator to pin down the Customer Profiles wire format: the
//! URIs, `next-token`/`max-results` query parameters, body filters, paging and modelled errors.

use aws_flow_simulator::customerprofiles::{workflow_id, Domain, Workflow};
use aws_flow_simulator::faults::Fault;
use aws_flow_simulator::Simulator;
use serde_json::{json, Value};

use common::{start, Reply};

mod common;

/// What Customer Profiles replies carry besides the common parts.
trait Listing {
    fn ids(&self) -> Vec<String>;
    fn token(&self) -> Option<String>;
}

impl Listing for Reply {
    fn ids(&self) -> Vec<String> {
        let json = self.json();
        let items = json["Items"].as_array().expect("Items");
        items
            .iter()
            .map(|i| {
                i.get("WorkflowId")
                    .or(i.get("DomainName"))
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn token(&self) -> Option<String> {
        self.json()["NextToken"].as_str().map(str::to_owned)
    }
}

/// One request on its own connection; `target` is the path plus any query string.
async fn call(sim: &Simulator, method: &str, target: &str, body: &str) -> Reply {
    let headers = [("Content-Type", "application/json")];
    common::request(sim.addr(), method, target, &headers, body).await
}

async fn get(sim: &Simulator, target: &str) -> Reply {
    call(sim, "GET", target, "").await
}

async fn post(sim: &Simulator, target: &str, body: Value) -> Reply {
    call(sim, "POST", target, &body.to_string()).await
}

/// Percent-encodes a query value the way SDKs do (unreserved characters kept).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Pages through `path` with `max-results=size`, returning every id and the page count.
async fn walk(
    sim: &Simulator,
    method: &str,
    path: &str,
    size: u32,
    body: Value,
) -> (Vec<String>, u32) {
    let (mut all, mut pages, mut token) = (Vec::new(), 0, None::<String>);
    loop {
        let mut target = format!("{path}?max-results={size}");
        if let Some(t) = &token {
            target.push_str(&format!("&next-token={}", encode(t)));
        }
        let reply = call(sim, method, &target, &body.to_string()).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        pages += 1;
        all.extend(reply.ids());
        token = reply.token();
        if token.is_none() {
            return (all, pages);
        }
    }
}

fn domain_with(name: &str, workflows: &[(&str, &str, f64)]) -> Domain {
    let mut domain = Domain::new(name, 1_600_000_000.0);
    for (seed, status, started) in workflows {
        let w = Workflow::new(&workflow_id(seed), status, *started);
        domain.workflows.insert(w.id.clone(), w);
    }
    domain
}

#[tokio::test]
async fn list_domains_pages_by_name_with_query_parameters() {
    let sim = start().await;
    sim.with(|w| {
        for i in (0..25).rev() {
            w.customerprofiles
                .add_domain(Domain::new(&format!("domain-{i:02}"), 1_600_000_000.5));
        }
    });
    let (names, pages) = walk(&sim, "GET", "/domains", 10, json!(null)).await;
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("domain-{i:02}")).collect();
    assert_eq!(names, expected);

    let reply = get(&sim, "/domains").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-amzn-RequestId").is_some());
    let json = reply.json();
    assert_eq!(
        json["Items"].as_array().unwrap().len(),
        20,
        "default page size"
    );
    assert_eq!(
        json["Items"][0],
        json!({ "DomainName": "domain-00", "CreatedAt": 1_600_000_000.5, "LastUpdatedAt": 1_600_000_000.5 })
    );
    assert_eq!(sim.with(|w| w.calls("customerprofiles:ListDomains")), 4);
}

#[tokio::test]
async fn list_workflows_pages_newest_first_and_filters_on_the_body() {
    let sim = start().await;
    let mut spec = Vec::new();
    for i in 0..23 {
        let status = ["COMPLETE", "FAILED", "IN_PROGRESS"][i % 3];
        spec.push((format!("w{i}"), status, 1_000.0 + i as f64 * 10.0));
    }
    let refs: Vec<(&str, &str, f64)> = spec.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
    sim.with(|w| w.customerprofiles.add_domain(domain_with("d-1", &refs)));
    let newest_first: Vec<String> = (0..23)
        .rev()
        .map(|i| workflow_id(&format!("w{i}")))
        .collect();

    let (ids, pages) = walk(&sim, "POST", "/domains/d-1/workflows", 10, json!({})).await;
    assert_eq!(pages, 3);
    assert_eq!(ids, newest_first);

    // QueryStartDate: started at or after; Status: exact; combined.
    let (ids, _) = walk(
        &sim,
        "POST",
        "/domains/d-1/workflows",
        100,
        json!({ "QueryStartDate": 1_200.0 }),
    )
    .await;
    assert_eq!(ids, newest_first[..3]);
    let (ids, _) = walk(
        &sim,
        "POST",
        "/domains/d-1/workflows",
        4,
        json!({ "Status": "FAILED", "WorkflowType": "APPFLOW_INTEGRATION" }),
    )
    .await;
    assert_eq!(ids.len(), 8);
    // QueryEndDate: workflows that ended (were last updated) at or after it.
    sim.with(|w| {
        let id = workflow_id("w0");
        w.customerprofiles
            .workflow_mut("d-1", &id)
            .unwrap()
            .last_updated_at = 5_000.0;
    });
    let (ids, _) = walk(
        &sim,
        "POST",
        "/domains/d-1/workflows",
        100,
        json!({ "QueryEndDate": 4_000.0 }),
    )
    .await;
    assert_eq!(ids, [workflow_id("w0")]);

    let reply = post(&sim, "/domains/d-1/workflows?max-results=1", json!({})).await;
    let item = &reply.json()["Items"][0];
    assert_eq!(item["WorkflowType"], "APPFLOW_INTEGRATION");
    assert_eq!(item["Status"], "FAILED");
    assert!(item["StatusDescription"].is_string());
    assert_eq!(item["CreatedAt"], json!(1_220.0));
    assert!(item["LastUpdatedAt"].is_number());
}

#[tokio::test]
async fn get_workflow_returns_attributes_and_metrics() {
    let sim = start().await;
    let id = workflow_id("one");
    sim.with(|w| {
        w.customerprofiles.add_domain(Domain::new("d", 1.0));
        let mut workflow = Workflow::new(&id, "HIBERNATING", 100.25)
            .with_progress(1234, 2, 5)
            .with_source("Zendesk", "zendesk-prod");
        workflow.last_updated_at = 200.5;
        workflow.error_description = Some("Step 3 failed".into());
        w.customerprofiles.upsert_workflow("d", workflow);
    });
    let reply = get(&sim, &format!("/domains/d/workflows/{id}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({
            "WorkflowId": id, "WorkflowType": "APPFLOW_INTEGRATION", "Status": "HIBERNATING",
            "ErrorDescription": "Step 3 failed", "StartDate": 100.25, "LastUpdatedAt": 200.5,
            "Attributes": { "AppflowIntegration": {
                "SourceConnectorType": "Zendesk", "ConnectorProfileName": "zendesk-prod" } },
            "Metrics": { "AppflowIntegration": {
                "RecordsProcessed": 1234, "StepsCompleted": 2, "TotalSteps": 5 } },
        })
    );
    // Percent-encoded path segments are decoded.
    let reply = get(&sim, &format!("/domains/%64/workflows/{id}")).await;
    assert_eq!(reply.status, 200);
    let reply = post(&sim, "/domains/%64/workflows", json!({})).await;
    assert_eq!(reply.ids(), [id]);
}

#[tokio::test]
async fn paging_tokens_survive_changes_and_stay_in_scope() {
    let sim = start().await;
    sim.with(|w| {
        w.customerprofiles.add_domain(domain_with(
            "a",
            &[
                ("1", "COMPLETE", 10.0),
                ("2", "COMPLETE", 20.0),
                ("3", "COMPLETE", 30.0),
            ],
        ));
        w.customerprofiles.add_domain(domain_with(
            "b",
            &[("4", "COMPLETE", 10.0), ("5", "COMPLETE", 20.0)],
        ));
    });
    let first = post(&sim, "/domains/a/workflows?max-results=1", json!({})).await;
    assert_eq!(first.ids(), [workflow_id("3")]);
    let token = first.token().unwrap();
    sim.with(|w| {
        w.customerprofiles.remove_workflow("a", &workflow_id("2"));
        w.customerprofiles
            .upsert_workflow("a", Workflow::new(&workflow_id("9"), "IN_PROGRESS", 40.0));
    });
    let second = post(
        &sim,
        &format!("/domains/a/workflows?next-token={}", encode(&token)),
        json!({}),
    )
    .await;
    assert_eq!(second.ids(), [workflow_id("1")]);
    // Another domain's token, or a ListDomains token, is refused.
    for target in [
        format!("/domains/b/workflows?next-token={}", encode(&token)),
        "/domains/b/workflows?next-token=garbage".to_owned(),
    ] {
        let reply = post(&sim, &target, json!({})).await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (400, Some("BadRequestException")),
            "{target}"
        );
    }
}

#[tokio::test]
async fn invalid_input_gets_modelled_errors() {
    let sim = start().await;
    sim.with(|w| w.customerprofiles.add_domain(Domain::new("d", 1.0)));
    let id = workflow_id("x");
    let bad: Vec<(&str, String, Value)> = vec![
        ("GET", "/domains?max-results=0".into(), json!(null)),
        ("GET", "/domains?max-results=101".into(), json!(null)),
        ("GET", "/domains?max-results=ten".into(), json!(null)),
        ("GET", "/domains?next-token=nope".into(), json!(null)),
        (
            "POST",
            "/domains/d/workflows?max-results=101".into(),
            json!({}),
        ),
        (
            "POST",
            "/domains/d/workflows".into(),
            json!({ "Status": "DONE" }),
        ),
        (
            "POST",
            "/domains/d/workflows".into(),
            json!({ "WorkflowType": "OTHER" }),
        ),
        ("POST", "/domains/bad.name/workflows".into(), json!({})),
        ("GET", "/domains/d/workflows/not-a-uuid".into(), json!(null)),
        (
            "GET",
            format!("/domains/{}/workflows/{id}", "x".repeat(65)),
            json!(null),
        ),
    ];
    for (method, target, body) in bad {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let reply = call(&sim, method, &target, &body).await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (400, Some("BadRequestException")),
            "{method} {target}"
        );
        assert!(reply.json()["message"].is_string());
    }
    let reply = post(
        &sim,
        "/domains/d/workflows",
        json!({ "QueryStartDate": "yesterday" }),
    )
    .await;
    assert_eq!(
        (reply.status, reply.error_type()),
        (400, Some("SerializationException"))
    );

    for target in [
        "/domains/nope/workflows".to_owned(),
        format!("/domains/d/workflows/{id}"),
    ] {
        let method = if target.ends_with("workflows") {
            "POST"
        } else {
            "GET"
        };
        let reply = call(&sim, method, &target, "{}").await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (404, Some("ResourceNotFoundException")),
            "{target}"
        );
    }
    for (method, target) in [
        ("GET", "/domains/d"),
        ("DELETE", "/domains"),
        ("GET", "/domains/d/workflows"),
    ] {
        let reply = call(&sim, method, target, "").await;
        assert_eq!(
            reply.error_type(),
            Some("UnknownOperationException"),
            "{method} {target}"
        );
    }
}

#[tokio::test]
async fn faults_are_scoped_to_customer_profiles_and_use_its_codes() {
    let sim = start().await;
    sim.with(|w| {
        w.customerprofiles.add_domain(Domain::new("d", 1.0));
        w.faults
            .inject("customerprofiles:ListWorkflows", Fault::Throttle, 1);
        w.faults
            .inject("transfer:ListWorkflows", Fault::ServerError, 5);
        w.faults.inject("customerprofiles:*", Fault::ServerError, 1);
        w.faults
            .inject("customerprofiles:*", Fault::AccessDenied, 1);
        w.faults.inject("customerprofiles:*", Fault::NotFound, 1);
    });
    let expected = [
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
    ];
    for (status, code) in expected {
        let reply = post(&sim, "/domains/d/workflows", json!({})).await;
        assert_eq!((reply.status, reply.error_type()), (status, Some(code)));
    }
    assert_eq!(
        post(&sim, "/domains/d/workflows", json!({})).await.status,
        200
    );
    assert_eq!(
        sim.with(|w| w.faults.pending("transfer", "ListWorkflows")),
        5
    );
    sim.with(|w| {
        assert_eq!(w.calls("customerprofiles:ListWorkflows"), 5);
        assert_eq!(w.calls("transfer:ListWorkflows"), 0);
    });
}
