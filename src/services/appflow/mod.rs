//! Amazon AppFlow: flows and their execution records.

mod api;
mod collector;
mod families;
mod schedule;

use api::SdkAppFlow;
use collector::AppFlowCollector;

use super::{Build, Iam, ServiceDef, ServiceSettings, FILTERED};
use crate::collector::Collector;

pub(crate) static SERVICE: ServiceDef = ServiceDef {
    name: "appflow",
    title: "Amazon AppFlow",
    config_keys: FILTERED,
    families: &[
        &families::INFO,
        &families::STATUS,
        &families::LAST_STATUS,
        &families::LAST_START,
        &families::LAST_SUCCESS,
        &families::LAST_FAILURE,
        &families::IN_PROGRESS,
        &families::LAST_BYTES,
        &families::LAST_WRITTEN,
        &families::LAST_RECORDS,
        &families::LAST_PUT_FAILURES,
        &families::LAST_PARALLEL,
        &families::LAST_PAGE_SIZE,
        &families::LAST_DURATION,
        &families::EXECUTIONS,
        &families::BYTES,
        &families::WRITTEN,
        &families::RECORDS,
        &families::PUT_FAILURES,
        &families::DURATION,
        &families::MAX_PARALLELISM,
        &families::MAX_PAGE_SIZE,
        &families::REGISTRATIONS,
        &families::NEXT_RUN,
        &families::SCHEDULE_INTERVAL,
        &families::CONSECUTIVE_FAILURES,
        &families::DEACTIVATION_THRESHOLD,
    ],
    operations,
    build,
    iam: Iam::of("appflow"),
};

fn operations(_: &ServiceSettings) -> Vec<&'static str> {
    vec!["ListFlows", "DescribeFlow", "DescribeFlowExecutionRecords"]
}

fn build(build: Build<'_>) -> anyhow::Result<Box<dyn Collector>> {
    let setup = build.setup(build.settings.filter.clone());
    Ok(Box::new(AppFlowCollector::new(
        SdkAppFlow::new(build.sdk, build.caller),
        setup,
    )))
}
