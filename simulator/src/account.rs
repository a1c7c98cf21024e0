//! AWS Account Management (restJson1): ListRegions, `POST /listRegions`, over the regions of
//! the organization's accounts ([`crate::organizations::Account::regions`]).
//!
//! Without `AccountId` it lists the caller's own account (the one its credentials belong to,
//! see [`crate::sts::Sts::account_of`]). With it, only the management account or a delegated
//! administrator may ask, and not for the management account itself (ValidationException, as
//! the model documents). `MaxResults` is 1..=50; `RegionOptStatusContains` filters by status.

use std::collections::BTreeSet;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

const ACCESS_DENIED: ErrorCode = ErrorCode::new(403, "AccessDeniedException");
const VALIDATION: ErrorCode = ErrorCode::new(400, "ValidationException");
const MAX_PAGE: i64 = 50;
/// The model documents no default page size; 20 makes paging show in small tests.
const DEFAULT_PAGE: usize = 20;
const STATUSES: [&str; 5] = [
    "ENABLED",
    "ENABLING",
    "DISABLING",
    "DISABLED",
    "ENABLED_BY_DEFAULT",
];

pub(crate) static SERVICE: Service = Service {
    name: "account",
    protocol: Protocol::RestJson1,
    errors: FaultErrors {
        throttling: ErrorCode::new(429, "TooManyRequestsException"),
        internal: ErrorCode::new(500, "InternalServerException"),
        access_denied: ACCESS_DENIED,
        not_found: ErrorCode::new(404, "ResourceNotFoundException"),
    },
    route,
    handle,
};

fn route(method: &Method, path: &str, _headers: &HeaderMap) -> Option<&'static str> {
    (method == Method::POST && path == "/listRegions").then_some("ListRegions")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    account_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    region_opt_status_contains: Option<Vec<String>>,
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let request: Request = wire::parse_json(&call.body)?;
    let management = world.sts.caller_account();
    let organization = &world.organization;
    let account_id = match &request.account_id {
        None => call.account.clone(),
        Some(id) => {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VALIDATION.with(format!(
                    "1 validation error detected: Value '{id}' at 'accountId' failed to \
                     satisfy constraint: Member must satisfy regular expression pattern: \\d{{12}}"
                )));
            }
            if !organization.may_list(&call.account, management) {
                return Err(ACCESS_DENIED.with(
                    "User is not authorized to perform: account:ListRegions on this account",
                ));
            }
            if id == management {
                return Err(VALIDATION.with(
                    "The management account can't specify its own AccountId; call the \
                     operation without AccountId",
                ));
            }
            id.clone()
        }
    };
    let Some(account) = organization.accounts.get(&account_id) else {
        return Err(ACCESS_DENIED.with(format!(
            "User is not authorized to perform: account:ListRegions on account {account_id}"
        )));
    };
    let wanted: Option<BTreeSet<&str>> = match &request.region_opt_status_contains {
        None => None,
        Some(list) => {
            if let Some(bad) = list.iter().find(|s| !STATUSES.contains(&s.as_str())) {
                return Err(VALIDATION.with(format!(
                    "1 validation error detected: Value '{bad}' at 'regionOptStatusContains' \
                     failed to satisfy constraint: Member must satisfy enum value set: \
                     [{}]",
                    STATUSES.join(", ")
                )));
            }
            Some(list.iter().map(String::as_str).collect())
        }
    };
    let size = wire::bounded_page_size(
        request.max_results,
        "maxResults",
        MAX_PAGE,
        DEFAULT_PAGE,
        VALIDATION,
    )?;
    let scope = format!("ListRegions/{account_id}");
    let after = match request.next_token.as_deref() {
        None | Some("") => None,
        Some(token) => Some(
            wire::decode_token(&scope, token)
                .ok_or_else(|| VALIDATION.with("The NextToken is not valid"))?,
        ),
    };
    let mut rest = account
        .regions
        .iter()
        .filter(|(name, _)| after.as_ref().is_none_or(|a| name.as_str() > a.as_str()))
        .filter(|(_, status)| wanted.as_ref().is_none_or(|w| w.contains(status.as_str())));
    let page: Vec<(&String, &String)> = rest.by_ref().take(size).collect();
    let next_token = match (rest.next(), page.last()) {
        (Some(_), Some((last, _))) => Some(wire::encode_token(&scope, last)),
        _ => None,
    };
    let regions: Vec<Value> = page
        .iter()
        .map(|(name, status)| json!({ "RegionName": name, "RegionOptStatus": status }))
        .collect();
    let mut out = json!({ "Regions": regions });
    if let Some(token) = next_token {
        out["NextToken"] = json!(token);
    }
    Ok(wire::to_json(&out))
}
