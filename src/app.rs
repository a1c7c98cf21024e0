//! Start-up: from a validated configuration to collectors ready to run, by
//! walking the services registry.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::Semaphore;

use crate::aws::{sdk, Access, Caller, Overrides};
use crate::config::{Collection, Config, Target};
use crate::scheduler::Unit;
use crate::self_metrics::ExporterMetrics;
use crate::services::{Build, SERVICES};
use crate::state::{Storage, TargetIdentity};
use crate::store::Store;

/// Everything the exporter runs, ready to start.
pub struct Plan {
    pub store: Arc<Store>,
    pub exporter: Arc<ExporterMetrics>,
    pub units: Vec<Built>,
    /// (region, labels) of each target, for the landing page.
    pub targets: Vec<(String, Vec<(String, String)>)>,
}

/// A collector ready to run, and what it was built from: a reload keeps the
/// running one when the settings are the same.
pub struct Built {
    pub unit: Unit,
    pub settings: String,
    /// Whose state it is, for `--storage.path`.
    pub identity: TargetIdentity,
}

impl Built {
    /// `--storage.path`: resumes from the saved state and saves after every
    /// successful collection. A reload attaches it only to the units it
    /// starts, so that one it keeps is not read again.
    pub fn with_storage(mut self, storage: Option<&Arc<Storage>>) -> Built {
        if let Some(storage) = storage {
            let slot = storage.slot(self.identity.clone(), self.unit.key.1);
            self.unit = self.unit.with_state(slot);
        }
        self
    }
}

/// Builds one SDK configuration per target and one collector per enabled
/// service; with `storage` (`--storage.path`), each collector resumes from
/// its saved state and saves after every successful collection.
pub async fn plan(
    config: &Config,
    overrides: &Overrides,
    storage: Option<&Arc<Storage>>,
) -> anyhow::Result<Plan> {
    let mut exporter = ExporterMetrics::new(label_names(config))
        .context("cannot register the exporter's own metrics")?;
    if storage.is_some() {
        exporter
            .enable_state()
            .context("cannot register the exporter's own metrics")?;
    }
    let exporter = Arc::new(exporter);
    let mut units = Vec::new();
    let mut targets = Vec::new();
    for (index, target) in config.targets.iter().enumerate() {
        let (region, built) =
            build_target(index, target, &config.collection, overrides, &exporter).await?;
        targets.push((region, target.labels.clone().into_iter().collect()));
        units.extend(built.into_iter().map(|b| b.with_storage(storage)));
    }
    let store = Arc::new(Store::new(
        units.iter().map(|b| b.unit.key.clone()).collect(),
    ));
    Ok(Plan {
        store,
        exporter,
        units,
        targets,
    })
}

/// The label names of the exporter's own series: those of every static
/// target, and (v4) with discovery `account_id` and the discovery labels.
pub fn label_names(config: &Config) -> Vec<String> {
    let mut names: BTreeSet<String> = config
        .targets
        .iter()
        .flat_map(|t| t.labels.keys().cloned())
        .collect();
    if let Some(discovery) = &config.discovery {
        names.insert("account_id".to_string());
        names.extend(discovery.labels.keys().cloned());
    }
    names.into_iter().collect()
}

/// The collectors of one target's enabled services, and the target's region.
pub async fn build_target(
    index: usize,
    target: &Target,
    collection: &Collection,
    overrides: &Overrides,
    exporter: &ExporterMetrics,
) -> anyhow::Result<(String, Vec<Built>)> {
    let access = Access {
        region: target.region.as_deref(),
        role_arn: target.role_arn.as_deref(),
        external_id: target.external_id.as_deref(),
        timeout: collection.timeout,
    };
    let sdk = sdk(&access, overrides).await;
    let Some(region) = target
        .region
        .clone()
        .or_else(|| sdk.config().region().map(|r| r.to_string()))
    else {
        bail!("targets[{index}]: no AWS region: set `region` in the configuration file, or AWS_REGION");
    };
    let id = target_id(&region, target);
    let units = build_units(
        TargetUnits {
            id,
            region: region.clone(),
            labels: &target.labels,
            services: &target.services,
            identity: TargetIdentity {
                region: region.clone(),
                role_arn: target.role_arn.clone(),
                labels: target.labels.clone(),
            },
            extra: format!("{:?}", target.external_id),
            pooled: None,
            no_credentials: Arc::new(AtomicBool::new(false)),
            path: format!("targets[{index}]"),
            credentials: None,
        },
        sdk,
        collection,
        exporter,
    )?;
    Ok((region, units))
}

