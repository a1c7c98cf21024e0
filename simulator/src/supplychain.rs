//! AWS Supply Chain (restJson1): instances, their data integration flows and the flows'
//! executions, with the four read operations the exporter uses: ListInstances,
//! ListDataIntegrationFlows, ListDataIntegrationFlowExecutions and GetDataIntegrationFlowExecution.
//!
//! Every operation is a GET: path parameters are percent-decoded segments of the URI and the
//! paging parameters are query parameters (`nextToken`, `maxResults`, plus ListInstances'
//! `instanceNameFilter` and `instanceStateFilter` lists), named as in the botocore model.
//! Instance and execution ids are not checked against the model's UUID pattern, so tests can use
//! readable ids.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Serialize;

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

const VALIDATION: ErrorCode = ErrorCode::new(400, "ValidationException");
const NOT_FOUND: ErrorCode = ErrorCode::new(404, "ResourceNotFoundException");

/// Account that owns every instance.
pub const ACCOUNT: &str = "123456789012";
/// What AWS Supply Chain serves when `maxResults` is absent (or 0 where 0 is allowed).
pub const DEFAULT_PAGE_SIZE: usize = 10;
/// The model's maximum `maxResults` on all three list operations.
pub const MAX_PAGE_SIZE: i64 = 20;

pub(crate) static SERVICE: Service = Service {
    name: "supplychain",
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

/// An AWS Supply Chain instance and its data integration flows.
#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub name: Option<String>,
    /// "Initializing", "Active", "CreateFailed", "DeleteFailed", "Deleting", "Deleted", or any
    /// other string, served as is.
    pub state: String,
    pub error_message: Option<String>,
    pub created_time: f64,
    pub last_modified_time: f64,
    /// Keyed by flow name; listed in name order.
    pub flows: BTreeMap<String, Flow>,
}

/// One source of a flow: `source_type` "S3", "DATASET" or anything else.
#[derive(Clone, Debug)]
pub struct Source {
    pub source_type: String,
    pub source_name: String,
}

/// A data integration flow.
#[derive(Clone, Debug)]
pub struct Flow {
    pub name: String,
    pub sources: Vec<Source>,
    /// "S3", "DATASET" or anything else.
    pub target_type: String,
    /// "SQL", "NONE" or anything else.
    pub transformation_type: String,
    pub created_time: f64,
    pub last_modified_time: f64,
    /// Any order; served newest first (latest `startTime`, ties by the greater id).
    pub executions: Vec<Execution>,
}

/// One flow execution.
#[derive(Clone, Debug)]
pub struct Execution {
    pub id: String,
    /// "SUCCEEDED", "IN_PROGRESS", "FAILED" or anything else; empty leaves `status` out.
    pub status: String,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub message: Option<String>,
}

impl Instance {
    /// An Active instance with no flows.
    pub fn new(id: &str, created_time: f64) -> Instance {
        Instance {
            id: id.to_owned(),
            name: Some(format!("scn-{}", id.get(..8).unwrap_or(id))),
            state: "Active".to_owned(),
            error_message: None,
            created_time,
            last_modified_time: created_time,
            flows: BTreeMap::new(),
        }
    }

    /// The same instance in another state.
    pub fn with_state(mut self, state: &str) -> Instance {
        self.state = state.to_owned();
        self
    }
}

impl Flow {
    /// An S3 -> DATASET flow with one source named after the flow, no transformation, no runs.
    pub fn new(name: &str, created_time: f64) -> Flow {
        Flow {
            name: name.to_owned(),
            sources: vec![Source {
                source_type: "S3".to_owned(),
                source_name: name.replace('-', "_"),
            }],
            target_type: "DATASET".to_owned(),
            transformation_type: "NONE".to_owned(),
            created_time,
            last_modified_time: created_time,
            executions: Vec::new(),
        }
    }

    /// Newest first, as the list operation serves them.
    fn newest_first(&self) -> Vec<&Execution> {
        let mut runs: Vec<&Execution> = self.executions.iter().collect();
        runs.sort_by(|a, b| b.age_cmp(a));
        runs
    }
}

impl Execution {
    /// A run that has just started.
    pub fn running(id: &str, start_time: f64) -> Execution {
        Execution {
            id: id.to_owned(),
            status: "IN_PROGRESS".to_owned(),
            start_time: Some(start_time),
            end_time: None,
            message: None,
        }
    }

    /// A finished run; FAILED runs carry a message.
    pub fn finished(id: &str, status: &str, start_time: f64, end_time: f64) -> Execution {
        Execution {
            id: id.to_owned(),
            status: status.to_owned(),
            start_time: Some(start_time),
            end_time: Some(end_time),
            message: (status == "FAILED")
                .then(|| "Failed to ingest s3://scn-landing/orders/part-0001.csv".to_owned()),
        }
    }

