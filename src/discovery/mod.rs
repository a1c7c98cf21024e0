//! (v4) Discovery: every account of an AWS Organization, and its regions, as targets.
//!
//! A refresh lists the accounts (Organizations ListAccounts, with the
//! exporter's own credentials), learns which account the exporter runs in (STS
//! GetCallerIdentity) and, with `regions: enabled`, each selected account's
//! enabled regions (Account Management ListRegions, through that account's
//! role). Each (account, region) this replica owns becomes a target whose
//! series carry `region`, `account_id` and the discovery labels; the runner
//! applies the set like a reload does (see [`crate::runner`]).
//!
//! A refresh that fails changes nothing: the last listing stays in force,
//! `discovery_up` is 0 and one ERROR is logged per streak.
//!
//! - `sessions`: one role session per account, shared by its regions.
//! - `api`: the AWS calls.

mod api;
mod sessions;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::Semaphore;

use crate::app::{build_units, Built, TargetUnits};
use crate::aws::{sdk, Access, ApiError, Caller, Overrides, Sdk};
use crate::collector::unix_seconds;
use crate::config::{Collection, Discovery as Settings, DiscoveryRegions};
use crate::exposition::Exposition;
use crate::self_metrics::{ExporterMetrics, ServiceMetrics};
use crate::state::TargetIdentity;
use crate::store::{Key, Store};

use self::api::{Identity, Listed};
use self::sessions::Session;

crate::family!(
    DISCOVERY_UP,
    "aws_flow_exporter_discovery_up",
    Gauge,
    [],
    "1 if the last listing of the accounts (and their regions) succeeded."
);
crate::family!(
    DISCOVERY_LAST_SUCCESS,
    "aws_flow_exporter_discovery_last_success_timestamp_seconds",
    Gauge,
    [],
    "Unix time when the accounts (and their regions) were last listed successfully."
);
crate::family!(
    DISCOVERED_TARGETS,
    "aws_flow_exporter_discovered_targets",
    Gauge,
    [],
    "(account, region) targets in force (on this shard)."
);
crate::family!(
    ACCOUNT_INFO,
    "aws_flow_exporter_account_info",
    Gauge,
    ["account_id", "account_name"],
    "One per discovered account (on this shard)."
);

/// The discovery families, for the generated metric reference (docs/metrics.md).
pub(crate) static FAMILIES: &[&crate::exposition::Family] = &[
    &DISCOVERY_UP,
    &DISCOVERY_LAST_SUCCESS,
    &DISCOVERED_TARGETS,
    &ACCOUNT_INFO,
];

/// Requests per second of discovery's own calls (ListAccounts, ListRegions,
/// GetCallerIdentity); AWS allows more, and a refresh of 1,000 accounts then
/// takes under a minute.
const REQUESTS_PER_SECOND: f64 = 20.0;
/// Discovery's requests in flight at once.
const CONCURRENCY: usize = 8;
/// After a failed refresh the next comes this soon (doubling up to `refresh_interval`).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// One (account, region) target found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
}

/// What the last successful refresh found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Listing {
    identity: Option<Identity>,
    /// Every account listed, active or not.
    accounts: Vec<Listed>,
    /// `regions: enabled`: each selected account's enabled regions.
    enabled: BTreeMap<String, Vec<String>>,
}

#[derive(Default)]
struct State {
    listing: Option<Listing>,
    /// By account id; rebuilt when the role (name or external id) changes.
    sessions: BTreeMap<String, Arc<Session>>,
    role: (String, Option<String>),
    up: bool,
    last_success: Option<f64>,
    /// The failures of this streak (0: the last refresh succeeded).
    failures: u32,
    /// The targets in force, for `discovered_targets` and `account_info`.
    in_force: Vec<Found>,
}

/// Discovery's runtime: the listing in force and the role sessions.
pub struct Discovery {
    /// The exporter's own credentials (the standard chain) and home region.
    base: Arc<Sdk>,
    /// The standard chain's credentials provider, for the exporter's own account.
    chain: aws_credential_types::provider::SharedCredentialsProvider,
    /// The SDK of each region, shared by its discovered targets.
    regions: std::sync::Mutex<BTreeMap<String, std::sync::Weak<Sdk>>>,
    caller: Caller,
    metrics: ServiceMetrics,
    store: Arc<Store>,
    /// The collection interval at start: how long a refused AssumeRole is remembered.
    interval: Duration,
    state: std::sync::Mutex<State>,
    /// Serializes refreshes.
    refreshing: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
}

