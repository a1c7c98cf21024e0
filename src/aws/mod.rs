//! AWS access: SDK configuration per target, and [`Caller`], through which
//! every request goes so that rate limits, concurrency, timeouts, retries and
//! the per-attempt metrics apply the same way to every service.
//!
//! Each service has a narrow client trait in its own folder
//! (`services/<name>/api.rs`) listing only the calls its collector uses,
//! with the SDK adapter behind it, so collectors are tested against small
//! fakes. This module knows nothing of Prometheus: attempts are reported to
//! an [`AttemptObserver`].

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

mod by_request;
pub use by_request::ByRequest;
use by_request::REQUEST_CREDENTIALS;
use tokio::sync::Semaphore;

/// Told of every attempt AWS answered (or that timed out), retries included.
pub trait AttemptObserver: Send + Sync {
    fn attempt(&self, operation: &'static str, outcome: Outcome, elapsed: Duration);
}

/// How an AWS API attempt ended, as `aws_flow_exporter_api_requests_total` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Throttled,
    ClientError,
    ServerError,
    Timeout,
    TransportError,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Success,
        Outcome::Throttled,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::TransportError,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Throttled => "throttled",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::TransportError => "transport_error",
        }
    }

    /// Client errors (access denied, validation, not found) will not go away by retrying.
    fn retryable(self) -> bool {
        !matches!(self, Outcome::Success | Outcome::ClientError)
    }
}

/// A request that failed after its retries.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation}: {outcome:?}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct ApiError {
    pub operation: &'static str,
    pub outcome: Outcome,
    /// The AWS error code (`ThrottlingException`, …) when the service sent one.
    pub code: Option<String>,
    pub message: String,
    /// No credentials could be had (none in the chain, or AssumeRole refused).
    pub credentials: bool,
}

impl ApiError {
    /// The resource vanished between a list and a describe: not a failure.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "ResourceNotFound" | "NotFoundException")
        )
    }
}

/// `Ok(None)` for a resource that is gone: not found is not a failure.
pub trait Found<T> {
    fn found(self) -> Result<Option<T>, ApiError>;
}

impl<T> Found<T> for Result<T, ApiError> {
    fn found(self) -> Result<Option<T>, ApiError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A listing longer than this many pages is a broken endpoint, not a big account.
const MAX_PAGES: usize = 10_000;

/// The token for the next page: None at the end, and also when AWS hands back
/// the token just sent (it would loop forever).
pub fn next_token(sent: Option<&str>, received: Option<&str>) -> Option<String> {
    received
        .filter(|t| !t.is_empty() && sent != Some(*t))
        .map(str::to_string)
}

/// Every item of a paged listing. `page(token)` fetches one page and returns
/// its items and the token AWS sent back; the first error ends the listing.
async fn collect_pages<T, F, Fut>(operation: &'static str, mut page: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ApiError>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (more, received) = page(token.clone()).await?;
        items.extend(more);
        token = next_token(token.as_deref(), received.as_deref());
        if token.is_none() {
            return Ok(items);
        }
    }
    Err(ApiError {
        operation,
        outcome: Outcome::TransportError,
        code: None,
        message: format!("more than {MAX_PAGES} pages: giving up"),
        credentials: false,
    })
}

/// The error codes the SDK's own retry classifier takes for throttling.
use aws_runtime::retries::classifiers::THROTTLING_ERRORS as THROTTLING_CODES;

/// Maps an SDK error to an outcome, the way `../notes` on the SDK describe its failures.
pub fn classify<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Outcome {
    match error {
        // No credentials in the chain, or AssumeRole refused: retrying will
        // not find any, and it is the user's to fix.
        SdkError::DispatchFailure(f)
            if f.as_connector_error()
                .is_some_and(|e| is_credentials_error(e)) =>
        {
            Outcome::ClientError
        }
        SdkError::TimeoutError(_) => Outcome::Timeout,
        SdkError::DispatchFailure(f) if f.is_timeout() => Outcome::Timeout,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Outcome::TransportError,
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let code = e.err().code();
            if status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
                Outcome::Throttled
            } else if status >= 500 {
                Outcome::ServerError
            } else if (400..500).contains(&status) {
                Outcome::ClientError
            } else {
                // A 2xx whose body could not be read.
                Outcome::TransportError
            }
        }
        _ => Outcome::ClientError,
    }
}

