//! One role session per discovered account, shared by its regions.
//!
//! The exporter's own account uses the exporter's own credentials. Every other
//! account gets a [`RoleSession`]: AssumeRole of its role, called when a
//! request first needs credentials and again shortly before they expire,
//! never per region or per collection. A refused AssumeRole is remembered for
//! a while, so that the regions and services of a denied account do not each
//! ask STS again at every collection.
//!
//! AssumeRole is sent straight to STS, not through [`crate::aws::Caller`]: it
//! runs while a service request of a collection waits for its credentials,
//! holding one of the process's places in flight, and must not wait for one
//! itself. Its attempts are counted all the same (`aws_service="discovery"`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

use crate::aws::{classify, AttemptObserver, ByRequest, Outcome, Sdk};

/// The session name every AssumeRole of discovery uses.
pub const SESSION_NAME: &str = "aws-flow-exporter";
/// Credentials are renewed this long before they expire (or at three
/// quarters of a shorter lifetime).
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Attempts of one AssumeRole (throttled, 5xx, timeouts and transport errors are retried).
const ATTEMPTS: u32 = 3;

/// How one account is reached: its credentials, shared by all its regions
/// (the SDK of a region is shared by the accounts, see [`crate::aws::ByRequest`]).
pub struct Session {
    /// `None` for the exporter's own account.
    pub role_arn: Option<String>,
    pub credentials: SharedCredentialsProvider,
    /// Shared by the account's units: its credentials fail (and recover) together,
    /// logged once per streak for the account.
    pub no_credentials: Arc<AtomicBool>,
}

impl Session {
    /// The exporter's own account: its own credentials (the standard chain),
    /// kept until shortly before they expire.
    pub fn own(chain: SharedCredentialsProvider) -> Session {
        Session::with(None, Source::Chain(chain), Duration::from_secs(1))
    }

    /// Another account, through `role_arn`.
    pub fn role(
        account_id: &str,
        role_arn: &str,
        external_id: Option<&str>,
        sts: aws_sdk_sts::Client,
        observer: Arc<dyn AttemptObserver>,
        retry_denied_after: Duration,
    ) -> Session {
        let source = Source::Role {
            account_id: account_id.to_string(),
            role_arn: role_arn.to_string(),
            external_id: external_id.map(str::to_string),
            sts,
            observer,
        };
        Session::with(Some(role_arn.to_string()), source, retry_denied_after)
    }

    fn with(role_arn: Option<String>, source: Source, retry_denied_after: Duration) -> Session {
        let provider = RoleSession(Arc::new(RoleInner {
            source,
            retry_denied_after,
            cached: tokio::sync::Mutex::new(Cached::Nothing),
        }));
        Session {
            role_arn,
            credentials: SharedCredentialsProvider::new(provider),
            no_credentials: Arc::default(),
        }
    }
}

/// The SDK a region's discovered targets share: `base` (the exporter's own
/// chain, endpoint and timeouts) in `region`, signing each request with the
/// credentials its caller carries, and caching none itself.
pub fn region_sdk(base: &SdkConfig, region: &str) -> Arc<Sdk> {
    let config = base
        .to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(ByRequest))
        .identity_cache(IdentityCache::no_cache())
        .build();
    Sdk::from_config(config)
}

/// The credentials of a role in one account, assumed when needed.
#[derive(Clone)]
struct RoleSession(Arc<RoleInner>);

struct RoleInner {
    source: Source,
    retry_denied_after: Duration,
    /// Held while AssumeRole runs: the regions asking meanwhile wait and share its answer.
    cached: tokio::sync::Mutex<Cached>,
}

/// Where an account's credentials come from.
enum Source {
    /// The exporter's own (the standard chain).
    Chain(SharedCredentialsProvider),
    Role {
        account_id: String,
        role_arn: String,
        external_id: Option<String>,
        sts: aws_sdk_sts::Client,
        observer: Arc<dyn AttemptObserver>,
    },
}

