//! AWS Transfer Family managed workflows (awsJson1_1): servers, workflows, their executions in
//! progress, and the five read operations: ListServers, ListWorkflows, DescribeWorkflow,
//! ListExecutions and DescribeExecution.
//!
//! As in AWS, only executions in progress exist: ListExecutions and DescribeExecution know
//! nothing of finished ones, and carry no timestamps. A test makes an execution finish by
//! removing it ([`Transfer::finish_execution`]).
//!
//! What Transfer writes to CloudWatch Logs for every execution on a server with a logging role
//! (log group `/aws/transfer/<server-id>`) is written by [`World::log_workflow_run`] from a
//! [`WorkflowRun`]; [`crate::logs::Logs::workflow_truth`] counts it back as the spec does.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

/// Transfer's client errors are all HTTP 400 (awsJson1_1 carries the code in `__type`).
const INVALID_REQUEST: ErrorCode = ErrorCode::new(400, "InvalidRequestException");
const INVALID_TOKEN: ErrorCode = ErrorCode::new(400, "InvalidNextTokenException");
const NOT_FOUND: ErrorCode = ErrorCode::new(400, "ResourceNotFoundException");

const TARGET_PREFIX: &str = "TransferService";
const OPERATIONS: [&str; 5] = [
    "ListServers",
    "ListWorkflows",
    "DescribeWorkflow",
    "ListExecutions",
    "DescribeExecution",
];
/// The model allows 1..=1000 and documents no default.
const MAX_PAGE: i64 = 1000;
const DEFAULT_PAGE: usize = 100;

const ACCOUNT: &str = "123456789012";
/// The server the listed executions run on (DescribeExecution's `ServiceMetadata`).
pub const SERVER_ID: &str = "s-0a1b2c3d4e5f60718";

pub(crate) static SERVICE: Service = Service {
    name: "transfer",
    protocol: Protocol::AwsJson1_1,
    errors: FaultErrors {
        throttling: ErrorCode::new(400, "ThrottlingException"),
        internal: ErrorCode::new(500, "InternalServiceError"),
        access_denied: ErrorCode::new(400, "AccessDeniedException"),
        not_found: NOT_FOUND,
    },
    route,
    handle,
};

/// A managed workflow, reduced to what the read operations expose.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// AWS ids look like `w-` and 17 lowercase letters or digits; any string is served as is.
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub steps: Vec<Step>,
    pub on_exception_steps: Vec<Step>,
    /// The executions in progress, by id (the order ListExecutions serves them in).
    pub executions: BTreeMap<String, Execution>,
}

/// One step of a workflow's definition.
#[derive(Clone, Debug)]
pub struct Step {
    /// "COPY", "CUSTOM", "TAG", "DELETE", "DECRYPT", or unknown strings.
    pub step_type: String,
    pub name: String,
}

/// An execution in progress.
#[derive(Clone, Debug)]
pub struct Execution {
    /// AWS ids are UUIDs; any string is served as is.
    pub id: String,
    /// "IN_PROGRESS", "HANDLING_EXCEPTION", "EXCEPTION", "COMPLETED", or unknown strings.
    pub status: String,
    /// `Results.Steps` and `Results.OnExceptionSteps`, in step order.
    pub steps: Vec<StepResult>,
    pub on_exception_steps: Vec<StepResult>,
    pub user_name: String,
    pub bucket: String,
    pub key: String,
}

/// The outcome of one step of an execution, as `ExecutionStepResult`.
#[derive(Clone, Debug, Default)]
pub struct StepResult {
    pub step_type: Option<String>,
    /// A JSON document as a string, as AWS sends it.
    pub outputs: Option<String>,
    pub error: Option<StepError>,
}

/// `ExecutionError`: `Type` is PERMISSION_DENIED, CUSTOM_STEP_FAILED, THROTTLED, ALREADY_EXISTS,
/// NOT_FOUND, BAD_REQUEST, TIMEOUT, INTERNAL_SERVER_ERROR (or unknown strings).
#[derive(Clone, Debug)]
pub struct StepError {
    pub error_type: String,
    pub message: String,
}

