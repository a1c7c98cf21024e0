//! The Transfer Family calls the collector makes, as a narrow trait, and the
//! SDK adapter that implements it. The list calls are paged here: the
//! collector always needs the whole list. ListServers is only called with
//! `log_groups: auto` (the workflow logs are read from the servers' groups).
//!
//! DescribeWorkflow is not used: the metrics need nothing from a workflow's
//! definition, and step results carry their own step type.

use std::future::Future;

use aws_sdk_transfer::types::{DescribedExecution, ExecutionStepResult};

use crate::aws::{ApiError, Caller, Found};
use crate::interned::Interned;

/// Transfer allows 1..=1000 results a page; the SDK does not check.
const PAGE_SIZE: i32 = 1000;

/// Which list of `Results` a step result comes from.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Steps,
    OnExceptionSteps,
}

impl Phase {
    /// 0 for `steps`, 1 for `on_exception_steps`.
    pub fn index(self) -> usize {
        match self {
            Phase::Steps => 0,
            Phase::OnExceptionSteps => 1,
        }
    }

    /// The `phase` label value.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Steps => "steps",
            Phase::OnExceptionSteps => "on_exception_steps",
        }
    }
}

/// One execution as ListExecutions shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListedExecution {
    pub id: String,
    pub status: Option<Interned>,
}

/// A step result that carries an error.
#[derive(Clone, Debug, PartialEq)]
pub struct StepError {
    pub phase: Phase,
    /// Position in its list: with the phase, what makes the error unique within an execution.
    pub index: usize,
    /// `StepType` (empty when AWS left it out).
    pub step_type: String,
    /// `Error.Type` (empty when AWS left it out).
    pub error_type: String,
    /// `Error.Message`: logged, never a label.
    pub message: String,
}

/// What DescribeExecution says of an execution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecutionDetail {
    pub status: Option<String>,
    pub step_errors: Vec<StepError>,
}

