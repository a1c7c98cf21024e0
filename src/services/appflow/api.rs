//! The three AppFlow calls the collector makes, as a narrow trait, and the
//! SDK adapter that implements it. Pagination of ListFlows is hidden here;
//! execution records are paged by the collector, which decides how far back
//! to go.

use std::future::Future;

use aws_sdk_appflow::types::{ExecutionRecord, FlowDefinition};
use aws_smithy_types::DateTime;

use super::schedule::ScheduleConfig;
use crate::aws::{ApiError, Caller, Found};
use crate::interned::Interned;

/// AppFlow allows 1..=100 results a page; the SDK does not check.
const PAGE_SIZE: i32 = 100;

/// One flow as ListFlows describes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowSummary {
    pub name: String,
    pub status: Option<Interned>,
    pub source_connector: Option<Interned>,
    pub source_connector_label: Option<Interned>,
    pub destination_connector: Option<Interned>,
    pub destination_connector_label: Option<Interned>,
    pub trigger_type: Option<Interned>,
    pub created_at: Option<f64>,
    pub last_updated_at: Option<f64>,
    /// `lastRunExecutionDetails`: (status, time); a change means new execution data.
    pub last_run: Option<(Option<Interned>, Option<f64>)>,
}

/// The SAP OData limits DescribeFlow reveals; None when the flow does not set them.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SapODataLimits {
    pub max_parallelism: Option<i64>,
    pub max_page_size: Option<i64>,
}

/// What DescribeFlow tells of a flow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Described {
    pub sap: SapODataLimits,
    /// `triggerConfig.triggerProperties.Scheduled`, when the flow has it.
    pub schedule: Option<ScheduleConfig>,
}

/// One execution record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub id: String,
    pub status: String,
    pub started_at: Option<f64>,
    pub last_updated_at: Option<f64>,
    pub bytes_processed: Option<i64>,
    pub bytes_written: Option<i64>,
    pub records_processed: Option<i64>,
    pub parallel_processes: Option<i64>,
    pub max_page_size: Option<i64>,
    /// `errorInfo.putFailuresCount`; None when the record has no errorInfo.
    pub put_failures: Option<i64>,
    /// `errorInfo.executionMessage`: logged, never a label.
    pub message: Option<String>,
    /// Glue catalog registrations: (kind `table`/`partition`, status).
    pub registrations: Vec<(&'static str, String)>,
}

/// One page of execution records, in the order AWS sent them.
#[derive(Clone, Debug, Default)]
pub struct RecordsPage {
    pub records: Vec<Record>,
    pub next_token: Option<String>,
}