/// The key discovery's own series are published under in the store.
fn own_key() -> Key {
    (Arc::from("\u{0}discovery"), "discovery")
}

impl Discovery {
    /// Discovery with the exporter's own credentials; lists nothing yet.
    pub async fn new(
        settings: &Settings,
        collection: &Collection,
        overrides: &Overrides,
        exporter: &ExporterMetrics,
        store: Arc<Store>,
    ) -> Arc<Discovery> {
        let access = |region| Access {
            region,
            role_arn: None,
            external_id: None,
            timeout: collection.timeout,
        };
        let mut base = sdk(&access(None), overrides).await;
        if base.config().region().is_none() {
            // Organizations and STS are global: any region signs for them.
            base = sdk(&access(Some("us-east-1")), overrides).await;
        }
        let region = base
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        let metrics = exporter.for_service("discovery", &region, &settings.labels);
        metrics.known_operations(&api::OPERATIONS);
        let caller = Caller::new(
            REQUESTS_PER_SECOND,
            collection.timeout,
            Arc::new(Semaphore::new(CONCURRENCY)),
            Arc::new(metrics.clone()),
        );
        let chain = base.config().credentials_provider().unwrap_or_else(|| {
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("", "", None, None, "none"),
            )
        });
        Arc::new(Discovery {
            chain,
            regions: Default::default(),
            base,
            caller,
            metrics,
            store,
            interval: collection.interval,
            state: Default::default(),
            refreshing: Default::default(),
            wake: Default::default(),
        })
    }

    /// Lists the accounts (and regions) again. On success the listing is
    /// replaced; on failure it stays. Returns whether the targets changed.
    pub async fn refresh(&self, settings: &Settings) -> bool {
        let _one = self.refreshing.lock().await;
        let before = self.targets(settings);
        match self.list(settings).await {
            Ok(listing) => {
                let mut state = crate::sync::lock(&self.state);
                if state.failures > 0 {
                    tracing::info!("discovery: the accounts are listed again");
                }
                state.failures = 0;
                state.up = true;
                state.last_success = Some(unix_seconds(SystemTime::now()));
                let known: BTreeSet<&String> = listing.accounts.iter().map(|a| &a.id).collect();
                state.sessions.retain(|id, _| known.contains(id));
                state.listing = Some(listing);
            }
            Err(error) => {
                let mut state = crate::sync::lock(&self.state);
                state.up = false;
                state.failures += 1;
                if state.failures == 1 {
                    tracing::error!(
                        error = %format!("{error:#}"),
                        "discovery: cannot list the accounts of the organization; the targets \
                         discovered last keep running"
                    );
                } else {
                    tracing::debug!(error = %format!("{error:#}"), "discovery: still failing");
                }
            }
        }
        let after = self.targets(settings);
        if before != after {
            tracing::info!(
                targets = after.len(),
                added = after.iter().filter(|t| !before.contains(t)).count(),
                removed = before.iter().filter(|t| !after.contains(t)).count(),
                "discovery: the targets changed"
            );
        }
        self.publish().await;
        before != after
    }

    async fn list(&self, settings: &Settings) -> anyhow::Result<Listing> {
        let identity = api::caller_identity(&self.caller, &self.base)
            .await
            .context("GetCallerIdentity")?;
        let accounts = api::list_accounts(&self.caller, &self.base)
            .await
            .context("Organizations ListAccounts")?;
        let mut enabled = BTreeMap::new();
        if settings.regions == DiscoveryRegions::Enabled {
            let old = crate::sync::lock(&self.state).listing.clone();
            let mut failed: Option<ApiError> = None;
            for account in accounts.iter().filter(|a| selected(settings, a)) {
                let session = self.session(settings, &identity, &account.id);
                let sdk = self.region_sdk(&home(&self.base));
                let caller = self
                    .caller
                    .clone()
                    .with_credentials(session.credentials.clone());
                match api::enabled_regions(&caller, &sdk).await {
                    Ok(regions) => {
                        enabled.insert(account.id.clone(), regions);
                    }
                    Err(error) => {
                        // The regions known before stay; the refresh is not a success.
                        if let Some(known) = old.as_ref().and_then(|l| l.enabled.get(&account.id)) {
                            enabled.insert(account.id.clone(), known.clone());
                        }
                        failed.get_or_insert(ApiError {
                            message: format!(
                                "account {} ({}): {}",
                                account.id,
                                session.role_arn.as_deref().unwrap_or("own credentials"),
                                error.message
                            ),
                            ..error
                        });
                    }
                }
            }
            if let Some(error) = failed {
                // The rest of the listing is applied; the streak is logged as a failure.
                let listing = Listing {
                    identity: Some(identity),
                    accounts,
                    enabled,
                };
                crate::sync::lock(&self.state).listing = Some(listing);
                return Err(anyhow::Error::new(error).context("Account Management ListRegions"));
            }
        }
        Ok(Listing {
            identity: Some(identity),
            accounts,
            enabled,
        })
    }

    /// The session of `account` (made at the first use).
    fn session(&self, settings: &Settings, identity: &Identity, account: &str) -> Arc<Session> {
        let mut state = crate::sync::lock(&self.state);
        let role = (settings.role_name.clone(), settings.external_id.clone());
        if state.role != role {
            state.sessions.clear();
            state.role = role;
        }
        state
            .sessions
            .entry(account.to_string())
            .or_insert_with(|| {
                Arc::new(if account == identity.account {
                    Session::own(self.chain.clone())
                } else {
                    let arn = format!(
                        "arn:{}:iam::{account}:role/{}",
                        identity.partition, settings.role_name
                    );
                    Session::role(
                        account,
                        &arn,
                        settings.external_id.as_deref(),
                        self.base.client(aws_sdk_sts::Client::new),
                        Arc::new(self.metrics.clone()),
                        self.interval.max(Duration::from_secs(1)),
                    )
                })
            })
            .clone()
    }

    /// The SDK the discovered targets of `region` share (made at the first use,
    /// dropped with the last target using it).
    fn region_sdk(&self, region: &str) -> Arc<Sdk> {
        let mut sdks = crate::sync::lock(&self.regions);
        if let Some(sdk) = sdks.get(region).and_then(std::sync::Weak::upgrade) {
            return sdk;
        }
        let sdk = sessions::region_sdk(self.base.config(), region);
        sdks.retain(|_, sdk| sdk.strong_count() > 0);
        sdks.insert(region.to_string(), Arc::downgrade(&sdk));
        sdk
    }

    /// The targets of the listing in force that `settings` select on this shard.
    pub fn targets(&self, settings: &Settings) -> Vec<Found> {
        let state = crate::sync::lock(&self.state);
        state
            .listing
            .as_ref()
            .map_or_else(Vec::new, |l| targets_of(l, settings))
    }

    /// The collectors of every discovered target.
    pub fn units(
        &self,
        settings: &Settings,
        collection: &Collection,
        exporter: &ExporterMetrics,
    ) -> anyhow::Result<Vec<Built>> {
        let found = self.targets(settings);
        let Some(identity) = crate::sync::lock(&self.state)
            .listing
            .as_ref()
            .and_then(|l| l.identity.clone())
        else {
            return Ok(Vec::new());
        };
        let mut units = Vec::new();
        for target in &found {
            let session = self.session(settings, &identity, &target.account_id);
            let sdk = self.region_sdk(&target.region);
            let mut labels = settings.labels.clone();
            labels.insert("account_id".to_string(), target.account_id.clone());
            units.extend(build_units(
                TargetUnits {
                    id: target_id(&target.account_id, &target.region, &settings.labels),
                    region: target.region.clone(),
                    labels: &labels,
                    services: &settings.services,
                    identity: TargetIdentity {
                        region: target.region.clone(),
                        role_arn: None,
                        labels: labels.clone(),
                    },
                    extra: format!("{:?}", session.role_arn),
                    pooled: Some(&settings.labels),
                    no_credentials: session.no_credentials.clone(),
                    credentials: Some(session.credentials.clone()),
                    path: format!(
                        "discovery.organizations[{}/{}]",
                        target.account_id, target.region
                    ),
                },
                sdk,
                collection,
                exporter,
            )?);
        }
        crate::sync::lock(&self.state).in_force = found;
        Ok(units)
    }

    /// Discovery's own series, published with the collectors'.
    async fn publish(&self) {
        let mut e = Exposition::new(&[]);
        let (up, last_success, in_force) = {
            let state = crate::sync::lock(&self.state);
            (state.up, state.last_success, state.in_force.clone())
        };
        e.sample(&DISCOVERY_UP, &[], if up { 1.0 } else { 0.0 });
        if let Some(t) = last_success {
            e.sample(&DISCOVERY_LAST_SUCCESS, &[], t);
        }
        e.sample(&DISCOVERED_TARGETS, &[], in_force.len() as f64);
        let accounts: BTreeMap<&str, &str> = in_force
            .iter()
            .map(|t| (t.account_id.as_str(), t.account_name.as_str()))
            .collect();
        for (id, name) in accounts {
            e.sample(
                &ACCOUNT_INFO,
                &[("account_id", id), ("account_name", name)],
                1.0,
            );
        }
        self.store.publish(own_key(), e).await;
    }

    /// Whether the last refresh succeeded (`discovery_up`).
    pub fn up(&self) -> bool {
        crate::sync::lock(&self.state).up
    }

    /// The units of the targets in force were applied: the series follow.
    pub async fn applied(&self) {
        self.publish().await;
    }

    /// The `discovery` block was removed by a reload: its series go.
    pub async fn withdraw(&self) {
        crate::sync::lock(&self.state).in_force.clear();
        self.store.remove(&own_key()).await;
    }

    /// Asks for a refresh now (a reload changed the configuration).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Refreshes every `refresh_interval` (sooner after a failure, or when
    /// woken), and hands a changed set of targets to `apply`. `settings`
    /// gives the block in force (none: discovery idles until woken).
    pub async fn run<S, A, F>(self: Arc<Self>, settings: S, apply: A)
    where
        S: Fn() -> Option<Settings>,
        A: Fn() -> F,
        F: std::future::Future<Output = ()>,
    {
        loop {
            let wait = match settings() {
                None => Duration::MAX,
                Some(s) => {
                    let failures = crate::sync::lock(&self.state).failures;
                    if failures == 0 {
                        s.refresh_interval
                    } else {
                        let backoff = RETRY_AFTER_FAILURE.saturating_mul(1 << failures.min(16));
                        backoff.min(s.refresh_interval)
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait.min(Duration::from_secs(365 * 86_400))) => {}
                _ = self.wake.notified() => {}
            }
            let Some(settings) = settings() else { continue };
            if self.refresh(&settings).await {
                apply().await;
            }
        }
    }
}