impl Workflow {
    /// A workflow with no steps and no executions.
    pub fn new(id: &str) -> Workflow {
        Workflow {
            id: id.to_owned(),
            arn: format!("arn:aws:transfer:us-east-1:{ACCOUNT}:workflow/{id}"),
            description: None,
            steps: Vec::new(),
            on_exception_steps: Vec::new(),
            executions: BTreeMap::new(),
        }
    }

    /// Adds a step of `step_type` to the nominal steps.
    pub fn step(mut self, step_type: &str, name: &str) -> Workflow {
        self.steps.push(Step::new(step_type, name));
        self
    }

    /// Adds a step of `step_type` to the exception handler.
    pub fn on_exception(mut self, step_type: &str, name: &str) -> Workflow {
        self.on_exception_steps.push(Step::new(step_type, name));
        self
    }
}

impl Step {
    pub fn new(step_type: &str, name: &str) -> Step {
        Step {
            step_type: step_type.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl Execution {
    /// An execution with no step finished yet, for an upload to `transfer-uploads`.
    pub fn new(id: &str, status: &str) -> Execution {
        Execution {
            id: id.to_owned(),
            status: status.to_owned(),
            steps: Vec::new(),
            on_exception_steps: Vec::new(),
            user_name: "partner-sftp".to_owned(),
            bucket: "transfer-uploads".to_owned(),
            key: format!("incoming/{id}.csv"),
        }
    }
}

impl StepResult {
    /// A step that succeeded, with the file location it passed on.
    pub fn ok(step_type: &str) -> StepResult {
        StepResult {
            step_type: Some(step_type.to_owned()),
            outputs: Some(r#"{"fileLocation":{"domain":"S3","bucket":"transfer-uploads"}}"#.into()),
            error: None,
        }
    }

    /// A step that failed with `error_type` (e.g. "PERMISSION_DENIED").
    pub fn failed(step_type: &str, error_type: &str, message: &str) -> StepResult {
        StepResult {
            step_type: Some(step_type.to_owned()),
            outputs: None,
            error: Some(StepError {
                error_type: error_type.to_owned(),
                message: message.to_owned(),
            }),
        }
    }
}

/// A Transfer Family server, as ListServers lists it (`ListedServer`).
#[derive(Clone, Debug)]
pub struct Server {
    /// AWS ids are `s-` and 17 lowercase hex digits; any string is served as is.
    pub id: String,
    pub arn: String,
    /// "S3" or "EFS".
    pub domain: Option<String>,
    /// "SERVICE_MANAGED", "API_GATEWAY", "AWS_DIRECTORY_SERVICE" or "AWS_LAMBDA".
    pub identity_provider_type: Option<String>,
    /// "PUBLIC", "VPC" or "VPC_ENDPOINT".
    pub endpoint_type: Option<String>,
    /// The role Transfer logs to CloudWatch with: `None`, nothing is logged.
    pub logging_role: Option<String>,
    /// "OFFLINE", "ONLINE", "STARTING", "STOPPING", "START_FAILED" or "STOP_FAILED".
    pub state: Option<String>,
    pub user_count: Option<i64>,
}

impl Server {
    /// An ONLINE SFTP server on S3 with service-managed users and no logging role.
    pub fn new(id: &str) -> Server {
        Server {
            id: id.to_owned(),
            arn: format!("arn:aws:transfer:us-east-1:{ACCOUNT}:server/{id}"),
            domain: Some("S3".to_owned()),
            identity_provider_type: Some("SERVICE_MANAGED".to_owned()),
            endpoint_type: Some("PUBLIC".to_owned()),
            logging_role: None,
            state: Some("ONLINE".to_owned()),
            user_count: Some(3),
        }
    }

    /// The same server with a logging role: [`World::add_transfer_server`] then creates its
    /// log group.
    pub fn with_logging(mut self) -> Server {
        self.logging_role = Some(format!("arn:aws:iam::{ACCOUNT}:role/transfer-logging"));
        self
    }

    /// `/aws/transfer/<id>`, the log group Transfer writes to when the server logs.
    pub fn log_group(&self) -> String {
        log_group(&self.id)
    }
}

/// `/aws/transfer/<server_id>`.
pub fn log_group(server_id: &str) -> String {
    format!("/aws/transfer/{server_id}")
}

/// The Transfer Family state of the simulated account.
#[derive(Default)]
pub struct Transfer {
    /// Keyed by server id (the order ListServers serves them in).
    pub servers: BTreeMap<String, Server>,
    /// Keyed by workflow id (the order ListWorkflows serves them in).
    pub workflows: BTreeMap<String, Workflow>,
    /// Execution ids that ListExecutions still lists but DescribeExecution no longer knows: the
    /// race of an execution ending between the two calls, held still for tests.
    pub vanishing: BTreeSet<String>,
}

impl Transfer {
    /// Adds or replaces the server with this id (only the listing: see
    /// [`World::add_transfer_server`] for its log group).
    pub fn add_server(&mut self, server: Server) {
        self.servers.insert(server.id.clone(), server);
    }

    pub fn remove_server(&mut self, id: &str) -> Option<Server> {
        self.servers.remove(id)
    }

    /// Adds or replaces the workflow with this id.
    pub fn add_workflow(&mut self, workflow: Workflow) {
        self.workflows.insert(workflow.id.clone(), workflow);
    }

    /// Deletes a workflow; its executions go with it.
    pub fn remove_workflow(&mut self, id: &str) -> Option<Workflow> {
        self.workflows.remove(id)
    }

    pub fn workflow_mut(&mut self, id: &str) -> Option<&mut Workflow> {
        self.workflows.get_mut(id)
    }

    /// Starts an execution, or replaces the one with the same id.
    ///
    /// # Panics
    /// If there is no workflow `workflow`: that is a bug in the test.
    pub fn upsert_execution(&mut self, workflow: &str, execution: Execution) {
        let Some(target) = self.workflows.get_mut(workflow) else {
            panic!("upsert_execution: no workflow {workflow:?}");
        };
        target.executions.insert(execution.id.clone(), execution);
    }

    pub fn execution_mut(&mut self, workflow: &str, id: &str) -> Option<&mut Execution> {
        self.workflows.get_mut(workflow)?.executions.get_mut(id)
    }

    /// Ends an execution: as in AWS, a finished execution is no longer listed nor described.
    pub fn finish_execution(&mut self, workflow: &str, id: &str) -> Option<Execution> {
        self.vanishing.remove(id);
        self.workflows.get_mut(workflow)?.executions.remove(id)
    }
}

/// One workflow execution as Transfer logs it to CloudWatch Logs, from start to end: build it,
/// then write it with [`World::log_workflow_run`].
///
/// The nominal steps run in order until one fails; then the exception handler runs in order
/// until one of its steps fails; steps after a failure are not run (nor logged).
#[derive(Clone, Debug)]
pub struct WorkflowRun {
    pub server_id: String,
    pub user: String,
    pub workflow_id: String,
    pub execution_id: String,
    pub session_id: String,
    /// Epoch milliseconds of ExecutionStarted (ExecutionThrottled if `throttled`).
    pub start_ms: i64,
    pub steps: Vec<RunStep>,
    pub on_exception_steps: Vec<RunStep>,
    /// Every event reaches CloudWatch Logs this long after it happened (late delivery).
    pub ingestion_delay_ms: i64,
    /// Starts with an ExecutionThrottled event, and starts for real a second later.
    pub throttled: bool,
    /// Also writes the SFTP session around the upload (stream `<user>.<session-id>`): JSON lines
    /// without `type`, and one plain-text line.
    pub session_lines: bool,
}

/// One step of a [`WorkflowRun`] and its outcome.
#[derive(Clone, Debug)]
pub struct RunStep {
    /// "COPY", "CUSTOM", "TAG", "DELETE", "DECRYPT".
    pub step_type: String,
    pub name: String,
    pub duration_ms: i64,
    pub error: Option<StepError>,
}

impl RunStep {
    pub fn ok(step_type: &str, name: &str, duration_ms: i64) -> RunStep {
        RunStep {
            step_type: step_type.to_owned(),
            name: name.to_owned(),
            duration_ms,
            error: None,
        }
    }

    /// A step that fails with `error_type` (e.g. "BAD_REQUEST") after `duration_ms`.
    pub fn failed(
        step_type: &str,
        name: &str,
        duration_ms: i64,
        error_type: &str,
        message: &str,
    ) -> RunStep {
        RunStep {
            error: Some(StepError {
                error_type: error_type.to_owned(),
                message: message.to_owned(),
            }),
            ..RunStep::ok(step_type, name, duration_ms)
        }
    }
}

impl WorkflowRun {
    /// A run with no steps yet (it completes at once), by user `partner-sftp`, session lines on.
    pub fn new(
        server_id: &str,
        workflow_id: &str,
        execution_id: &str,
        start_ms: i64,
    ) -> WorkflowRun {
        let session: String = execution_id
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(16)
            .collect();
        WorkflowRun {
            server_id: server_id.to_owned(),
            user: "partner-sftp".to_owned(),
            workflow_id: workflow_id.to_owned(),
            execution_id: execution_id.to_owned(),
            session_id: format!("{session:0>16}"),
            start_ms,
            steps: Vec::new(),
            on_exception_steps: Vec::new(),
            ingestion_delay_ms: 0,
            throttled: false,
            session_lines: true,
        }
    }

    pub fn user(mut self, user: &str) -> WorkflowRun {
        self.user = user.to_owned();
        self
    }

    pub fn step(mut self, step: RunStep) -> WorkflowRun {
        self.steps.push(step);
        self
    }

    pub fn on_exception(mut self, step: RunStep) -> WorkflowRun {
        self.on_exception_steps.push(step);
        self
    }

    pub fn delayed(mut self, ingestion_delay_ms: i64) -> WorkflowRun {
        self.ingestion_delay_ms = ingestion_delay_ms;
        self
    }

    pub fn throttled(mut self) -> WorkflowRun {
        self.throttled = true;
        self
    }

    pub fn without_session_lines(mut self) -> WorkflowRun {
        self.session_lines = false;
        self
    }

    /// The workflow stream, `<user>.<workflow-id>.<execution-id>`.
    pub fn stream(&self) -> String {
        format!("{}.{}.{}", self.user, self.workflow_id, self.execution_id)
    }

    /// Whether a nominal step fails (the execution ends with ExecutionErrored).
    pub fn fails(&self) -> bool {
        self.steps.iter().any(|s| s.error.is_some())
    }

    /// The timestamp of the last workflow event (ExecutionCompleted or ExecutionErrored).
    pub fn end_ms(&self) -> i64 {
        self.events()
            .iter()
            .filter(|(stream, ..)| *stream == self.stream())
            .map(|(_, t, _)| *t)
            .max()
            .unwrap_or(self.start_ms)
    }

    /// Every event this run writes, as (stream, timestamp ms, message), in time order per stream.
    pub fn events(&self) -> Vec<(String, i64, String)> {
        let stream = self.stream();
        let mut out = Vec::new();
        let event = |kind: &str, details: Value| {
            json!({
                "type": kind,
                "details": details,
                "workflowId": self.workflow_id,
                "executionId": self.execution_id,
                "transferDetails": {
                    "serverId": self.server_id,
                    "username": self.user,
                    "sessionId": self.session_id,
                },
            })
            .to_string()
        };
        let key = format!("{}/incoming/{}.csv", self.user, self.execution_id);
        let location = json!({ "domain": "S3", "bucket": "transfer-uploads", "key": key });
        let mut t = self.start_ms;
        if self.throttled {
            out.push((stream.clone(), t, event("ExecutionThrottled", json!({}))));
            t += 1000;
        }
        let started = json!({ "input": { "initialFileLocation": {
            "bucket": "transfer-uploads", "key": key, "etag": format!("{:032x}", etag(&key)),
        } } });
        out.push((stream.clone(), t, event("ExecutionStarted", started)));
        let mut errored = false;
        for (phase, steps) in [(0, &self.steps), (1, &self.on_exception_steps)] {
            if phase == 1 && !errored {
                break;
            }
            for step in steps {
                let details = json!({ "input": { "fileLocation": location },
                                      "stepType": step.step_type, "stepName": step.name });
                out.push((stream.clone(), t, event("StepStarted", details)));
                t += step.duration_ms.max(0);
                match &step.error {
                    None => {
                        let details = json!({ "output": {}, "stepType": step.step_type,
                                              "stepName": step.name });
                        out.push((stream.clone(), t, event("StepCompleted", details)));
                    }
                    Some(e) => {
                        let details = json!({ "errorType": e.error_type, "errorMessage": e.message,
                                              "stepType": step.step_type, "stepName": step.name });
                        out.push((stream.clone(), t, event("StepErrored", details)));
                        errored = true;
                        break;
                    }
                }
            }
        }
        let last = if errored {
            "ExecutionErrored"
        } else {
            "ExecutionCompleted"
        };
        out.push((stream, t, event(last, json!({}))));
        if self.session_lines {
            let session = format!("{}.{}", self.user, self.session_id);
            let activity = |kind: &str, extra: Value| {
                let mut m = json!({
                    "activity-type": kind, "session-id": self.session_id, "user": self.user,
                    "resource-arn": format!("arn:aws:transfer:us-east-1:{ACCOUNT}:server/{}", self.server_id),
                });
                if let (Value::Object(m), Value::Object(extra)) = (&mut m, extra) {
                    m.extend(extra);
                }
                m.to_string()
            };
            let begin = (self.start_ms - 3000).max(0);
            let path = format!("/transfer-uploads/{key}");
            out.push((
                session.clone(),
                begin,
                activity(
                    "CONNECTED",
                    json!({
                        "client": "SSH-2.0-OpenSSH_9.6", "source-ip": "203.0.113.7",
                        "home-dir": format!("/transfer-uploads/{}", self.user),
                    }),
                ),
            ));
            out.push((
                session.clone(),
                begin + 1000,
                activity(
                    "OPEN",
                    json!({ "path": path, "mode": "CREATE|TRUNCATE|WRITE" }),
                ),
            ));
            out.push((
                session.clone(),
                begin + 1500,
                format!("{session} OPEN Path={path} Mode=CREATE|TRUNCATE|WRITE"),
            ));
            out.push((
                session.clone(),
                (self.start_ms - 1).max(begin),
                activity("CLOSE", json!({ "path": path, "bytes-in": "52431" })),
            ));
            out.push((session, t + 500, activity("EXIT", json!({}))));
        }
        out
    }
}

impl World {
    /// Adds (or replaces) a Transfer server; with a logging role, also creates its log group
    /// `/aws/transfer/<id>` (empty until executions are logged).
    pub fn add_transfer_server(&mut self, server: Server) {
        if server.logging_role.is_some() {
            self.logs.create_group(&server.log_group());
        }
        self.transfer.add_server(server);
    }

    /// Writes what Transfer logs for `run` into `/aws/transfer/<server-id>`, if that log group
    /// exists (the server was added with a logging role); otherwise writes nothing. Returns
    /// whether it was written. The listing (ListExecutions) is not touched: a run logged this
    /// way started and ended between two collections.
    pub fn log_workflow_run(&mut self, run: &WorkflowRun) -> bool {
        let group = log_group(&run.server_id);
        if !self.logs.has_group(&group) {
            return false;
        }
        for (stream, timestamp, message) in run.events() {
            self.logs.put_event_delayed(
                &group,
                &stream,
                timestamp,
                run.ingestion_delay_ms,
                &message,
            );
        }
        true
    }
}

fn route(method: &Method, path: &str, headers: &HeaderMap) -> Option<&'static str> {
    if method != Method::POST || path != "/" {
        return None;
    }
    let operation = wire::amz_target(headers, TARGET_PREFIX)?;
    OPERATIONS.iter().copied().find(|op| *op == operation)
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let transfer = &world.transfer;
    let request: Request = wire::parse_json(&call.body)?;
    match call.operation {
        "ListServers" => list_servers(transfer, &request),
        "ListWorkflows" => list_workflows(transfer, &request),
        "DescribeWorkflow" => describe_workflow(transfer, &request),
        "ListExecutions" => list_executions(transfer, &request),
        "DescribeExecution" => describe_execution(transfer, &request),
        other => unreachable!("Transfer routed unknown operation {other}"),
    }
}

/// The input members of the five operations; unknown members are ignored, a wrongly typed one is
/// a SerializationException.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    workflow_id: Option<String>,
    execution_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, ApiError> {
    value.ok_or_else(|| {
        INVALID_REQUEST.with(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

fn not_found(resource: &str, resource_type: &'static str) -> ApiError {
    let mut error = NOT_FOUND.with(format!("Unknown {resource_type}"));
    error.members = vec![
        ("Resource", resource.to_owned()),
        ("ResourceType", resource_type.to_owned()),
    ];
    error
}

fn workflow<'a>(transfer: &'a Transfer, request: &Request) -> Result<&'a Workflow, ApiError> {
    let id = required(request.workflow_id.as_deref(), "workflowId")?;
    transfer
        .workflows
        .get(id)
        .ok_or_else(|| not_found(id, "Workflow"))
}

/// One page of `items` (sorted by key) after the position in `request`'s NextToken.
fn page<'a, T>(
    items: &'a BTreeMap<String, T>,
    request: &Request,
    scope: &str,
) -> Result<(Vec<&'a T>, Option<String>), ApiError> {
    let size = wire::bounded_page_size(
        request.max_results,
        "maxResults",
        MAX_PAGE,
        DEFAULT_PAGE,
        INVALID_REQUEST,
    )?;
    let after = match request.next_token.as_deref() {
        None => Bound::Unbounded,
        Some("") => {
            return Err(INVALID_REQUEST.with(
                "1 validation error detected: Value '' at 'nextToken' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1",
            ))
        }
        Some(token) => Bound::Excluded(
            wire::decode_token(scope, token)
                .ok_or_else(|| INVALID_TOKEN.with("Invalid next token"))?,
        ),
    };
    let mut rest = items.range::<String, _>((after, Bound::Unbounded));
    let page: Vec<(&String, &T)> = rest.by_ref().take(size).collect();
    let next_token = match (rest.next(), page.last()) {
        (Some(_), Some((last, _))) => Some(wire::encode_token(scope, last)),
        _ => None,
    };
    Ok((page.into_iter().map(|(_, v)| v).collect(), next_token))
}

fn list_servers(transfer: &Transfer, request: &Request) -> Result<Bytes, ApiError> {
    let (servers, next_token) = page(&transfer.servers, request, "ListServers")?;
    let servers: Vec<Value> = servers
        .into_iter()
        .map(|s| {
            let mut listed = serde_json::Map::new();
            listed.insert("Arn".into(), json!(s.arn));
            listed.insert("ServerId".into(), json!(s.id));
            for (member, value) in [
                ("Domain", &s.domain),
                ("IdentityProviderType", &s.identity_provider_type),
                ("EndpointType", &s.endpoint_type),
                ("LoggingRole", &s.logging_role),
                ("State", &s.state),
            ] {
                if let Some(v) = value {
                    listed.insert(member.into(), json!(v));
                }
            }
            if let Some(n) = s.user_count {
                listed.insert("UserCount".into(), json!(n));
            }
            Value::Object(listed)
        })
        .collect();
    let mut out = json!({ "Servers": servers });
    if let Some(token) = next_token {
        out["NextToken"] = json!(token);
    }
    Ok(wire::to_json(&out))
}

fn list_workflows(transfer: &Transfer, request: &Request) -> Result<Bytes, ApiError> {
    let (workflows, next_token) = page(&transfer.workflows, request, "ListWorkflows")?;
    let workflows: Vec<Value> = workflows
        .into_iter()
        .map(|w| {
            let mut listed = json!({ "WorkflowId": w.id, "Arn": w.arn });
            if let Some(d) = &w.description {
                listed["Description"] = json!(d);
            }
            listed
        })
        .collect();
    Ok(wire::to_json(&ListWorkflowsResponse {
        workflows,
        next_token,
    }))
}

fn describe_workflow(transfer: &Transfer, request: &Request) -> Result<Bytes, ApiError> {
    let w = workflow(transfer, request)?;
    let mut described = json!({
        "Arn": w.arn,
        "WorkflowId": w.id,
        "Steps": w.steps.iter().map(step_definition).collect::<Vec<_>>(),
        "OnExceptionSteps": w.on_exception_steps.iter().map(step_definition).collect::<Vec<_>>(),
    });
    if let Some(d) = &w.description {
        described["Description"] = json!(d);
    }
    Ok(wire::to_json(&json!({ "Workflow": described })))
}

fn list_executions(transfer: &Transfer, request: &Request) -> Result<Bytes, ApiError> {
    let w = workflow(transfer, request)?;
    let scope = format!("ListExecutions/{}", w.id);
    let (executions, next_token) = page(&w.executions, request, &scope)?;
    Ok(wire::to_json(&ListExecutionsResponse {
        workflow_id: &w.id,
        executions: executions.into_iter().map(listed_execution).collect(),
        next_token,
    }))
}

fn describe_execution(transfer: &Transfer, request: &Request) -> Result<Bytes, ApiError> {
    let id = required(request.execution_id.as_deref(), "executionId")?;
    let w = workflow(transfer, request)?;
    let execution = w
        .executions
        .get(id)
        .filter(|e| !transfer.vanishing.contains(&e.id))
        .ok_or_else(|| not_found(id, "Execution"))?;
    let mut described = listed_execution(execution);
    described["ExecutionRole"] = json!(format!("arn:aws:iam::{ACCOUNT}:role/transfer-workflow"));
    described["LoggingConfiguration"] = json!({
        "LoggingRole": format!("arn:aws:iam::{ACCOUNT}:role/transfer-logging"),
        "LogGroupName": format!("/aws/transfer/{SERVER_ID}"),
    });
    let mut results = serde_json::Map::new();
    // The model's ExecutionStepResults has at least one member: empty lists are left out.
    for (member, steps) in [
        ("Steps", &execution.steps),
        ("OnExceptionSteps", &execution.on_exception_steps),
    ] {
        if !steps.is_empty() {
            results.insert(member.into(), steps.iter().map(step_result).collect());
        }
    }
    described["Results"] = Value::Object(results);
    Ok(wire::to_json(
        &json!({ "WorkflowId": w.id, "Execution": described }),
    ))
}

// ---- Output shapes (member names as in the Transfer model; `None` members are omitted) ----

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListWorkflowsResponse {
    workflows: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListExecutionsResponse<'a> {
    workflow_id: &'a str,
    executions: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// `ListedExecution`; DescribeExecution adds to it.
fn listed_execution(e: &Execution) -> Value {
    json!({
        "ExecutionId": e.id,
        "InitialFileLocation": { "S3FileLocation": {
            "Bucket": e.bucket, "Key": e.key, "Etag": format!("{:032x}", etag(&e.key)),
        } },
        "ServiceMetadata": { "UserDetails": {
            "UserName": e.user_name, "ServerId": SERVER_ID, "SessionId": "0123456789abcdef",
        } },
        "Status": e.status,
    })
}

/// A stable fake ETag per key.
fn etag(key: &str) -> u128 {
    key.bytes()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |h, b| {
            (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        })
}

fn step_result(r: &StepResult) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(t) = &r.step_type {
        out.insert("StepType".into(), json!(t));
    }
    if let Some(o) = &r.outputs {
        out.insert("Outputs".into(), json!(o));
    }
    if let Some(e) = &r.error {
        out.insert(
            "Error".into(),
            json!({ "Type": e.error_type, "Message": e.message }),
        );
    }
    Value::Object(out)
}

/// `WorkflowStep`: the type and its details block, with plausible settings.
fn step_definition(s: &Step) -> Value {
    let source = "${previous.file}";
    let s3 = |key: &str| json!({ "S3FileLocation": { "Bucket": "transfer-archive", "Key": key } });
    let (member, details) = match s.step_type.as_str() {
        "COPY" => (
            "CopyStepDetails",
            json!({ "Name": s.name, "DestinationFileLocation": s3("archive/"),
                    "OverwriteExisting": "FALSE", "SourceFileLocation": source }),
        ),
        "CUSTOM" => (
            "CustomStepDetails",
            json!({ "Name": s.name, "TimeoutSeconds": 60, "SourceFileLocation": source,
                    "Target": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{}", s.name) }),
        ),
        "TAG" => (
            "TagStepDetails",
            json!({ "Name": s.name, "SourceFileLocation": source,
                    "Tags": [{ "Key": "processed-by", "Value": "transfer-workflow" }] }),
        ),
        "DELETE" => (
            "DeleteStepDetails",
            json!({ "Name": s.name, "SourceFileLocation": "${original.file}" }),
        ),
        "DECRYPT" => (
            "DecryptStepDetails",
            json!({ "Name": s.name, "Type": "PGP", "SourceFileLocation": source,
                    "OverwriteExisting": "FALSE", "DestinationFileLocation": s3("decrypted/") }),
        ),
        _ => return json!({ "Type": s.step_type }),
    };
    json!({ "Type": s.step_type, member: details })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Request {
        serde_json::from_value(body).unwrap()
    }

    fn body(result: Result<Bytes, ApiError>) -> Value {
        serde_json::from_slice(&result.unwrap()).unwrap()
    }

    fn world() -> Transfer {
        let mut t = Transfer::default();
        t.add_workflow(
            Workflow::new("w-0000000000000000a")
                .step("COPY", "archive")
                .step("Mystery", "x")
                .on_exception("DELETE", "cleanup"),
        );
        let mut e = Execution::new("e1", "HANDLING_EXCEPTION");
        e.steps.push(StepResult::ok("COPY"));
        e.steps
            .push(StepResult::failed("TAG", "PERMISSION_DENIED", "no"));
        t.upsert_execution("w-0000000000000000a", e);
        t.upsert_execution("w-0000000000000000a", Execution::new("e2", "IN_PROGRESS"));
        t
    }

    #[test]
    fn describe_execution_renders_results_and_leaves_empty_lists_out() {
        let t = world();
        let out = body(describe_execution(
            &t,
            &request(json!({ "WorkflowId": "w-0000000000000000a", "ExecutionId": "e1" })),
        ));
        let steps = &out["Execution"]["Results"]["Steps"];
        assert_eq!(steps[1]["Error"]["Type"], "PERMISSION_DENIED");
        assert_eq!(steps[1]["StepType"], "TAG");
        assert!(steps[1].get("Outputs").is_none());
        assert!(out["Execution"]["Results"]
            .get("OnExceptionSteps")
            .is_none());
        assert_eq!(out["Execution"]["Status"], "HANDLING_EXCEPTION");
        assert_eq!(out["WorkflowId"], "w-0000000000000000a");
    }

    #[test]
    fn vanishing_and_finished_executions_are_not_found() {
        let mut t = world();
        t.vanishing.insert("e2".into());
        let ask = |t: &Transfer, id: &str| {
            describe_execution(
                t,
                &request(json!({ "WorkflowId": "w-0000000000000000a", "ExecutionId": id })),
            )
        };
        let e = ask(&t, "e2").unwrap_err();
        assert_eq!(e.code, NOT_FOUND);
        assert!(e.members.contains(&("ResourceType", "Execution".into())));
        assert!(t.finish_execution("w-0000000000000000a", "e1").is_some());
        assert_eq!(ask(&t, "e1").unwrap_err().code, NOT_FOUND);
        let listed = body(list_executions(
            &t,
            &request(json!({ "WorkflowId": "w-0000000000000000a" })),
        ));
        assert_eq!(listed["Executions"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn workflow_steps_render_their_details() {
        let t = world();
        let out = body(describe_workflow(
            &t,
            &request(json!({ "WorkflowId": "w-0000000000000000a" })),
        ));
        let w = &out["Workflow"];
        assert_eq!(w["Steps"][0]["Type"], "COPY");
        assert_eq!(w["Steps"][0]["CopyStepDetails"]["Name"], "archive");
        assert_eq!(w["Steps"][1], json!({ "Type": "Mystery" }));
        assert_eq!(
            w["OnExceptionSteps"][0]["DeleteStepDetails"]["Name"],
            "cleanup"
        );
    }

    #[test]
    fn requests_are_validated() {
        let t = world();
        let e = list_executions(&t, &request(json!({}))).unwrap_err();
        assert_eq!(e.code, INVALID_REQUEST);
        let e = list_workflows(&t, &request(json!({ "MaxResults": 0 }))).unwrap_err();
        assert_eq!(e.code, INVALID_REQUEST);
        let e = list_workflows(&t, &request(json!({ "NextToken": "x" }))).unwrap_err();
        assert_eq!(e.code, INVALID_TOKEN);
        let e = describe_workflow(&t, &request(json!({ "WorkflowId": "w-nope" }))).unwrap_err();
        assert_eq!(e.code, NOT_FOUND);
    }
}