    fn age_cmp(&self, other: &Execution) -> Ordering {
        let start = |e: &Execution| e.start_time.unwrap_or(f64::NEG_INFINITY);
        start(self)
            .total_cmp(&start(other))
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// The Supply Chain state of the simulated account.
#[derive(Default)]
pub struct SupplyChain {
    /// Keyed by instance id; listed in id order.
    pub instances: BTreeMap<String, Instance>,
}

impl SupplyChain {
    /// Adds or replaces the instance with this id.
    pub fn add_instance(&mut self, instance: Instance) {
        self.instances.insert(instance.id.clone(), instance);
    }

    pub fn remove_instance(&mut self, id: &str) -> Option<Instance> {
        self.instances.remove(id)
    }

    pub fn instance_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances.get_mut(id)
    }

    /// Adds or replaces a flow (replacing with a new `created_time` simulates re-creation).
    ///
    /// # Panics
    /// If there is no such instance: a bug in the test, not a situation to simulate.
    pub fn add_flow(&mut self, instance: &str, flow: Flow) {
        self.expect_instance(instance)
            .flows
            .insert(flow.name.clone(), flow);
    }

    pub fn remove_flow(&mut self, instance: &str, name: &str) -> Option<Flow> {
        self.instances.get_mut(instance)?.flows.remove(name)
    }

    pub fn flow_mut(&mut self, instance: &str, name: &str) -> Option<&mut Flow> {
        self.instances.get_mut(instance)?.flows.get_mut(name)
    }

    /// Replaces the run with the same id or adds it.
    ///
    /// # Panics
    /// If the instance or flow does not exist.
    pub fn upsert_execution(&mut self, instance: &str, flow: &str, execution: Execution) {
        let Some(target) = self.expect_instance(instance).flows.get_mut(flow) else {
            panic!("upsert_execution: no flow {flow:?} in instance {instance:?}");
        };
        match target.executions.iter_mut().find(|e| e.id == execution.id) {
            Some(existing) => *existing = execution,
            None => target.executions.push(execution),
        }
    }

    /// Removes a run, as if AWS had forgotten it.
    pub fn remove_execution(&mut self, instance: &str, flow: &str, id: &str) -> Option<Execution> {
        let runs = &mut self.flow_mut(instance, flow)?.executions;
        let at = runs.iter().position(|e| e.id == id)?;
        Some(runs.remove(at))
    }

    fn expect_instance(&mut self, id: &str) -> &mut Instance {
        match self.instances.get_mut(id) {
            Some(instance) => instance,
            None => panic!("no Supply Chain instance {id:?}"),
        }
    }
}

fn route(method: &Method, path: &str, _headers: &HeaderMap) -> Option<&'static str> {
    if method != Method::GET {
        return None;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "instance"] => Some("ListInstances"),
        ["api", "data-integration", "instance", _, "data-integration-flows"] => {
            Some("ListDataIntegrationFlows")
        }
        ["api-data", "data-integration", "instance", _, "data-integration-flows", _, "executions"] => {
            Some("ListDataIntegrationFlowExecutions")
        }
        ["api-data", "data-integration", "instance", _, "data-integration-flows", _, "executions", _] => {
            Some("GetDataIntegrationFlowExecution")
        }
        _ => None,
    }
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let sc = &world.supplychain;
    let segments = path_segments(&call.path)?;
    let query = Query::parse(call.query.as_deref())?;
    match call.operation {
        "ListInstances" => list_instances(sc, &query),
        "ListDataIntegrationFlows" => list_flows(sc, &segments[3], &query),
        "ListDataIntegrationFlowExecutions" => {
            list_executions(sc, &segments[3], &segments[5], &query)
        }
        "GetDataIntegrationFlowExecution" => {
            get_execution(sc, &segments[3], &segments[5], &segments[7])
        }
        other => unreachable!("Supply Chain routed unknown operation {other}"),
    }
}

fn path_segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| wire::percent_decode(s).ok_or_else(|| VALIDATION.with("Malformed URI path")))
        .collect()
}

