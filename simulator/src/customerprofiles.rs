//! Amazon Connect Customer Profiles (restJson1): domains, their AppFlow integration workflows,
//! and the three read operations the exporter uses:
//!
//! - ListDomains: `GET /domains?next-token=..&max-results=..`
//! - ListWorkflows: `POST /domains/{DomainName}/workflows?next-token=..&max-results=..`, with a
//!   JSON body of filters: `WorkflowType`, `Status`, `QueryStartDate` (workflows started at or
//!   after it: `StartDate`, else `CreatedAt`) and `QueryEndDate` (workflows that "ended after"
//!   it, as the API reference words it: `LastUpdatedAt` at or after it).
//! - GetWorkflow: `GET /domains/{DomainName}/workflows/{WorkflowId}`
//!
//! Path segments and query values are percent-decoded. Validation follows the model: a domain
//! name is 1..=64 of `[a-zA-Z0-9_-]`, a workflow id must contain 32 lowercase hex digits (the
//! model's unanchored `[a-f0-9]{32}`), `max-results` is 1..=100, and enum filters must be enum
//! values; failures are `BadRequestException` (400). Workflows are listed newest first (by start,
//! ties by id) and domains by name; tokens hold a key, so they survive changes between pages.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::{Deserialize, Serialize};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, percent_decode, ApiError, ErrorCode, Protocol};
use crate::World;

const BAD_REQUEST: ErrorCode = ErrorCode::new(400, "BadRequestException");
const NOT_FOUND: ErrorCode = ErrorCode::new(404, "ResourceNotFoundException");

/// The model's `Status` enum; the state may hold other strings, served as they are.
pub const STATUSES: &[&str] = &[
    "NOT_STARTED",
    "IN_PROGRESS",
    "COMPLETE",
    "FAILED",
    "SPLIT",
    "RETRY",
    "CANCELLED",
];
/// The only `WorkflowType`.
pub const APPFLOW_INTEGRATION: &str = "APPFLOW_INTEGRATION";

pub(crate) static SERVICE: Service = Service {
    name: "customerprofiles",
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

/// A Customer Profiles domain and its workflows (keyed by id).
#[derive(Clone, Debug)]
pub struct Domain {
    pub name: String,
    pub created_at: f64,
    pub last_updated_at: f64,
    pub workflows: BTreeMap<String, Workflow>,
}

impl Domain {
    pub fn new(name: &str, created_at: f64) -> Domain {
        Domain {
            name: name.to_owned(),
            created_at,
            last_updated_at: created_at,
            workflows: BTreeMap::new(),
        }
    }
}

/// One APPFLOW_INTEGRATION workflow: the ingestion of a source into a domain.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// 32 lowercase hex digits in AWS (see [`workflow_id`]).
    pub id: String,
    pub workflow_type: String,
    /// A [`STATUSES`] value, or any other string.
    pub status: String,
    pub status_description: String,
    /// GetWorkflow's `ErrorDescription`.
    pub error_description: Option<String>,
    pub created_at: f64,
    pub last_updated_at: f64,
    /// GetWorkflow's `StartDate`; also what `QueryStartDate` filters on (else `created_at`).
    pub start_date: Option<f64>,
    /// `None` leaves `Metrics` out of GetWorkflow entirely.
    pub metrics: Option<WorkflowMetrics>,
    /// `None` leaves `Attributes` out of GetWorkflow entirely.
    pub attributes: Option<WorkflowAttributes>,
}

/// `Metrics.AppflowIntegration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkflowMetrics {
    pub records_processed: i64,
    pub steps_completed: i64,
    pub total_steps: i64,
}

/// `Attributes.AppflowIntegration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowAttributes {
    /// Salesforce, Marketo, Zendesk, Servicenow or S3 (any string is served).
    pub source_connector_type: String,
    pub connector_profile_name: String,
    pub role_arn: Option<String>,
}

