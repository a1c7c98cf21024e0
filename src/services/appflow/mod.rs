//! Amazon AppFlow: flows and their execution records.

mod api;
mod collector;

use api::SdkAppFlow;
use collector::AppFlowCollector;

use super::{Build, Iam, ServiceDef, ServiceSettings, FILTERED};
use crate::collector::Collector;

pub(crate) static SERVICE: ServiceDef = ServiceDef {
    name: "appflow",
    title: "Amazon AppFlow",
    config_keys: FILTERED,
    families: &[
        &collector::INFO,
        &collector::STATUS,
        &collector::LAST_STATUS,
        &collector::LAST_START,
        &collector::LAST_SUCCESS,
        &collector::LAST_FAILURE,
        &collector::IN_PROGRESS,
        &collector::LAST_BYTES,
        &collector::LAST_WRITTEN,
        &collector::LAST_RECORDS,
        &collector::LAST_PUT_FAILURES,
        &collector::LAST_PARALLEL,
        &collector::LAST_PAGE_SIZE,
        &collector::LAST_DURATION,
        &collector::EXECUTIONS,
        &collector::BYTES,
        &collector::WRITTEN,
        &collector::RECORDS,
        &collector::PUT_FAILURES,
        &collector::DURATION,
        &collector::MAX_PARALLELISM,
        &collector::MAX_PAGE_SIZE,
        &collector::REGISTRATIONS,
    ],
    operations,
    build,
    iam: Iam::of("appflow"),
};

fn operations(_: &ServiceSettings) -> Vec<&'static str> {
    vec!["ListFlows", "DescribeFlow", "DescribeFlowExecutionRecords"]
}

fn build(build: Build<'_>) -> anyhow::Result<Box<dyn Collector>> {
    let filter = build.settings.filter.clone();
    Ok(Box::new(AppFlowCollector::new(
        SdkAppFlow::new(build.sdk, build.caller),
        filter,
        build.lookback,
        build.max_concurrency,
        build.base_labels,
    )))
}