enum Cached {
    Nothing,
    Good {
        credentials: Credentials,
        renew_at: SystemTime,
    },
    Failed {
        message: String,
        until: Instant,
    },
}

impl std::fmt::Debug for RoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = match &self.0.source {
            Source::Chain(_) => None,
            Source::Role { role_arn, .. } => Some(role_arn),
        };
        f.debug_struct("RoleSession")
            .field("role_arn", &role)
            .finish()
    }
}

impl ProvideCredentials for RoleSession {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.clone().get())
    }
}

impl RoleSession {
    async fn get(self) -> Result<Credentials, CredentialsError> {
        let inner = &self.0;
        let mut cached = inner.cached.lock().await;
        match &*cached {
            Cached::Good {
                credentials,
                renew_at,
            } if SystemTime::now() < *renew_at => return Ok(credentials.clone()),
            Cached::Failed { message, until } if Instant::now() < *until => {
                return Err(CredentialsError::provider_error(message.clone()));
            }
            _ => {}
        }
        match self.assume().await {
            Ok(credentials) => {
                let now = SystemTime::now();
                let lifetime = credentials
                    .expiry()
                    .and_then(|e| e.duration_since(now).ok())
                    .unwrap_or(RENEW_BEFORE * 4);
                let renew_at = now + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 4));
                *cached = Cached::Good {
                    credentials: credentials.clone(),
                    renew_at,
                };
                Ok(credentials)
            }
            Err(message) => {
                *cached = Cached::Failed {
                    message: message.clone(),
                    until: Instant::now() + inner.retry_denied_after,
                };
                Err(CredentialsError::provider_error(message))
            }
        }
    }

    /// AssumeRole, retried when it may help; every attempt counted (or the chain's).
    async fn assume(&self) -> Result<Credentials, String> {
        let (account_id, role_arn, external_id, sts, observer) = match &self.0.source {
            Source::Chain(chain) => {
                return chain.provide_credentials().await.map_err(|e| {
                    format!(
                        "{}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    )
                });
            }
            Source::Role {
                account_id,
                role_arn,
                external_id,
                sts,
                observer,
            } => (account_id, role_arn, external_id, sts, observer),
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let mut request = sts
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(SESSION_NAME);
            if let Some(id) = external_id {
                request = request.external_id(id);
            }
            let started = Instant::now();
            let result = request.send().await;
            let outcome = match &result {
                Ok(_) => Outcome::Success,
                Err(error) => classify(error),
            };
            observer.attempt("AssumeRole", outcome, started.elapsed());
            let error = match result {
                Ok(out) => return credentials(out, role_arn),
                Err(error) => error,
            };
            let retry = matches!(
                outcome,
                Outcome::Throttled
                    | Outcome::ServerError
                    | Outcome::Timeout
                    | Outcome::TransportError
            );
            if !retry || tries >= ATTEMPTS {
                use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                let what = match (error.code(), error.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_string(),
                    _ => format!(
                        "{}",
                        aws_smithy_types::error::display::DisplayErrorContext(&error)
                    ),
                };
                return Err(format!(
                    "AssumeRole of {role_arn} in account {account_id} failed: {what}"
                ));
            }
            let ceiling = Duration::from_millis(100u64 << tries.min(6));
            tokio::time::sleep(ceiling.mul_f64(fastrand::f64())).await;
        }
    }
}

/// The SDK's credentials from an AssumeRole answer.
fn credentials(
    out: aws_sdk_sts::operation::assume_role::AssumeRoleOutput,
    role_arn: &str,
) -> Result<Credentials, String> {
    let Some(c) = out.credentials() else {
        return Err(format!(
            "AssumeRole of {role_arn}: no credentials in the answer"
        ));
    };
    let expiry = SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        expiry,
        "aws-flow-exporter-discovery",
    ))
}
