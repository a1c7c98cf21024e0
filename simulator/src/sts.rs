//! AWS Security Token Service (awsQuery): AssumeRole and GetCallerIdentity, and the simulated
//! account's view of which access keys are valid.
//!
//! awsQuery requests are `POST /` with a form-encoded body (`Action=AssumeRole&Version=
//! 2011-06-15&RoleArn=...`) and no `X-Amz-Target`; answers are XML in the
//! `https://sts.amazonaws.com/doc/2011-06-15/` namespace, errors an `<ErrorResponse>`.
//!
//! A test allows roles ([`Sts::allow_role`], optionally demanding an external id); AssumeRole on
//! any other role, or with the wrong external id, is 403 AccessDenied, as AWS answers when the
//! trust policy does not let the caller in. Every AssumeRole call is recorded
//! ([`Sts::assume_role_calls`]). Issued credentials last `DurationSeconds` (900..=43200,
//! default 3600), or what [`Sts::set_lifetime_seconds`] forces, so a test can make them expire
//! in seconds.
//!
//! Keyed per account: credentials issued for a role belong to the role's account, and the
//! requests signed with them are served that account's world ([`crate::World::account_world`]);
//! GetCallerIdentity names that account. Long-term keys belong to [`CALLER_ACCOUNT`] (the
//! organization's management account) unless [`Sts::set_key_account`] says otherwise.
//!
//! Signatures are never verified, but the access key id of every signed request is recorded
//! ([`crate::World::access_keys_seen`]). With [`Sts::require_issued_keys`], the other services
//! refuse (403 UnrecognizedClientException, or ExpiredTokenException once expired) any request
//! not signed with a key STS issued, or one allowed by [`Sts::allow_access_key`]. Off by
//! default: then nothing about credentials is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bytes::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{HeaderMap, Method};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

pub(crate) const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";
/// The awsQuery actions served, by the name the `Action` parameter spells.
const ACTIONS: [&str; 2] = ["AssumeRole", "GetCallerIdentity"];
/// What [`route`] names before the body is read; [`action`] replaces it.
pub(crate) const QUERY: &str = "Query";

const ACCESS_DENIED: ErrorCode = ErrorCode::new(403, "AccessDenied");
const VALIDATION: ErrorCode = ErrorCode::new(400, "ValidationError");
const MISSING_ACTION: ErrorCode = ErrorCode::new(400, "MissingAction");
const INVALID_ACTION: ErrorCode = ErrorCode::new(400, "InvalidAction");
const MALFORMED: ErrorCode = ErrorCode::new(400, "MalformedQueryString");
/// What the other services answer for a key STS did not issue (with [`Sts::require_issued_keys`]).
pub(crate) const UNRECOGNIZED_CLIENT: ErrorCode =
    ErrorCode::new(403, "UnrecognizedClientException");
pub(crate) const EXPIRED_TOKEN: ErrorCode = ErrorCode::new(403, "ExpiredTokenException");

/// The account the simulator's caller identity belongs to.
pub const CALLER_ACCOUNT: &str = "123456789012";
const CALLER_ARN: &str = "arn:aws:iam::123456789012:user/aws-flow-simulator";

const MIN_DURATION: u64 = 900;
const MAX_DURATION: u64 = 43_200;
const DEFAULT_DURATION: u64 = 3600;

pub(crate) static SERVICE: Service = Service {
    name: "sts",
    protocol: Protocol::AwsQuery,
    errors: FaultErrors {
        throttling: ErrorCode::new(400, "Throttling"),
        internal: ErrorCode::new(500, "InternalFailure"),
        access_denied: ACCESS_DENIED,
        not_found: ErrorCode::new(403, "RegionDisabledException"),
    },
    route,
    handle,
};

/// One AssumeRole request as received, allowed or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRoleCall {
    pub role_arn: String,
    pub role_session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<u64>,
    /// The access key id the request was signed with, if it was signed.
    pub access_key_id: Option<String>,
    /// The access key id issued, or `None` when the call was refused.
    pub issued: Option<String>,
}

/// Credentials that AssumeRole handed out.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub role_arn: String,
    /// Unix seconds.
    pub expires_at: f64,
}

