//! Start-up: from a validated configuration to running collectors, by
//! walking the services registry.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::Semaphore;

use crate::aws::{sdk_config, Access, Caller, Overrides};
use crate::config::Config;
use crate::scheduler::Unit;
use crate::self_metrics::ExporterMetrics;
use crate::services::{Build, SERVICES};
use crate::state::{Storage, TargetIdentity};
use crate::store::Store;

/// Everything the exporter runs, ready to start.
pub struct Plan {
    pub store: Arc<Store>,
    pub exporter: Arc<ExporterMetrics>,
    pub units: Vec<Unit>,
    /// (region, labels) of each target, for the landing page.
    pub targets: Vec<(String, Vec<(String, String)>)>,
}

/// Builds one SDK configuration per target and one collector per enabled
/// service; with `storage` (`--storage.path`), each collector resumes from
/// its saved state and saves after every successful collection.
pub async fn plan(
    config: &Config,
    overrides: &Overrides,
    storage: Option<&Arc<Storage>>,
) -> anyhow::Result<Plan> {
    let label_names: BTreeSet<&String> = config
        .targets
        .iter()
        .flat_map(|t| t.labels.keys())
        .collect();
    let mut exporter = ExporterMetrics::new(label_names.into_iter().cloned().collect())
        .context("cannot register the exporter's own metrics")?;
    if storage.is_some() {
        exporter
            .enable_state()
            .context("cannot register the exporter's own metrics")?;
    }
    let collection = &config.collection;
    let mut units = Vec::new();
    let mut targets = Vec::new();
    for (index, target) in config.targets.iter().enumerate() {
        let access = Access {
            region: target.region.as_deref(),
            role_arn: target.role_arn.as_deref(),
            external_id: target.external_id.as_deref(),
            timeout: collection.timeout,
        };
        let sdk = sdk_config(&access, overrides).await;
        let Some(region) = target
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()))
        else {
            bail!("targets[{index}]: no AWS region: set `region` in the configuration file, or AWS_REGION");
        };
        let mut base_labels = vec![("region".to_string(), region.clone())];
        base_labels.extend(target.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        targets.push((region.clone(), base_labels[1..].to_vec()));
        let concurrency = Arc::new(Semaphore::new(collection.max_concurrency));
        for service in SERVICES {
            let Some(settings) = target.service(service.name) else {
                continue;
            };
            if !settings.enabled {
                continue;
            }
            let metrics = exporter.for_service(service.name, &region, &target.labels);
            metrics.known_operations(&(service.operations)(&settings));
            let caller = Caller::new(
                collection.requests_per_second,
                collection.timeout,
                concurrency.clone(),
                Arc::new(metrics.clone()),
            );
            let collector = (service.build)(Build {
                sdk: &sdk,
                caller,
                settings: &settings,
                lookback: collection.lookback,
                max_concurrency: collection.max_concurrency,
                base_labels: base_labels.clone(),
            })
            .with_context(|| format!("targets[{index}].services.{}", service.name))?;
            let mut unit = Unit::new((index, service.name), region.clone(), collector, metrics);
            if let Some(storage) = storage {
                let identity = TargetIdentity {
                    region: region.clone(),
                    role_arn: target.role_arn.clone(),
                    labels: target.labels.clone(),
                };
                unit = unit.with_state(storage.slot(identity, service.name));
            }
            units.push(unit);
        }
    }
    let store = Arc::new(Store::new(units.iter().map(|u| u.key).collect()));
    Ok(Plan {
        store,
        exporter: Arc::new(exporter),
        units,
        targets,
    })
}
