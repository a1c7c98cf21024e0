//! Amazon Connect Customer Profiles: domains and their workflows.

mod api;
mod collector;

use anyhow::Context;

use api::SdkCustomerProfiles;
use collector::CustomerProfilesCollector;

use super::{Build, ConfigKey, Iam, ServiceDef, ServiceSettings};
use crate::collector::Collector;

pub(crate) static SERVICE: ServiceDef = ServiceDef {
    name: "customerprofiles",
    title: "Amazon Connect Customer Profiles workflows",
    config_keys: &[ConfigKey::Domains],
    families: &[
        &collector::INFO,
        &collector::STATUS,
        &collector::RECORDS,
        &collector::STEPS_COMPLETED,
        &collector::STEPS,
        &collector::START,
        &collector::LAST_UPDATED,
        &collector::FINISHED,
    ],
    operations,
    build,
    iam: Iam::of("profile"),
};

fn operations(_: &ServiceSettings) -> Vec<&'static str> {
    vec!["ListDomains", "ListWorkflows", "GetWorkflow"]
}

fn build(build: Build<'_>) -> anyhow::Result<Box<dyn Collector>> {
    let filter = collector::domain_filter(&build.settings.domains)
        .context("services.customerprofiles.domains: invalid domain name")?
        .with_shard(build.settings.filter.shard());
    let setup = build.setup(filter);
    Ok(Box::new(CustomerProfilesCollector::new(
        SdkCustomerProfiles::new(build.sdk, build.caller),
        setup,
    )))
}