/// The simulated STS and the account's credentials.
#[derive(Default)]
pub struct Sts {
    /// Role ARN to the external id its trust policy demands (`None`: any or none).
    roles: BTreeMap<String, Option<String>>,
    calls: Vec<AssumeRoleCall>,
    issued: BTreeMap<String, IssuedCredentials>,
    allowed_keys: BTreeSet<String>,
    lifetime: Option<u64>,
    require_issued_keys: bool,
    next_key: u64,
    /// Long-term access keys of accounts other than [`CALLER_ACCOUNT`] (e.g. a delegated
    /// administrator's exporter).
    key_accounts: BTreeMap<String, String>,
}

impl Sts {
    /// Lets AssumeRole succeed on `role_arn`; with `Some(id)`, only when `ExternalId` is `id`.
    pub fn allow_role(&mut self, role_arn: &str, external_id: Option<&str>) {
        self.roles
            .insert(role_arn.to_owned(), external_id.map(str::to_owned));
    }

    /// AssumeRole on `role_arn` is denied again.
    pub fn deny_role(&mut self, role_arn: &str) {
        self.roles.remove(role_arn);
    }

    /// Every AssumeRole call so far, oldest first, refused ones included.
    pub fn assume_role_calls(&self) -> &[AssumeRoleCall] {
        &self.calls
    }

    /// Issued credentials live `seconds` whatever `DurationSeconds` asked (e.g. 5, to watch a
    /// client refresh them).
    pub fn set_lifetime_seconds(&mut self, seconds: u64) {
        self.lifetime = Some(seconds);
    }

    /// Back to `DurationSeconds` (default 3600).
    pub fn reset_lifetime(&mut self) {
        self.lifetime = None;
    }

    /// Every credential issued so far, by access key id.
    pub fn issued(&self) -> &BTreeMap<String, IssuedCredentials> {
        &self.issued
    }

    /// Makes every credential issued so far expire now.
    pub fn expire_all(&mut self) {
        let now = wire::epoch_now();
        for credentials in self.issued.values_mut() {
            credentials.expires_at = credentials.expires_at.min(now);
        }
    }

    /// With `true`, the other services answer 403 to requests not signed with an access key
    /// that STS issued and that has not expired, or one passed to [`Sts::allow_access_key`].
    pub fn require_issued_keys(&mut self, on: bool) {
        self.require_issued_keys = on;
    }

    /// A long-term key (the exporter's own identity) the other services accept when
    /// [`Sts::require_issued_keys`] is on.
    pub fn allow_access_key(&mut self, access_key_id: &str) {
        self.allowed_keys.insert(access_key_id.to_owned());
    }

    /// The account of the simulator's own (management) identity: [`CALLER_ACCOUNT`].
    pub fn caller_account(&self) -> &'static str {
        CALLER_ACCOUNT
    }

    /// Requests signed with the long-term key `access_key_id` are made by `account`.
    pub fn set_key_account(&mut self, access_key_id: &str, account: &str) {
        self.key_accounts
            .insert(access_key_id.to_owned(), account.to_owned());
    }

    /// The account a request signed with `access_key_id` is made by: that of the role for
    /// credentials AssumeRole issued, else the key's account ([`Sts::set_key_account`]), else
    /// [`CALLER_ACCOUNT`].
    pub fn account_of(&self, access_key_id: Option<&str>) -> String {
        let Some(key) = access_key_id else {
            return CALLER_ACCOUNT.to_owned();
        };
        if let Some(c) = self.issued.get(key) {
            return c
                .role_arn
                .split(':')
                .nth(4)
                .unwrap_or(CALLER_ACCOUNT)
                .to_owned();
        }
        self.key_accounts
            .get(key)
            .cloned()
            .unwrap_or_else(|| CALLER_ACCOUNT.to_owned())
    }

    /// Whether a request signed with `access_key_id` may reach a service other than STS.
    pub(crate) fn check_access_key(
        &self,
        access_key_id: Option<&str>,
        now: f64,
    ) -> Result<(), ApiError> {
        if !self.require_issued_keys {
            return Ok(());
        }
        let Some(key) = access_key_id else {
            return Err(ErrorCode::new(403, "MissingAuthenticationTokenException")
                .with("Missing Authentication Token"));
        };
        if self.allowed_keys.contains(key) {
            return Ok(());
        }
        match self.issued.get(key) {
            Some(c) if c.expires_at > now => Ok(()),
            Some(_) => {
                Err(EXPIRED_TOKEN.with("The security token included in the request is expired"))
            }
            None => {
                Err(UNRECOGNIZED_CLIENT
                    .with("The security token included in the request is invalid."))
            }
        }
    }

    fn new_key(&mut self) -> (String, String, String) {
        self.next_key += 1;
        let n = self.next_key;
        let access_key_id = format!("ASIASIMULATOR{n:07}");
        let secret = format!("simulated/secret/{n:023}");
        let token = format!("IQoJb3JpZ2luX2VjEsimulated/session/token/{n:016}");
        (access_key_id, secret, token)
    }
}