/// A deterministic AWS-shaped workflow id (32 lowercase hex digits) derived from `seed`.
pub fn workflow_id(seed: &str) -> String {
    let hash = |salt: u64| {
        seed.bytes().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format!("{:016x}{:016x}", hash(0), hash(0x9e37_79b9_7f4a_7c15))
}

impl Workflow {
    /// A Salesforce ingestion started at `started` with nothing processed yet out of 4 steps.
    pub fn new(id: &str, status: &str, started: f64) -> Workflow {
        Workflow {
            id: id.to_owned(),
            workflow_type: APPFLOW_INTEGRATION.to_owned(),
            status: status.to_owned(),
            status_description: describe(status).to_owned(),
            error_description: None,
            created_at: started,
            last_updated_at: started,
            start_date: Some(started),
            metrics: Some(WorkflowMetrics {
                records_processed: 0,
                steps_completed: 0,
                total_steps: 4,
            }),
            attributes: Some(WorkflowAttributes {
                source_connector_type: "Salesforce".to_owned(),
                connector_profile_name: "salesforce-profile".to_owned(),
                role_arn: None,
            }),
        }
    }

    /// Moves to `status` at `at`, with the matching description.
    pub fn set_status(&mut self, status: &str, at: f64) {
        self.status = status.to_owned();
        self.status_description = describe(status).to_owned();
        self.last_updated_at = at;
    }

    /// Sets `Metrics.AppflowIntegration`.
    pub fn with_progress(mut self, records: i64, completed: i64, total: i64) -> Workflow {
        self.metrics = Some(WorkflowMetrics {
            records_processed: records,
            steps_completed: completed,
            total_steps: total,
        });
        self
    }

    /// Sets `Attributes.AppflowIntegration`'s connector and profile.
    pub fn with_source(mut self, connector: &str, profile: &str) -> Workflow {
        self.attributes = Some(WorkflowAttributes {
            source_connector_type: connector.to_owned(),
            connector_profile_name: profile.to_owned(),
            role_arn: None,
        });
        self
    }

    fn start(&self) -> f64 {
        self.start_date.unwrap_or(self.created_at)
    }
}

/// A plausible `StatusDescription` (the model requires one, 1..=255 characters).
fn describe(status: &str) -> &'static str {
    match status {
        "NOT_STARTED" => "Workflow has not started",
        "IN_PROGRESS" => "Ingestion in progress",
        "COMPLETE" => "Ingestion completed",
        "FAILED" => "Ingestion failed",
        "SPLIT" => "Historical ingestion split into smaller flows",
        "RETRY" => "Retrying failed step",
        "CANCELLED" => "Workflow was cancelled",
        _ => "Status reported by the service",
    }
}

/// The Customer Profiles state of the simulated account, keyed by domain name.
#[derive(Default)]
pub struct CustomerProfiles {
    pub domains: BTreeMap<String, Domain>,
}

impl CustomerProfiles {
    /// Adds or replaces the domain with this name.
    pub fn add_domain(&mut self, domain: Domain) {
        self.domains.insert(domain.name.clone(), domain);
    }

    pub fn remove_domain(&mut self, name: &str) -> Option<Domain> {
        self.domains.remove(name)
    }

    pub fn domain_mut(&mut self, name: &str) -> Option<&mut Domain> {
        self.domains.get_mut(name)
    }

    /// The workflow `id` of `domain`, to change it in place.
    pub fn workflow_mut(&mut self, domain: &str, id: &str) -> Option<&mut Workflow> {
        self.domains.get_mut(domain)?.workflows.get_mut(id)
    }

    /// Replaces the workflow with the same id or adds it.
    ///
    /// # Panics
    /// If there is no domain named `domain`: a bug in the test, not a situation to simulate.
    pub fn upsert_workflow(&mut self, domain: &str, workflow: Workflow) {
        let Some(target) = self.domains.get_mut(domain) else {
            panic!("upsert_workflow: no domain named {domain:?}");
        };
        target.workflows.insert(workflow.id.clone(), workflow);
    }

    pub fn remove_workflow(&mut self, domain: &str, id: &str) -> Option<Workflow> {
        self.domains.get_mut(domain)?.workflows.remove(id)
    }
}

