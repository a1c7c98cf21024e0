//! The one CloudWatch Logs call the Transfer collector makes (FilterLogEvents),
//! as a narrow trait with its SDK adapter, and how a workflow log event reads.
//!
//! Transfer writes one JSON object per workflow event to the server's log
//! group (`/aws/transfer/<server-id>`):
//!
//! ```json
//! {"type": "StepErrored", "workflowId": "w-…", "executionId": "…",
//!  "details": {"errorType": "BAD_REQUEST", "errorMessage": "…", "stepType": "TAG", "stepName": "tag-step"},
//!  "transferDetails": {"serverId": "s-…", "username": "…", "sessionId": "…"}}
//! ```
//!
//! Only the three types that count are read: the filter pattern selects them
//! on the CloudWatch side, so the SFTP session lines of the same group (and
//! the other workflow events) are never transferred. Events are parsed page
//! by page, so a long read holds the few fields that count, not the messages.

use std::future::Future;

use serde::Deserialize;

use crate::aws::{ApiError, Caller, Found};

/// The filter pattern sent with every FilterLogEvents: the three types that count.
pub const FILTER_PATTERN: &str = r#"{ ($.type = "ExecutionCompleted") || ($.type = "ExecutionErrored") || ($.type = "StepErrored") }"#;

/// FilterLogEvents allows 1..=10000 events a page (`EventsLimit`); the SDK does not check.
const PAGE_SIZE: i32 = 10_000;

/// The log group Transfer writes a server's workflow events to.
pub fn server_log_group(server_id: &str) -> String {
    format!("/aws/transfer/{server_id}")
}

/// What an event that counts says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// ExecutionCompleted (`false`) or ExecutionErrored (`true`): the execution ended.
    Ended { exception: bool },
    /// StepErrored.
    StepErrored {
        /// `details.stepName` (empty when missing): what de-duplicates the errors of one execution.
        step_name: String,
        /// `details.stepType` (empty when missing).
        step_type: String,
        /// `details.errorType` (empty when missing).
        error_type: String,
        /// `details.errorMessage`: logged, never a label.
        message: String,
    },
}

/// One workflow event that counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowEvent {
    pub workflow_id: String,
    pub execution_id: String,
    pub kind: EventKind,
}

/// One event FilterLogEvents returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    /// When it happened, epoch milliseconds.
    pub timestamp_ms: i64,
    /// CloudWatch's event id: with the timestamp, the order of events.
    pub event_id: String,
    /// `None` when the message is not a workflow event that counts (skipped).
    pub event: Option<WorkflowEvent>,
}

/// Reads a message as a workflow event: `None` for anything that is not JSON,
/// not one of the three types that count, or lacks `workflowId`/`executionId`.
pub fn parse(message: &str) -> Option<WorkflowEvent> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Message {
        #[serde(rename = "type")]
        kind: Option<String>,
        workflow_id: Option<String>,
        execution_id: Option<String>,
        #[serde(default)]
        details: Details,
    }
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Details {
        step_name: Option<String>,
        step_type: Option<String>,
        error_type: Option<String>,
        error_message: Option<String>,
    }
    let m: Message = serde_json::from_str(message).ok()?;
    let workflow_id = m.workflow_id.filter(|id| !id.is_empty())?;
    let execution_id = m.execution_id.filter(|id| !id.is_empty())?;
    let kind = match m.kind?.as_str() {
        "ExecutionCompleted" => EventKind::Ended { exception: false },
        "ExecutionErrored" => EventKind::Ended { exception: true },
        "StepErrored" => {
            let d = m.details;
            EventKind::StepErrored {
                step_name: d.step_name.unwrap_or_default(),
                step_type: d.step_type.unwrap_or_default(),
                error_type: d.error_type.unwrap_or_default(),
                message: d.error_message.unwrap_or_default(),
            }
        }
        _ => return None,
    };
    Some(WorkflowEvent {
        workflow_id,
        execution_id,
        kind,
    })
}

/// What the Transfer collector needs from CloudWatch Logs.
pub trait LogsApi: Send + Sync {
    /// Every event of `group` from `start_ms` (inclusive) on that matches
    /// `pattern`, all pages, in the order CloudWatch returns them.
    /// `Ok(None)`: the group does not exist (ResourceNotFound).
    fn filter_log_events(
        &self,
        group: &str,
        start_ms: i64,
        pattern: &str,
    ) -> impl Future<Output = Result<Option<Vec<LoggedEvent>>, ApiError>> + Send;
}