/// What the collectors of one target are built from.
pub struct TargetUnits<'a> {
    /// Its identity ([`crate::store::Key`]'s first half).
    pub id: Arc<str>,
    pub region: String,
    /// Added to its series (with `region`).
    pub labels: &'a std::collections::BTreeMap<String, String>,
    pub services: &'a [crate::config::ServiceSettings],
    /// Whose state it is, for `--storage.path`.
    pub identity: TargetIdentity,
    /// What else the collectors are built from (a reload rebuilds them when it changes).
    pub extra: String,
    /// (v4) A discovered target: the labels its API and duration series are summed under.
    pub pooled: Option<&'a std::collections::BTreeMap<String, String>>,
    /// Shared by the units whose credentials fail together.
    pub no_credentials: Arc<AtomicBool>,
    /// Where its settings are written, for errors (`targets[0]`).
    pub path: String,
    /// (v4) A discovered target's account credentials: `sdk` is shared by a
    /// region's accounts and signs each request with its caller's.
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

/// One collector per enabled service of a target, reaching AWS through `sdk`.
pub fn build_units(
    target: TargetUnits<'_>,
    sdk: Arc<crate::aws::Sdk>,
    collection: &Collection,
    exporter: &ExporterMetrics,
) -> anyhow::Result<Vec<Built>> {
    let region = target.region;
    let mut base_labels = vec![("region".to_string(), region.clone())];
    base_labels.extend(target.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let concurrency = Arc::new(Semaphore::new(collection.max_concurrency));
    let mut units = Vec::new();
    for service in SERVICES {
        let Some(settings) = target.services.iter().find(|s| s.name == service.name) else {
            continue;
        };
        if !settings.enabled {
            continue;
        }
        let mut metrics = exporter.for_service(service.name, &region, target.labels);
        // A discovered target's attempts and durations are summed per region
        // and discovery labels; its own series are the up/success/tracked ones.
        let observer = match target.pooled {
            Some(labels) => {
                let pooled = exporter.for_service(service.name, &region, labels);
                pooled.known_operations(&(service.operations)(settings));
                metrics = metrics.pooled_in(pooled.clone());
                pooled
            }
            None => {
                metrics.known_operations(&(service.operations)(settings));
                metrics.clone()
            }
        };
        let mut caller = Caller::new(
            collection.requests_per_second,
            collection.timeout,
            concurrency.clone(),
            Arc::new(observer),
        )
        .through(sdk.clone());
        if let Some(credentials) = &target.credentials {
            caller = caller.with_credentials(credentials.clone());
        }
        let collector = (service.build)(Build {
            sdk: &sdk,
            caller,
            settings,
            lookback: collection.lookback,
            max_concurrency: collection.max_concurrency,
            base_labels: base_labels.clone(),
        })
        .with_context(|| format!("{}.services.{}", target.path, service.name))?;
        let key = (target.id.clone(), service.name);
        let unit = Unit::new(
            key,
            target.path.as_str().into(),
            region.clone(),
            collector,
            metrics,
            target.no_credentials.clone(),
        );
        units.push(Built {
            unit,
            identity: target.identity.clone(),
            // Everything the collector was built from, as written: a reload
            // rebuilds it when any of it changed. Kept as a hash: thousands
            // of discovered units would each hold some 400 bytes of text.
            settings: format!(
                "{:016x}",
                crate::shard::fnv1a(
                    format!("{collection:?} {} {settings:?}", target.extra).as_bytes()
                )
            ),
        });
    }
    Ok(units)
}

/// A target's identity: what its series carry (region and labels) and the
/// role it assumes. Stable across reloads and restarts.
pub fn target_id(region: &str, target: &Target) -> Arc<str> {
    let mut id = format!("region={region:?}");
    if let Some(role) = &target.role_arn {
        id.push_str(&format!(",role_arn={role:?}"));
    }
    for (name, value) in &target.labels {
        id.push_str(&format!(",{name}={value:?}"));
    }
    Arc::from(id)
}