/// What the AppFlow collector needs from AWS. `Ok(None)`: the flow is gone.
pub trait AppFlowApi: Send + Sync {
    fn list_flows(&self) -> impl Future<Output = Result<Vec<FlowSummary>, ApiError>> + Send;
    fn describe_flow(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Described>, ApiError>> + Send;
    fn execution_records(
        &self,
        name: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<Option<RecordsPage>, ApiError>> + Send;
}

/// [`AppFlowApi`] over the AWS SDK.
pub struct SdkAppFlow {
    client: aws_sdk_appflow::Client,
    caller: Caller,
}

impl SdkAppFlow {
    pub fn new(sdk: &crate::aws::Sdk, caller: Caller) -> Self {
        SdkAppFlow {
            client: sdk.client(aws_sdk_appflow::Client::new),
            caller,
        }
    }
}

impl AppFlowApi for SdkAppFlow {
    async fn list_flows(&self) -> Result<Vec<FlowSummary>, ApiError> {
        self.caller
            .pages(
                "ListFlows",
                |token| {
                    self.client
                        .list_flows()
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
    }

    async fn describe_flow(&self, name: &str) -> Result<Option<Described>, ApiError> {
        let Some(flow) = self
            .caller
            .call("DescribeFlow", || {
                self.client.describe_flow().flow_name(name).send()
            })
            .await
            .found()?
        else {
            return Ok(None);
        };
        let sap = flow
            .source_flow_config()
            .and_then(|c| c.source_connector_properties())
            .and_then(|p| p.sapo_data());
        let positive = |v: i32| (v > 0).then_some(i64::from(v));
        let schedule = flow
            .trigger_config()
            .and_then(|t| t.trigger_properties())
            .and_then(|p| p.scheduled())
            .map(|s| ScheduleConfig {
                expression: Some(s.schedule_expression())
                    .filter(|e| !e.is_empty())
                    .map(Interned::new),
                start: seconds(s.schedule_start_time()).into(),
                end: seconds(s.schedule_end_time()).into(),
                offset: s.schedule_offset().into(),
                threshold: s.flow_error_deactivation_threshold().map(i64::from).into(),
            });
        Ok(Some(Described {
            sap: SapODataLimits {
                max_parallelism: sap
                    .and_then(|s| s.parallelism_config())
                    .and_then(|c| positive(c.max_parallelism())),
                max_page_size: sap
                    .and_then(|s| s.pagination_config())
                    .and_then(|c| positive(c.max_page_size())),
            },
            schedule,
        }))
    }

    async fn execution_records(
        &self,
        name: &str,
        next_token: Option<String>,
    ) -> Result<Option<RecordsPage>, ApiError> {
        let Some(page) = self
            .caller
            .call("DescribeFlowExecutionRecords", || {
                self.client
                    .describe_flow_execution_records()
                    .flow_name(name)
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.clone())
                    .send()
            })
            .await
            .found()?
        else {
            return Ok(None);
        };
        Ok(Some(RecordsPage {
            records: page.flow_executions().iter().filter_map(record).collect(),
            next_token: crate::aws::next_token(next_token.as_deref(), page.next_token()),
        }))
    }
}

fn seconds(t: Option<&DateTime>) -> Option<f64> {
    t.map(|t| t.as_secs_f64())
}

/// A flow with no name cannot be labelled: it is skipped.
fn flow_summary(f: &FlowDefinition) -> Option<FlowSummary> {
    let name = f.flow_name().filter(|n| !n.is_empty())?;
    Some(FlowSummary {
        name: name.to_string(),
        status: f.flow_status().map(|s| Interned::new(s.as_str())),
        source_connector: f.source_connector_type().map(|c| Interned::new(c.as_str())),
        source_connector_label: f.source_connector_label().map(Interned::new),
        destination_connector: f
            .destination_connector_type()
            .map(|c| Interned::new(c.as_str())),
        destination_connector_label: f.destination_connector_label().map(Interned::new),
        trigger_type: f.trigger_type().map(|t| Interned::new(t.as_str())),
        created_at: seconds(f.created_at()),
        last_updated_at: seconds(f.last_updated_at()),
        last_run: f.last_run_execution_details().map(|d| {
            (
                d.most_recent_execution_status()
                    .map(|s| Interned::new(s.as_str())),
                seconds(d.most_recent_execution_time()),
            )
        }),
    })
}

/// A record with no id cannot be de-duplicated: it is skipped.
fn record(r: &ExecutionRecord) -> Option<Record> {
    let id = r.execution_id().filter(|id| !id.is_empty())?;
    let result = r.execution_result();
    let error = result.and_then(|r| r.error_info());
    let mut registrations = Vec::new();
    for detail in r.metadata_catalog_details() {
        let outputs = [
            ("table", detail.table_registration_output()),
            ("partition", detail.partition_registration_output()),
        ];
        for (kind, output) in outputs {
            if let Some(status) = output.and_then(|o| o.status()) {
                registrations.push((kind, status.as_str().to_string()));
            }
        }
    }
    Some(Record {
        id: id.to_string(),
        status: r
            .execution_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        started_at: seconds(r.started_at()),
        last_updated_at: seconds(r.last_updated_at()),
        bytes_processed: result.and_then(|r| r.bytes_processed()),
        bytes_written: result.and_then(|r| r.bytes_written()),
        records_processed: result.and_then(|r| r.records_processed()),
        parallel_processes: result.and_then(|r| r.num_parallel_processes()),
        max_page_size: result.and_then(|r| r.max_page_size()),
        put_failures: error.map(|e| e.put_failures_count().unwrap_or(0)),
        message: error
            .and_then(|e| e.execution_message())
            .map(str::to_string),
        registrations,
    })
}