fn route(method: &Method, path: &str, _headers: &HeaderMap) -> Option<&'static str> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["domains"]) => Some("ListDomains"),
        (&Method::POST, ["domains", _, "workflows"]) => Some("ListWorkflows"),
        (&Method::GET, ["domains", _, "workflows", _]) => Some("GetWorkflow"),
        _ => None,
    }
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let profiles = &world.customerprofiles;
    let segments: Vec<&str> = call.path.split('/').skip(2).collect();
    let query = Query::parse(call.query.as_deref())?;
    match (call.operation, segments.as_slice()) {
        ("ListDomains", _) => list_domains(profiles, &query),
        ("ListWorkflows", [domain, ..]) => {
            let filters = wire::parse_json(&call.body)?;
            list_workflows(profiles, &decode_segment(domain)?, &query, filters)
        }
        ("GetWorkflow", [domain, _, id]) => {
            get_workflow(profiles, &decode_segment(domain)?, &decode_segment(id)?)
        }
        (other, _) => unreachable!("Customer Profiles routed unknown operation {other}"),
    }
}

fn decode_segment(segment: &str) -> Result<String, ApiError> {
    percent_decode(segment)
        .ok_or_else(|| BAD_REQUEST.with(format!("Malformed path segment {segment:?}")))
}

/// The query parameters the list operations take.
#[derive(Default)]
struct Query {
    next_token: Option<String>,
    max_results: Option<i64>,
}

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut parsed = Query::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)
                .ok_or_else(|| BAD_REQUEST.with(format!("Malformed query parameter {name}")))?;
            match name {
                "next-token" => parsed.next_token = Some(value),
                "max-results" => {
                    let n = value.parse().map_err(|_| {
                        BAD_REQUEST.with(format!(
                            "Value '{value}' at 'max-results' is not an integer"
                        ))
                    })?;
                    parsed.max_results = Some(n);
                }
                _ => {}
            }
        }
        Ok(parsed)
    }

    fn page_size(&self) -> Result<usize, ApiError> {
        wire::page_size(self.max_results, BAD_REQUEST)
    }

    /// The key a token carries, unbounded without a token.
    fn after(&self, scope: &str) -> Result<Bound<String>, ApiError> {
        match &self.next_token {
            None => Ok(Bound::Unbounded),
            Some(token) => wire::decode_token(scope, token)
                .map(Bound::Excluded)
                .ok_or_else(|| BAD_REQUEST.with("The NextToken provided is invalid")),
        }
    }
}

fn validate_domain(name: &str) -> Result<(), ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(BAD_REQUEST.with(format!(
            "1 validation error detected: Value '{name}' at 'domainName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_-]+$"
        )))
    }
}

fn required_domain<'a>(profiles: &'a CustomerProfiles, name: &str) -> Result<&'a Domain, ApiError> {
    validate_domain(name)?;
    profiles
        .domains
        .get(name)
        .ok_or_else(|| NOT_FOUND.with(format!("Domain {name} does not exist")))
}

fn list_domains(profiles: &CustomerProfiles, query: &Query) -> Result<Bytes, ApiError> {
    const SCOPE: &str = "ListDomains";
    let size = query.page_size()?;
    let after = query.after(SCOPE)?;
    let mut rest = profiles
        .domains
        .range::<String, _>((after, Bound::Unbounded));
    let items: Vec<DomainItem> = rest.by_ref().take(size).map(|(_, d)| d.into()).collect();
    let next_token = match (rest.next(), items.last()) {
        (Some(_), Some(last)) => Some(wire::encode_token(SCOPE, last.domain_name)),
        _ => None,
    };
    Ok(wire::to_json(&ListResponse { items, next_token }))
}

/// The JSON body of ListWorkflows.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Filters {
    workflow_type: Option<String>,
    status: Option<String>,
    query_start_date: Option<f64>,
    query_end_date: Option<f64>,
}