/// Whether the request failed for want of credentials: the credentials
/// chain found none, or the role could not be assumed.
pub fn is_credentials_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// How long the server asked to wait: the `Retry-After` header, or the
/// `RetryAfterSeconds` member Transfer puts in its throttling error body.
fn retry_after(error: &SdkError<impl ProvideErrorMetadata, HttpResponse>) -> Option<Duration> {
    let raw = error.raw_response()?;
    if let Some(value) = raw.headers().get("retry-after") {
        return value.trim().parse::<u64>().ok().map(Duration::from_secs);
    }
    retry_after_member(raw.body().bytes()?)
}

fn retry_after_member(body: &[u8]) -> Option<Duration> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let seconds = match &body["RetryAfterSeconds"] {
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok()?,
        serde_json::Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// AWS requests in flight at once in the whole process, every target together. Each target
/// keeps its own `max_concurrency` and each (target, service) its own `requests_per_second`:
/// this bound only makes a request that both allow wait for a free place, so that what
/// requests hold while they are under way (the SDK's request state, a pooled connection and
/// its buffers, some tens of kilobytes each) is bounded however many targets there are. 64
/// requests of 50 ms latency sustain 1,280 requests a second.
pub const MAX_IN_FLIGHT: usize = 64;

/// The places [`MAX_IN_FLIGHT`] counts.
static IN_FLIGHT: Semaphore = Semaphore::const_new(MAX_IN_FLIGHT);

/// Sends the requests of one (target, service): rate-limited, bounded,
/// timed out, retried, and counted attempt by attempt.
#[derive(Clone)]
pub struct Caller {
    limiter: Arc<DefaultDirectRateLimiter>,
    concurrency: Arc<Semaphore>,
    timeout: Duration,
    max_attempts: u32,
    observer: Arc<dyn AttemptObserver>,
    /// The SDK the requests go through, kept while the target is, so that
    /// targets built later with the same access share it (see [`SdkCache`]).
    _sdk: Option<Arc<Sdk>>,
    /// (v4) A discovered target's account credentials, for an SDK shared by
    /// the accounts of a region (see [`ByRequest`]).
    credentials: Option<SharedCredentialsProvider>,
}

impl Caller {
    /// `concurrency` is shared by the services of a target; the rate limit is this service's own.
    pub fn new(
        requests_per_second: f64,
        timeout: Duration,
        concurrency: Arc<Semaphore>,
        observer: Arc<dyn AttemptObserver>,
    ) -> Self {
        Caller {
            limiter: Arc::new(RateLimiter::direct(quota(requests_per_second))),
            concurrency,
            timeout,
            max_attempts: 3,
            observer,
            _sdk: None,
            credentials: None,
        }
    }

    /// (v4) Requests are signed with `credentials`, through an SDK whose
    /// provider is [`ByRequest`].
    pub fn with_credentials(self, credentials: SharedCredentialsProvider) -> Self {
        Caller {
            credentials: Some(credentials),
            ..self
        }
    }

    /// Keeps `sdk` alive as long as this caller.
    pub fn through(self, sdk: Arc<Sdk>) -> Self {
        Caller {
            _sdk: Some(sdk),
            ..self
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of attempts.
    pub async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        mut attempt: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>> + Send + 'static,
        T: Send + 'static,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let result = self.attempt(operation, &mut attempt).await;
            let (outcome, code, message, wait_hint, credentials) = match result {
                Ok(Ok(value)) => return Ok(value),
                Err(_) => (
                    Outcome::Timeout,
                    None,
                    format!("no answer within {:?}", self.timeout),
                    None,
                    false,
                ),
                Ok(Err(error)) => (
                    classify(&error),
                    error.code().map(str::to_string),
                    describe(&error),
                    retry_after(&error),
                    is_credentials_error(&error),
                ),
            };
            if !outcome.retryable() || tries >= self.max_attempts {
                return Err(ApiError {
                    operation,
                    outcome,
                    code,
                    message,
                    credentials,
                });
            }
            tokio::time::sleep(backoff(tries, wait_hint, self.timeout)).await;
        }
    }
}

impl Caller {
    /// One attempt, within the target's concurrency bound, the rate limit,
    /// the process-wide [`MAX_IN_FLIGHT`] and the timeout. The SDK request
    /// (`request()`, kilobytes of state) is made only once all three allow
    /// it, so requests that wait hold nothing of it. It runs as a task of its
    /// own and is counted there: when a collection fails and drops its other
    /// requests, those already sent still end (within the timeout) and are
    /// counted, so the attempts counter agrees with what AWS answered.
    async fn attempt<T, E, F, Fut>(
        &self,
        operation: &'static str,
        request: &mut F,
    ) -> Result<Result<T, SdkError<E, HttpResponse>>, tokio::time::error::Elapsed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>> + Send + 'static,
        T: Send + 'static,
        E: ProvideErrorMetadata + Send + Sync + 'static,
    {
        let permit = self.concurrency.clone().acquire_owned().await;
        self.limiter.until_ready().await;
        let place = IN_FLIGHT.acquire().await;
        let (timeout, observer) = (self.timeout, self.observer.clone());
        // Made here and moved into the task at once: no await holds it.
        let request = request();
        let credentials = self.credentials.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = match credentials {
                Some(c) => {
                    REQUEST_CREDENTIALS
                        .scope(c, tokio::time::timeout(timeout, request))
                        .await
                }
                None => tokio::time::timeout(timeout, request).await,
            };
            let elapsed = started.elapsed();
            drop(place);
            drop(permit);
            let outcome = match &result {
                Ok(Ok(_)) => Outcome::Success,
                Ok(Err(error)) => classify(error),
                Err(_) => Outcome::Timeout,
            };
            observer.attempt(operation, outcome, elapsed);
            result
        });
        match task.await {
            Ok(ended) => ended,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Only a runtime shutting down cancels it.
            Err(_) => std::future::pending().await,
        }
    }

    /// Every item of a paged listing through [`Caller::call`]: `request(token)` builds and
    /// sends one page's request, `split` takes its items and the token AWS sent back.
    pub async fn pages<T, O, E, R, Fut>(
        &self,
        operation: &'static str,
        request: R,
        split: impl Fn(O) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, ApiError>
    where
        R: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>> + Send + 'static,
        O: Send + 'static,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (request, split) = (&request, &split);
        collect_pages(operation, |token| async move {
            let page = self.call(operation, || request(token.clone())).await?;
            Ok(split(page))
        })
        .await
    }
}

