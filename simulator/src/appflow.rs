//! Amazon AppFlow (restJson1): flows, their execution records, and the three read operations the
//! exporter uses: ListFlows, DescribeFlow and DescribeFlowExecutionRecords.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

const VALIDATION: ErrorCode = ErrorCode::new(400, "ValidationException");
const NOT_FOUND: ErrorCode = ErrorCode::new(404, "ResourceNotFoundException");

/// Account used in ARNs and `createdBy`.
const ACCOUNT: &str = "123456789012";
const CREATED_BY: &str = "arn:aws:iam::123456789012:role/flow-admin";

pub(crate) static SERVICE: Service = Service {
    name: "appflow",
    protocol: Protocol::RestJson1,
    errors: FaultErrors {
        throttling: ErrorCode::new(429, "ThrottlingException"),
        internal: ErrorCode::new(500, "InternalServerException"),
        access_denied: ErrorCode::new(403, "AccessDeniedException"),
        not_found: NOT_FOUND,
    },
    route,
    handle,
};

/// A flow as AppFlow stores it, reduced to what the read operations expose.
#[derive(Clone, Debug)]
pub struct Flow {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// "Active", "Suspended", "Errored", "Draft", ... any string is served as is.
    pub status: String,
    pub source_connector_type: String,
    pub source_connector_label: Option<String>,
    pub destination_connector_type: String,
    pub destination_connector_label: Option<String>,
    /// "OnDemand", "Scheduled" or "Event".
    pub trigger_type: String,
    pub created_at: f64,
    pub last_updated_at: f64,
    /// When set, DescribeFlow reports SAPOData source properties with these settings; set
    /// `source_connector_type` to "SAPOData" too (see [`Flow::with_sapodata`]).
    pub sapodata: Option<SapOData>,
    /// DescribeFlow's `triggerProperties.Scheduled` when `trigger_type` is "Scheduled"; `None`
    /// serves `rate(1hours)` (see [`Flow::with_schedule`]).
    pub schedule: Option<Schedule>,
    /// Any order; served newest first.
    pub executions: Vec<Execution>,
}

/// SAP OData source settings; `None` leaves the config block out, as when the user never set it.
#[derive(Clone, Debug, Default)]
pub struct SapOData {
    pub max_parallelism: Option<i32>,
    pub max_page_size: Option<i32>,
}

/// A scheduled flow's trigger properties (`ScheduledTriggerProperties`); times are Unix seconds.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// `rate(5minutes)`, `cron(0 * * * ? *)`, ...: served as is, never checked.
    pub expression: String,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    /// Seconds added to every fire time (AppFlow allows 0 to 36000).
    pub offset: Option<i64>,
    /// Consecutive failures after which AppFlow deactivates the flow (1 to 100).
    pub error_deactivation_threshold: Option<i32>,
    /// A descriptive label only, as AppFlow's API reference says.
    pub timezone: Option<String>,
}

impl Schedule {
    pub fn new(expression: &str) -> Schedule {
        Schedule {
            expression: expression.to_owned(),
            start_time: None,
            end_time: None,
            offset: None,
            error_deactivation_threshold: None,
            timezone: None,
        }
    }
}

/// One flow run.
#[derive(Clone, Debug)]
pub struct Execution {
    pub id: String,
    /// "InProgress", "Successful", "Error", "CancelStarted", "Canceled", or unknown strings.
    pub status: String,
    pub started_at: Option<f64>,
    pub last_updated_at: Option<f64>,
    pub bytes_processed: Option<i64>,
    pub bytes_written: Option<i64>,
    pub records_processed: Option<i64>,
    pub num_parallel_processes: Option<i64>,
    pub max_page_size: Option<i64>,
    /// `errorInfo` is emitted when this or `message` is set.
    pub put_failures: Option<i64>,
    pub message: Option<String>,
    pub catalog: Vec<CatalogDetail>,
    /// `false` leaves `executionResult` out entirely.
    pub has_result: bool,
}

/// A Glue Data Catalog registration made by a run; statuses are ExecutionStatus strings.
#[derive(Clone, Debug, Default)]
pub struct CatalogDetail {
    pub table_name: String,
    pub table_status: Option<String>,
    pub partition_status: Option<String>,
}

