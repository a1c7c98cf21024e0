//! Talks raw HTTP/1.1 to a running simulator to pin down the Transfer Family awsJson1_1 wire
//! format (routing on `X-Amz-Target`, `__type` errors), paging and faults, independently of any SDK.

use aws_flow_simulator::appflow::Flow;
use aws_flow_simulator::transfer::{Execution, StepResult, Workflow};
use aws_flow_simulator::{Fault, Simulator};
use serde_json::{json, Value};

use common::{start, Reply};

mod common;

const WF: &str = "w-0123456789abcdefa";
const EXEC: &str = "3f1c9a52-7d4e-4b8a-9c1d-2e5f6a7b8c9d";

/// awsJson1_1 replies: a JSON body (Null when there is none) with the error code in `__type`.
trait AwsJson {
    fn body(&self) -> Value;
    fn error_code(&self) -> String;
}

impl AwsJson for Reply {
    fn body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Never the restJson1 header.
    fn error_code(&self) -> String {
        assert_eq!(self.error_type(), None);
        self.body()["__type"].as_str().unwrap_or("").to_owned()
    }
}

/// One request with `Connection: close`; `target` goes in `X-Amz-Target` when given.
async fn send(
    sim: &Simulator,
    method: &str,
    path: &str,
    target: Option<&str>,
    body: &str,
) -> Reply {
    let auth = "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/transfer/aws4_request";
    let mut headers = vec![
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Authorization", auth),
    ];
    headers.extend(target.map(|t| ("X-Amz-Target", t)));
    common::request(sim.addr(), method, path, &headers, body).await
}

async fn call(sim: &Simulator, operation: &str, input: Value) -> Reply {
    let target = format!("TransferService.{operation}");
    send(sim, "POST", "/", Some(&target), &input.to_string()).await
}

fn ids(list: &Value, member: &str, id: &str) -> Vec<String> {
    list[member]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[id].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_workflows_pages_with_next_token() {
    let sim = start().await;
    sim.with(|w| {
        for i in 0..25 {
            let mut wf = Workflow::new(&format!("w-{i:017}"));
            wf.description = (i == 0).then(|| "first".to_owned());
            w.transfer.add_workflow(wf);
        }
    });
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        let mut input = json!({ "MaxResults": 10 });
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let reply = call(&sim, "ListWorkflows", input).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert!(reply.header("x-amzn-requestid").is_some());
        if page == 0 {
            assert_eq!(reply.body()["Workflows"][0]["Description"], "first");
            assert!(reply.body()["Workflows"][0]["Arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:transfer:"));
            assert!(reply.body()["Workflows"][1].get("Description").is_none());
        }
        all.extend(ids(&reply.body(), "Workflows", "WorkflowId"));
        token = reply.body()["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            assert_eq!(page, 2);
            break;
        }
    }
    assert_eq!(all.len(), 25);
    assert_eq!(all[24], format!("w-{:017}", 24));
    // Without MaxResults: everything fits the default page; 1000 is the most allowed.
    let reply = call(&sim, "ListWorkflows", json!({})).await;
    assert_eq!(ids(&reply.body(), "Workflows", "WorkflowId").len(), 25);
    assert!(reply.body().get("NextToken").is_none());
    assert_eq!(
        call(&sim, "ListWorkflows", json!({ "MaxResults": 1000 }))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn invalid_input_gets_modelled_errors_in_the_body() {
    let sim = start().await;
    sim.with(|w| w.transfer.add_workflow(Workflow::new(WF)));
    for bad in [0, 1001, -1] {
        let reply = call(&sim, "ListWorkflows", json!({ "MaxResults": bad })).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.error_code(), "InvalidRequestException");
        assert!(reply.body()["Message"].as_str().unwrap().contains("1000"));
        assert_eq!(
            reply.header("content-type"),
            Some("application/x-amz-json-1.1")
        );
    }
    let reply = call(&sim, "ListWorkflows", json!({ "NextToken": "garbage" })).await;
    assert_eq!(reply.error_code(), "InvalidNextTokenException");
    let reply = call(&sim, "ListExecutions", json!({})).await;
    assert_eq!(reply.error_code(), "InvalidRequestException");
    let reply = call(&sim, "DescribeExecution", json!({ "WorkflowId": WF })).await;
    assert_eq!(reply.error_code(), "InvalidRequestException");
    let reply = send(
        &sim,
        "POST",
        "/",
        Some("TransferService.ListWorkflows"),
        "{nope",
    )
    .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "SerializationException")
    );
    // An empty body is `{}`.
    let reply = send(&sim, "POST", "/", Some("TransferService.ListWorkflows"), "").await;
    assert_eq!(reply.status, 200);

    for (operation, input) in [
        (
            "DescribeWorkflow",
            json!({ "WorkflowId": "w-00000000000000000" }),
        ),
        (
            "ListExecutions",
            json!({ "WorkflowId": "w-00000000000000000" }),
        ),
        (
            "DescribeExecution",
            json!({ "WorkflowId": WF, "ExecutionId": EXEC }),
        ),
    ] {
        let reply = call(&sim, operation, input).await;
        assert_eq!(reply.status, 400, "{operation}");
        assert_eq!(reply.error_code(), "ResourceNotFoundException");
        assert!(reply.body()["Message"].is_string());
        assert!(reply.body()["Resource"].is_string());
        assert!(reply.body()["ResourceType"].is_string());
    }
}

