//! The four AWS Supply Chain calls the collector makes, as a narrow trait, and the SDK adapter
//! that implements it. Pagination of instances and flows is hidden here; executions are paged
//! by the collector, which decides how far back to go.

use std::future::Future;

use aws_sdk_supplychain::types::{DataIntegrationFlow, DataIntegrationFlowExecution, Instance};
use aws_smithy_types::DateTime;

use crate::aws::{ApiError, Caller, Found};
use crate::interned::Interned;

/// Supply Chain allows at most 20 results a page on all three list calls; the SDK does not check.
const PAGE_SIZE: i32 = 20;

/// One instance as ListInstances describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceSummary {
    pub id: String,
    /// The wire string; None when AWS left it out.
    pub state: Option<Interned>,
}

/// One data integration flow as ListDataIntegrationFlows describes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowSummary {
    pub name: String,
    /// `sources[].sourceType`, in the order AWS sent them.
    pub source_types: Vec<Interned>,
    pub target_type: Option<Interned>,
    pub transformation_type: Option<Interned>,
    /// A change means the flow was deleted and re-created.
    pub created_time: Option<f64>,
}

/// One flow execution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Execution {
    pub id: String,
    pub status: Option<Interned>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    /// The failure message: logged, never a label.
    pub message: Option<String>,
}

/// One page of executions, in the order AWS sent them.
#[derive(Clone, Debug, Default)]
pub struct ExecutionsPage {
    pub executions: Vec<Execution>,
    pub next_token: Option<String>,
}

/// What the Supply Chain collector needs from AWS. `Ok(None)`: the instance, flow or execution
/// is gone (ResourceNotFoundException).
pub trait SupplyChainApi: Send + Sync {
    fn list_instances(&self)
        -> impl Future<Output = Result<Vec<InstanceSummary>, ApiError>> + Send;
    fn list_flows(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<FlowSummary>>, ApiError>> + Send;
    fn executions(
        &self,
        instance_id: &str,
        flow_name: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<Option<ExecutionsPage>, ApiError>> + Send;
    fn execution(
        &self,
        instance_id: &str,
        flow_name: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<Execution>, ApiError>> + Send;
}

/// [`SupplyChainApi`] over the AWS SDK.
pub struct SdkSupplyChain {
    client: aws_sdk_supplychain::Client,
    caller: Caller,
}

impl SdkSupplyChain {
    pub fn new(sdk: &crate::aws::Sdk, caller: Caller) -> Self {
        SdkSupplyChain {
            client: sdk.client(aws_sdk_supplychain::Client::new),
            caller,
        }
    }
}

impl SupplyChainApi for SdkSupplyChain {
    async fn list_instances(&self) -> Result<Vec<InstanceSummary>, ApiError> {
        self.caller
            .pages(
                "ListInstances",
                |token| {
                    self.client
                        .list_instances()
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    let instances = page.instances().iter().filter_map(instance_summary);
                    (instances.collect(), page.next_token)
                },
            )
            .await
    }

    async fn list_flows(&self, instance_id: &str) -> Result<Option<Vec<FlowSummary>>, ApiError> {
        self.caller
            .pages(
                "ListDataIntegrationFlows",
                |token| {
                    self.client
                        .list_data_integration_flows()
                        .instance_id(instance_id)
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    let flows = page.flows().iter().filter_map(flow_summary).collect();
                    (flows, page.next_token)
                },
            )
            .await
            .found()
    }

    async fn executions(
        &self,
        instance_id: &str,
        flow_name: &str,
        next_token: Option<String>,
    ) -> Result<Option<ExecutionsPage>, ApiError> {
        let result = self
            .caller
            .call("ListDataIntegrationFlowExecutions", || {
                self.client
                    .list_data_integration_flow_executions()
                    .instance_id(instance_id)
                    .flow_name(flow_name)
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.clone())
                    .send()
            })
            .await;
        Ok(result.found()?.map(|page| ExecutionsPage {
            executions: page
                .flow_executions()
                .iter()
                .filter_map(execution)
                .collect(),
            next_token: crate::aws::next_token(next_token.as_deref(), page.next_token()),
        }))
    }

    async fn execution(
        &self,
        instance_id: &str,
        flow_name: &str,
        execution_id: &str,
    ) -> Result<Option<Execution>, ApiError> {
        let result = self
            .caller
            .call("GetDataIntegrationFlowExecution", || {
                self.client
                    .get_data_integration_flow_execution()
                    .instance_id(instance_id)
                    .flow_name(flow_name)
                    .execution_id(execution_id)
                    .send()
            })
            .await;
        Ok(result
            .found()?
            .and_then(|out| out.flow_execution().and_then(execution)))
    }
}

fn seconds(t: Option<&DateTime>) -> Option<f64> {
    t.map(|t| t.as_secs_f64())
}

/// An enum's wire string. The SDK fills a missing required enum with this placeholder (or "");
/// that is "absent", not a state.
fn wire(value: &str) -> Option<String> {
    present(value).map(str::to_string)
}

/// [`wire`], for an enum's value many flows share.
fn wire_enum(value: &str) -> Option<Interned> {
    present(value).map(Interned::new)
}

fn present(value: &str) -> Option<&str> {
    (!value.is_empty() && value != "no value was set").then_some(value)
}

/// An instance with no id cannot be labelled: it is skipped.
fn instance_summary(i: &Instance) -> Option<InstanceSummary> {
    let id = wire(i.instance_id())?;
    Some(InstanceSummary {
        id,
        state: wire_enum(i.state().as_str()),
    })
}

/// A flow with no name cannot be labelled: it is skipped.
fn flow_summary(f: &DataIntegrationFlow) -> Option<FlowSummary> {
    let name = wire(f.name())?;
    // The SDK writes epoch 0 for a missing createdTime.
    let created = f.created_time().as_secs_f64();
    Some(FlowSummary {
        name,
        source_types: f
            .sources()
            .iter()
            .filter_map(|s| wire_enum(s.source_type().as_str()))
            .collect(),
        target_type: f.target().and_then(|t| wire_enum(t.target_type().as_str())),
        transformation_type: f
            .transformation()
            .and_then(|t| wire_enum(t.transformation_type().as_str())),
        created_time: (created != 0.0).then_some(created),
    })
}

/// An execution with no id cannot be de-duplicated: it is skipped.
fn execution(e: &DataIntegrationFlowExecution) -> Option<Execution> {
    let id = wire(e.execution_id())?;
    Some(Execution {
        id,
        status: e.status().and_then(|s| wire_enum(s.as_str())),
        start_time: seconds(e.start_time()),
        end_time: seconds(e.end_time()),
        message: e.message().map(str::to_string),
    })
}