impl Flow {
    /// An active on-demand S3 -> S3 flow with no runs.
    pub fn new(name: &str, created_at: f64) -> Flow {
        Flow {
            name: name.to_owned(),
            arn: format!("arn:aws:appflow:us-east-1:{ACCOUNT}:flow/{name}"),
            description: None,
            status: "Active".to_owned(),
            source_connector_type: "S3".to_owned(),
            source_connector_label: None,
            destination_connector_type: "S3".to_owned(),
            destination_connector_label: None,
            trigger_type: "OnDemand".to_owned(),
            created_at,
            last_updated_at: created_at,
            sapodata: None,
            schedule: None,
            executions: Vec::new(),
        }
    }

    /// Makes this a scheduled flow with `schedule`.
    pub fn with_schedule(mut self, schedule: Schedule) -> Flow {
        self.trigger_type = "Scheduled".to_owned();
        self.schedule = Some(schedule);
        self
    }

    /// Makes this an SAP OData source flow with the given (optional) settings.
    pub fn with_sapodata(
        mut self,
        max_parallelism: Option<i32>,
        max_page_size: Option<i32>,
    ) -> Flow {
        self.source_connector_type = "SAPOData".to_owned();
        self.sapodata = Some(SapOData {
            max_parallelism,
            max_page_size,
        });
        self
    }

    /// The run that `lastRunExecutionDetails` describes.
    pub fn newest_execution(&self) -> Option<&Execution> {
        self.executions.iter().max_by(|a, b| a.age_cmp(b))
    }
}

/// Deterministic per-id numbers so `Execution::finished` looks plausible yet is reproducible.
fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Execution {
    /// A run with nothing known yet but its status and start.
    pub fn new(id: &str, status: &str, started_at: f64) -> Execution {
        Execution {
            id: id.to_owned(),
            status: status.to_owned(),
            started_at: Some(started_at),
            last_updated_at: Some(started_at),
            bytes_processed: None,
            bytes_written: None,
            records_processed: None,
            num_parallel_processes: None,
            max_page_size: None,
            put_failures: None,
            message: None,
            catalog: Vec::new(),
            has_result: true,
        }
    }

    /// A completed run with plausible counters derived from the id. "Successful" runs report zero
    /// put failures, "Error" runs some failures and a message, "Canceled" runs a message.
    pub fn finished(id: &str, status: &str, started_at: f64, ended_at: f64) -> Execution {
        let h = id_hash(id);
        let records = 500 + (h % 50_000) as i64;
        let bytes = records * (180 + (h >> 20) as i64 % 300);
        let mut execution = Execution::new(id, status, started_at);
        execution.last_updated_at = Some(ended_at);
        execution.records_processed = Some(records);
        execution.bytes_processed = Some(bytes);
        execution.bytes_written = Some(bytes);
        execution.num_parallel_processes = Some(1);
        match status {
            "Successful" => execution.put_failures = Some(0),
            "Error" => {
                let failures = 1 + (h >> 40) as i64 % (records / 10);
                execution.put_failures = Some(failures);
                execution.bytes_written = Some(bytes - bytes * failures / records);
                execution.message = Some(format!(
                    "{failures} records failed to be written to the destination"
                ));
            }
            "Canceled" => execution.message = Some("The flow run was canceled".to_owned()),
            _ => {}
        }
        execution
    }

    /// Orders runs by start time, ties broken by id; runs without a start sort oldest.
    fn age_cmp(&self, other: &Execution) -> Ordering {
        self.age_key()
            .0
            .total_cmp(&other.age_key().0)
            .then_with(|| self.id.cmp(&other.id))
    }

    fn age_key(&self) -> (f64, &str) {
        (self.started_at.unwrap_or(f64::NEG_INFINITY), &self.id)
    }
}

/// The AppFlow state of the simulated account.
#[derive(Default)]
pub struct AppFlow {
    /// Keyed by flow name.
    pub flows: BTreeMap<String, Flow>,
    /// Serve records oldest first, to test client-side sorting.
    pub reverse_order: bool,
}

impl AppFlow {
    /// Adds or replaces the flow with this name.
    pub fn add_flow(&mut self, flow: Flow) {
        self.flows.insert(flow.name.clone(), flow);
    }

    pub fn remove_flow(&mut self, name: &str) -> Option<Flow> {
        self.flows.remove(name)
    }

    pub fn flow_mut(&mut self, name: &str) -> Option<&mut Flow> {
        self.flows.get_mut(name)
    }