impl Filters {
    fn validate(&self) -> Result<(), ApiError> {
        let enum_error = |member: &str, value: &str, allowed: &[&str]| {
            BAD_REQUEST.with(format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
                 constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ))
        };
        if let Some(t) = self
            .workflow_type
            .as_deref()
            .filter(|t| *t != APPFLOW_INTEGRATION)
        {
            return Err(enum_error("workflowType", t, &[APPFLOW_INTEGRATION]));
        }
        if let Some(s) = self.status.as_deref().filter(|s| !STATUSES.contains(s)) {
            return Err(enum_error("status", s, STATUSES));
        }
        Ok(())
    }

    fn keep(&self, w: &Workflow) -> bool {
        self.workflow_type
            .as_ref()
            .is_none_or(|t| *t == w.workflow_type)
            && self.status.as_ref().is_none_or(|s| *s == w.status)
            && self.query_start_date.is_none_or(|t| w.start() >= t)
            && self.query_end_date.is_none_or(|t| w.last_updated_at >= t)
    }
}

/// Paging key of a workflow: start time bits (inverted, so newest sorts first) then id.
fn workflow_key(w: &Workflow) -> String {
    format!("{:016x}{}", !order_bits(w.start()), w.id)
}

/// Maps an f64 to bits that sort like the number.
fn order_bits(t: f64) -> u64 {
    let bits = t.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn list_workflows(
    profiles: &CustomerProfiles,
    domain: &str,
    query: &Query,
    filters: Filters,
) -> Result<Bytes, ApiError> {
    filters.validate()?;
    let domain = required_domain(profiles, domain)?;
    let scope = format!("ListWorkflows/{}", domain.name);
    let size = query.page_size()?;
    let after = query.after(&scope)?;
    let ordered: BTreeMap<String, &Workflow> = domain
        .workflows
        .values()
        .filter(|w| filters.keep(w))
        .map(|w| (workflow_key(w), w))
        .collect();
    let mut rest = ordered.range::<String, _>((after, Bound::Unbounded));
    let page: Vec<(&String, &&Workflow)> = rest.by_ref().take(size).collect();
    let next_token = match (rest.next(), page.last()) {
        (Some(_), Some((key, _))) => Some(wire::encode_token(&scope, key)),
        _ => None,
    };
    let items: Vec<WorkflowItem> = page.into_iter().map(|(_, w)| (*w).into()).collect();
    Ok(wire::to_json(&ListResponse { items, next_token }))
}

/// The model's unanchored `[a-f0-9]{32}`: somewhere in the id, 32 lowercase hex digits in a row.
fn is_workflow_id(id: &str) -> bool {
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    id.as_bytes().windows(32).any(|w| w.iter().all(hex))
}

fn get_workflow(profiles: &CustomerProfiles, domain: &str, id: &str) -> Result<Bytes, ApiError> {
    if !is_workflow_id(id) {
        return Err(BAD_REQUEST.with(format!(
            "1 validation error detected: Value '{id}' at 'workflowId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-f0-9]{{32}}"
        )));
    }
    let domain = required_domain(profiles, domain)?;
    let workflow = domain
        .workflows
        .get(id)
        .ok_or_else(|| NOT_FOUND.with(format!("Workflow {id} does not exist")))?;
    Ok(wire::to_json(&GetWorkflowResponse::from(workflow)))
}

// ---- Output shapes (member names as in the Customer Profiles model; `None` omitted) ----

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListResponse<T> {
    items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DomainItem<'a> {
    domain_name: &'a str,
    created_at: f64,
    last_updated_at: f64,
}

impl<'a> From<&'a Domain> for DomainItem<'a> {
    fn from(d: &'a Domain) -> Self {
        DomainItem {
            domain_name: &d.name,
            created_at: d.created_at,
            last_updated_at: d.last_updated_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WorkflowItem<'a> {
    workflow_type: &'a str,
    workflow_id: &'a str,
    status: &'a str,
    status_description: &'a str,
    created_at: f64,
    last_updated_at: f64,
}

impl<'a> From<&'a Workflow> for WorkflowItem<'a> {
    fn from(w: &'a Workflow) -> Self {
        WorkflowItem {
            workflow_type: &w.workflow_type,
            workflow_id: &w.id,
            status: &w.status,
            status_description: &w.status_description,
            created_at: w.created_at,
            last_updated_at: w.last_updated_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetWorkflowResponse<'a> {
    workflow_id: &'a str,
    workflow_type: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<f64>,
    last_updated_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<AppflowIntegration<AttributesOutput<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<AppflowIntegration<MetricsOutput>>,
}

/// `WorkflowAttributes` and `WorkflowMetrics` both wrap one `AppflowIntegration` member.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AppflowIntegration<T> {
    appflow_integration: T,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesOutput<'a> {
    source_connector_type: &'a str,
    connector_profile_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricsOutput {
    records_processed: i64,
    steps_completed: i64,
    total_steps: i64,
}

impl<'a> From<&'a Workflow> for GetWorkflowResponse<'a> {
    fn from(w: &'a Workflow) -> Self {
        GetWorkflowResponse {
            workflow_id: &w.id,
            workflow_type: &w.workflow_type,
            status: &w.status,
            error_description: w.error_description.as_deref(),
            start_date: w.start_date,
            last_updated_at: w.last_updated_at,
            attributes: w.attributes.as_ref().map(|a| AppflowIntegration {
                appflow_integration: AttributesOutput {
                    source_connector_type: &a.source_connector_type,
                    connector_profile_name: &a.connector_profile_name,
                    role_arn: a.role_arn.as_deref(),
                },
            }),
            metrics: w.metrics.map(|m| AppflowIntegration {
                appflow_integration: MetricsOutput {
                    records_processed: m.records_processed,
                    steps_completed: m.steps_completed,
                    total_steps: m.total_steps,
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        let h = HeaderMap::new();
        assert_eq!(route(&Method::GET, "/domains", &h), Some("ListDomains"));
        assert_eq!(
            route(&Method::POST, "/domains/d/workflows", &h),
            Some("ListWorkflows")
        );
        assert_eq!(
            route(&Method::GET, "/domains/d/workflows/x", &h),
            Some("GetWorkflow")
        );
        for (m, p) in [
            (Method::POST, "/domains"),
            (Method::GET, "/domains/d/workflows"),
            (Method::GET, "/domains/d"),
            (Method::GET, "/domains/d/workflows/x/steps"),
            (Method::POST, "/"),
        ] {
            assert_eq!(route(&m, p, &h), None, "{m} {p}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn workflow_ids_follow_the_model_pattern() {
        let id = workflow_id("x");
        assert_eq!(id.len(), 32);
        assert!(is_workflow_id(&id));
        assert!(
            is_workflow_id(&format!("wf-{id}")),
            "the pattern is unanchored"
        );
        assert!(!is_workflow_id("not-an-id"));
        assert!(!is_workflow_id(&id.to_uppercase()));
        assert_ne!(workflow_id("x"), workflow_id("y"));
    }

    #[test]
    fn keys_sort_newest_first() {
        let a = Workflow::new("a", "COMPLETE", 100.0);
        let b = Workflow::new("b", "COMPLETE", 200.0);
        let c = Workflow::new("c", "COMPLETE", -5.0);
        assert!(workflow_key(&b) < workflow_key(&a));
        assert!(workflow_key(&a) < workflow_key(&c));
    }

    #[test]
    fn get_workflow_renders_optional_blocks() {
        let mut w = Workflow::new("w", "FAILED", 10.0).with_progress(5, 1, 3);
        w.error_description = Some("Step 2 failed".into());
        let v = serde_json::to_value(GetWorkflowResponse::from(&w)).unwrap();
        assert_eq!(
            v["Metrics"]["AppflowIntegration"],
            json!({ "RecordsProcessed": 5, "StepsCompleted": 1, "TotalSteps": 3 })
        );
        assert_eq!(
            v["Attributes"]["AppflowIntegration"]["SourceConnectorType"],
            "Salesforce"
        );
        assert_eq!(v["StartDate"], json!(10.0));
        w.metrics = None;
        w.attributes = None;
        w.start_date = None;
        w.error_description = None;
        let v: Value = serde_json::to_value(GetWorkflowResponse::from(&w)).unwrap();
        assert_eq!(
            v,
            json!({ "WorkflowId": "w", "WorkflowType": "APPFLOW_INTEGRATION",
                    "Status": "FAILED", "LastUpdatedAt": 10.0 })
        );
    }
}