/// Exponential backoff with full jitter; a server's Retry-After wins, capped at the timeout.
fn backoff(tries: u32, hint: Option<Duration>, cap: Duration) -> Duration {
    if let Some(hint) = hint {
        return hint.min(cap);
    }
    let ceiling = Duration::from_millis(100u64 << tries.min(6)).min(cap);
    ceiling.mul_f64(fastrand::f64())
}

/// The SDK's error message, down to its source, without request details.
fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E, HttpResponse>,
) -> String {
    if let Some(message) = error.message() {
        return message.to_string();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn quota(per_second: f64) -> Quota {
    // Below one request a second, express the quota as a period.
    if per_second >= 1.0 {
        let n = NonZeroU32::new(per_second.round() as u32).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(n)
    } else {
        let period = Duration::from_secs_f64(1.0 / per_second.max(1e-3));
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
    }
}

/// Where the SDK should send requests when not to AWS (only `--demo` sets this;
/// tests use the standard `AWS_ENDPOINT_URL` variables), and what the targets
/// share: the HTTP client, and the SDK of targets that reach AWS alike.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub endpoint_url: Option<String>,
    pub static_credentials: bool,
    /// The HTTP client every target uses (clones share it).
    pub http: SharedClient,
    /// The SDK of each way to AWS in use (clones share them).
    pub sdks: SdkCache,
}

/// The SDK of one way to AWS (region, role, external id, timeout): its
/// configuration (credential chain, identity cache) and its service clients,
/// made once and shared by every target that reaches AWS this way. One
/// account per target with distinct labels is the common case: each target
/// building its own took some 120 KB (a credential chain and five clients).
pub struct Sdk {
    config: SdkConfig,
    clients: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send + Sync>>>,
}

impl Sdk {
    /// (v4) An SDK of a configuration made elsewhere (a discovered target's:
    /// the exporter's own chain, the target's region, its account's role session).
    pub fn from_config(config: SdkConfig) -> Arc<Sdk> {
        Arc::new(Sdk {
            config,
            clients: Default::default(),
        })
    }

    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The client of type `C`, made by `make` at the first call (clients are
    /// handles: clones share one).
    pub fn client<C: Clone + Send + Sync + 'static>(&self, make: fn(&SdkConfig) -> C) -> C {
        let mut clients = crate::sync::lock(&self.clients);
        if let Some(client) = clients.iter().find_map(|c| c.downcast_ref::<C>()) {
            return client.clone();
        }
        let client = make(&self.config);
        clients.push(Box::new(client.clone()));
        client
    }
}

/// The [`Sdk`]s in use, by way to AWS. Weak: an SDK goes when the last
/// target using it is removed by a reload.
#[derive(Clone, Default)]
pub struct SdkCache(Arc<std::sync::Mutex<SdkEntries>>);

type SdkEntries = Vec<(AccessKey, std::sync::Weak<Sdk>)>;

/// Region, role ARN, external id, timeout.
type AccessKey = (Option<String>, Option<String>, Option<String>, Duration);

impl std::fmt::Debug for SdkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkCache")
    }
}

