//! The AWS calls of discovery: Organizations ListAccounts and STS
//! GetCallerIdentity with the exporter's own credentials, Account Management
//! ListRegions with an account's. All go through [`Caller`] and count as
//! `aws_service="discovery"`.

use crate::aws::{ApiError, Caller, Sdk};

/// The operations discovery calls, for the counters created at 0.
pub const OPERATIONS: [&str; 4] = [
    "ListAccounts",
    "GetCallerIdentity",
    "AssumeRole",
    "ListRegions",
];

/// An account as ListAccounts lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub name: String,
    /// `State` ACTIVE, or, where AWS sends no `State`, `Status` ACTIVE.
    pub active: bool,
}

/// Whose credentials the exporter runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    /// `aws`, `aws-cn`, `aws-us-gov`: from the caller's ARN.
    pub partition: String,
}

/// Every account of the organization, every page.
pub async fn list_accounts(caller: &Caller, sdk: &Sdk) -> Result<Vec<Listed>, ApiError> {
    let client = sdk.client(aws_sdk_organizations::Client::new);
    caller
        .pages(
            "ListAccounts",
            |token| client.list_accounts().set_next_token(token).send(),
            |out| {
                let accounts = out
                    .accounts()
                    .iter()
                    .filter_map(|a| {
                        let state = a.state().map(|s| s.as_str().to_string());
                        let status = a.status().map(|s| s.as_str().to_string());
                        let active = match state {
                            Some(state) => state == "ACTIVE",
                            None => status.as_deref() == Some("ACTIVE"),
                        };
                        Some(Listed {
                            id: a.id()?.to_string(),
                            name: a.name().unwrap_or_default().to_string(),
                            active,
                        })
                    })
                    .collect();
                (accounts, out.next_token().map(str::to_string))
            },
        )
        .await
}

/// The account (and partition) of the exporter's own credentials.
pub async fn caller_identity(caller: &Caller, sdk: &Sdk) -> Result<Identity, ApiError> {
    let client = sdk.client(aws_sdk_sts::Client::new);
    let out = caller
        .call("GetCallerIdentity", || client.get_caller_identity().send())
        .await?;
    let arn = out.arn().unwrap_or_default();
    let partition = arn.split(':').nth(1).filter(|p| !p.is_empty());
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        partition: partition.unwrap_or("aws").to_string(),
    })
}

/// The regions enabled in the account whose credentials `sdk` has (ENABLED
/// and ENABLED_BY_DEFAULT), sorted.
pub async fn enabled_regions(caller: &Caller, sdk: &Sdk) -> Result<Vec<String>, ApiError> {
    use aws_sdk_account::types::RegionOptStatus;
    let client = sdk.client(aws_sdk_account::Client::new);
    let mut regions = caller
        .pages(
            "ListRegions",
            |token| {
                client
                    .list_regions()
                    .region_opt_status_contains(RegionOptStatus::Enabled)
                    .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
                    .set_next_token(token)
                    .send()
            },
            |out| {
                let names = out
                    .regions()
                    .iter()
                    .filter_map(|r| r.region_name().map(str::to_string))
                    .collect();
                (names, out.next_token().map(str::to_string))
            },
        )
        .await?;
    regions.sort();
    regions.dedup();
    Ok(regions)
}