/// What the Transfer collector needs from AWS. `Ok(None)`: the workflow or
/// execution is gone (ResourceNotFound).
pub trait TransferApi: Send + Sync {
    /// Every server id, all pages.
    fn list_servers(&self) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;
    /// Every workflow id, all pages.
    fn list_workflows(&self) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;
    /// Every execution in progress of a workflow, all pages.
    fn list_executions(
        &self,
        workflow_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<ListedExecution>>, ApiError>> + Send;
    fn describe_execution(
        &self,
        workflow_id: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<ExecutionDetail>, ApiError>> + Send;
}

/// [`TransferApi`] over the AWS SDK.
pub struct SdkTransfer {
    client: aws_sdk_transfer::Client,
    caller: Caller,
}

impl SdkTransfer {
    pub fn new(sdk: &crate::aws::Sdk, caller: Caller) -> Self {
        SdkTransfer {
            client: sdk.client(aws_sdk_transfer::Client::new),
            caller,
        }
    }
}

impl TransferApi for SdkTransfer {
    async fn list_servers(&self) -> Result<Vec<String>, ApiError> {
        self.caller
            .pages(
                "ListServers",
                |token| {
                    self.client
                        .list_servers()
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    // A server with no id has no log group to read: it is skipped.
                    let ids = page
                        .servers()
                        .iter()
                        .filter_map(|s| s.server_id())
                        .filter(|id| !id.is_empty())
                        .map(str::to_string)
                        .collect();
                    (ids, page.next_token)
                },
            )
            .await
    }

    async fn list_workflows(&self) -> Result<Vec<String>, ApiError> {
        self.caller
            .pages(
                "ListWorkflows",
                |token| {
                    self.client
                        .list_workflows()
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    // A workflow with no id cannot be labelled: it is skipped.
                    let ids = page
                        .workflows()
                        .iter()
                        .filter_map(|w| w.workflow_id())
                        .filter(|id| !id.is_empty())
                        .map(str::to_string)
                        .collect();
                    (ids, page.next_token)
                },
            )
            .await
    }

    async fn list_executions(
        &self,
        workflow_id: &str,
    ) -> Result<Option<Vec<ListedExecution>>, ApiError> {
        self.caller
            .pages(
                "ListExecutions",
                |token| {
                    self.client
                        .list_executions()
                        .workflow_id(workflow_id)
                        .max_results(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    // An execution with no id cannot be followed: it is skipped.
                    let executions = page
                        .executions()
                        .iter()
                        .filter_map(|e| {
                            let id = e.execution_id().filter(|id| !id.is_empty())?;
                            Some(ListedExecution {
                                id: id.to_string(),
                                status: e.status().map(|s| Interned::new(s.as_str())),
                            })
                        })
                        .collect();
                    (executions, page.next_token)
                },
            )
            .await
            .found()
    }

    async fn describe_execution(
        &self,
        workflow_id: &str,
        execution_id: &str,
    ) -> Result<Option<ExecutionDetail>, ApiError> {
        let result = self
            .caller
            .call("DescribeExecution", || {
                self.client
                    .describe_execution()
                    .workflow_id(workflow_id)
                    .execution_id(execution_id)
                    .send()
            })
            .await
            .found()?;
        Ok(result.map(|out| out.execution().map(execution_detail).unwrap_or_default()))
    }
}

fn execution_detail(e: &DescribedExecution) -> ExecutionDetail {
    let results = e.results();
    let phases = [
        (Phase::Steps, results.map(|r| r.steps()).unwrap_or_default()),
        (
            Phase::OnExceptionSteps,
            results.map(|r| r.on_exception_steps()).unwrap_or_default(),
        ),
    ];
    let step_errors = phases
        .into_iter()
        .flat_map(|(phase, steps)| {
            steps
                .iter()
                .enumerate()
                .filter_map(move |(index, step)| step_error(phase, index, step))
        })
        .collect();
    ExecutionDetail {
        status: e.status().map(|s| s.as_str().to_string()),
        step_errors,
    }
}

fn step_error(phase: Phase, index: usize, step: &ExecutionStepResult) -> Option<StepError> {
    let error = step.error()?;
    Some(StepError {
        phase,
        index,
        step_type: step
            .step_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        error_type: error.r#type().as_str().to_string(),
        message: error.message().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_transfer::types::{
        ExecutionError, ExecutionErrorType, ExecutionResults, ExecutionStatus, WorkflowStepType,
    };

    #[test]
    fn step_errors_keep_phase_index_and_raw_enum_strings() {
        let ok = ExecutionStepResult::builder()
            .step_type(WorkflowStepType::Copy)
            .build();
        let failed = ExecutionStepResult::builder()
            .step_type(WorkflowStepType::from("QUANTUM"))
            .error(
                ExecutionError::builder()
                    .r#type(ExecutionErrorType::PermissionDenied)
                    .message("denied")
                    .build()
                    .unwrap(),
            )
            .build();
        let untyped = ExecutionStepResult::builder()
            .error(
                ExecutionError::builder()
                    .r#type(ExecutionErrorType::from("NEW_KIND"))
                    .message("")
                    .build()
                    .unwrap(),
            )
            .build();
        let execution = DescribedExecution::builder()
            .status(ExecutionStatus::HandlingException)
            .results(
                ExecutionResults::builder()
                    .steps(ok)
                    .steps(failed)
                    .on_exception_steps(untyped)
                    .build(),
            )
            .build();
        let detail = execution_detail(&execution);
        assert_eq!(detail.status.as_deref(), Some("HANDLING_EXCEPTION"));
        assert_eq!(
            detail.step_errors,
            vec![
                StepError {
                    phase: Phase::Steps,
                    index: 1,
                    step_type: "QUANTUM".into(),
                    error_type: "PERMISSION_DENIED".into(),
                    message: "denied".into(),
                },
                StepError {
                    phase: Phase::OnExceptionSteps,
                    index: 0,
                    step_type: String::new(),
                    error_type: "NEW_KIND".into(),
                    message: String::new(),
                },
            ]
        );
        assert_eq!(
            execution_detail(&DescribedExecution::builder().build()),
            ExecutionDetail::default()
        );
    }
}
