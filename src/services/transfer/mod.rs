//! AWS Transfer Family managed workflows and their executions in progress.

mod api;
mod collector;

use api::SdkTransfer;
use collector::TransferCollector;

use super::{Build, ConfigKey, ServiceDef, ServiceSettings};
use crate::collector::Collector;

pub(crate) static SERVICE: ServiceDef = ServiceDef {
    name: "transfer",
    title: "AWS Transfer Family managed workflows",
    config_keys: &[ConfigKey::Include, ConfigKey::Exclude, ConfigKey::LogGroups],
    families: &[
        &collector::INFO,
        &collector::EXECUTIONS,
        &collector::OLDEST_AGE,
        &collector::FINISHED,
        &collector::STEP_ERRORS,
    ],
    operations,
    build,
};

fn operations(_: &ServiceSettings) -> Vec<&'static str> {
    vec!["ListWorkflows", "ListExecutions", "DescribeExecution"]
}

fn build(build: Build<'_>) -> anyhow::Result<Box<dyn Collector>> {
    let filter = build.settings.filter.clone();
    Ok(Box::new(TransferCollector::new(
        SdkTransfer::new(build.sdk, build.caller),
        filter,
        build.max_concurrency,
        build.base_labels,
    )))
}