/// The query parameters of the list operations.
#[derive(Default)]
struct Query {
    next_token: Option<String>,
    max_results: Option<String>,
    names: Vec<String>,
    states: Vec<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let pairs =
            wire::query_pairs(query).ok_or_else(|| VALIDATION.with("Malformed query string"))?;
        let mut parsed = Query::default();
        for (name, value) in pairs {
            match name.as_str() {
                "nextToken" => parsed.next_token = Some(value),
                "maxResults" => parsed.max_results = Some(value),
                "instanceNameFilter" => parsed.names.push(value),
                "instanceStateFilter" => parsed.states.push(value),
                _ => {} // Unknown parameters are ignored, as AWS does.
            }
        }
        Ok(parsed)
    }

    /// `maxResults` within `min..=20`; absent (or 0 where allowed) means the default.
    fn page_size(&self, min: i64) -> Result<usize, ApiError> {
        let Some(raw) = &self.max_results else {
            return Ok(wire::oversized(DEFAULT_PAGE_SIZE));
        };
        let n: i64 = raw.parse().map_err(|_| {
            wire::SERIALIZATION.with(format!("Cannot parse maxResults value {raw:?} as integer"))
        })?;
        if !(min..=MAX_PAGE_SIZE).contains(&n) {
            return Err(VALIDATION.with(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy \
                 constraint: Member must have value between {min} and {MAX_PAGE_SIZE}"
            )));
        }
        Ok(wire::oversized(if n == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            n as usize
        }))
    }

    /// The key the previous page ended at, for a token issued in `scope`.
    fn after(&self, scope: &str) -> Result<Option<String>, ApiError> {
        match &self.next_token {
            None => Ok(None),
            Some(token) => wire::decode_token(scope, token)
                .map(Some)
                .ok_or_else(|| VALIDATION.with("The nextToken provided is invalid")),
        }
    }
}

/// One page of `items` (already in list order) after the position `after`, and the token for
/// the next page. `key` gives each item's position; keys increase along the list.
fn page<'a, T>(
    items: &[&'a T],
    key: impl Fn(&T) -> String,
    after: Option<String>,
    size: usize,
    scope: &str,
) -> (Vec<&'a T>, Option<String>) {
    let start = match after {
        None => 0,
        Some(after) => items
            .iter()
            .position(|item| key(item) > after)
            .unwrap_or(items.len()),
    };
    let end = (start + size).min(items.len());
    let page = items[start..end].to_vec();
    let token = match page.last() {
        Some(last) if end < items.len() => Some(wire::encode_token(scope, &key(last))),
        _ => None,
    };
    (page, token)
}

fn instance<'a>(sc: &'a SupplyChain, id: &str) -> Result<&'a Instance, ApiError> {
    sc.instances
        .get(id)
        .ok_or_else(|| NOT_FOUND.with(format!("Instance {id} does not exist")))
}

fn flow<'a>(sc: &'a SupplyChain, instance_id: &str, name: &str) -> Result<&'a Flow, ApiError> {
    instance(sc, instance_id)?
        .flows
        .get(name)
        .ok_or_else(|| NOT_FOUND.with(format!("DataIntegrationFlow {name} does not exist")))
}

fn list_instances(sc: &SupplyChain, query: &Query) -> Result<Bytes, ApiError> {
    const SCOPE: &str = "ListInstances";
    let size = query.page_size(0)?;
    let selected: Vec<&Instance> = sc
        .instances
        .values()
        .filter(|i| query.states.is_empty() || query.states.contains(&i.state))
        .filter(|i| {
            query.names.is_empty() || i.name.as_ref().is_some_and(|n| query.names.contains(n))
        })
        .collect();
    let (page, next_token) = page(
        &selected,
        |i| i.id.clone(),
        query.after(SCOPE)?,
        size,
        SCOPE,
    );
    Ok(wire::to_json(&ListInstancesResponse {
        instances: page.into_iter().map(InstanceShape::from).collect(),
        next_token,
    }))
}

fn list_flows(sc: &SupplyChain, instance_id: &str, query: &Query) -> Result<Bytes, ApiError> {
    let instance = instance(sc, instance_id)?;
    let scope = format!("ListDataIntegrationFlows/{instance_id}");
    let size = query.page_size(0)?;
    let flows: Vec<&Flow> = instance.flows.values().collect();
    let (page, next_token) = page(
        &flows,
        |f| f.name.clone(),
        query.after(&scope)?,
        size,
        &scope,
    );
    Ok(wire::to_json(&ListFlowsResponse {
        flows: page
            .into_iter()
            .map(|f| FlowShape::of(instance_id, f))
            .collect(),
        next_token,
    }))
}

/// Position of a run in the newest-first list: keys must increase along it, so the start time
/// is inverted (bitwise) before the id, which is inverted too.
fn newest_first_key(e: &Execution) -> String {
    let start = e.start_time.unwrap_or(f64::NEG_INFINITY);
    // total_cmp order as an unsigned integer, then inverted so later starts come first.
    let bits = start.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    let id: String = e.id.bytes().map(|b| format!("{:02x}", 255 - b)).collect();
    format!("{:016x}{id}ff", !ordered)
}