    /// Replaces the run with the same id or adds it; `lastRunExecutionDetails` follows because it
    /// is derived from the runs on every request.
    ///
    /// # Panics
    /// If there is no flow named `flow`: that is a bug in the test, not a situation to simulate.
    pub fn upsert_execution(&mut self, flow: &str, execution: Execution) {
        let Some(target) = self.flows.get_mut(flow) else {
            panic!("upsert_execution: no flow named {flow:?}");
        };
        match target.executions.iter_mut().find(|e| e.id == execution.id) {
            Some(existing) => *existing = execution,
            None => target.executions.push(execution),
        }
    }
}

fn route(method: &Method, path: &str, _headers: &HeaderMap) -> Option<&'static str> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/list-flows" => Some("ListFlows"),
        "/describe-flow" => Some("DescribeFlow"),
        "/describe-flow-execution-records" => Some("DescribeFlowExecutionRecords"),
        _ => None,
    }
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let appflow = &world.appflow;
    match call.operation {
        "ListFlows" => list_flows(appflow, wire::parse_json(&call.body)?),
        "DescribeFlow" => describe_flow(appflow, wire::parse_json(&call.body)?),
        "DescribeFlowExecutionRecords" => describe_records(appflow, wire::parse_json(&call.body)?),
        other => unreachable!("AppFlow routed unknown operation {other}"),
    }
}

/// The input members of all three operations (ListFlows ignores `flowName`); unknown members are
/// ignored, a wrongly typed one is a SerializationException.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    flow_name: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn required_flow<'a>(appflow: &'a AppFlow, name: Option<&str>) -> Result<&'a Flow, ApiError> {
    let name = name.ok_or_else(|| {
        VALIDATION.with(
            "1 validation error detected: Value null at 'flowName' failed to satisfy constraint: \
             Member must not be null",
        )
    })?;
    appflow
        .flows
        .get(name)
        .ok_or_else(|| NOT_FOUND.with(format!("No flow with name {name} exists")))
}

fn bad_token() -> ApiError {
    VALIDATION.with("The nextToken provided is invalid")
}

fn list_flows(appflow: &AppFlow, request: Request) -> Result<Bytes, ApiError> {
    const SCOPE: &str = "ListFlows";
    let size = wire::page_size(request.max_results, VALIDATION)?;
    let after = match &request.next_token {
        Some(token) => Bound::Excluded(wire::decode_token(SCOPE, token).ok_or_else(bad_token)?),
        None => Bound::Unbounded,
    };
    let mut rest = appflow.flows.range::<String, _>((after, Bound::Unbounded));
    let flows: Vec<FlowDefinition> = rest.by_ref().take(size).map(|(_, f)| f.into()).collect();
    let next_token = match (rest.next(), flows.last()) {
        (Some(_), Some(last)) => Some(wire::encode_token(SCOPE, last.flow_name)),
        _ => None,
    };
    Ok(wire::to_json(&ListFlowsResponse { flows, next_token }))
}

fn describe_flow(appflow: &AppFlow, request: Request) -> Result<Bytes, ApiError> {
    let flow = required_flow(appflow, request.flow_name.as_deref())?;
    Ok(wire::to_json(&DescribeFlowResponse::from(flow)))
}

/// Paging key of a run: start time bits then id, so a token pins an exact position.
fn record_key(e: &Execution) -> String {
    let (started, id) = e.age_key();
    format!("{:016x}{id}", started.to_bits())
}

fn parse_record_key(key: &str) -> Option<(f64, &str)> {
    let bits = u64::from_str_radix(key.get(..16)?, 16).ok()?;
    Some((f64::from_bits(bits), &key[16..]))
}