fn route(method: &Method, path: &str, headers: &HeaderMap) -> Option<&'static str> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    (method == Method::POST && path == "/" && form && !headers.contains_key("x-amz-target"))
        .then_some(QUERY)
}

/// The operation an awsQuery body names in `Action`, one of [`ACTIONS`].
pub(crate) fn action(body: &[u8]) -> Result<&'static str, ApiError> {
    let params = params(body)?;
    let Some(name) = params.get("Action") else {
        return Err(MISSING_ACTION.with("Missing Action"));
    };
    if params.get("Version").is_some_and(|v| v != VERSION) {
        return Err(INVALID_ACTION.with(format!(
            "Could not find operation {name} for version {}",
            params["Version"]
        )));
    }
    ACTIONS
        .iter()
        .find(|a| **a == name)
        .copied()
        .ok_or_else(|| {
            INVALID_ACTION.with(format!(
                "Could not find operation {name} for version {VERSION}"
            ))
        })
}

fn params(body: &[u8]) -> Result<BTreeMap<String, String>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| MALFORMED.with("Body is not UTF-8"))?;
    let text = text.replace('+', " ");
    let pairs = wire::query_pairs(Some(text.trim()))
        .ok_or_else(|| MALFORMED.with("Malformed form-encoded body"))?;
    Ok(pairs.into_iter().collect())
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let params = params(&call.body)?;
    let access_key = call.access_key_id.clone();
    match call.operation {
        "AssumeRole" => assume_role(&mut world.sts, &params, access_key),
        "GetCallerIdentity" => Ok(get_caller_identity(&world.sts, access_key.as_deref())),
        other => unreachable!("STS routed unknown operation {other}"),
    }
}

fn validation(member: &str, value: &str, constraint: &str) -> ApiError {
    VALIDATION.with(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
         constraint: {constraint}"
    ))
}

fn assume_role(
    sts: &mut Sts,
    params: &BTreeMap<String, String>,
    access_key_id: Option<String>,
) -> Result<Bytes, ApiError> {
    let required = |name: &str, member: &str| {
        params.get(name).cloned().ok_or_else(|| {
            VALIDATION.with(format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy \
                 constraint: Member must not be null"
            ))
        })
    };
    let role_arn = required("RoleArn", "roleArn")?;
    let session = required("RoleSessionName", "roleSessionName")?;
    let external_id = params.get("ExternalId").cloned();
    let duration = match params.get("DurationSeconds") {
        None => None,
        Some(d) => Some(d.parse::<u64>().map_err(|_| {
            MALFORMED.with(format!("Invalid value {d} for parameter DurationSeconds"))
        })?),
    };

    if !(20..=2048).contains(&role_arn.len()) {
        return Err(validation(
            "roleArn",
            &role_arn,
            "Member must have length between 20 and 2048",
        ));
    }
    let session_ok = session
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !(2..=64).contains(&session.len()) || !session_ok {
        return Err(validation(
            "roleSessionName",
            &session,
            "Member must have length between 2 and 64 and match [\\w+=,.@-]*",
        ));
    }
    if let Some(id) = &external_id {
        let ok = id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
        if !(2..=1224).contains(&id.len()) || !ok {
            return Err(validation(
                "externalId",
                id,
                "Member must have length between 2 and 1224 and match [\\w+=,.@:\\/-]*",
            ));
        }
    }
    if let Some(d) = duration {
        if !(MIN_DURATION..=MAX_DURATION).contains(&d) {
            return Err(validation(
                "durationSeconds",
                &d.to_string(),
                "Member must have value between 900 and 43200",
            ));
        }
    }

    let mut record = AssumeRoleCall {
        role_arn: role_arn.clone(),
        role_session_name: session.clone(),
        external_id: external_id.clone(),
        duration_seconds: duration,
        access_key_id,
        issued: None,
    };
    let allowed = match sts.roles.get(&role_arn) {
        Some(None) => true,
        Some(Some(expected)) => external_id.as_deref() == Some(expected.as_str()),
        None => false,
    };
    if !allowed {
        sts.calls.push(record);
        return Err(ACCESS_DENIED.with(format!(
            "User: {CALLER_ARN} is not authorized to perform: sts:AssumeRole on resource: \
             {role_arn}"
        )));
    }

    let lifetime = sts
        .lifetime
        .unwrap_or_else(|| duration.unwrap_or(DEFAULT_DURATION));
    let expires_at = (wire::epoch_now() + lifetime as f64).floor();
    let (access_key_id, secret_access_key, session_token) = sts.new_key();
    record.issued = Some(access_key_id.clone());
    sts.calls.push(record);
    sts.issued.insert(
        access_key_id.clone(),
        IssuedCredentials {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            session_token: session_token.clone(),
            role_arn: role_arn.clone(),
            expires_at,
        },
    );

    // arn:aws:iam::ACCOUNT:role/path/NAME -> arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let part = |i: usize, default: &'static str| parts.get(i).copied().unwrap_or(default);
    let (partition, account, resource) = (part(1, "aws"), part(4, CALLER_ACCOUNT), part(5, ""));
    let role_name = resource.rsplit('/').next().unwrap_or(resource);
    let assumed_arn = format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}");
    let role_id = format!("AROASIMULATED{:07}:{session}", sts.next_key);

    let mut xml = String::new();
    let _ = write!(
        xml,
        "<AssumeRoleResponse xmlns=\"{NAMESPACE}\">\n  <AssumeRoleResult>\n    <Credentials>\n      \
         <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      \
         <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    \
         </Credentials>\n    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      \
         <Arn>{}</Arn>\n    </AssumedRoleUser>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    \
         <RequestId></RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        wire::xml_escape(&access_key_id),
        wire::xml_escape(&secret_access_key),
        wire::xml_escape(&session_token),
        wire::iso8601(expires_at),
        wire::xml_escape(&role_id),
        wire::xml_escape(&assumed_arn),
    );
    Ok(Bytes::from(xml))
}