fn list_executions(
    sc: &SupplyChain,
    instance_id: &str,
    flow_name: &str,
    query: &Query,
) -> Result<Bytes, ApiError> {
    let flow = flow(sc, instance_id, flow_name)?;
    let scope = format!("ListDataIntegrationFlowExecutions/{instance_id}/{flow_name}");
    let size = query.page_size(1)?;
    let runs = flow.newest_first();
    let (page, next_token) = page(&runs, newest_first_key, query.after(&scope)?, size, &scope);
    Ok(wire::to_json(&ListExecutionsResponse {
        flow_executions: page
            .into_iter()
            .map(|e| ExecutionShape::of(instance_id, flow_name, flow, e))
            .collect(),
        next_token,
    }))
}

fn get_execution(
    sc: &SupplyChain,
    instance_id: &str,
    flow_name: &str,
    execution_id: &str,
) -> Result<Bytes, ApiError> {
    let flow = flow(sc, instance_id, flow_name)?;
    let execution = flow
        .executions
        .iter()
        .find(|e| e.id == execution_id)
        .ok_or_else(|| {
            NOT_FOUND.with(format!(
                "DataIntegrationFlowExecution {execution_id} does not exist"
            ))
        })?;
    Ok(wire::to_json(&GetExecutionResponse {
        flow_execution: ExecutionShape::of(instance_id, flow_name, flow, execution),
    }))
}

// ---- Output shapes (member names as in the Supply Chain model; `None` members are omitted) ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListInstancesResponse<'a> {
    instances: Vec<InstanceShape<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceShape<'a> {
    instance_id: &'a str,
    aws_account_id: &'static str,
    state: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_app_dns_domain: Option<String>,
    created_time: f64,
    last_modified_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_name: Option<&'a str>,
    version_number: f64,
}

