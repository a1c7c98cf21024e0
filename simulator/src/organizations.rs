//! AWS Organizations (awsJson1_1, `AWSOrganizationsV20161128`): ListAccounts, and the
//! organization it lists: accounts with their state, name and enabled regions.
//!
//! Each account has its own [`World`] (see [`World::account_world`]): a request signed with
//! credentials STS issued for a role in account A reads A's flows and workflows, so a test can
//! prove which account a call was made for. The management account's world is the root one.
//!
//! As in AWS, ListAccounts answers only the management account and delegated administrators
//! (others get AccessDeniedException), pages at most 20 accounts (`MaxResults` 1..=20), and an
//! empty organization is AWSOrganizationsNotInUseException. Every error is HTTP 400: the model
//! gives none of them a status.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

const TARGET_PREFIX: &str = "AWSOrganizationsV20161128";
const ACCESS_DENIED: ErrorCode = ErrorCode::new(400, "AccessDeniedException");
const NOT_IN_USE: ErrorCode = ErrorCode::new(400, "AWSOrganizationsNotInUseException");
const INVALID_INPUT: ErrorCode = ErrorCode::new(400, "InvalidInputException");
/// `MaxResults` of ListAccounts: 1..=20 in the model; AWS pages 20 when it is omitted.
const MAX_PAGE: i64 = 20;

pub(crate) static SERVICE: Service = Service {
    name: "organizations",
    protocol: Protocol::AwsJson1_1,
    errors: FaultErrors {
        throttling: ErrorCode::new(400, "TooManyRequestsException"),
        internal: ErrorCode::new(500, "ServiceException"),
        access_denied: ACCESS_DENIED,
        not_found: NOT_IN_USE,
    },
    route,
    handle,
};

/// The regions a new account has: those on by default, and the opt-in ones, off.
pub const DEFAULT_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
];
pub const OPT_IN_REGIONS: [&str; 3] = ["af-south-1", "ap-east-1", "eu-south-1"];

/// One account of the organization, as ListAccounts lists it.
#[derive(Clone, Debug)]
pub struct Account {
    /// 12 digits.
    pub id: String,
    pub name: String,
    pub email: String,
    /// PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED; `None`: not sent.
    pub state: Option<String>,
    /// ACTIVE, SUSPENDED, PENDING_CLOSURE (being retired by AWS); `None`: not sent.
    pub status: Option<String>,
    /// INVITED or CREATED.
    pub joined_method: String,
    /// Unix seconds.
    pub joined_timestamp: f64,
    /// Region name to its opt status (ENABLED, ENABLING, DISABLING, DISABLED,
    /// ENABLED_BY_DEFAULT), as Account Management's ListRegions serves them.
    pub regions: BTreeMap<String, String>,
}

impl Account {
    /// An ACTIVE account created in the organization, with the default regions on and the
    /// opt-in ones off.
    pub fn new(id: &str, name: &str) -> Account {
        let mut regions: BTreeMap<String, String> = DEFAULT_REGIONS
            .iter()
            .map(|r| (r.to_string(), "ENABLED_BY_DEFAULT".to_string()))
            .collect();
        regions.extend(
            OPT_IN_REGIONS
                .iter()
                .map(|r| (r.to_string(), "DISABLED".to_string())),
        );
        Account {
            id: id.to_owned(),
            name: name.to_owned(),
            email: format!("aws+{id}@example.com"),
            state: Some("ACTIVE".to_owned()),
            status: Some("ACTIVE".to_owned()),
            joined_method: "CREATED".to_owned(),
            joined_timestamp: 1_700_000_000.0,
            regions,
        }
    }

    /// The same account in `state`, with the `Status` AWS derives from it (none for
    /// PENDING_ACTIVATION and CLOSED, which the older field does not know).
    pub fn in_state(mut self, state: &str) -> Account {
        self.state = Some(state.to_owned());
        self.status = match state {
            "ACTIVE" | "SUSPENDED" | "PENDING_CLOSURE" => Some(state.to_owned()),
            _ => None,
        };
        self
    }

    /// Sets one region's opt status (`ENABLED`, `DISABLED`, ...).
    pub fn region(mut self, region: &str, status: &str) -> Account {
        self.regions.insert(region.to_owned(), status.to_owned());
        self
    }
}

/// The organization: its accounts and who may list them.
#[derive(Default)]
pub struct Organization {
    /// `o-` and 10 lowercase letters or digits.
    pub id: String,
    /// By account id (the order ListAccounts serves them in). Empty: no organization.
    pub accounts: BTreeMap<String, Account>,
    /// Member accounts registered as delegated administrators: they may list too.
    pub delegated_administrators: BTreeSet<String>,
}