/// The SDK of `access`: the one already in use by another target, or a new one.
pub async fn sdk(access: &Access<'_>, overrides: &Overrides) -> Arc<Sdk> {
    let key: AccessKey = (
        access.region.map(String::from),
        access.role_arn.map(String::from),
        access.external_id.map(String::from),
        access.timeout,
    );
    let found = crate::sync::lock(&overrides.sdks.0)
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, sdk)| sdk.upgrade());
    if let Some(sdk) = found {
        return sdk;
    }
    let sdk = Arc::new(Sdk {
        config: sdk_config(access, overrides).await,
        clients: Default::default(),
    });
    let mut cache = crate::sync::lock(&overrides.sdks.0);
    cache.retain(|(k, sdk)| sdk.strong_count() > 0 && *k != key);
    cache.push((key, Arc::downgrade(&sdk)));
    sdk
}

/// One HTTP client (TLS configuration, parsed root certificates, connection
/// pool) for every target. Without it each SDK client, four per target, makes
/// its own default client: some 70 KB of parsed root certificates and a pool
/// of idle connections each, about 2 MB a target.
#[derive(Clone, Default)]
pub struct SharedClient(Arc<std::sync::Mutex<Option<SharedHttpClient>>>);

impl SharedClient {
    /// The client, made at the first call.
    fn get(&self) -> SharedHttpClient {
        crate::sync::lock(&self.0)
            .get_or_insert_with(default_https_client)
            .clone()
    }
}

/// What the SDK makes when given no client (`aws-smithy-runtime`'s
/// `default_https_client` for the latest behavior version): hyper 1 with
/// rustls and aws-lc, the proxy from the environment.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        // Idle connections kept: no more than requests can be in flight at once.
        let mut connector = ConnectorBuilder::default()
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

impl std::fmt::Debug for SharedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedClient")
    }
}

/// How a target reaches AWS.
pub struct Access<'a> {
    /// `None`: the standard chain decides.
    pub region: Option<&'a str>,
    pub role_arn: Option<&'a str>,
    pub external_id: Option<&'a str>,
    /// Of each attempt, connecting included.
    pub timeout: Duration,
}