fn describe_records(appflow: &AppFlow, request: Request) -> Result<Bytes, ApiError> {
    let flow = required_flow(appflow, request.flow_name.as_deref())?;
    let scope = format!("DescribeFlowExecutionRecords/{}", flow.name);
    let size = wire::page_size(request.max_results, VALIDATION)?;
    let mut runs: Vec<&Execution> = flow.executions.iter().collect();
    runs.sort_by(|a, b| b.age_cmp(a));
    if appflow.reverse_order {
        runs.reverse();
    }
    let start = match &request.next_token {
        None => 0,
        Some(token) => {
            let key = wire::decode_token(&scope, token).ok_or_else(bad_token)?;
            let (started, id) = parse_record_key(&key).ok_or_else(bad_token)?;
            let is_after = |e: &&Execution| {
                let (s, i) = e.age_key();
                let order = s.total_cmp(&started).then_with(|| i.cmp(id));
                if appflow.reverse_order {
                    order.is_gt()
                } else {
                    order.is_lt()
                }
            };
            runs.iter().position(is_after).unwrap_or(runs.len())
        }
    };
    let page = &runs[start..(start + size).min(runs.len())];
    let next_token = match page.last() {
        Some(last) if start + page.len() < runs.len() => {
            Some(wire::encode_token(&scope, &record_key(last)))
        }
        _ => None,
    };
    Ok(wire::to_json(&RecordsResponse {
        flow_executions: page.iter().map(|e| ExecutionRecord::from(*e)).collect(),
        next_token,
    }))
}

// ---- Output shapes (field names as in the AppFlow model; `None` fields are omitted) ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListFlowsResponse<'a> {
    flows: Vec<FlowDefinition<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionDetails<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    most_recent_execution_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    most_recent_execution_time: Option<f64>,
    most_recent_execution_status: &'a str,
}

