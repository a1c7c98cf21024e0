//! The three Customer Profiles calls the collector makes, as a narrow trait,
//! and the SDK adapter that implements it. The SDK has no paginators for
//! this service: both listings are paged here, on `NextToken`.

use std::future::Future;

use aws_sdk_customerprofiles::operation::get_workflow::GetWorkflowOutput;
use aws_sdk_customerprofiles::types::{ListDomainItem, ListWorkflowsItem};
use aws_smithy_types::DateTime;

use crate::aws::{ApiError, Caller, Found};
use crate::compact::OptF64;
use crate::interned::Interned;

/// Customer Profiles allows 1..=100 results a page; the SDK does not check.
const PAGE_SIZE: i32 = 100;

/// One domain as ListDomains describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DomainSummary {
    pub name: String,
    /// `CreatedAt`: a change means the domain was deleted and re-created.
    pub created_at: Option<f64>,
}

/// One workflow as ListWorkflows describes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkflowSummary {
    pub id: String,
    /// `WorkflowType`, the wire string ("" when AWS left it out).
    pub workflow_type: Interned,
    /// `Status`, the wire string, unknown values included ("" when left out).
    pub status: Interned,
    /// 8 bytes each ([`OptF64`]): every remembered workflow holds its listing.
    pub created_at: OptF64,
    pub last_updated_at: OptF64,
}

/// `Metrics.AppflowIntegration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub records_processed: i64,
    pub steps_completed: i64,
    pub total_steps: i64,
}

/// What GetWorkflow adds to the listing.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkflowDetails {
    pub start_date: OptF64,
    pub last_updated_at: OptF64,
    /// `Attributes.AppflowIntegration.SourceConnectorType`.
    pub source_connector: Option<Interned>,
    /// `Attributes.AppflowIntegration.ConnectorProfileName`.
    pub connector_profile: Option<Interned>,
    /// None when GetWorkflow returned no `Metrics.AppflowIntegration` at all.
    pub progress: Option<Progress>,
    /// `ErrorDescription`: logged, never a label.
    pub error: Option<Box<str>>,
}

/// What the Customer Profiles collector needs from AWS. `Ok(None)`: the
/// domain or workflow is gone (ResourceNotFound).
pub trait CustomerProfilesApi: Send + Sync {
    fn list_domains(&self) -> impl Future<Output = Result<Vec<DomainSummary>, ApiError>> + Send;
    /// Every workflow of `domain` started at or after `since` (Unix seconds).
    fn list_workflows(
        &self,
        domain: &str,
        since: f64,
    ) -> impl Future<Output = Result<Option<Vec<WorkflowSummary>>, ApiError>> + Send;
    fn get_workflow(
        &self,
        domain: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<WorkflowDetails>, ApiError>> + Send;
}

/// [`CustomerProfilesApi`] over the AWS SDK.
pub struct SdkCustomerProfiles {
    client: aws_sdk_customerprofiles::Client,
    caller: Caller,
}

impl SdkCustomerProfiles {
    pub fn new(sdk: &crate::aws::Sdk, caller: Caller) -> Self {
        SdkCustomerProfiles {
            client: sdk.client(aws_sdk_customerprofiles::Client::new),
            caller,
        }
    }
}

impl CustomerProfilesApi for SdkCustomerProfiles {
    async fn list_domains(&self) -> Result<Vec<DomainSummary>, ApiError> {
        self.caller
            .pages(
                "ListDomains",
                |token| {
                    self.client
                        .list_domains()
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    let domains = page.items().iter().filter_map(domain_summary).collect();
                    (domains, page.next_token)
                },
            )
            .await
    }

    async fn list_workflows(
        &self,
        domain: &str,
        since: f64,
    ) -> Result<Option<Vec<WorkflowSummary>>, ApiError> {
        self.caller
            .pages(
                "ListWorkflows",
                |token| {
                    self.client
                        .list_workflows()
                        .domain_name(domain)
                        .query_start_date(DateTime::from_secs_f64(since))
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    let workflows = page.items().iter().filter_map(workflow_summary).collect();
                    (workflows, page.next_token)
                },
            )
            .await
            .found()
    }

    async fn get_workflow(
        &self,
        domain: &str,
        id: &str,
    ) -> Result<Option<WorkflowDetails>, ApiError> {
        let result = self
            .caller
            .call("GetWorkflow", || {
                self.client
                    .get_workflow()
                    .domain_name(domain)
                    .workflow_id(id)
                    .send()
            })
            .await
            .found()?;
        Ok(result.map(|output| details(&output)))
    }
}

/// Seconds of a timestamp. The SDK fills a missing *required* timestamp with
/// the epoch: 0 means "absent", not 1970.
fn seconds(t: Option<&DateTime>) -> Option<f64> {
    t.map(DateTime::as_secs_f64).filter(|s| *s != 0.0)
}

/// The SDK fills a missing required string with "": that is absent too.
fn present(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A domain with no name cannot be labelled: it is skipped.
fn domain_summary(d: &ListDomainItem) -> Option<DomainSummary> {
    Some(DomainSummary {
        name: present(d.domain_name())?,
        created_at: seconds(Some(d.created_at())),
    })
}

/// A workflow with no id cannot be labelled: it is skipped.
fn workflow_summary(w: &ListWorkflowsItem) -> Option<WorkflowSummary> {
    Some(WorkflowSummary {
        id: present(w.workflow_id())?,
        workflow_type: Interned::new(w.workflow_type().as_str()),
        status: Interned::new(w.status().as_str()),
        created_at: seconds(Some(w.created_at())).into(),
        last_updated_at: seconds(Some(w.last_updated_at())).into(),
    })
}

fn details(w: &GetWorkflowOutput) -> WorkflowDetails {
    let attributes = w.attributes().and_then(|a| a.appflow_integration());
    WorkflowDetails {
        start_date: seconds(w.start_date()).into(),
        last_updated_at: seconds(w.last_updated_at()).into(),
        source_connector: attributes
            .and_then(|a| present(a.source_connector_type().as_str()))
            .map(Interned::from),
        connector_profile: attributes
            .and_then(|a| present(a.connector_profile_name()))
            .map(Interned::from),
        progress: w
            .metrics()
            .and_then(|m| m.appflow_integration())
            .map(|m| Progress {
                records_processed: m.records_processed(),
                steps_completed: m.steps_completed(),
                total_steps: m.total_steps(),
            }),
        error: w.error_description().map(Box::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_the_sdk_fills_in_count_as_absent() {
        assert_eq!(seconds(Some(&DateTime::from_secs(0))), None);
        assert_eq!(seconds(Some(&DateTime::from_secs(5))), Some(5.0));
        use aws_sdk_customerprofiles::types::{Status, WorkflowType};
        let item = |id: &str| {
            ListWorkflowsItem::builder()
                .workflow_id(id)
                .workflow_type(WorkflowType::AppflowIntegration)
                .status(Status::from("PAUSED"))
                .status_description("")
                .created_at(DateTime::from_secs(0))
                .last_updated_at(DateTime::from_secs(9))
                .build()
                .unwrap()
        };
        assert_eq!(workflow_summary(&item("")), None);
        let summary = workflow_summary(&item("w")).unwrap();
        assert_eq!(summary.status, "PAUSED");
        assert_eq!(summary.workflow_type, "APPFLOW_INTEGRATION");
        assert_eq!(
            (summary.created_at.get(), summary.last_updated_at.get()),
            (None, Some(9.0))
        );
    }
}