impl Organization {
    /// Adds or replaces an account.
    pub fn add_account(&mut self, account: Account) {
        if self.id.is_empty() {
            self.id = "o-simulated01".to_owned();
        }
        self.accounts.insert(account.id.clone(), account);
    }

    /// The account leaves the organization.
    pub fn remove_account(&mut self, id: &str) -> Option<Account> {
        self.accounts.remove(id)
    }

    pub fn account_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.get_mut(id)
    }

    /// Whether `account` may call the organization's read operations.
    pub(crate) fn may_list(&self, account: &str, management: &str) -> bool {
        account == management || self.delegated_administrators.contains(account)
    }
}

fn route(method: &Method, path: &str, headers: &HeaderMap) -> Option<&'static str> {
    if method != Method::POST || path != "/" {
        return None;
    }
    (wire::amz_target(headers, TARGET_PREFIX)? == "ListAccounts").then_some("ListAccounts")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    next_token: Option<String>,
    max_results: Option<i64>,
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let request: Request = wire::parse_json(&call.body)?;
    let organization = &world.organization;
    if organization.accounts.is_empty() {
        return Err(NOT_IN_USE.with(
            "Your account is not a member of an organization. To make this request, you must \
             use the credentials of an account that belongs to an organization.",
        ));
    }
    if !organization.may_list(&call.account, world.sts.caller_account()) {
        return Err(ACCESS_DENIED.with("You don't have permissions to access this resource."));
    }
    let size = wire::bounded_page_size(
        request.max_results,
        "maxResults",
        MAX_PAGE,
        MAX_PAGE as usize,
        INVALID_INPUT,
    )?;
    let after = match request.next_token.as_deref() {
        None => Bound::Unbounded,
        Some(token) => Bound::Excluded(wire::decode_token("ListAccounts", token).ok_or_else(
            || ApiError {
                members: vec![("Reason", "INVALID_PAGINATION_TOKEN".to_owned())],
                ..INVALID_INPUT.with("The provided pagination token is not valid.")
            },
        )?),
    };
    let mut rest = organization
        .accounts
        .range::<String, _>((after, Bound::Unbounded));
    let page: Vec<&Account> = rest.by_ref().take(size).map(|(_, a)| a).collect();
    let next_token = match (rest.next(), page.last()) {
        (Some(_), Some(last)) => Some(wire::encode_token("ListAccounts", &last.id)),
        _ => None,
    };
    let accounts: Vec<Value> = page
        .iter()
        .map(|a| {
            let mut listed = json!({
                "Id": a.id,
                "Arn": format!("arn:aws:organizations::{}:account/{}/{}",
                    world.sts.caller_account(), organization.id, a.id),
                "Email": a.email,
                "Name": a.name,
                "JoinedMethod": a.joined_method,
                "JoinedTimestamp": a.joined_timestamp,
            });
            if let Some(state) = &a.state {
                listed["State"] = json!(state);
            }
            if let Some(status) = &a.status {
                listed["Status"] = json!(status);
            }
            listed
        })
        .collect();
    let mut out = json!({ "Accounts": accounts });
    if let Some(token) = next_token {
        out["NextToken"] = json!(token);
    }
    Ok(wire::to_json(&out))
}

/// The role name the demo organization's member accounts let the exporter assume.
pub const DEMO_ROLE_NAME: &str = "aws-flow-exporter";

/// A demo organization in `world` (the management account's): the management account
/// itself (the simulator's caller, with the root world's data), a member with data of its
/// own, an empty member, one with an opt-in region enabled, and a suspended one. Every active
/// member lets the exporter assume [`DEMO_ROLE_NAME`].
pub fn populate_demo(world: &mut World, now: f64) {
    let management = world.sts.caller_account().to_owned();
    world
        .organization
        .add_account(Account::new(&management, "management"));
    let members = [
        ("210987654321", "data-platform", "ACTIVE"),
        ("345678901234", "sandbox", "ACTIVE"),
        ("456789012345", "analytics-eu", "ACTIVE"),
        ("567890123456", "retired", "SUSPENDED"),
    ];
    for (id, name, state) in members {
        let mut account = Account::new(id, name).in_state(state);
        if name == "analytics-eu" {
            account = account.region("eu-south-1", "ENABLED");
        }
        world.organization.add_account(account);
        if state == "ACTIVE" {
            let role = format!("arn:aws:iam::{id}:role/{DEMO_ROLE_NAME}");
            world.sts.allow_role(&role, None);
        }
    }
    crate::scenario::Scenario::new(7).populate(world.member("210987654321"), now);
}