impl<'a> ExecutionDetails<'a> {
    fn of(flow: &'a Flow) -> Option<ExecutionDetails<'a>> {
        flow.newest_execution().map(|e| ExecutionDetails {
            most_recent_execution_message: e.message.as_deref(),
            most_recent_execution_time: e.last_updated_at.or(e.started_at),
            most_recent_execution_status: &e.status,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlowDefinition<'a> {
    flow_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    flow_name: &'a str,
    flow_status: &'a str,
    source_connector_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_connector_label: Option<&'a str>,
    destination_connector_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_connector_label: Option<&'a str>,
    trigger_type: &'a str,
    created_at: f64,
    last_updated_at: f64,
    created_by: &'static str,
    last_updated_by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run_execution_details: Option<ExecutionDetails<'a>>,
}

impl<'a> From<&'a Flow> for FlowDefinition<'a> {
    fn from(f: &'a Flow) -> Self {
        FlowDefinition {
            flow_arn: &f.arn,
            description: f.description.as_deref(),
            flow_name: &f.name,
            flow_status: &f.status,
            source_connector_type: &f.source_connector_type,
            source_connector_label: f.source_connector_label.as_deref(),
            destination_connector_type: &f.destination_connector_type,
            destination_connector_label: f.destination_connector_label.as_deref(),
            trigger_type: &f.trigger_type,
            created_at: f.created_at,
            last_updated_at: f.last_updated_at,
            created_by: CREATED_BY,
            last_updated_by: CREATED_BY,
            last_run_execution_details: ExecutionDetails::of(f),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeFlowResponse<'a> {
    flow_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    flow_name: &'a str,
    flow_status: &'a str,
    source_flow_config: Value,
    destination_flow_config_list: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run_execution_details: Option<ExecutionDetails<'a>>,
    trigger_config: Value,
    tasks: Vec<Value>,
    created_at: f64,
    last_updated_at: f64,
    created_by: &'static str,
    last_updated_by: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    last_run_metadata_catalog_details: Vec<CatalogOutput<'a>>,
}

impl<'a> From<&'a Flow> for DescribeFlowResponse<'a> {
    fn from(f: &'a Flow) -> Self {
        DescribeFlowResponse {
            flow_arn: &f.arn,
            description: f.description.as_deref(),
            flow_name: &f.name,
            flow_status: &f.status,
            source_flow_config: source_config(f),
            destination_flow_config_list: vec![destination_config(f)],
            last_run_execution_details: ExecutionDetails::of(f),
            trigger_config: trigger_config(f),
            tasks: Vec::new(),
            created_at: f.created_at,
            last_updated_at: f.last_updated_at,
            created_by: CREATED_BY,
            last_updated_by: CREATED_BY,
            last_run_metadata_catalog_details: f
                .newest_execution()
                .map(|e| e.catalog.iter().map(CatalogOutput::from).collect())
                .unwrap_or_default(),
        }
    }
}

/// Connector profiles exist for every connector but S3 and EventBridge.
fn with_profile(mut config: Value, connector: &str, label: Option<&str>) -> Value {
    if !matches!(connector, "S3" | "EventBridge") {
        let profile = label.unwrap_or(connector).to_lowercase();
        config["connectorProfileName"] = json!(format!("{profile}-profile"));
    }
    config
}

/// Plausible source properties for the common connectors; others get an empty properties block.
fn source_config(f: &Flow) -> Value {
    let properties = match (&f.sapodata, f.source_connector_type.as_str()) {
        (Some(sap), _) => {
            let mut props =
                json!({ "objectPath": "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder" });
            if let Some(n) = sap.max_parallelism {
                props["parallelismConfig"] = json!({ "maxParallelism": n });
            }
            if let Some(n) = sap.max_page_size {
                props["paginationConfig"] = json!({ "maxPageSize": n });
            }
            json!({ "SAPOData": props })
        }
        (None, "SAPOData") => {
            json!({ "SAPOData": { "objectPath": "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder" } })
        }
        (None, "S3") => {
            json!({ "S3": { "bucketName": "flow-source-bucket", "bucketPrefix": f.name } })
        }
        (None, "CustomConnector") => json!({ "CustomConnector": { "entityName": "orders" } }),
        (None, c @ ("Salesforce" | "Zendesk" | "Marketo" | "Slack" | "Pardot")) => {
            json!({ c: { "object": "Account" } })
        }
        (None, "Servicenow") => json!({ "ServiceNow": { "object": "incident" } }),
        _ => json!({}),
    };
    with_profile(
        json!({
            "connectorType": f.source_connector_type,
            "sourceConnectorProperties": properties,
        }),
        &f.source_connector_type,
        f.source_connector_label.as_deref(),
    )
}

fn destination_config(f: &Flow) -> Value {
    let properties = match f.destination_connector_type.as_str() {
        "S3" => {
            json!({ "S3": { "bucketName": "flow-destination-bucket", "bucketPrefix": f.name } })
        }
        c @ ("Redshift" | "Snowflake") => json!({ c: {
            "object": "public.flow_data", "intermediateBucketName": "flow-staging-bucket"
        } }),
        c @ ("Salesforce" | "EventBridge" | "Zendesk" | "Marketo") => {
            json!({ c: { "object": "Account" } })
        }
        "CustomConnector" => json!({ "CustomConnector": { "entityName": "orders" } }),
        "CustomerProfiles" => json!({ "CustomerProfiles": { "domainName": "customers" } }),
        _ => json!({}),
    };
    with_profile(
        json!({
            "connectorType": f.destination_connector_type,
            "destinationConnectorProperties": properties,
        }),
        &f.destination_connector_type,
        f.destination_connector_label.as_deref(),
    )
}

fn trigger_config(f: &Flow) -> Value {
    if f.trigger_type != "Scheduled" {
        return json!({ "triggerType": f.trigger_type });
    }
    let default = Schedule::new("rate(1hours)");
    let schedule = f.schedule.as_ref().unwrap_or(&default);
    let mut scheduled = json!({
        "scheduleExpression": schedule.expression, "dataPullMode": "Incremental"
    });
    let optional = [
        ("scheduleStartTime", schedule.start_time.map(|t| json!(t))),
        ("scheduleEndTime", schedule.end_time.map(|t| json!(t))),
        ("scheduleOffset", schedule.offset.map(|o| json!(o))),
        (
            "flowErrorDeactivationThreshold",
            schedule.error_deactivation_threshold.map(|n| json!(n)),
        ),
        ("timezone", schedule.timezone.as_ref().map(|z| json!(z))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            scheduled[key] = value;
        }
    }
    json!({ "triggerType": f.trigger_type, "triggerProperties": { "Scheduled": scheduled } })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordsResponse<'a> {
    flow_executions: Vec<ExecutionRecord<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionRecord<'a> {
    execution_id: &'a str,
    execution_status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_result: Option<ExecutionResult<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_updated_at: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metadata_catalog_details: Vec<CatalogOutput<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionResult<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error_info: Option<ErrorInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_processed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_written: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    records_processed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_parallel_processes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_page_size: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorInfo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    put_failures_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_message: Option<&'a str>,
}

impl<'a> From<&'a Execution> for ExecutionRecord<'a> {
    fn from(e: &'a Execution) -> Self {
        let error_info = (e.put_failures.is_some() || e.message.is_some()).then_some(ErrorInfo {
            put_failures_count: e.put_failures,
            execution_message: e.message.as_deref(),
        });
        ExecutionRecord {
            execution_id: &e.id,
            execution_status: &e.status,
            execution_result: e.has_result.then_some(ExecutionResult {
                error_info,
                bytes_processed: e.bytes_processed,
                bytes_written: e.bytes_written,
                records_processed: e.records_processed,
                num_parallel_processes: e.num_parallel_processes,
                max_page_size: e.max_page_size,
            }),
            started_at: e.started_at,
            last_updated_at: e.last_updated_at,
            metadata_catalog_details: e.catalog.iter().map(CatalogOutput::from).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CatalogOutput<'a> {
    catalog_type: &'static str,
    table_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    table_registration_output: Option<RegistrationOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition_registration_output: Option<RegistrationOutput<'a>>,
}

#[derive(Serialize)]
struct RegistrationOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    status: &'a str,
}

impl<'a> RegistrationOutput<'a> {
    /// Glue's wording for the outcome, derived from the status alone.
    fn of(status: &'a str, what: &'static str) -> RegistrationOutput<'a> {
        let (message, result) = match (status, what) {
            ("Successful", "table") => (None, Some("1 table updated")),
            ("Successful", _) => (None, Some("1 partition created")),
            ("Error", "table") => (Some("Failed to register the table with the Glue Data Catalog: AccessDeniedException"), None),
            ("Error", _) => (Some("Failed to create partitions in the Glue Data Catalog: EntityNotFoundException"), None),
            _ => (None, None),
        };
        RegistrationOutput {
            message,
            result,
            status,
        }
    }
}

impl<'a> From<&'a CatalogDetail> for CatalogOutput<'a> {
    fn from(c: &'a CatalogDetail) -> Self {
        CatalogOutput {
            catalog_type: "GLUE",
            table_name: &c.table_name,
            table_registration_output: c
                .table_status
                .as_deref()
                .map(|s| RegistrationOutput::of(s, "table")),
            partition_registration_output: c
                .partition_status
                .as_deref()
                .map(|s| RegistrationOutput::of(s, "partition")),
        }
    }
}

/// What the exporter's execution counter must read (`crate::truth`).
impl AppFlow {
    /// Terminal statuses, as the counter's `status` label.
    const TERMINAL: [&str; 3] = ["Successful", "Error", "Canceled"];

    /// AppFlow's executions terminal now, by (flow, execution id).
    pub fn terminal(&self) -> crate::truth::Baseline {
        let mut ids = crate::truth::Baseline::new();
        for (name, flow) in &self.flows {
            for e in &flow.executions {
                if Self::TERMINAL.contains(&e.status.as_str()) {
                    ids.insert((name.clone(), e.id.clone()));
                }
            }
        }
        ids
    }

    /// `aws_appflow_executions_total`: every terminal execution but those of the baseline.
    pub fn truth(&self, baseline: &crate::truth::Baseline) -> crate::truth::Counts {
        let mut counts = crate::truth::Counts::new();
        for (name, flow) in &self.flows {
            for status in Self::TERMINAL {
                counts.insert((name.clone(), status.to_string()), 0.0);
            }
            for e in &flow.executions {
                if Self::TERMINAL.contains(&e.status.as_str())
                    && !baseline.contains(&(name.clone(), e.id.clone()))
                {
                    *counts.entry((name.clone(), e.status.clone())).or_default() += 1.0;
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(execution: &Execution) -> Value {
        serde_json::to_value(ExecutionRecord::from(execution)).unwrap()
    }

    #[test]
    fn new_execution_renders_without_optional_fields() {
        let record = render(&Execution::new("e1", "InProgress", 100.5));
        assert_eq!(
            record,
            json!({
                "executionId": "e1", "executionStatus": "InProgress", "executionResult": {},
                "startedAt": 100.5, "lastUpdatedAt": 100.5,
            })
        );
        let mut bare = Execution::new("e2", "Mystery", 1.0);
        bare.has_result = false;
        bare.started_at = None;
        bare.last_updated_at = None;
        assert_eq!(
            render(&bare),
            json!({ "executionId": "e2", "executionStatus": "Mystery" })
        );
    }

    #[test]
    fn failed_execution_renders_error_info_and_catalog() {
        let mut e = Execution::finished("e3", "Error", 10.0, 70.0);
        e.catalog.push(CatalogDetail {
            table_name: "orders".into(),
            table_status: Some("Successful".into()),
            partition_status: Some("Error".into()),
        });
        let r = render(&e);
        let result = &r["executionResult"];
        assert!(result["errorInfo"]["putFailuresCount"].as_i64().unwrap() > 0);
        assert!(result["errorInfo"]["executionMessage"].is_string());
        assert!(result["bytesWritten"].as_i64() < result["bytesProcessed"].as_i64());
        assert_eq!(r["lastUpdatedAt"], json!(70.0));
        let catalog = &r["metadataCatalogDetails"][0];
        assert_eq!(catalog["catalogType"], "GLUE");
        assert_eq!(catalog["tableRegistrationOutput"]["status"], "Successful");
        assert_eq!(catalog["partitionRegistrationOutput"]["status"], "Error");
        assert!(catalog["partitionRegistrationOutput"]["message"].is_string());
    }

    #[test]
    fn flow_definition_derives_last_run_from_newest_execution() {
        let mut flow = Flow::new("f", 1.0);
        let definition = serde_json::to_value(FlowDefinition::from(&flow)).unwrap();
        assert!(definition.get("lastRunExecutionDetails").is_none());
        assert!(definition.get("description").is_none());
        flow.executions
            .push(Execution::finished("b", "Error", 50.0, 60.0));
        flow.executions
            .push(Execution::finished("a", "Successful", 50.0, 55.0));
        flow.executions
            .push(Execution::finished("z", "Successful", 10.0, 20.0));
        let definition = serde_json::to_value(FlowDefinition::from(&flow)).unwrap();
        let last = &definition["lastRunExecutionDetails"];
        assert_eq!(last["mostRecentExecutionStatus"], "Error");
        assert_eq!(last["mostRecentExecutionTime"], json!(60.0));
        assert!(last["mostRecentExecutionMessage"].is_string());
    }

    #[test]
    fn describe_flow_renders_sapodata_config() {
        let flow = Flow::new("sap", 1.0).with_sapodata(Some(4), None);
        let described = serde_json::to_value(DescribeFlowResponse::from(&flow)).unwrap();
        let source = &described["sourceFlowConfig"];
        assert_eq!(source["connectorType"], "SAPOData");
        let props = &source["sourceConnectorProperties"]["SAPOData"];
        assert_eq!(props["parallelismConfig"]["maxParallelism"], 4);
        assert!(props.get("paginationConfig").is_none());
        assert_eq!(described["triggerConfig"]["triggerType"], "OnDemand");
        assert_eq!(
            described["destinationFlowConfigList"][0]["connectorType"],
            "S3"
        );
    }

    #[test]
    fn describe_flow_renders_the_schedule() {
        let mut schedule = Schedule::new("cron(0 6 ? * MON-FRI *)");
        schedule.start_time = Some(1_700_000_000.0);
        schedule.offset = Some(120);
        schedule.error_deactivation_threshold = Some(5);
        let flow = Flow::new("daily", 1.0).with_schedule(schedule);
        let described = serde_json::to_value(DescribeFlowResponse::from(&flow)).unwrap();
        let trigger = &described["triggerConfig"];
        assert_eq!(trigger["triggerType"], "Scheduled");
        assert_eq!(
            trigger["triggerProperties"]["Scheduled"],
            json!({
                "scheduleExpression": "cron(0 6 ? * MON-FRI *)", "dataPullMode": "Incremental",
                "scheduleStartTime": 1_700_000_000.0, "scheduleOffset": 120,
                "flowErrorDeactivationThreshold": 5,
            })
        );
        let listed = serde_json::to_value(FlowDefinition::from(&flow)).unwrap();
        assert_eq!(listed["triggerType"], "Scheduled");
        let mut plain = Flow::new("plain", 1.0);
        plain.trigger_type = "Scheduled".into();
        let described = serde_json::to_value(DescribeFlowResponse::from(&plain)).unwrap();
        assert_eq!(
            described["triggerConfig"]["triggerProperties"]["Scheduled"]["scheduleExpression"],
            "rate(1hours)"
        );
    }

    #[test]
    fn record_keys_round_trip() {
        let e = Execution::new("id-1", "Successful", 1_700_000_000.25);
        assert_eq!(
            parse_record_key(&record_key(&e)),
            Some((1_700_000_000.25, "id-1"))
        );
        assert_eq!(parse_record_key("xyz"), None);
    }
}