/// The SDK configuration of a target: the standard chain, the target's
/// region, an assumed role, and no SDK retries (ours count every attempt).
async fn sdk_config(access: &Access<'_>, overrides: &Overrides) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(access.timeout)
                .operation_attempt_timeout(access.timeout)
                .build(),
        );
    if let Some(region) = access.region {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(url) = &overrides.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if overrides.static_credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "demo", "demo", None, None, "demo",
        ));
    }
    let base = loader.http_client(overrides.http.get()).load().await;
    let Some(role_arn) = access.role_arn else {
        return base;
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("aws-flow-exporter")
        .configure(&base);
    if let Some(external_id) = access.external_id {
        role = role.external_id(external_id);
    }
    let provider = role.build().await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_that_reach_aws_alike_share_one_sdk_and_its_clients() {
        let overrides = Overrides {
            endpoint_url: Some("http://127.0.0.1:9".into()),
            static_credentials: true,
            ..Overrides::default()
        };
        let access = |role: Option<&'static str>| Access {
            region: Some("eu-west-1"),
            role_arn: role,
            external_id: None,
            timeout: Duration::from_secs(5),
        };
        let a = sdk(&access(None), &overrides).await;
        let b = sdk(&access(None), &overrides).await;
        assert!(Arc::ptr_eq(&a, &b));
        let role = sdk(&access(Some("arn:aws:iam::1:role/r")), &overrides).await;
        assert!(!Arc::ptr_eq(&a, &role));
        let client = a.client(aws_sdk_appflow::Client::new);
        let again = b.client(aws_sdk_appflow::Client::new);
        assert!(std::ptr::eq(client.config(), again.config()));
        // Gone with the last target using it: the next one gets its own.
        let old = Arc::downgrade(&a);
        drop((a, b, client, again));
        assert!(old.upgrade().is_none());
        let fresh = sdk(&access(None), &overrides).await;
        assert_eq!(
            fresh.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
    }

    #[test]
    fn transfer_retry_after_member_is_read() {
        let body = br#"{"__type":"ThrottlingException","RetryAfterSeconds":"3"}"#;
        assert_eq!(retry_after_member(body), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after_member(br#"{"RetryAfterSeconds":2}"#),
            Some(Duration::from_secs(2))
        );
        for bad in [&b"{}"[..], b"garbage", br#"{"RetryAfterSeconds":"-1"}"#] {
            assert_eq!(retry_after_member(bad), None);
        }
    }

    #[test]
    fn backoff_honours_retry_after_up_to_the_timeout() {
        let cap = Duration::from_secs(5);
        assert_eq!(
            backoff(1, Some(Duration::from_secs(2)), cap),
            Duration::from_secs(2)
        );
        assert_eq!(backoff(1, Some(Duration::from_secs(60)), cap), cap);
        assert!(backoff(10, None, cap) <= Duration::from_millis(6400));
    }

    #[test]
    fn paging_stops_on_missing_empty_or_repeated_tokens() {
        assert_eq!(next_token(None, None), None);
        assert_eq!(next_token(None, Some("")), None);
        assert_eq!(next_token(None, Some("a")), Some("a".into()));
        assert_eq!(next_token(Some("a"), Some("b")), Some("b".into()));
        assert_eq!(next_token(Some("a"), Some("a")), None);
        assert_eq!(next_token(Some("a"), Some("")), None);
        assert_eq!(next_token(Some("a"), None), None);
    }

    fn error(code: Option<&str>) -> ApiError {
        ApiError {
            operation: "Op",
            outcome: Outcome::ClientError,
            code: code.map(str::to_string),
            message: String::new(),
            credentials: false,
        }
    }

    #[test]
    fn not_found_is_none_and_other_errors_stay() {
        assert_eq!(Ok::<_, ApiError>(1).found().unwrap(), Some(1));
        let gone: Result<i32, _> = Err(error(Some("ResourceNotFoundException")));
        assert_eq!(gone.found().unwrap(), None);
        let denied: Result<i32, _> = Err(error(Some("AccessDeniedException")));
        assert!(denied.found().is_err());
    }

    #[tokio::test]
    async fn pages_are_collected_until_the_token_ends_or_repeats() {
        let pages = collect_pages("Op", |token| async move {
            Ok(match token.as_deref() {
                None => (vec![1, 2], Some("a".to_string())),
                Some("a") => (vec![3], Some("b".to_string())),
                _ => (vec![4], Some("b".to_string())),
            })
        });
        assert_eq!(pages.await.unwrap(), vec![1, 2, 3, 4]);
        let endless = collect_pages("Op", |token| async move {
            let n: usize = token.as_deref().unwrap_or("0").parse().unwrap_or(0);
            Ok((Vec::<()>::new(), Some((n + 1).to_string())))
        });
        let e = endless.await.unwrap_err();
        assert_eq!((e.operation, e.outcome), ("Op", Outcome::TransportError));
    }

    #[test]
    fn slow_quotas_are_periods() {
        let q = quota(0.5);
        assert_eq!(q.replenish_interval(), Duration::from_secs(2));
        assert_eq!(quota(5.0).burst_size().get(), 5);
    }
}