/// The (account, region) targets of `listing` that `settings` select on this shard, sorted.
fn targets_of(listing: &Listing, settings: &Settings) -> Vec<Found> {
    let mut found = Vec::new();
    for account in listing.accounts.iter().filter(|a| selected(settings, a)) {
        let regions: &[String] = match &settings.regions {
            DiscoveryRegions::List(list) => list,
            DiscoveryRegions::Enabled => listing
                .enabled
                .get(&account.id)
                .map_or(&[], |r| r.as_slice()),
        };
        for region in regions {
            let owned = settings
                .shard
                .is_none_or(|s| s.owns(&shard_name(&account.id, region)));
            if owned {
                found.push(Found {
                    account_id: account.id.clone(),
                    account_name: account.name.clone(),
                    region: region.clone(),
                });
            }
        }
    }
    found.sort();
    found
}

/// Whether an account is collected: active and selected by include/exclude.
fn selected(settings: &Settings, account: &Listed) -> bool {
    account.active && settings.selects(&account.id, &account.name)
}

/// The name a discovered target is sharded by.
pub fn shard_name(account_id: &str, region: &str) -> String {
    format!("{account_id}/{region}")
}

/// The region discovery's own calls are signed for.
fn home(base: &Sdk) -> String {
    base.config()
        .region()
        .map_or_else(|| "us-east-1".to_string(), |r| r.to_string())
}

/// A discovered target's identity: its account, region and the discovery labels.
fn target_id(account_id: &str, region: &str, labels: &BTreeMap<String, String>) -> Arc<str> {
    let mut id = format!("account_id={account_id:?},region={region:?}");
    for (name, value) in labels {
        id.push_str(&format!(",{name}={value:?}"));
    }
    Arc::from(id)
}

#[cfg(test)]
mod tests;