#[tokio::test]
async fn only_transfer_targets_are_claimed() {
    let sim = start().await;
    sim.with(|w| {
        w.transfer.add_workflow(Workflow::new(WF));
        w.appflow.add_flow(Flow::new("f", 1.0));
    });
    for (method, path, target) in [
        ("POST", "/", None),
        ("POST", "/", Some("OtherService.ListWorkflows")),
        ("POST", "/", Some("TransferService.ListUsers")),
        ("POST", "/", Some("TransferServiceX.ListWorkflows")),
        ("GET", "/", Some("TransferService.ListWorkflows")),
        (
            "POST",
            "/list-workflows",
            Some("TransferService.ListWorkflows"),
        ),
    ] {
        let reply = send(&sim, method, path, target, "{}").await;
        assert_eq!(reply.status, 404, "{method} {path} {target:?}");
    }
    // The restJson1 services keep their routes, whatever headers come along.
    let reply = send(
        &sim,
        "POST",
        "/list-flows",
        Some("TransferService.ListWorkflows"),
        "{}",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body()["flows"][0]["flowName"], "f");
    sim.with(|w| {
        assert_eq!(w.calls("transfer:ListWorkflows"), 0);
        assert_eq!(w.calls("appflow:ListFlows"), 1);
    });
}

#[tokio::test]
async fn executions_are_listed_described_and_vanish_when_finished() {
    let sim = start().await;
    sim.with(|w| {
        let wf = Workflow::new(WF)
            .step("COPY", "archive")
            .step("CUSTOM", "scan")
            .on_exception("DELETE", "cleanup");
        w.transfer.add_workflow(wf);
        let mut failing = Execution::new(EXEC, "HANDLING_EXCEPTION");
        failing.steps.push(StepResult::ok("COPY"));
        failing.steps.push(StepResult::failed(
            "CUSTOM",
            "CUSTOM_STEP_FAILED",
            "scanner said no",
        ));
        failing.on_exception_steps.push(StepResult::failed(
            "DELETE",
            "PERMISSION_DENIED",
            "denied",
        ));
        w.transfer.upsert_execution(WF, failing);
        for i in 0..4 {
            let id = format!("00000000-0000-4000-8000-{i:012}");
            w.transfer
                .upsert_execution(WF, Execution::new(&id, "IN_PROGRESS"));
        }
    });
    let described = call(&sim, "DescribeWorkflow", json!({ "WorkflowId": WF })).await;
    let workflow = &described.body()["Workflow"];
    assert_eq!(workflow["Steps"][1]["Type"], "CUSTOM");
    assert!(workflow["Steps"][1]["CustomStepDetails"]["Target"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:lambda:"));
    assert_eq!(workflow["OnExceptionSteps"][0]["Type"], "DELETE");

    // Pages of two: 5 executions, 3 pages, a token only valid for its workflow.
    let first = call(
        &sim,
        "ListExecutions",
        json!({ "WorkflowId": WF, "MaxResults": 2 }),
    )
    .await;
    assert_eq!(first.body()["WorkflowId"], WF);
    assert_eq!(first.body()["Executions"][0]["Status"], "IN_PROGRESS");
    assert_eq!(
        first.body()["Executions"][0]["ServiceMetadata"]["UserDetails"]["UserName"],
        "partner-sftp"
    );
    assert!(
        first.body()["Executions"][0]["InitialFileLocation"]["S3FileLocation"]["Key"].is_string()
    );
    let token = first.body()["NextToken"].as_str().unwrap().to_owned();
    sim.with(|w| {
        w.transfer
            .add_workflow(Workflow::new("w-zzzzzzzzzzzzzzzzz"))
    });
    let foreign = call(
        &sim,
        "ListExecutions",
        json!({ "WorkflowId": "w-zzzzzzzzzzzzzzzzz", "NextToken": token }),
    )
    .await;
    assert_eq!(foreign.error_code(), "InvalidNextTokenException");
    let mut listed = ids(&first.body(), "Executions", "ExecutionId");
    let mut token = Some(token);
    while let Some(t) = token {
        let page = call(
            &sim,
            "ListExecutions",
            json!({ "WorkflowId": WF, "MaxResults": 2, "NextToken": t }),
        )
        .await;
        listed.extend(ids(&page.body(), "Executions", "ExecutionId"));
        token = page.body()["NextToken"].as_str().map(str::to_owned);
    }
    assert_eq!(listed.len(), 5);
    assert!(listed.contains(&EXEC.to_owned()));

    let reply = call(
        &sim,
        "DescribeExecution",
        json!({ "WorkflowId": WF, "ExecutionId": EXEC }),
    )
    .await;
    assert_eq!(reply.body()["WorkflowId"], WF);
    let execution = &reply.body()["Execution"];
    assert_eq!(execution["Status"], "HANDLING_EXCEPTION");
    let steps = &execution["Results"]["Steps"];
    assert_eq!(steps[0]["StepType"], "COPY");
    assert!(steps[0]["Outputs"].is_string());
    assert!(steps[0].get("Error").is_none());
    assert_eq!(steps[1]["Error"]["Type"], "CUSTOM_STEP_FAILED");
    assert_eq!(steps[1]["Error"]["Message"], "scanner said no");
    let on_exception = &execution["Results"]["OnExceptionSteps"][0];
    assert_eq!(on_exception["StepType"], "DELETE");
    assert_eq!(on_exception["Error"]["Type"], "PERMISSION_DENIED");
    assert!(execution.get("StartTime").is_none(), "no timestamps");
    let plain = call(
        &sim,
        "DescribeExecution",
        json!({ "WorkflowId": WF, "ExecutionId": "00000000-0000-4000-8000-000000000000" }),
    )
    .await;
    assert_eq!(plain.body()["Execution"]["Results"], json!({}));

    // Listed but no longer described: the race between the two calls.
    sim.with(|w| w.transfer.vanishing.insert(EXEC.to_owned()));
    let reply = call(
        &sim,
        "DescribeExecution",
        json!({ "WorkflowId": WF, "ExecutionId": EXEC }),
    )
    .await;
    assert_eq!(reply.error_code(), "ResourceNotFoundException");
    assert_eq!(reply.body()["ResourceType"], "Execution");
    let listed = call(&sim, "ListExecutions", json!({ "WorkflowId": WF })).await;
    assert_eq!(ids(&listed.body(), "Executions", "ExecutionId").len(), 5);

    // Finished: gone from both.
    sim.with(|w| w.transfer.finish_execution(WF, EXEC)).unwrap();
    let listed = call(&sim, "ListExecutions", json!({ "WorkflowId": WF })).await;
    assert!(!ids(&listed.body(), "Executions", "ExecutionId").contains(&EXEC.to_owned()));
    sim.with(|w| assert!(w.transfer.vanishing.is_empty()));
}

#[tokio::test]
async fn faults_use_transfer_codes_and_are_counted_per_service() {
    let sim = start().await;
    sim.with(|w| {
        w.transfer.add_workflow(Workflow::new(WF));
        w.appflow.add_flow(Flow::new("f", 1.0));
        w.faults.inject("transfer:*", Fault::Throttle, 1);
        w.faults
            .inject("transfer:ListWorkflows", Fault::ThrottleRetryAfter(5), 1);
        w.faults.inject("transfer:*", Fault::ServerError, 1);
        w.faults.inject("transfer:*", Fault::AccessDenied, 1);
        w.faults.inject("transfer:*", Fault::NotFound, 1);
    });
    let expected = [
        (400, "ThrottlingException"),
        (400, "ThrottlingException"),
        (500, "InternalServiceError"),
        (400, "AccessDeniedException"),
        (400, "ResourceNotFoundException"),
    ];
    for (i, (status, code)) in expected.into_iter().enumerate() {
        let reply = call(&sim, "ListWorkflows", json!({})).await;
        assert_eq!((reply.status, reply.error_code().as_str()), (status, code));
        let body = reply.body();
        assert!(body["Message"].is_string());
        assert_eq!(reply.header("retry-after"), None);
        let retry = body.get("RetryAfterSeconds");
        assert_eq!(retry, (i == 1).then_some(&json!("5")));
    }
    // A Transfer fault never reaches AppFlow.
    sim.with(|w| w.faults.always("transfer:*", Fault::ServerError));
    let reply = send(&sim, "POST", "/list-flows", None, "{}").await;
    assert_eq!(reply.status, 200);
    let reply = call(&sim, "ListExecutions", json!({ "WorkflowId": WF })).await;
    assert_eq!(reply.status, 500);
    sim.with(|w| {
        assert_eq!(w.calls("transfer:ListWorkflows"), 5);
        assert_eq!(w.calls("ListWorkflows"), 5);
        assert_eq!(w.calls("transfer:ListExecutions"), 1);
        assert_eq!(w.calls("appflow:ListFlows"), 1);
    });
}
