//! AWS Supply Chain: instances, data integration flows and their executions.

mod api;
mod collector;

use api::SdkSupplyChain;
use collector::SupplyChainCollector;

use super::{Build, Iam, ServiceDef, ServiceSettings, FILTERED};
use crate::collector::Collector;

pub(crate) static SERVICE: ServiceDef = ServiceDef {
    name: "supplychain",
    title: "AWS Supply Chain data integration flows",
    config_keys: FILTERED,
    families: &[
        &collector::INSTANCE_STATE,
        &collector::INFO,
        &collector::LAST_STATUS,
        &collector::LAST_START,
        &collector::LAST_SUCCESS,
        &collector::LAST_FAILURE,
        &collector::IN_PROGRESS,
        &collector::LAST_DURATION,
        &collector::EXECUTIONS,
        &collector::DURATION,
    ],
    operations,
    build,
    iam: Iam::of("scn"),
};

fn operations(_: &ServiceSettings) -> Vec<&'static str> {
    vec![
        "ListInstances",
        "ListDataIntegrationFlows",
        "ListDataIntegrationFlowExecutions",
        "GetDataIntegrationFlowExecution",
    ]
}

fn build(build: Build<'_>) -> anyhow::Result<Box<dyn Collector>> {
    let setup = build.setup(build.settings.filter.clone());
    Ok(Box::new(SupplyChainCollector::new(
        SdkSupplyChain::new(build.sdk, build.caller),
        setup,
    )))
}
