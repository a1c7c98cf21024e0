//! The `aws_appflow_*` families, declared once for the collector and the docs.

use crate::family;

family!(
    INFO,
    "aws_appflow_flow_info",
    Gauge,
    [
        "flow_name",
        "source_connector",
        "source_connector_label",
        "destination_connector",
        "destination_connector_label",
        "trigger_type"
    ],
    "Information about an AppFlow flow; always 1."
);
family!(
    STATUS,
    "aws_appflow_flow_status",
    Gauge,
    ["flow_name", "status"],
    "The flow's status, one series per state (1 = current)."
);
family!(
    LAST_STATUS,
    "aws_appflow_flow_last_execution_status",
    Gauge,
    ["flow_name", "status"],
    "Status of the flow's newest execution, one series per state (1 = current)."
);
family!(
    LAST_START,
    "aws_appflow_flow_last_execution_start_timestamp_seconds",
    Gauge,
    ["flow_name"],
    "Start time of the flow's newest execution."
);
family!(
    LAST_SUCCESS,
    "aws_appflow_flow_last_success_timestamp_seconds",
    Gauge,
    ["flow_name"],
    "lastUpdatedAt of the newest Successful execution seen."
);
family!(
    LAST_FAILURE,
    "aws_appflow_flow_last_failure_timestamp_seconds",
    Gauge,
    ["flow_name"],
    "lastUpdatedAt of the newest Error execution seen."
);
family!(
    IN_PROGRESS,
    "aws_appflow_flow_executions_in_progress",
    Gauge,
    ["flow_name"],
    "Executions in InProgress or CancelStarted."
);
family!(
    LAST_BYTES,
    "aws_appflow_last_execution_processed_bytes",
    Gauge,
    ["flow_name"],
    "Bytes processed by the newest finished execution."
);
family!(
    LAST_WRITTEN,
    "aws_appflow_last_execution_written_bytes",
    Gauge,
    ["flow_name"],
    "Bytes written by the newest finished execution."
);
family!(
    LAST_RECORDS,
    "aws_appflow_last_execution_processed_records",
    Gauge,
    ["flow_name"],
    "Records processed by the newest finished execution."
);
family!(
    LAST_PUT_FAILURES,
    "aws_appflow_last_execution_put_failures",
    Gauge,
    ["flow_name"],
    "Put failures of the newest finished execution (0 without errorInfo)."
);
family!(
    LAST_PARALLEL,
    "aws_appflow_last_execution_parallel_processes",
    Gauge,
    ["flow_name"],
    "Parallel processes used by the newest finished execution."
);
family!(
    LAST_PAGE_SIZE,
    "aws_appflow_last_execution_max_page_size",
    Gauge,
    ["flow_name"],
    "Maximum page size used by the newest finished execution."
);
family!(
    LAST_DURATION,
    "aws_appflow_last_execution_duration_seconds",
    Gauge,
    ["flow_name"],
    "lastUpdatedAt - startedAt of the newest finished execution."
);
family!(
    EXECUTIONS,
    "aws_appflow_executions_total",
    Counter,
    ["flow_name", "status"],
    "Executions seen reaching a terminal status."
);
family!(
    BYTES,
    "aws_appflow_processed_bytes_total",
    Counter,
    ["flow_name"],
    "Bytes processed by counted executions."
);
family!(
    WRITTEN,
    "aws_appflow_written_bytes_total",
    Counter,
    ["flow_name"],
    "Bytes written by counted executions."
);
family!(
    RECORDS,
    "aws_appflow_processed_records_total",
    Counter,
    ["flow_name"],
    "Records processed by counted executions."
);
family!(
    PUT_FAILURES,
    "aws_appflow_put_failures_total",
    Counter,
    ["flow_name"],
    "Put failures of counted executions."
);
family!(
    DURATION,
    "aws_appflow_execution_duration_seconds",
    Histogram,
    ["flow_name"],
    "Durations (lastUpdatedAt - startedAt) of counted executions."
);
family!(
    MAX_PARALLELISM,
    "aws_appflow_flow_configured_max_parallelism",
    Gauge,
    ["flow_name"],
    "SAP OData parallelismConfig.maxParallelism of the flow."
);
family!(
    MAX_PAGE_SIZE,
    "aws_appflow_flow_configured_max_page_size",
    Gauge,
    ["flow_name"],
    "SAP OData paginationConfig.maxPageSize of the flow."
);
family!(
    REGISTRATIONS,
    "aws_appflow_catalog_registrations_total",
    Counter,
    ["flow_name", "kind", "status"],
    "Glue Data Catalog registration outcomes of counted executions."
);

family!(
    NEXT_RUN,
    "aws_appflow_flow_next_scheduled_run_timestamp_seconds",
    Gauge,
    ["flow_name"],
    "When the flow's schedule next fires after its newest run started (scheduled flows)."
);
family!(
    SCHEDULE_INTERVAL,
    "aws_appflow_flow_schedule_interval_seconds",
    Gauge,
    ["flow_name"],
    "rate: its interval; cron: the gap between the next due time and the fire time before it."
);
family!(
    CONSECUTIVE_FAILURES,
    "aws_appflow_flow_consecutive_failures",
    Gauge,
    ["flow_name"],
    "Error executions newer than the newest Successful one, among those in the lookback."
);
family!(
    DEACTIVATION_THRESHOLD,
    "aws_appflow_flow_error_deactivation_threshold",
    Gauge,
    ["flow_name"],
    "flowErrorDeactivationThreshold: consecutive failures after which AppFlow deactivates the flow."
);
