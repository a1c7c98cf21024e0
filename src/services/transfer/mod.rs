//! AWS Transfer Family managed workflows, their executions in progress and,
//! with `log_groups`, their outcomes and step errors from the workflow logs.

mod api;
mod collector;
mod logs;

use api::SdkTransfer;
use collector::{LogSource, TransferCollector};
use logs::SdkLogs;

use super::{Build, ConfigKey, Iam, LogGroups, ServiceDef, ServiceSettings};
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
        &collector::LAST_END,
        &collector::LOG_GROUP_UP,
    ],
    operations,
    build,
    iam: Iam {
        prefix: "transfer",
        elsewhere: &[("FilterLogEvents", "logs")],
    },
};

/// DescribeExecution stays with `log_groups`: the workflows whose events are
/// in no readable group are still counted from the listing.
fn operations(settings: &ServiceSettings) -> Vec<&'static str> {
    let mut operations = Vec::new();
    if settings.log_groups == Some(LogGroups::Auto) {
        operations.push("ListServers");
    }
    operations.extend(["ListWorkflows", "ListExecutions", "DescribeExecution"]);
    if settings.log_groups.is_some() {
        operations.push("FilterLogEvents");
    }
    operations
}

fn build(build: Build<'_>) -> anyhow::Result<Box<dyn Collector>> {
    let logs = build.settings.log_groups.clone().map(|groups| LogSource {
        api: SdkLogs::new(build.sdk, build.caller.clone()),
        groups,
    });
    let setup = build.setup(build.settings.filter.clone());
    Ok(Box::new(TransferCollector::new(
        SdkTransfer::new(build.sdk, build.caller),
        logs,
        setup,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_follow_log_groups() {
        let mut settings = ServiceSettings::new(&SERVICE);
        let without = ["ListWorkflows", "ListExecutions", "DescribeExecution"];
        assert_eq!(operations(&settings), without);
        settings.log_groups = Some(LogGroups::Names(vec!["/aws/transfer/s-1".into()]));
        let mut named = without.to_vec();
        named.push("FilterLogEvents");
        assert_eq!(operations(&settings), named);
        settings.log_groups = Some(LogGroups::Auto);
        named.insert(0, "ListServers");
        assert_eq!(operations(&settings), named);
    }
}