/// [`LogsApi`] over the AWS SDK.
pub struct SdkLogs {
    client: aws_sdk_cloudwatchlogs::Client,
    caller: Caller,
}

impl SdkLogs {
    pub fn new(sdk: &crate::aws::Sdk, caller: Caller) -> Self {
        SdkLogs {
            client: sdk.client(aws_sdk_cloudwatchlogs::Client::new),
            caller,
        }
    }
}

impl LogsApi for SdkLogs {
    async fn filter_log_events(
        &self,
        group: &str,
        start_ms: i64,
        pattern: &str,
    ) -> Result<Option<Vec<LoggedEvent>>, ApiError> {
        self.caller
            .pages(
                "FilterLogEvents",
                |token| {
                    self.client
                        .filter_log_events()
                        .log_group_name(group)
                        .start_time(start_ms.max(0))
                        .filter_pattern(pattern)
                        .limit(PAGE_SIZE)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    // An event without a timestamp cannot be placed in time: skipped.
                    let events = page
                        .events
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|e| {
                            Some(LoggedEvent {
                                timestamp_ms: e.timestamp?,
                                event: e.message.as_deref().and_then(parse),
                                event_id: e.event_id.unwrap_or_default(),
                            })
                        })
                        .collect();
                    (events, page.next_token)
                },
            )
            .await
            .found()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_types_that_count_are_read() {
        let completed = parse(
            r#"{"type":"ExecutionCompleted","details":{},"workflowId":"w-1","executionId":"e-1",
                "transferDetails":{"serverId":"s-1","username":"u","sessionId":"x"}}"#,
        );
        assert_eq!(
            completed,
            Some(WorkflowEvent {
                workflow_id: "w-1".into(),
                execution_id: "e-1".into(),
                kind: EventKind::Ended { exception: false },
            })
        );
        let errored =
            parse(r#"{"type":"ExecutionErrored","workflowId":"w-1","executionId":"e-1"}"#);
        assert_eq!(
            errored.map(|e| e.kind),
            Some(EventKind::Ended { exception: true })
        );
        let step = parse(
            r#"{"type":"StepErrored","details":{"errorType":"BAD_REQUEST","errorMessage":"Cannot tag",
                "stepType":"TAG","stepName":"tag-step"},"workflowId":"w-1","executionId":"e-1"}"#,
        );
        assert_eq!(
            step.map(|e| e.kind),
            Some(EventKind::StepErrored {
                step_name: "tag-step".into(),
                step_type: "TAG".into(),
                error_type: "BAD_REQUEST".into(),
                message: "Cannot tag".into(),
            })
        );
        // Missing details are empty strings, not a reason to skip.
        let bare = parse(r#"{"type":"StepErrored","workflowId":"w-1","executionId":"e-1"}"#);
        assert!(matches!(
            bare.map(|e| e.kind),
            Some(EventKind::StepErrored { step_name, .. }) if step_name.is_empty()
        ));
    }

    #[test]
    fn anything_else_is_skipped() {
        for bad in [
            "",
            "not json",
            "partner-sftp.0123 OPEN Path=/x Mode=WRITE",
            "[1,2]",
            r#"{"activity-type":"CONNECTED","session-id":"x"}"#,
            r#"{"type":"ExecutionStarted","workflowId":"w-1","executionId":"e-1"}"#,
            r#"{"type":"StepCompleted","workflowId":"w-1","executionId":"e-1"}"#,
            r#"{"type":"ExecutionThrottled","workflowId":"w-1","executionId":"e-1"}"#,
            r#"{"type":"ExecutionCompleted","executionId":"e-1"}"#,
            r#"{"type":"ExecutionCompleted","workflowId":"w-1"}"#,
            r#"{"type":"ExecutionCompleted","workflowId":"","executionId":"e-1"}"#,
            r#"{"type":"ExecutionCompleted","workflowId":"w-1","executionId":7}"#,
            r#"{"workflowId":"w-1","executionId":"e-1"}"#,
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_filter_pattern_names_exactly_the_types_that_count() {
        for kind in ["ExecutionCompleted", "ExecutionErrored", "StepErrored"] {
            assert!(FILTER_PATTERN.contains(&format!("($.type = \"{kind}\")")));
        }
        assert_eq!(FILTER_PATTERN.matches("$.type").count(), 3);
        // FilterPattern: at most 1024 characters.
        assert!(FILTER_PATTERN.len() <= 1024);
        assert_eq!(server_log_group("s-1"), "/aws/transfer/s-1");
    }
}