fn get_caller_identity(sts: &Sts, access_key_id: Option<&str>) -> Bytes {
    let issued = access_key_id.and_then(|k| sts.issued.get(k));
    let (user_id, account, arn) = match issued {
        Some(c) => {
            let account = c.role_arn.split(':').nth(4).unwrap_or(CALLER_ACCOUNT);
            let name = c.role_arn.rsplit('/').next().unwrap_or("");
            (
                format!("AROASIMULATED:{}", c.access_key_id),
                account.to_owned(),
                format!("arn:aws:sts::{account}:assumed-role/{name}/simulated"),
            )
        }
        None => {
            let account = sts.account_of(access_key_id);
            let arn = CALLER_ARN.replace(CALLER_ACCOUNT, &account);
            ("AIDASIMULATOR0000000".to_owned(), account, arn)
        }
    };
    let xml = format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    \
         <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
         </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId></RequestId>\n  \
         </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        wire::xml_escape(&arn),
        wire::xml_escape(&user_id),
        wire::xml_escape(&account),
    );
    Bytes::from(xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_come_from_the_form_body() {
        assert_eq!(
            action(b"Action=AssumeRole&Version=2011-06-15"),
            Ok("AssumeRole")
        );
        assert_eq!(action(b"Action=GetCallerIdentity"), Ok("GetCallerIdentity"));
        assert_eq!(
            action(b"Version=2011-06-15").unwrap_err().code,
            MISSING_ACTION
        );
        assert_eq!(
            action(b"Action=GetSessionToken&Version=2011-06-15")
                .unwrap_err()
                .code,
            INVALID_ACTION
        );
        assert_eq!(
            action(b"Action=AssumeRole&Version=2010-01-01")
                .unwrap_err()
                .code,
            INVALID_ACTION
        );
        assert_eq!(action(b"Action=%zz").unwrap_err().code, MALFORMED);
    }

    #[test]
    fn keys_are_checked_only_when_required() {
        let mut sts = Sts::default();
        assert_eq!(sts.check_access_key(None, 0.0), Ok(()));
        assert_eq!(sts.check_access_key(Some("AKIDX"), 0.0), Ok(()));
        sts.require_issued_keys(true);
        assert_eq!(
            sts.check_access_key(Some("AKIDX"), 0.0).unwrap_err().code,
            UNRECOGNIZED_CLIENT
        );
        sts.allow_access_key("AKIDX");
        assert_eq!(sts.check_access_key(Some("AKIDX"), 0.0), Ok(()));
        assert!(sts.check_access_key(None, 0.0).is_err());
    }
}