impl<'a> From<&'a Instance> for InstanceShape<'a> {
    fn from(i: &'a Instance) -> Self {
        InstanceShape {
            instance_id: &i.id,
            aws_account_id: ACCOUNT,
            state: &i.state,
            error_message: i.error_message.as_deref(),
            web_app_dns_domain: i
                .name
                .as_ref()
                .filter(|_| i.state == "Active")
                .map(|n| n.to_lowercase().replace([' ', '_'], "-")),
            created_time: i.created_time,
            last_modified_time: i.last_modified_time,
            instance_name: i.name.as_deref(),
            version_number: 2.0,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListFlowsResponse<'a> {
    flows: Vec<FlowShape<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlowShape<'a> {
    instance_id: &'a str,
    name: &'a str,
    sources: Vec<serde_json::Value>,
    transformation: serde_json::Value,
    target: serde_json::Value,
    created_time: f64,
    last_modified_time: f64,
}

fn dataset_arn(instance_id: &str, name: &str) -> String {
    format!("arn:aws:scn:us-east-1:{ACCOUNT}:instance/{instance_id}/namespaces/asc/datasets/{name}")
}

impl<'a> FlowShape<'a> {
    fn of(instance_id: &'a str, f: &'a Flow) -> FlowShape<'a> {
        use serde_json::json;
        let sources = f
            .sources
            .iter()
            .map(|s| {
                let mut source =
                    json!({ "sourceType": s.source_type, "sourceName": s.source_name });
                match s.source_type.as_str() {
                    "S3" => {
                        source["s3Source"] = json!({
                            "bucketName": "scn-landing", "prefix": s.source_name,
                            "options": { "fileType": "CSV" },
                        })
                    }
                    "DATASET" => {
                        source["datasetSource"] = json!({
                            "datasetIdentifier": dataset_arn(instance_id, &s.source_name),
                        })
                    }
                    _ => {}
                }
                source
            })
            .collect();
        let mut transformation = json!({ "transformationType": f.transformation_type });
        if f.transformation_type == "SQL" {
            transformation["sqlTransformation"] = json!({ "query": "SELECT * FROM source" });
        }
        let mut target = json!({ "targetType": f.target_type });
        match f.target_type.as_str() {
            "S3" => target["s3Target"] = json!({ "bucketName": "scn-curated", "prefix": f.name }),
            "DATASET" => {
                target["datasetTarget"] = json!({
                    "datasetIdentifier": dataset_arn(instance_id, "outbound_order_line"),
                    "options": { "loadType": "INCREMENTAL", "dedupeRecords": true },
                })
            }
            _ => {}
        }
        FlowShape {
            instance_id,
            name: &f.name,
            sources,
            transformation,
            target,
            created_time: f.created_time,
            last_modified_time: f.last_modified_time,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListExecutionsResponse<'a> {
    flow_executions: Vec<ExecutionShape<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GetExecutionResponse<'a> {
    flow_execution: ExecutionShape<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionShape<'a> {
    instance_id: &'a str,
    flow_name: &'a str,
    execution_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<f64>,
}

impl<'a> ExecutionShape<'a> {
    fn of(
        instance_id: &'a str,
        flow_name: &'a str,
        flow: &'a Flow,
        e: &'a Execution,
    ) -> ExecutionShape<'a> {
        use serde_json::json;
        let source_info = flow.sources.first().and_then(|s| match s.source_type.as_str() {
            "S3" => Some(json!({
                "sourceType": "S3",
                "s3Source": { "bucketName": "scn-landing", "key": format!("{}/{}.csv", s.source_name, e.id) },
            })),
            "DATASET" => Some(json!({
                "sourceType": "DATASET",
                "datasetSource": { "datasetIdentifier": dataset_arn(instance_id, &s.source_name) },
            })),
            _ => None,
        });
        ExecutionShape {
            instance_id,
            flow_name,
            execution_id: &e.id,
            status: Some(e.status.as_str()).filter(|s| !s.is_empty()),
            source_info,
            message: e.message.as_deref(),
            start_time: e.start_time,
            end_time: e.end_time,
        }
    }
}

/// What the exporter's execution counter must read (`crate::truth`).
impl SupplyChain {
    /// Terminal statuses, as the counter's `status` label.
    const TERMINAL: [&str; 2] = ["SUCCEEDED", "FAILED"];

    /// Supply Chain's executions terminal now, by ("instance/flow", execution id).
    pub fn terminal(&self) -> crate::truth::Baseline {
        let mut ids = crate::truth::Baseline::new();
        for (id, instance) in &self.instances {
            for (name, flow) in &instance.flows {
                for e in &flow.executions {
                    if Self::TERMINAL.contains(&e.status.as_str()) {
                        ids.insert((format!("{id}/{name}"), e.id.clone()));
                    }
                }
            }
        }
        ids
    }

    /// `aws_supplychain_flow_executions_total`, keyed ("instance/flow", status):
    /// every terminal execution of an Active instance but those of the baseline.
    pub fn truth(&self, baseline: &crate::truth::Baseline) -> crate::truth::Counts {
        let mut counts = crate::truth::Counts::new();
        for (id, instance) in &self.instances {
            if instance.state != "Active" {
                continue;
            }
            for (name, flow) in &instance.flows {
                let key = format!("{id}/{name}");
                for status in Self::TERMINAL {
                    counts.insert((key.clone(), status.to_string()), 0.0);
                }
                for e in &flow.executions {
                    if Self::TERMINAL.contains(&e.status.as_str())
                        && !baseline.contains(&(key.clone(), e.id.clone()))
                    {
                        *counts.entry((key.clone(), e.status.clone())).or_default() += 1.0;
                    }
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_claim_only_supply_chain_paths() {
        let h = HeaderMap::new();
        let get = |p: &str| route(&Method::GET, p, &h);
        assert_eq!(get("/api/instance"), Some("ListInstances"));
        assert_eq!(
            get("/api/data-integration/instance/i-1/data-integration-flows"),
            Some("ListDataIntegrationFlows")
        );
        assert_eq!(
            get("/api-data/data-integration/instance/i/data-integration-flows/f/executions"),
            Some("ListDataIntegrationFlowExecutions")
        );
        assert_eq!(
            get("/api-data/data-integration/instance/i/data-integration-flows/f/executions/e"),
            Some("GetDataIntegrationFlowExecution")
        );
        assert_eq!(get("/api/instance/x"), None);
        assert_eq!(get("/domains"), None);
        assert_eq!(route(&Method::POST, "/api/instance", &h), None);
    }

    #[test]
    fn newest_first_keys_increase_along_the_list() {
        let mut flow = Flow::new("f", 0.0);
        for (id, start) in [
            ("a", Some(5.0)),
            ("b", Some(5.0)),
            ("c", Some(-1.0)),
            ("d", None),
        ] {
            flow.executions.push(Execution {
                start_time: start,
                ..Execution::running(id, 0.0)
            });
        }
        flow.executions.push(Execution::running("ab", 5.0));
        let runs = flow.newest_first();
        let ids: Vec<&str> = runs.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b", "ab", "a", "c", "d"]);
        let keys: Vec<String> = runs.iter().map(|e| newest_first_key(e)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }
}
